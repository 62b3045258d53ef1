"""Line-delimited JSON framing for IPC messages."""

from __future__ import annotations

from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

from engine.errors import InternalError
from engine.ipc.messages import FROM_WORKER, TO_WORKER, FromWorker, Message, ToWorker

M = TypeVar("M")


class UndecodableMessage(InternalError, ValueError):
    """A line on the IPC channel that is none of the messages its reader takes: the other
    process's bug (or another version of it), never a peer's or a user's."""

    def __init__(self, line: bytes, problem: str) -> None:
        super().__init__(f"undecodable message: {problem}: {line[:200]!r}")
        self.line = line
        """The line as read (without its newline)."""
        self.problem = problem
        """What is wrong with it, e.g. "Invalid JSON: expected value at line 1 column 1"."""


def encode(message: Message) -> bytes:
    return message.model_dump_json().encode() + b"\n"


def decode_to_worker(line: bytes) -> ToWorker:
    """A controller -> worker message; raises UndecodableMessage."""
    return _decode(TO_WORKER, line)


def decode_from_worker(line: bytes) -> FromWorker:
    """A worker -> controller message; raises UndecodableMessage."""
    return _decode(FROM_WORKER, line)


def _decode(adapter: TypeAdapter[M], line: bytes) -> M:
    try:
        return adapter.validate_json(line)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        problem = f"{where}: {error['msg']}" if where else error["msg"]
        raise UndecodableMessage(line.rstrip(b"\n"), problem) from exc
