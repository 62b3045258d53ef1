"""Load benchmarks: the engine beside two references on one SIPp UAS, in the same run.

    python bench/load_bench.py latency --rates 10 50 --seconds 30     # (c) API -> INVITE
    python bench/load_bench.py rate --rates 40 60 80 --seconds 60     # (a) sustained rate
    python bench/load_bench.py rate --rates 60 64 68 --repeat 3       # (a), engine vs bare, x3
    python bench/load_bench.py concurrency --counts 100 200 300       # (b) concurrent calls
    python bench/load_bench.py soak --calls 10000 --rate 50           # (d) soak

References at the same rate and call length: SIPp as the caller (`scenarios/uac-3s-call.xml`,
the machine's ceiling) and bare pjsua2 with as many processes as the engine has workers
(`bare_pjsua2.py`). Each run's result, in the baseline schema (bench/README.md), goes to
var/bench/results/, or with `--baseline` to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import baseline  # noqa: E402
from engine.config import EngineConfig, load_config  # noqa: E402
from engine.tools.broker import MosquittoBroker  # noqa: E402
from engine.tools.loadtest.procstat import ProcessSampler  # noqa: E402
from engine.tools.loadtest.records import EventRecorder, SessionTimes  # noqa: E402
from engine.tools.loadtest.runner import (  # noqa: E402
    SOCKET_BUFFER,
    LoadOptions,
    LoadSippUas,
    describe_machine,
    run_load,
)
from engine.tools.sipp.ports import free_udp_port, free_udp_port_range  # noqa: E402
from engine.tools.sipp.runner import SippUas  # noqa: E402
from engine.tools.sipp.socket_drops import DropWatch, parse_udp_table  # noqa: E402

WORK = ROOT / "var" / "bench"
CALL_SECONDS = 3.0
DESTINATION = "+18144043093"


RMEM_DEFAULT = Path("/proc/sys/net/core/rmem_default")
FAR_END_RMEM_DEFAULT = 8 * 2**20
"""The default UDP receive buffer a run raises the machine's to. SIPp's `-buff_size` sets only
its SIP sockets; its one RTP echo socket, shared by every call of both sides, gets the kernel's
default, which overflows under hundreds of calls whenever SIPp waits for a core
(docs/field-notes.md, SIPp)."""

SLOT_SECONDS = CALL_SECONDS + 1.0
"""How long to plan a call's slot for: the 3-s flow, setup and hang-up, and a margin for the
calls that stretch near saturation."""


def workers_for(rate: float, slot_seconds: float = SLOT_SECONDS) -> int:
    """Worker processes (and bare pjsua2 processes) for `rate` calls/s of 3-s calls, each call
    given `slot_seconds` of a slot (4 calls a process)."""
    return math.ceil(rate * slot_seconds / 4) + 2


def media_files() -> tuple[Path, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    pcm, ulaw = WORK / "tone-3s.wav", WORK / "tone-3s-ulaw.wav"
    tone = ["synth", str(CALL_SECONDS), "sine", "440", "vol", "0.3"]
    if not pcm.exists():
        subprocess.run(
            ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(pcm), *tone], check=True
        )
    if not ulaw.exists():
        subprocess.run(
            ["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(ulaw), *tone], check=True
        )
    return pcm, ulaw


def rate_config(rate: float) -> EngineConfig:
    """config/engine.yaml with its first trunk's limits out of the way of a load at `rate`."""
    config = load_config(ROOT / "config" / "engine.yaml")
    trunk = config.trunks[0].model_copy(
        update={"max_calls_per_second": max(100.0, rate * 2), "max_concurrent_calls": 5000}
    )
    return config.model_copy(update={"trunks": [trunk]})


async def engine_run(
    uas: SippUas,
    rate: float,
    calls: int,
    workers: int,
    out: Path,
    flow: str = "loadtest-3s",
    mqtt_url: str | None = None,
) -> dict[str, Any]:
    config = rate_config(rate)
    assert uas.process is not None
    options = LoadOptions(
        rate=rate,
        calls=calls,
        flow_id=flow,
        out_dir=out,
        callee_port=uas.port,
        callee_pid=uas.process.pid,
        min_workers=workers,
        max_workers=workers,
        progress=False,
        final_wait=60,
        mqtt_url=mqtt_url,
    )
    return await run_load(config, options)


