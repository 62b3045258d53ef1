"""Time from the HTTP API request to the INVITE reaching SIPp, p50 and p99.

    .venv/bin/python bench/api_to_invite.py [--sessions 200] [--rate 10] [--mqtt absent up down]
        [--baseline]

`voice-engine serve` runs as its own process on a temporary config (free ports, its own
store); SIPp answers every call and the flow hangs up at once. The client stamps the wall
clock just before sending each POST; SIPp's message trace stamps the INVITE's arrival; the
X-Session-Id header pairs them. Both clocks are this machine's. With `--mqtt absent up down`
the same run is repeated without a broker, with a local mosquitto, and with a broker configured
but unreachable (events spool in the outbox): the cost of publishing on call setup.
`--baseline` writes the result to bench/results/ as the new baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import baseline  # noqa: E402
from engine.tools.broker import MosquittoBroker  # noqa: E402
from engine.tools.loadtest.runner import describe_machine  # noqa: E402
from engine.tools.serve_process import ServeProcess  # noqa: E402
from engine.tools.sipp.ports import free_tcp_port  # noqa: E402
from engine.tools.sipp.runner import SippUas  # noqa: E402

TRACE_BLOCK = re.compile(
    r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n"
    r"UDP message received \[\d+\] bytes :\n\n(INVITE [^\n]*\n(?:[^\n]+\n)*?)\n",
    re.MULTILINE,
)
SESSION_HEADER = re.compile(r"^X-Session-Id:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


def write_config(
    root: Path, sipp_port: int, http_port: int, workers: int, mqtt_url: str | None
) -> Path:
    config: dict[str, object] = {
        "node_id": "bench",
        "http": {"host": "127.0.0.1", "port": http_port},
        "store": {"path": "var/engine.db"},
        "flows_dir": str(ROOT / "bench" / "flows"),
        "recordings_dir": "var/recordings",
        "tts": {"cache_dir": str(ROOT / "var" / "tts-cache")},
        "workers": {"min_workers": workers, "max_workers": workers},
        "trunks": [{"name": "sipp", "host": "127.0.0.1", "port": sipp_port}],
        "numbers": [{"number": "+12025550143", "trunk": "sipp"}],
        "mqtt": {"url": mqtt_url},
        "logging": {"level": "WARNING"},
        "drain_seconds": 5,
    }
    path = root / "config" / "engine.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(config))
    return path


def invite_arrivals(trace: str) -> dict[str, float]:
    arrivals: dict[str, float] = {}
    for stamp, message in TRACE_BLOCK.findall(trace):
        session = SESSION_HEADER.search(message)
        if session and session.group(1) not in arrivals:
            local = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
            arrivals[session.group(1)] = local.timestamp()
    return arrivals


async def drive(base: str, key: str, sessions: int, rate: float) -> dict[str, float]:
    sent_at: dict[str, float] = {}
    failures: list[str] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=10
    ) as client:

        async def one() -> None:
            started = time.time()
            response = await client.post(
                "/sessions/outgoing",
                json={"flowId": "quick-hangup", "numberToDial": "+18144043093"},
            )
            if response.status_code != 200:
                failures.append(f"{response.status_code} {response.text[:200]}")
                return
            sent_at[response.json()["id"]] = started

        loop = asyncio.get_running_loop()
        start = loop.time() + 0.1
        tasks = []
        for index in range(sessions):
            await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
            tasks.append(asyncio.ensure_future(one()))
        await asyncio.gather(*tasks)
        deadline = time.monotonic() + 60
        pending = set(sent_at)
        while pending and time.monotonic() < deadline:
            for session_id in list(pending)[:50]:
                state = (await client.get(f"/sessions/{session_id}")).json()
                if state["ended"]:
                    pending.discard(session_id)
            await asyncio.sleep(0.2)
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, first: {failures[0]}")
    return sent_at


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def measure(sessions: int, rate: float, workers: int, mqtt: str) -> dict[str, object]:
    """One run; `mqtt` is "absent" (no broker configured), "up" or "down" (configured, dead)."""
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-api-"))
        uas = stack.enter_context(
            SippUas("uas-answer-echo-wait-bye", rtp_echo=True, extra_args=["-buff_size", "4194304"])
        )
        mqtt_url = None
        if mqtt == "up":
            mqtt_url = stack.enter_context(MosquittoBroker()).url
        elif mqtt == "down":
            mqtt_url = f"mqtt://127.0.0.1:{free_tcp_port()}"
        http_port = free_tcp_port()
        config = write_config(Path(folder), uas.port, http_port, workers, mqtt_url)
        cli = [sys.executable, "-m", "engine.cli", "--config", str(config)]
        key = subprocess.run(
            [*cli, "keys", "create", "--role", "Manager", "--name", "bench"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        base = f"http://127.0.0.1:{http_port}"
        with ServeProcess(config, base, Path(folder) / "serve.log"):
            sent_at = asyncio.run(drive(base, key, sessions, rate))
        arrivals = invite_arrivals(uas.messages_text())

    delays_ms = [
        (arrivals[session] - sent) * 1000
        for session, sent in sent_at.items()
        if session in arrivals
    ]
    return {
        "mqtt": mqtt,
        "sessions": sessions,
        "rate_per_second": rate,
        "workers": workers,
        "invites_seen": len(delays_ms),
        "invites_missing": len(sent_at) - len(delays_ms),
        "p50_ms": round(statistics.median(delays_ms), 3),
        "p99_ms": round(percentile(delays_ms, 0.99), 3),
        "max_ms": round(max(delays_ms), 3),
        "mean_ms": round(statistics.fmean(delays_ms), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--mqtt",
        nargs="+",
        choices=("absent", "up", "down"),
        default=["absent"],
        help="event broker situations to measure, one run each (default: absent)",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="write the result to bench/results/ as the new baseline",
    )
    args = parser.parse_args()

    runs = [measure(args.sessions, args.rate, args.workers, mode) for mode in args.mqtt]
    result = baseline.record(
        "api-to-invite",
        baseline.command_line("bench/api_to_invite.py", sys.argv[1:]),
        describe_machine(),
        runs,
        summarize(runs),
    )
    print(json.dumps(result.summary, indent=1))
    print(baseline.save(result, args.baseline))
    return 0 if all(run["invites_missing"] == 0 for run in runs) else 1


def summarize(runs: list[dict[str, object]]) -> dict[str, object]:
    """p50 and p99 by broker situation."""
    return {
        f"broker_{run['mqtt']}_{figure}": run[figure]
        for run in runs
        for figure in ("p50_ms", "p99_ms", "invites_missing")
    }


if __name__ == "__main__":
    sys.exit(main())
