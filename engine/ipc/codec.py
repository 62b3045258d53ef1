"""Line-delimited JSON framing for IPC messages."""

from __future__ import annotations

from engine.ipc.messages import FROM_WORKER, TO_WORKER, FromWorker, Message, ToWorker


def encode(message: Message) -> bytes:
    return message.model_dump_json().encode() + b"\n"


def decode_to_worker(line: bytes) -> ToWorker:
    return TO_WORKER.validate_json(line)


def decode_from_worker(line: bytes) -> FromWorker:
    return FROM_WORKER.validate_json(line)
