"""Digit to next prompt: how long from a DTMF digit arriving to the next prompt being started.

Real engine, real pjsua2 worker, real SIPp on loopback. SIPp (uas-send-dtmf) plays N RFC 2833
digits (payload type 121) `--gap-ms` apart into one call whose flow gathers one digit at a time
and loops: each digit ends a gather, the next gather starts and sends its prompt (PlayFile).

Measured per digit, on CLOCK_MONOTONIC (one clock for the processes of a machine):
- digit to PlayFile: the worker's DTMF callback (DigitReceived's `received_at`) -> the
  controller encodes the PlayFile for the worker;
- IPC: the DTMF callback -> the controller decodes the DigitReceived;
- controller: it decodes the DigitReceived -> it encodes the PlayFile.
The engine runs in this process; the bench wraps the IPC codec's functions wherever the engine
imported them, so no engine code carries a hook for it.

    .venv/bin/python bench/digit_latency.py [--digits 200] [--gap-ms 400] [--baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import baseline  # noqa: E402
from engine.controller.engine import Engine  # noqa: E402
from engine.ipc import codec  # noqa: E402
from engine.ipc import messages as msg  # noqa: E402
from engine.tools.loadtest.runner import describe_machine  # noqa: E402
from engine.tools.sipp import pcaps  # noqa: E402
from engine.tools.sipp.runner import SippUas  # noqa: E402
from tests.support.engine import engine_config, wait_for_end  # noqa: E402

FLOW = """\
name: Digit loop
description: Gather one digit at a time, forever, each with a short prompt.
start: ask
steps:
  ask:
    type: gather
    prompt: {play: audio/beep.wav}
    max_digits: 1
    finish_key: null
    first_digit_timeout: 30
    retries: 0
    next: again
  again: {type: goto, target: ask}
"""


@dataclass(frozen=True)
class Digit:
    """A DigitReceived as the controller decoded it."""

    digit: str
    """The key pressed."""
    received_at: float | None
    """The worker's time.monotonic() in PJSIP's DTMF callback."""
    decoded_at: float
    """The controller's time.monotonic() when it decoded the message."""


class Timeline:
    """The digits the controller decodes and the PlayFiles it encodes, in order."""

    def __init__(self) -> None:
        self.digits: list[Digit] = []
        self.plays_at: list[float] = []
        """When each PlayFile was encoded (time.monotonic())."""

    def encode(self, original: Callable[[msg.Message], bytes]) -> Callable[[msg.Message], bytes]:
        def encode(message: msg.Message) -> bytes:
            if isinstance(message, msg.PlayFile):
                self.plays_at.append(time.monotonic())
            return original(message)

        return encode

    def decode(
        self, original: Callable[[bytes], msg.FromWorker]
    ) -> Callable[[bytes], msg.FromWorker]:
        def decode(line: bytes) -> msg.FromWorker:
            message = original(line)
            if isinstance(message, msg.DigitReceived):
                self.digits.append(Digit(message.digit, message.received_at, time.monotonic()))
            return message

        return decode


@contextmanager
def rebound(original: Any, replacement: Any) -> Iterator[None]:
    """`replacement` in place of `original` in every engine module that holds it, for a while."""
    held = [
        (module, name)
        for module in list(sys.modules.values())
        if module is not None and module.__name__.split(".")[0] == "engine"
        for name, value in list(vars(module).items())
        if value is original
    ]
    for module, name in held:
        setattr(module, name, replacement)
    try:
        yield
    finally:
        for module, name in held:
            setattr(module, name, original)


