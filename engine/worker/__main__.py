"""`python -m engine.worker --worker-id N --ipc-fd FD ...`: run one SIP worker."""

from __future__ import annotations

import faulthandler
import logging
import os
import socket
import sys

from engine.ipc.worker_options import parse_args


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    # PJSIP's default log writer prints to stdout: point fd 1 at stderr so nothing it
    # prints can be mistaken for IPC (which has its own socket anyway).
    os.dup2(2, 1)
    # A crash inside PJSIP (SIGSEGV, SIGABRT) then leaves the Python stacks of every thread in
    # the controller's log (the pool relays the worker's stderr), not just an exit status.
    faulthandler.enable(sys.stderr, all_threads=True)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format=f"worker-{options.worker_id} %(levelname)s %(message)s",
    )
    from engine.clock import SystemClock
    from engine.worker.channel import Channel
    from engine.worker.loop import WorkerLoop

    sock = socket.socket(fileno=options.ipc_fd)
    loop = WorkerLoop(options, Channel(sock), SystemClock())
    code = loop.run()
    sock.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
