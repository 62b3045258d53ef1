"""A worker without SIP for the pool's process tests, started as `workers.command`.

    python scripted_worker.py MODE --worker-id 1 --ipc-fd 5 ...   (the pool appends the options)

It sends Ready with the port of a UDP socket of its own (where the doorbell rings), then a line
that is no message, and writes a PJSIP-style line and a plain one to stderr. Then it answers
StatsRequest with Stats (MODE `answers`) or never (MODE `mute`), and exits on Shutdown. MODE
`deaf-to-abort` is `mute` that also ignores SIGABRT, so that only SIGKILL ends it.
"""

from __future__ import annotations

import os
import signal
import socket
import sys

from engine.ipc.codec import decode_to_worker, encode
from engine.ipc.messages import Ready, Shutdown, Stats, StatsRequest
from engine.ipc.worker_options import parse_args

UNREADABLE_LINE = b"not a message\n"
PJSIP_STDERR_LINE = "23:19:19.308  os_core_unix.c !pjlib 2.14 for POSIX initialized"
PLAIN_STDERR_LINE = "a warning from the worker"


def command(mode: str) -> list[str]:
    """The `workers.command` that starts this script in `mode`."""
    return [sys.executable, __file__, mode]


def main() -> None:
    mode, options = sys.argv[1], parse_args(sys.argv[2:])
    if mode == "deaf-to-abort":
        signal.signal(signal.SIGABRT, signal.SIG_IGN)
    doorbell = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    doorbell.bind((options.bind_address, 0))
    ipc = socket.socket(fileno=options.ipc_fd)
    ready = Ready(worker_id=options.worker_id, sip_port=doorbell.getsockname()[1], pid=os.getpid())
    ipc.sendall(encode(ready) + UNREADABLE_LINE)
    print(PJSIP_STDERR_LINE, PLAIN_STDERR_LINE, sep="\n", file=sys.stderr, flush=True)
    for line in ipc.makefile("rb"):
        match decode_to_worker(line):
            case Shutdown():
                return
            case StatsRequest() if mode == "answers":
                ipc.sendall(encode(Stats(active_calls=0, rss_bytes=1, cpu_seconds=0.0)))
            case _:
                pass


if __name__ == "__main__":
    main()