def bare_command(
    uas: SippUas, processes: int, rate: float, calls: int, rtp_base: int, *extra: str
) -> list[str]:
    pcm, _ = media_files()
    return [
        sys.executable, str(ROOT / "bench" / "bare_pjsua2.py"),
        "--target", f"sip:{DESTINATION}@127.0.0.1:{uas.port}",
        "--processes", str(processes), "--rate", str(rate), "--calls", str(calls),
        "--wav", str(pcm), "--rtp-base", str(rtp_base), *extra,
    ]  # fmt: skip


def bare_run(uas: SippUas, rate: float, calls: int, processes: int, out: Path) -> dict[str, Any]:
    rtp_base = free_udp_port_range(processes * 40)
    command = bare_command(uas, processes, rate, calls, rtp_base, "--out", str(out))
    assert uas.process is not None
    far_end_drops = DropWatch([uas.process.pid])
    result = subprocess.run(command, capture_output=True, text=True, timeout=calls / rate + 240)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": result.stderr[-2000:]}
    summary: dict[str, Any] = json.loads(lines[-1])
    summary["far_end_udp_drops"] = far_end_drops.since()
    if any(cause.startswith("process died") for cause in summary.get("failures_by_cause", {})):
        summary["stderr_tail"] = result.stderr[-3000:]
    return summary


def sipp_uac_command(
    uas: SippUas, scenario: str, rate: float, calls: int, limit: int, screen: Path, *extra: str
) -> list[str]:
    return [
        "sipp", "-sf", str(ROOT / "bench" / "scenarios" / scenario),
        "-i", "127.0.0.1", "-p", str(free_udp_port()),
        "-mi", "127.0.0.1", "-mp", str(free_udp_port_range(4)),
        "-r", str(rate), "-m", str(calls), "-l", str(limit),
        "-buff_size", SOCKET_BUFFER, "-nostdin",
        "-trace_screen", "-screen_file", str(screen), *extra,
        f"127.0.0.1:{uas.port}",
    ]  # fmt: skip


