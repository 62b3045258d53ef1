"""Free loopback port ranges (pure socket calls on 127.0.0.1)."""

from __future__ import annotations

from engine.tools.sipp.ports import free_udp_port_range, udp_port_is_free


def test_a_wide_range_fits_below_the_last_port() -> None:
    # 5000 ports from an ephemeral port (up to 60999 on Linux) would run past 65535.
    for _ in range(5):
        base = free_udp_port_range(5000)
        assert base % 2 == 0 and base >= 1024 and base + 5000 <= 65536
        assert udp_port_is_free(base) and udp_port_is_free(base + 4999)
