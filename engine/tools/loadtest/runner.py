"""One load run: SIPp callee, engine (in-process or at a URL), the driver, the report."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from engine.app.serve import api_with_temporary_key
from engine.config import EngineConfig
from engine.controller.engine import Engine
from engine.errors import EngineError
from engine.events import model as em
from engine.events.bus import EventBus
from engine.tools.loadtest.driver import LoadDriver, LoadPlan, drive_from_another_process
from engine.tools.loadtest.procstat import ProcessSampler
from engine.tools.loadtest.records import EventRecorder
from engine.tools.loadtest.report import write_report
from engine.tools.sipp.ports import free_tcp_port
from engine.tools.sipp.runner import SippUas
from engine.tools.sipp.socket_drops import DropWatch

FLOWS_DIR = Path(__file__).resolve().parent / "flows"
DEFAULT_SCENARIO = "uas-answer-echo-wait-bye"
SOCKET_BUFFER = "4194304"
"""SIPp's -buff_size: the kernel's default UDP buffers drop datagrams at high rates."""
EVENT_DELIVERY_TIMEOUT_SECONDS = 30.0
"""How long after the last call a run waits for the broker to acknowledge every event."""


class LoadSippUas(SippUas):
    """The callee for load: no per-message trace (SIPp would spend its time writing it)."""

    def command(self) -> list[str]:
        cmd = super().command()
        for option in ("-message_file", "-error_file"):
            at = cmd.index(option)
            del cmd[at : at + 2]
        cmd = [arg for arg in cmd if arg not in ("-trace_msg", "-trace_err")]
        return [*cmd, "-buff_size", SOCKET_BUFFER]


@dataclass
class LoadOptions:
    rate: float
    calls: int
    flow_id: str = "loadtest-3s"
    number: str = "+18144043093"
    out_dir: Path = Path("var/loadtest")
    url: str | None = None
    key: str | None = None
    scenario: str = DEFAULT_SCENARIO
    sipp_keys: dict[str, str] = field(default_factory=dict)
    sipp_port: int | None = None
    callee_port: int | None = None
    """A SIPp callee already running on this loopback port (benchmarks share one)."""
    callee_pid: int | None = None
    """Its pid, to sample its CPU and memory."""
    sipp_cwd: Path | None = None
    """SIPp's working folder (its pcaps); None: var/pcaps."""
    flows_dir: Path | None = None
    min_workers: int | None = None
    max_workers: int | None = None
    final_wait: float = 120.0
    progress: bool = True
    mqtt_url: str | None = None
    """The in-process engine also publishes its events here, through its outbox, as a node
    with MQTT does (None: the report's recorder alone gets them)."""


def describe_machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), ""
        )
    memory = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        memory = meminfo.readline().split(":", 1)[1].strip()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "engine_revision": _source_revision(),
        "udp_rmem_default": _read_int("/proc/sys/net/core/rmem_default"),
    }