def sipp_statistic(screen_text: str, label: str) -> int | None:
    """A count from SIPp's final screen (e.g. "Successful call")."""
    match = re.search(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", screen_text)
    return int(match.group(1)) if match else None


def sipp_uac_run(uas: SippUas, rate: float, calls: int) -> dict[str, Any]:
    _, ulaw = media_files()
    with tempfile.TemporaryDirectory(prefix="uac-") as folder:
        screen = Path(folder) / "screen.log"
        command = sipp_uac_command(uas, "uac-3s-call.xml", rate, calls, int(rate * 10) + 10, screen)
        started = time.monotonic()
        before = _children_cpu()
        limit = calls / rate + 120
        try:
            exit_code: int | None = subprocess.run(
                command, cwd=ulaw.parent, capture_output=True, timeout=limit
            ).returncode
        except subprocess.TimeoutExpired:  # killed; its screen still holds the counts so far
            exit_code = None
        elapsed = time.monotonic() - started
        text = screen.read_text(errors="replace") if screen.exists() else ""
    return {
        "calls": calls,
        "rate": rate,
        "exit_code": exit_code,
        **({"error": f"did not finish in {limit:.0f} s"} if exit_code is None else {}),
        "completed": sipp_statistic(text, "Successful call"),
        "failed": sipp_statistic(text, "Failed call"),
        "cpu_cores_mean": round((_children_cpu() - before) / elapsed, 3),
    }


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def summarize(kind: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of a run that the docs cite, by kind of run."""
    match kind:
        case "rate" | "latency":
            summary: dict[str, Any] = {
                "sustained_means": SUSTAINED_RULES,
                "by_row": [rate_row_summary(row) for row in rows],
            }
            both_sides = all("engine" in row and "bare_pjsua2" in row for row in rows)
            return summary | (ceilings(rows) if kind == "rate" and both_sides else {})
        case "concurrency":
            return {"by_count": [concurrency_row_summary(row) for row in rows]}
        case "soak":
            (row,) = rows
            engine, memory = row["engine"], row["memory"]
            return {
                "calls": row["calls"],
                "rate": row["rate"],
                "completed": engine["completed"],
                "failed": engine["failed"],
                "unfinished": engine["unfinished"],
                "api_to_invite_p99_ms": engine["api_to_invite"]["p99_ms"],
                "engine_rss_mb_warm": memory["engine"]["warm"],
                "engine_rss_mb_sending_end": memory["engine"]["sending_end"],
                "engine_rss_growth_from_warm_pct": memory["engine"]["growth_from_warm_pct"],
                "workers_rss_growth_from_warm_pct": memory["workers"]["growth_from_warm_pct"],
            }
    raise ValueError(f"no summary for runs of kind {kind!r}")


def rate_row_summary(row: dict[str, Any]) -> dict[str, Any]:
    """One rate's verdicts, and the engine's API->INVITE and CPU a call placed."""
    summary: dict[str, Any] = {"rate": row["rate"], "repetition": row.get("repetition", 0)}
    for side in ("engine", "bare_pjsua2"):
        if side in row:
            summary[f"{side}_sustained"] = row[side]["verdict"]["sustained"]
    engine = row.get("engine")
    if engine is not None:
        summary["api_to_invite_p50_ms"] = engine["api_to_invite"]["p50_ms"]
        summary["api_to_invite_p99_ms"] = engine["api_to_invite"]["p99_ms"]
        summary["machine_cores"] = engine["machine_cores_mean"]
        placed = engine["achieved_rate"]
        for group in ("engine", "workers"):
            cores = engine["resources"][group]["cores_mean"]
            summary[f"{group}_ms_a_call"] = round(1000 * cores / placed, 2) if placed else None
    return summary


def concurrency_row_summary(row: dict[str, Any]) -> dict[str, Any]:
    summary = {
        "calls": row["calls"],
        "connected": row["connected"],
        "still_up_after_10s": row["still_up_after_10s"],
        "calls_with_audio_both_ways": row["audio"]["calls_with_audio_both_ways"],
        "packets_lost": row["audio"]["packets_lost"],
        "workers_cores": row["cores"]["workers"],
        "workers_rss_mb": row["rss_mb"]["workers"],
    }
    bare = row.get("bare_pjsua2")
    if bare is not None:
        summary["bare_pjsua2_cores"] = bare["cores"]["bare_pjsua2"]
        summary["bare_pjsua2_rss_mb"] = bare["rss_mb"]["bare_pjsua2"]
    return summary


def save(
    kind: str,
    rows: list[dict[str, Any]],
    argv: list[str],
    machine: dict[str, Any],
    as_baseline: bool,
) -> Path:
    result = baseline.record(
        kind,
        baseline.command_line("bench/load_bench.py", argv),
        machine,
        rows,
        summarize(kind, rows),
    )
    return baseline.save(result, as_baseline)


def soak_memory(report: Path, sending_seconds: float) -> dict[str, Any]:
    """RSS of the engine process and of the workers at four moments of a soak.

    idle: before the first call. warm: a fifth into the sending, with the run's concurrency
    reached. sending_end: the last sample while requests were still sent; after it the load
    client hands its 10,000 call records to this process (the harness, not the engine).
    last: the run's last sample. Growth is given from idle and from warm.
    """
    series = json.loads(report.read_text())["resources"]
    warm_t, end_t = sending_seconds / 5, sending_seconds
    idle = series[0]
    warm = next(s for s in series if s["t"] >= warm_t)
    sending_end = [s for s in series if s["t"] <= end_t][-1]
    last = series[-1]
    moments = {"idle": idle, "warm": warm, "sending_end": sending_end, "last": last}
    result: dict[str, Any] = {"t": {name: s["t"] for name, s in moments.items()}}
    for group in ("engine", "workers"):
        rss = {name: s[f"{group}_rss_mb"] for name, s in moments.items()}
        result[group] = rss | {
            "growth_from_idle_pct": round(100 * (rss["sending_end"] / rss["idle"] - 1), 1),
            "growth_from_warm_pct": round(100 * (rss["sending_end"] / rss["warm"] - 1), 1),
        }
    return result


SUSTAINED_RULES = (
    "every call completed, none failed; calls placed at 97% of the offered rate or more;"
    " audio both ways on every call and RTP loss under 1%; for the engine also API->INVITE"
    " p50 under 100 ms in every 5-s window of the schedule (no queue building up)"
)
WINDOW_SECONDS = 5.0


def verdict(result: dict[str, Any], rate: float, calls: int) -> dict[str, Any]:
    """Whether `result` (the engine's or bare pjsua2's) sustained `rate`, by SUSTAINED_RULES,
    and each rule it broke."""
    broken = []
    if result.get("completed") != calls or result.get("failed"):
        broken.append(f"{result.get('completed')}/{calls} completed, {result.get('failed')} failed")
    achieved = result.get("achieved_rate") or 0.0
    if achieved < 0.97 * rate:
        broken.append(f"placed at {achieved}/s")
    rtp = result.get("rtp") or {}
    if rtp.get("calls_without_audio_both_ways"):
        broken.append(f"{rtp['calls_without_audio_both_ways']} calls without audio both ways")
    if (rtp.get("loss_ratio") or 0.0) >= 0.01:
        dropped = (result.get("far_end_udp_drops") or {}).get("datagrams")
        at_far_end = f" (SIPp's sockets dropped {dropped} datagrams)" if dropped else ""
        broken.append(f"RTP loss {100 * rtp['loss_ratio']:.2f}%{at_far_end}")
    undelivered = (result.get("events") or {}).get("undelivered")
    if undelivered:
        broken.append(f"{undelivered} events not delivered to the broker")
    worst = result.get("api_to_invite_worst_window_p50_ms")
    if worst is not None and worst >= 100:
        broken.append(f"API->INVITE p50 {worst} ms in its worst 5-s window")
    return {"sustained": not broken, "broken": broken}


def worst_window_p50_ms(report: Path) -> float | None:
    """The highest API->INVITE median over the 5-s windows of the schedule."""
    windows: dict[int, list[float]] = {}
    for call in json.loads(report.read_text())["calls"]:
        if call.get("api_to_invite") is not None:
            windows.setdefault(int(call["scheduled"] // WINDOW_SECONDS), []).append(
                call["api_to_invite"]
            )
    medians = [statistics.median(values) for values in windows.values()]
    return round(1000 * max(medians), 2) if medians else None


def speed_probe_ms(rounds: int = 5) -> float:
    """CPU milliseconds of a fixed piece of pure Python, the best of `rounds`: run just before
    each side of a row, on the idle machine, it shows whether the VM ran at the same speed for
    both (a VM's speed can drift within minutes)."""
    best = math.inf
    for _ in range(rounds):
        start = time.thread_time()
        table: dict[int, int] = {}
        for i in range(60_000):
            table[i % 977] = table.get(i % 977, 0) + i * 7 // 3
        best = min(best, time.thread_time() - start)
    return round(best * 1000, 2)


def engine_row(summary: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "offered_calls", "completed", "failed", "unfinished", "failures_by_cause",
        "achieved_rate", "api_to_invite", "api_to_invite_parts", "client_to_invite",
        "http_latency", "setup_latency", "rtp", "peak_active_calls", "answered_seconds_mean",
        "resources", "machine_cores_mean", "machine_steal_cores_mean", "late_sends_over_10ms",
        "far_end_udp_drops", "events",
    )  # fmt: skip
    return {key: summary.get(key) for key in keys}


async def rate_row(
    args: argparse.Namespace, uas: SippUas, rate: float, repetition: int
) -> dict[str, Any]:
    """The engine and the references at `rate`. Repetitions alternate which of the engine and
    bare pjsua2 goes first, so a VM whose speed drifts favours neither; SIPp as the caller
    (the machine's ceiling, far from it at these rates) runs in the first repetition only."""
    calls = int(rate * args.seconds)
    workers = workers_for(rate, args.slot_seconds)
    out = WORK / f"{args.kind}-{rate:g}"
    row: dict[str, Any] = {"rate": rate, "calls": calls, "workers": workers}
    # far_end_udp_drops names ports: these are the callee's SIP port and its RTP echo's.
    row["sipp_ports"] = {"sip": uas.port, "rtp": uas.media_port}
    if repetition:
        row["repetition"] = repetition

    async def engine() -> None:
        probe = speed_probe_ms()
        result = engine_row(
            await engine_run(uas, rate, calls, workers, out, mqtt_url=args.mqtt_url)
        )
        result["api_to_invite_worst_window_p50_ms"] = worst_window_p50_ms(out / "report.json")
        result["speed_probe_ms"] = probe
        result["verdict"] = verdict(result, rate, calls)
        row["engine"] = result
        print(json.dumps({"rate": rate, "engine": result["verdict"]}))

    def bare() -> None:
        probe = speed_probe_ms()
        result = bare_run(uas, rate, calls, workers, out / "bare.json")
        result["speed_probe_ms"] = probe
        result["verdict"] = verdict(result, rate, calls)
        row["bare_pjsua2"] = result

    bare_first = repetition % 2 == 1
    if bare_first and not args.no_refs:
        bare()
    if not args.refs_only:
        await engine()
    if not bare_first and not args.no_refs:
        bare()
    if not args.no_refs and repetition == 0:
        row["sipp_uac"] = sipp_uac_run(uas, rate, calls)
    return row


def ceilings(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per repetition, the highest rate the engine and bare pjsua2 each sustained with every
    lower rate of the run sustained too, and the engine's share of bare pjsua2's; then the
    median share.

    A ceiling at the highest rate run is only a lower bound ("at_least"), so a share is "exact"
    only when neither side's is: with bare pjsua2's a lower bound the share is "at most", with
    the engine's "at least". A repetition in which the engine sustained none of the rates (and
    bare pjsua2 some) has a share below the lowest rate over bare pjsua2's ceiling: "at most"
    that. A side that sustained higher rates after its first failure ("sustained_above", e.g.
    a bare pjsua2 process aborted at one rate only) has no clear ceiling; with that, or with
    both ceilings lower bounds, the repetition has no share, and then neither has the median.
    The median is a bound of the same kind as its repetitions' (it rises with each of them),
    and there is none when they mix "at most" and "at least"."""
    repetitions: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        repetitions.setdefault(row.get("repetition", 0), []).append(row)
    per_repetition = []
    for repetition, run in sorted(repetitions.items()):
        run = sorted(run, key=lambda r: r["rate"])
        entry: dict[str, Any] = {"repetition": repetition}
        for side in ("engine", "bare_pjsua2"):
            ceiling = None
            for row in run:
                if not row[side]["verdict"]["sustained"]:
                    break
                ceiling = row["rate"]
            entry[side] = ceiling
            entry[f"{side}_at_least"] = ceiling == run[-1]["rate"]
            above = [
                row["rate"]
                for row in run
                if row["rate"] > (ceiling or 0) and row[side]["verdict"]["sustained"]
            ]
            if above:
                entry[f"{side}_sustained_above"] = above
        entry.update(_share(entry, lowest_rate=run[0]["rate"]))
        per_repetition.append(entry)
    return {"per_repetition": per_repetition, **_median_share(per_repetition)}


def _share(entry: dict[str, Any], lowest_rate: float) -> dict[str, Any]:
    engine, bare = entry["engine"], entry["bare_pjsua2"]
    unclear = any(f"{side}_sustained_above" in entry for side in ("engine", "bare_pjsua2"))
    if unclear or not bare:
        return {}
    if not engine:
        return {"engine_share": round(lowest_rate / bare, 3), "engine_share_is": "at most"}
    bounds = (entry["engine_at_least"], entry["bare_pjsua2_at_least"])
    kind = {(False, False): "exact", (False, True): "at most", (True, False): "at least"}.get(
        bounds
    )
    if kind is None:
        return {}
    return {"engine_share": round(engine / bare, 3), "engine_share_is": kind}


def _median_share(per_repetition: list[dict[str, Any]]) -> dict[str, Any]:
    if not per_repetition or any("engine_share" not in e for e in per_repetition):
        return {"median_engine_share": None}
    bounds = {e["engine_share_is"] for e in per_repetition} - {"exact"}
    if len(bounds) > 1:
        return {"median_engine_share": None}
    median = statistics.median(e["engine_share"] for e in per_repetition)
    return {
        "median_engine_share": round(median, 3),
        "median_engine_share_is": bounds.pop() if bounds else "exact",
    }


@contextlib.contextmanager
def udp_receive_buffers(size: int, setting: Path = RMEM_DEFAULT) -> Iterator[dict[str, Any]]:
    """The machine's default UDP receive buffer at least `size` bytes while the run lasts (0:
    left as it is), put back afterwards. Yields what the result file records: the value before
    and, when it could not be raised (not root), why."""
    before = int(setting.read_text().split()[0])
    record: dict[str, Any] = {"udp_rmem_default_before_run": before}
    if not size or before >= size:
        yield record
        return
    try:
        setting.write_text(f"{size}\n")
    except OSError as exc:
        record["udp_rmem_default_not_raised"] = f"{setting}: {exc.strerror or exc}"
        print(f"warning: could not raise {setting} to {size}: {exc}", file=sys.stderr)
        yield record
        return
    try:
        yield record
    finally:
        setting.write_text(f"{before}\n")


async def main_async(args: argparse.Namespace, argv: list[str]) -> None:
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        buffers = stack.enter_context(udp_receive_buffers(args.udp_rmem_default))
        # Now: the revision measured, not the one at the end; and the buffer the run has.
        machine = {**describe_machine(), **buffers}
        args.mqtt_url = None
        if getattr(args, "mqtt", False):
            args.mqtt_url = stack.enter_context(MosquittoBroker()).url
        await run_kind(args, rows)
    print(save(args.kind, rows, argv, machine, args.baseline))


async def run_kind(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    with LoadSippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        if args.kind in ("latency", "rate"):
            repeats = getattr(args, "repeat", 1)
            for repetition in range(repeats):
                for rate in args.rates:
                    row = await rate_row(args, uas, rate, repetition)
                    rows.append(row)
                    print(json.dumps(row, default=str)[:2000])
        elif args.kind == "soak":
            workers = workers_for(args.rate)
            out = WORK / "soak"
            summary = await engine_run(
                uas, args.rate, args.calls, workers, out, mqtt_url=args.mqtt_url
            )
            memory = soak_memory(out / "report.json", args.calls / args.rate)
            rows.append({"rate": args.rate, "calls": args.calls, "workers": workers,
                         "engine": engine_row(summary), "memory": memory})  # fmt: skip
        elif args.kind == "concurrency":
            for count in args.counts:
                row = await concurrency_run(uas, count)
                if not args.no_refs:
                    row["bare_pjsua2"] = bare_hold_run(uas, count)
                    row["sipp_uac"] = sipp_uac_hold_run(uas, count)
                rows.append(row)
                print(json.dumps(rows[-1], default=str)[:3000])


async def concurrency_run(uas: SippUas, count: int) -> dict[str, Any]:
    """`count` held calls (RTP both ways: silence out, echo back); CPU and memory per call."""
    from engine.controller.engine import Engine
    from engine.sessions.model import CallState
    from engine.tools.loadtest.runner import FLOWS_DIR

    config = load_config(ROOT / "config" / "engine.yaml")
    workers = math.ceil(count / 4)
    trunk = config.trunks[0].model_copy(
        update={
            "port": uas.port,
            "max_calls_per_second": HOLD_RAMP_RATE,
            "max_concurrent_calls": 5000,
        }
    )
    with tempfile.TemporaryDirectory(prefix="conc-") as folder:
        config = config.model_copy(
            update={
                "trunks": [trunk],
                "flows_dir": FLOWS_DIR,
                "store": config.store.model_copy(update={"path": Path(folder) / "e.db"}),
                "workers": config.workers.model_copy(
                    update={"min_workers": workers, "max_workers": workers}
                ),
            }
        )
        recorder = EventRecorder()
        engine = Engine(config, events=recorder)
        await engine.start()
        assert uas.process is not None
        sipp_pid = uas.process.pid
        sampler = ProcessSampler(
            {
                "engine": lambda: [os.getpid()],
                "workers": lambda: [w.process.pid for w in engine.pool.workers.values()],
                "sipp": lambda: [sipp_pid],
            }
        )
        idle = sampler.sample()
        await asyncio.sleep(3)
        idle = sampler.sample()
        ids = []
        for _ in range(count):
            ids.append(
                (await engine.create_outgoing_session("loadtest-hold", DESTINATION, None)).id
            )
        deadline = time.monotonic() + count / 50 + 30
        while time.monotonic() < deadline:
            states = [
                engine.calls[i].session.call_state if i in engine.calls else None for i in ids
            ]
            if all(s is CallState.CONNECTED for s in states) or any(s is None for s in states):
                break
            await asyncio.sleep(0.2)
        connected = sum(
            1
            for i in ids
            if i in engine.calls and engine.calls[i].session.call_state is CallState.CONNECTED
        )
        sampler.sample()
        samples = []
        for _ in range(10):
            await asyncio.sleep(1)
            samples.append(sampler.sample())
        still = sum(1 for i in ids if i in engine.calls)
        calls = [engine.calls[i] for i in ids if i in engine.calls]
        for session_id in ids:
            await engine.end_session(session_id)
        for call in calls:
            await asyncio.wait_for(call.done.wait(), 30)
        outcomes = [engine.get_session(i) for i in ids]
        failed = Counter(
            f"{s.outcome}: {s.sip_reason}"
            for s in outcomes
            if s is not None and s.outcome is not None and s.outcome.value != "completed"
        )
        await engine.stop(drain_seconds=10)
    audio = held_call_audio([recorder.sessions[i] for i in ids if i in recorder.sessions])

    def mean(name: str, index: int) -> float:
        return sum(s.groups[name][index] for s in samples) / len(samples)

    cores = {name: round(mean(name, 0), 3) for name in ("engine", "workers", "sipp")}
    rss = {name: round(mean(name, 1) / 2**20, 1) for name in ("engine", "workers", "sipp")}
    idle_rss = {name: round(idle.groups[name][1] / 2**20, 1) for name in ("engine", "workers")}
    engine_cores = cores["engine"] + cores["workers"]
    return {
        "calls": count,
        "workers": workers,
        "connected": connected,
        "still_up_after_10s": still,
        "cores": cores,
        "machine_cores": round(sum(s.machine_cores for s in samples) / len(samples), 3),
        "machine_steal_cores": round(sum(s.machine_steal_cores for s in samples) / len(samples), 3),
        "rss_mb": rss,
        "idle_rss_mb": idle_rss,
        "engine_cores_per_call": round(engine_cores / max(1, connected), 5),
        "engine_rss_mb_per_call": round((rss["engine"] + rss["workers"]) / max(1, connected), 2),
        "failures_by_cause": dict(failed),
        "audio": audio,
    }


RTP_PACKETS_PER_SECOND = 50  # 20-ms frames
HOLD_RAMP_RATE = 50.0
"""Calls per second while the references set up their held calls (the engine's trunk too)."""


def hold_seconds(count: int) -> float:
    """A reference call's length: the ramp, time to settle, 10 s of samples and a margin."""
    return count / HOLD_RAMP_RATE + 25


def ten_seconds_of(sampler: ProcessSampler) -> list[Any]:
    sampler.sample()
    samples = []
    for _ in range(10):
        time.sleep(1)
        samples.append(sampler.sample())
    return samples


def sampled(samples: list[Any], groups: tuple[str, ...]) -> dict[str, Any]:
    n = len(samples)
    return {
        "cores": {g: round(sum(s.groups[g][0] for s in samples) / n, 3) for g in groups},
        "rss_mb": {g: round(sum(s.groups[g][1] for s in samples) / n / 2**20, 1) for g in groups},
        "machine_cores": round(sum(s.machine_cores for s in samples) / n, 3),
    }


def _spawned_children(pid: int) -> list[int]:
    """bare_pjsua2.py's worker processes (multiprocessing spawn children of `pid`)."""
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
                with contextlib.suppress(OSError):
                    if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                        found.append(int(child))
    return found


def _bound_udp_ports(first: int, count: int) -> int:
    sockets = parse_udp_table(Path("/proc/net/udp").read_text().splitlines())
    return sum(1 for port, _ in sockets.values() if first <= port < first + count)


def bare_hold_run(uas: SippUas, count: int) -> dict[str, Any]:
    """Bare pjsua2 holding `count` calls (count/4 processes): established calls are counted by
    their bound RTP and RTCP sockets, as the script reports nothing until it ends."""
    assert uas.process is not None
    sipp_pid = uas.process.pid
    processes = math.ceil(count / 4)
    rtp_base = free_udp_port_range(processes * 40)
    hold = hold_seconds(count)
    timer = ("--hang-up", "timer", "--call-seconds", str(hold))
    command = bare_command(uas, processes, HOLD_RAMP_RATE, count, rtp_base, *timer)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = ProcessSampler(
        {"bare_pjsua2": lambda: _spawned_children(process.pid), "sipp": lambda: [sipp_pid]}
    )
    # The processes start slowly: allow a second each before the first call.
    deadline = time.monotonic() + processes + count / HOLD_RAMP_RATE + 60
    while time.monotonic() < deadline:
        if _bound_udp_ports(rtp_base, processes * 40) // 2 >= count:
            break
        time.sleep(0.2)
    established = _bound_udp_ports(rtp_base, processes * 40) // 2
    samples = ten_seconds_of(sampler)
    still = _bound_udp_ports(rtp_base, processes * 40) // 2
    out, err = process.communicate(timeout=hold + 240)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return {
        "processes": processes,
        "established": established,
        "still_up_after_10s": still,
        **sampled(samples, ("bare_pjsua2", "sipp")),
        "run": json.loads(lines[-1]) if lines else {"error": err[-2000:]},
    }


def sipp_uac_hold_run(uas: SippUas, count: int) -> dict[str, Any]:
    """SIPp as the caller holding `count` calls (`uac-hold-call.xml`), sampled once the ramp
    is over; its own statistics give the calls' outcome when they end."""
    assert uas.process is not None
    sipp_pid = uas.process.pid
    _, ulaw = media_files()
    hold = hold_seconds(count)
    with tempfile.TemporaryDirectory(prefix="uac-hold-") as folder:
        screen = Path(folder) / "screen.log"
        command = sipp_uac_command(
            uas, "uac-hold-call.xml", HOLD_RAMP_RATE, count, count + 10, screen,
            "-d", str(int(hold * 1000)),
        )  # fmt: skip
        process = subprocess.Popen(
            command, cwd=ulaw.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        sampler = ProcessSampler({"sipp_uac": lambda: [process.pid], "sipp": lambda: [sipp_pid]})
        time.sleep(count / HOLD_RAMP_RATE + 3)
        samples = ten_seconds_of(sampler)
        process.wait(timeout=hold + 240)
        text = screen.read_text(errors="replace") if screen.exists() else ""
    return {
        "exit_code": process.returncode,
        "completed": sipp_statistic(text, "Successful call"),
        "failed": sipp_statistic(text, "Failed call"),
        **sampled(samples, ("sipp_uac", "sipp")),
    }


def held_call_audio(sessions: list[SessionTimes]) -> dict[str, Any]:
    """Whether media flowed both ways for the whole of each held call: the worker's own RTP
    counts (sent; received = SIPp's echo of what it got) against 50 packets a second."""
    rates = []
    for times in sessions:
        if times.answered_at is None or times.ended_at is None or not times.rtp:
            continue
        talk = times.ended_at - times.answered_at
        sent = (times.rtp.get("rtp_packets_sent") or 0) / talk
        received = (times.rtp.get("rtp_packets_received") or 0) / talk
        rates.append((sent, received, times.rtp.get("rtp_packets_lost") or 0))
    floor = 0.9 * RTP_PACKETS_PER_SECOND
    return {
        "calls_counted": len(rates),
        "calls_with_audio_both_ways": sum(1 for s, r, _ in rates if s >= floor and r >= floor),
        "sent_per_second_min": round(min((s for s, _, _ in rates), default=0), 1),
        "received_per_second_min": round(min((r for _, r, _ in rates), default=0), 1),
        "packets_lost": sum(lost for _, _, lost in rates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    for kind in ("latency", "rate"):
        p = sub.add_parser(kind)
        p.add_argument("--rates", type=float, nargs="+", required=True)
        p.add_argument("--seconds", type=float, default=60)
        refs = p.add_mutually_exclusive_group()
        refs.add_argument("--no-refs", action="store_true", help="the engine only")
        refs.add_argument("--refs-only", action="store_true", help="the two references only")
        p.add_argument(
            "--slot-seconds", type=float, default=SLOT_SECONDS, metavar="S",
            help=f"size the engine's pool and bare pjsua2's processes alike for S seconds of"
            f" slot a call (default {SLOT_SECONDS:g}: rate + 2 processes)",
        )  # fmt: skip
        if kind == "rate":
            p.add_argument(
                "--repeat", type=int, default=1, metavar="N",
                help="run the rates N times, alternating whether the engine or bare pjsua2"
                " goes first; the result holds each run's ceilings and their median share",
            )  # fmt: skip
    p = sub.add_parser("concurrency")
    p.add_argument("--counts", type=int, nargs="+", required=True)
    p.add_argument("--no-refs", action="store_true", help="the engine only")
    p = sub.add_parser("soak")
    p.add_argument("--calls", type=int, default=10000)
    p.add_argument("--rate", type=float, default=50)
    for p in sub.choices.values():
        p.add_argument(
            "--baseline", action="store_true",
            help="write the result to bench/results/ as the new baseline of its kind",
        )  # fmt: skip
        p.add_argument(
            "--udp-rmem-default", type=int, default=FAR_END_RMEM_DEFAULT, metavar="BYTES",
            help="raise net.core.rmem_default to at least BYTES for the run and put it back"
            " after (needs root; 0: leave it), so SIPp's RTP echo socket, which both sides"
            f" share, does not overflow first (default {FAR_END_RMEM_DEFAULT})",
        )  # fmt: skip
    for p in (sub.choices["latency"], sub.choices["rate"], sub.choices["soak"]):
        p.add_argument(
            "--mqtt", action="store_true",
            help="the engine also publishes its events (outbox, QoS 1) to a private mosquitto,"
            " as a node with MQTT does; the broker's CPU counts in the machine's",
        )  # fmt: skip
    argv = sys.argv[1:]
    uvloop.run(main_async(parser.parse_args(argv), argv))


if __name__ == "__main__":
    main()
