"""Free loopback ports. A port found free can be taken by someone else before it is used:
callers bind it promptly and tests retry nothing, so keep the window short."""

from __future__ import annotations

import socket


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def udp_port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    return _bindable(socket.SOCK_DGRAM, port, host)


def _bindable(kind: socket.SocketKind, port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def tcp_port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    return _bindable(socket.SOCK_STREAM, port, host)


def free_udp_port_range(count: int = 2, host: str = "127.0.0.1", attempts: int = 50) -> int:
    """The first of `count` consecutive free UDP ports, the first one even (RTP, RTCP = +1)."""
    for _ in range(attempts):
        base = free_udp_port(host) & ~1
        if base + count > 65536:
            base = max(1024, base - count) & ~1  # an ephemeral port near the top: look below
        if base >= 1024 and all(udp_port_is_free(base + i, host) for i in range(count)):
            return base
    raise OSError(f"no {count} consecutive free UDP ports on {host}")


def free_udp_port_pair(host: str = "127.0.0.1") -> int:
    """An even port p with p and p + 1 free: an RTP port and its RTCP port."""
    return free_udp_port_range(2, host)
