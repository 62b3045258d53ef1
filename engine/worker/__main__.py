"""`python -m engine.worker --worker-id N --ipc-fd FD ...`: run one SIP worker."""

from __future__ import annotations

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
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format=f"worker-{options.worker_id} %(levelname)s %(message)s",
    )
    from engine.worker.channel import Channel
    from engine.worker.worker import Worker

    sock = socket.socket(fileno=options.ipc_fd)
    worker = Worker(options, Channel(sock))
    code = worker.run()
    sock.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
