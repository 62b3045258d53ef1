"""Digit to next prompt: how long from a DTMF digit arriving to the next prompt being started.

Real engine, real pjsua2 worker, real SIPp on loopback. SIPp (uas-send-dtmf) plays N RFC 2833
digits (payload type 121) `--gap-ms` apart into one call whose flow gathers one digit at a time
and loops: each digit ends a gather, the next gather starts and sends its prompt (PlayFile).

Measured per digit, on CLOCK_MONOTONIC (shared by the processes of one machine):
- worker: the digit's arrival in the worker's onDtmfDigit (optional trace, enabled here with
  VOICE_ENGINE_DIGIT_TRACE, see engine/worker/call.py) -> the controller writes PlayFile;
- controller: DigitReceived read by the controller -> the controller writes PlayFile.
PlayFile "sent" is the moment the controller hands it to its IPC stream writer.

    .venv/bin/python bench/digit_latency.py [--digits 200] [--gap-ms 400]

Writes bench/results/digit-latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.controller import pool as pool_module  # noqa: E402
from engine.controller.engine import Engine  # noqa: E402
from engine.ipc import messages as msg  # noqa: E402
from engine.tools.loadtest.runner import describe_machine  # noqa: E402
from engine.tools.sipp import pcaps  # noqa: E402
from engine.tools.sipp.runner import SippUas  # noqa: E402
from engine.worker.call import DIGIT_TRACE_ENV  # noqa: E402
from tests.support.engine import engine_config, wait_for_end  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "digit-latency.json"
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


class TimedEngine(Engine):
    """Notes when the controller reads each DigitReceived (before anything else runs)."""

    digits_at: list[int]

    def _on_worker_message(self, worker: pool_module.WorkerHandle, message: msg.FromWorker) -> None:
        if isinstance(message, msg.DigitReceived):
            self.digits_at.append(time.monotonic_ns())
        super()._on_worker_message(worker, message)


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
    return {
        "samples": len(latencies_ms),
        "p50_ms": round(percentile(latencies_ms, 50), 3),
        "p99_ms": round(percentile(latencies_ms, 99), 3),
        "max_ms": round(max(latencies_ms), 3),
        "mean_ms": round(statistics.fmean(latencies_ms), 3),
    }


def pair(digits_at: list[int], plays_at: list[int]) -> list[float]:
    """For each digit, the first PlayFile after it and before the next digit (ms)."""
    out = []
    for index, at in enumerate(digits_at):
        until = digits_at[index + 1] if index + 1 < len(digits_at) else None
        play = next((p for p in plays_at if p >= at and (until is None or p < until)), None)
        if play is not None:
            out.append((play - at) / 1e6)
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
    trace = work / "worker-digits.txt"
    os.environ[DIGIT_TRACE_ENV] = str(trace)

    plays_at: list[int] = []
    original_send = pool_module.WorkerHandle.send

    def timed_send(self: pool_module.WorkerHandle, message: msg.Message) -> None:
        if isinstance(message, msg.PlayFile):
            plays_at.append(time.monotonic_ns())
        original_send(self, message)

    pool_module.WorkerHandle.send = timed_send  # type: ignore[method-assign]
    try:
        with SippUas("uas-send-dtmf", cwd=pcap_dir) as uas:
            config = engine_config(work, uas.port, flows_dir=flows, workers={"max_workers": 1})
            engine = TimedEngine(config)
            engine.digits_at = []
            await engine.start()
            try:
                session = await engine.create_outgoing_session(
                    "digit-loop", "+18144043093", "+12025550143"
                )
                deadline = time.monotonic() + count * gap_ms / 1000 + 15
                while len(engine.digits_at) < count and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)  # the last prompt
                await engine.end_session(session.id)
                await wait_for_end(engine, session.id)
            finally:
                await engine.stop(drain_seconds=0)
    finally:
        pool_module.WorkerHandle.send = original_send  # type: ignore[method-assign]
        os.environ.pop(DIGIT_TRACE_ENV, None)

    worker_digits = [
        int(line.split()[0]) for line in trace.read_text().splitlines() if line.strip()
    ]
    received = [
        line.split()[2] for line in trace.read_text().splitlines() if len(line.split()) == 3
    ]
    controller = pair(engine.digits_at, plays_at)
    worker = pair(worker_digits, plays_at)
    ipc = [(c - w) / 1e6 for w, c in zip(worker_digits, engine.digits_at, strict=False) if c >= w]
    return {
        "digits_sent": count,
        "digits_received": len(engine.digits_at),
        "digits_intact": "".join(received) == digits,
        "gap_ms": gap_ms,
        "worker_digit_to_playfile": summary(worker),
        "controller_digit_to_playfile": summary(controller),
        "worker_to_controller_ipc": summary(ipc),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", type=int, default=200, help="how many digits (>= 100)")
    parser.add_argument("--gap-ms", type=int, default=400, help="between digits, start to start")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digit-latency-") as tmp:
        result = asyncio.run(run(args.digits, args.gap_ms, Path(tmp)))
    report = {
        "benchmark": "digit_latency",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "bench/digit_latency.py " + " ".join(sys.argv[1:]),
        "machine": {**describe_machine(), "sipp": sipp_version()},
        "flow": "gather 1 digit (prompt: play audio/beep.wav) -> goto gather",
        **result,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
