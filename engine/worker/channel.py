"""The worker's end of the IPC socket: JSON lines in, JSON lines out (no pjsua2 here)."""

from __future__ import annotations

import select
import socket
import threading

from engine.ipc.codec import UndecodableMessage, decode_to_worker, encode
from engine.ipc.messages import CommandFailed, Message, ToWorker

_READ_SIZE = 65536


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        # Sends normally happen on the polling thread; the lock only guards against a PJSIP
        # callback arriving on another thread interleaving two lines.
        self._send_lock = threading.Lock()
        self.closed = False

    def send(self, message: Message) -> None:
        if self.closed:
            return
        data = encode(message)
        with self._send_lock:
            try:
                self._sock.sendall(data)
            except OSError:
                self.closed = True

    def poll(self, timeout: float) -> list[ToWorker]:
        """Messages that arrived within `timeout` seconds; sets `closed` on EOF."""
        if self.closed:
            return []
        readable, _, _ = select.select([self._sock], [], [], timeout)
        if not readable:
            return []
        try:
            data = self._sock.recv(_READ_SIZE)
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return []
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        messages: list[ToWorker] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                messages.append(decode_to_worker(line))
            except UndecodableMessage as exc:
                reason = f"undecodable message: {exc.problem}"
                self.send(CommandFailed(call_id=None, command="?", reason=reason))
        return messages