def _read_int(path: str) -> int | None:
    """A kernel setting (the default UDP receive buffer decides whether SIPp's single RTP echo
    socket drops packets with hundreds of calls, docs/field-notes.md)."""
    try:
        with open(path) as setting:
            return int(setting.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _source_revision() -> str | None:
    """The checkout's commit, with "-dirty" when it has uncommitted changes (None outside git)."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    revision = done.stdout.strip()
    return revision if done.returncode == 0 and revision else None


def load_config_for(config: EngineConfig, options: LoadOptions, sipp_port: int) -> EngineConfig:
    """The engine's config for an in-process run: the first trunk points at our SIPp."""
    if not config.trunks:
        raise EngineError("the config has no trunk to place load calls through")
    trunk = config.trunks[0].model_copy(update={"host": "127.0.0.1", "port": sipp_port})
    workers = config.workers.model_copy(
        update={
            key: value
            for key, value in (
                ("min_workers", options.min_workers),
                ("max_workers", options.max_workers),
            )
            if value is not None
        }
    )
    store = config.store.model_copy(update={"path": options.out_dir / "engine.db"})
    return config.model_copy(
        update={
            "trunks": [trunk, *config.trunks[1:]],
            "workers": workers,
            "store": store,
            "flows_dir": options.flows_dir or FLOWS_DIR,
            "http": config.http.model_copy(update={"host": "127.0.0.1", "port": free_tcp_port()}),
            "mqtt": config.mqtt.model_copy(update={"url": options.mqtt_url}),
        }
    )


@contextlib.contextmanager
def callee(options: LoadOptions, port: int | None) -> Iterator[SippUas | None]:
    if (options.url is not None and port is None) or options.callee_port is not None:
        yield None
        return
    uas = LoadSippUas(
        options.scenario, port=port, rtp_echo=True, keys=options.sipp_keys, cwd=options.sipp_cwd
    )
    uas.start()
    try:
        yield uas
    finally:
        uas.close()


@contextlib.asynccontextmanager
async def in_process_engine(
    config: EngineConfig, recorder: EventRecorder
) -> AsyncIterator[tuple[Engine, str, str]]:
    """The engine and its HTTP API on a free port; yields (engine, base URL, Manager key).
    With `config.mqtt.url` set, the events also go through an EventBus to that broker."""
    config.store.path.parent.mkdir(parents=True, exist_ok=True)
    bus = EventBus.from_config(config) if config.mqtt.url else None
    engine = Engine(config, events=recorder if bus is None else BothSinks(recorder, bus))
    if bus is not None:
        await bus.start()
    await engine.start()
    try:
        async with api_with_temporary_key(config, engine, "loadtest") as (base_url, key, _):
            yield engine, base_url, key
    finally:
        await engine.stop(drain_seconds=0)
        if bus is not None:
            await bus.stop()


@dataclass
class BothSinks:
    """The report's recorder and the engine's event bus, each given every event."""

    recorder: EventRecorder
    bus: EventBus
    emitted: int = 0

    def emit(self, session_id: str, kind: em.EventKind, data: em.EventData) -> None:
        self.recorder.emit(session_id, kind, data)
        self.bus.emit(session_id, kind, data)
        self.emitted += 1

    async def delivery(self, timeout: float) -> dict[str, Any]:
        """Once the broker has acknowledged every event, or `timeout` s have passed: how many
        were emitted, acknowledged and are still waiting, and how long that took."""
        started = time.monotonic()
        self.bus.flush()
        while self.bus.depth and time.monotonic() - started < timeout:
            await asyncio.sleep(0.05)
        return {
            "emitted": self.emitted,
            "delivered": self.bus.delivered_total,
            "undelivered": self.bus.depth,
            "seconds_to_deliver_after_the_last_call": round(time.monotonic() - started, 2),
        }


async def run_load(config: EngineConfig | None, options: LoadOptions) -> dict[str, Any]:
    """Run one load test and write its report to options.out_dir; returns the summary."""
    console = Console(highlight=False)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    # A report folder reused by a later run must not carry the earlier run's sessions.
    spool = options.out_dir / "ended-sessions.jsonl"
    for leftover in ("engine.db", "engine.db-wal", "engine.db-shm", spool.name):
        (options.out_dir / leftover).unlink(missing_ok=True)
    plan = LoadPlan(rate=options.rate, calls=options.calls, flow_id=options.flow_id,
                    number=options.number)  # fmt: skip
    meta: dict[str, Any] = {
        "rate": options.rate,
        "calls": options.calls,
        "flow": options.flow_id,
        "scenario": options.scenario,
        "target": options.url or "in-process engine",
        "machine": describe_machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with callee(options, options.sipp_port) as uas:
        sipp_pids = [uas.process.pid] if uas is not None and uas.process else []
        if options.callee_pid is not None:
            sipp_pids.append(options.callee_pid)
        far_end_drops = DropWatch(sipp_pids)
        async with contextlib.AsyncExitStack() as stack:
            recorder: EventRecorder | None = None
            client_pids: list[int] = []
            groups: dict[str, Any] = {"sipp": lambda: sipp_pids, "load_client": lambda: client_pids}
            if options.url is None:
                callee_port = options.callee_port or (uas.port if uas is not None else None)
                assert config is not None and callee_port is not None
                recorder = EventRecorder(spool=spool)
                engine_config = load_config_for(config, options, callee_port)
                engine, base_url, key = await stack.enter_async_context(
                    in_process_engine(engine_config, recorder)
                )
                meta["workers"] = engine_config.workers.model_dump(mode="json")
                groups["engine"] = lambda: [os.getpid()]
                groups["workers"] = lambda: [
                    w.process.pid for w in list(engine.pool.workers.values())
                ]
                if isinstance(engine.events, BothSinks):
                    bus = engine.events.bus
                    groups["event_relay"] = lambda: [bus.relay_pid] if bus.relay_pid else []
                if engine.flows.get(options.flow_id) is None:
                    raise EngineError(f"no flow {options.flow_id!r} in {engine_config.flows_dir}")
            else:
                if not options.key:
                    raise EngineError("--url needs --key (a Manager or Dialer API key)")
                base_url, key = options.url.rstrip("/"), options.key
            sampler = ProcessSampler(groups)
            sampling = asyncio.ensure_future(sampler.run())
            stack.callback(sampling.cancel)
            with _progress(console, options) as update:
                if recorder is not None:
                    records, origin = await drive_from_another_process(
                        plan, base_url, key, recorder, final_wait=options.final_wait,
                        on_progress=update, client_pids=client_pids,
                    )  # fmt: skip
                else:
                    driver = LoadDriver(
                        plan, base_url, key, on_progress=lambda d: update(d.counts())
                    )
                    records = await driver.run(final_wait=options.final_wait)
                    origin = driver.origin
            events = None
            if recorder is not None and isinstance(engine.events, BothSinks):
                sampling.cancel()  # the calls' resources, not the wait below
                events = await engine.events.delivery(EVENT_DELIVERY_TIMEOUT_SECONDS)
        far_end = far_end_drops.since() if sipp_pids else None
    summary = write_report(
        options.out_dir,
        records,
        origin,
        options.rate,
        samples=sampler.samples,
        meta=meta,
        far_end_udp_drops=far_end,
        events=events,
    )
    if recorder is not None:
        recorder.close()
    spool.unlink(missing_ok=True)  # its contents are in report.json's calls now
    console.print(
        f"{summary['completed']}/{summary['offered_calls']} completed, {summary['failed']} failed,"
        f" {summary['unfinished']} unfinished; achieved {summary['achieved_rate']} calls/s;"
        f" API->INVITE p50 {summary['api_to_invite']['p50_ms']} ms"
        f" p99 {summary['api_to_invite']['p99_ms']} ms; report in {options.out_dir}"
    )
    return summary


@contextlib.contextmanager
def _progress(console: Console, options: LoadOptions) -> Iterator[Any]:
    if not options.progress:
        yield lambda counts: None
        return
    columns = (
        TextColumn("[bold]load[/bold]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} done"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, refresh_per_second=4) as progress:
        task = progress.add_task("load", total=options.calls, detail="")

        def update(c: dict[str, int]) -> None:
            progress.update(
                task,
                completed=c["done"],
                detail=f"sent {c['sent']} invited {c['invited']} active {c['active']}"
                f" failed {c['failed']}",
            )

        yield update