def sipp_version() -> str:
    try:
        out = subprocess.run(["sipp", "-v"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    for line in (out.stdout + out.stderr).splitlines():
        if "SIPp v" in line:
            return line.strip().split("-")[0].strip()
    return "unknown"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(latencies_ms: list[float]) -> dict[str, Any]:
    if not latencies_ms:
        return {"samples": 0, "p50_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    return {
        "samples": len(latencies_ms),
        "p50_ms": round(percentile(latencies_ms, 50), 3),
        "p99_ms": round(percentile(latencies_ms, 99), 3),
        "max_ms": round(max(latencies_ms), 3),
        "mean_ms": round(statistics.fmean(latencies_ms), 3),
    }


def pair(digits_at: list[float], plays_at: list[float]) -> list[float]:
    """For each digit, milliseconds to the first PlayFile after it and before the next digit
    (times in seconds, one clock)."""
    out = []
    for index, at in enumerate(digits_at):
        until = digits_at[index + 1] if index + 1 < len(digits_at) else None
        play = next((p for p in plays_at if p >= at and (until is None or p < until)), None)
        if play is not None:
            out.append((play - at) * 1000)
    return out


async def run(count: int, gap_ms: int, work: Path) -> dict[str, Any]:
    flows = work / "flows"
    flows.mkdir()
    shutil.copytree(ROOT / "flows" / "audio", flows / "audio")
    (flows / "digit-loop.yaml").write_text(FLOW)
    digits = "".join("1234567890*#"[i % 12] for i in range(count))
    pcap_dir = work / "pcaps"
    pcap_dir.mkdir()
    pcaps.sequence_pcap(digits, pcap_dir / pcaps.SEQUENCE_FILE, gap_ms=gap_ms)

    timeline = Timeline()
    with (
        rebound(codec.encode, timeline.encode(codec.encode)),
        rebound(codec.decode_from_worker, timeline.decode(codec.decode_from_worker)),
        SippUas("uas-send-dtmf", cwd=pcap_dir) as uas,
    ):
        config = engine_config(work, uas.port, flows_dir=flows, workers={"max_workers": 1})
        engine = Engine(config)
        await engine.start()
        try:
            session = await engine.create_outgoing_session(
                "digit-loop", "+18144043093", "+12025550143"
            )
            deadline = time.monotonic() + count * gap_ms / 1000 + 15
            while len(timeline.digits) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # the last prompt
            await engine.end_session(session.id)
            await wait_for_end(engine, session.id)
        finally:
            await engine.stop(drain_seconds=0)

    stamped = [(d.received_at, d.decoded_at) for d in timeline.digits if d.received_at is not None]
    decoded_at = [d.decoded_at for d in timeline.digits]
    return {
        "digits_sent": count,
        "digits_received": len(timeline.digits),
        "digits_intact": "".join(d.digit for d in timeline.digits) == digits,
        "gap_ms": gap_ms,
        "digit_to_playfile": summary(
            pair([received for received, _ in stamped], timeline.plays_at)
        ),
        "controller_digit_to_playfile": summary(pair(decoded_at, timeline.plays_at)),
        "worker_to_controller_ipc": summary(
            [(decoded - received) * 1000 for received, decoded in stamped]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", type=int, default=200, help="how many digits (>= 100)")
    parser.add_argument("--gap-ms", type=int, default=400, help="between digits, start to start")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="write the result to bench/results/ as the new baseline",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digit-latency-") as tmp:
        row = asyncio.run(run(args.digits, args.gap_ms, Path(tmp)))
    result = baseline.record(
        "digit-latency",
        baseline.command_line("bench/digit_latency.py", sys.argv[1:]),
        {**describe_machine(), "sipp": sipp_version()},
        [{"flow": "gather 1 digit (prompt: play audio/beep.wav) -> goto gather", **row}],
        {
            "digits_intact": row["digits_intact"],
            **{
                f"{part}_{figure}": row[part][figure]
                for part in ("digit_to_playfile", "worker_to_controller_ipc")
                for figure in ("p50_ms", "p99_ms")
            },
        },
    )
    print(result.model_dump_json(indent=1, by_alias=True))
    print(baseline.save(result, args.baseline))


if __name__ == "__main__":
    main()
