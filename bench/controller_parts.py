"""Two parts of the controller's work per call, measured alone (no SIP, no HTTP).

- The flow's rehearsal at dialling (engine/controller/call.py): `FlowRun(...)` and `.start()` of
  `loadtest-3s`, the load test's flow, timed with timeit.
- The session store (engine/sessions/store.py) at a call rate, under an event loop as in the
  engine: a `loadtest-3s` call's writes (the new session, 14 more log lines, 2 intermediate
  states, the final state), with the store and without it; the difference is the store's CPU.
  One commit of a bare sqlite3 connection in the store's settings is timed beside it.

    .venv/bin/python bench/controller_parts.py [--rate 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import timeit
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.flow.events import SessionFacts  # noqa: E402
from engine.flow.machine import FlowRun  # noqa: E402
from engine.flow.registry import FlowRegistry  # noqa: E402
from engine.sessions.model import CallState, LogEntry, Outcome, Session, utc_now  # noqa: E402
from engine.sessions.store import _SCHEMA as STORE_SCHEMA  # noqa: E402
from engine.sessions.store import SessionStore  # noqa: E402
from engine.sessions.wal import use_wal  # noqa: E402
from engine.tools.loadtest.runner import FLOWS_DIR, describe_machine  # noqa: E402

FACTS = SessionFacts("bench", "loadtest-3s", "+18144043093", "+12025550143", "2026-11-27T22:00:00Z")
REHEARSALS = 20_000
LOG_LINES_AFTER_CREATION = 14
COMMITS = 3_000


def bench_rehearsal() -> dict[str, float]:
    registry = FlowRegistry(FLOWS_DIR)
    registry.load_all()
    flow = registry.get("loadtest-3s")
    create = timeit.timeit(lambda: FlowRun(flow, FACTS, registry.get), number=REHEARSALS)
    both = timeit.timeit(lambda: FlowRun(flow, FACTS, registry.get).start(0.0), number=REHEARSALS)
    return {
        "runs": REHEARSALS,
        "flow_run_us": round(create / REHEARSALS * 1e6, 1),
        "flow_run_and_start_us": round(both / REHEARSALS * 1e6, 1),
    }


async def store_cpu_per_call(rate: float, seconds: float, with_store: bool) -> float:
    """CPU of this process (every thread) per call: the calls' objects, and the store's writes
    if `with_store`."""
    calls = int(rate * seconds)
    with tempfile.TemporaryDirectory() as folder:
        store = SessionStore(Path(folder) / "engine.db")
        cpu_before = time.process_time()
        start = time.monotonic()
        for index in range(calls):
            session = Session(
                id=uuid.uuid4().hex,
                flow_id="loadtest-3s",
                destination="+18144043093",
                from_address="+12025550143",
                trunk="bench",
            )
            session.log.append(LogEntry(utc_now(), "created: flow loadtest-3s"))
            if with_store:
                store.insert(session)
            for line in range(LOG_LINES_AFTER_CREATION):
                entry = LogEntry(utc_now(), f"step hello (say) started: line {line}")
                session.log.append(entry)
                if with_store:
                    store.append_log(session.id, len(session.log) - 1, entry)
                if line in (2, 5):
                    session.call_state = CallState.CONNECTED
                    if with_store:
                        store.save(session)
            session.outcome = Outcome.COMPLETED
            session.date_completed = utc_now()
            if with_store:
                store.save(session)
            await asyncio.sleep(max(0.0, start + (index + 1) / rate - time.monotonic()))
        cpu = time.process_time() - cpu_before
        store.close()
    return cpu / calls


def bench_commit() -> float:
    """CPU per commit of one new session and its first log line, in the store's schema, on a
    bare connection (no Python objects around it)."""
    with tempfile.TemporaryDirectory() as folder:
        db = sqlite3.connect(Path(folder) / "bare.db", isolation_level=None)
        use_wal(db)
        db.executescript(STORE_SCHEMA)
        when = "2026-11-27T22:00:00.000000+00:00"
        cpu_before = time.process_time()
        for _ in range(COMMITS):
            session_id = uuid.uuid4().hex
            row = (
                session_id,
                "f",
                "+1",
                "+1",
                "t",
                "Queued",
                None,
                None,
                None,
                when,
                None,
                None,
                "n",
            )
            db.execute("BEGIN")
            db.execute("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
            db.execute("INSERT INTO session_log VALUES (?, 0, ?, 'created')", (session_id, when))
            db.execute("COMMIT")
        cpu = time.process_time() - cpu_before
        db.close()
    return cpu / COMMITS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="calls a second for the store")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    rehearsal = bench_rehearsal()
    without = asyncio.run(store_cpu_per_call(args.rate, args.seconds, with_store=False))
    with_store = asyncio.run(store_cpu_per_call(args.rate, args.seconds, with_store=True))
    commit = bench_commit()
    result = {
        "benchmark": "controller parts per call",
        "rehearsal": rehearsal,
        "store": {
            "rate": args.rate,
            "seconds": args.seconds,
            "cpu_ms_per_call_without_store": round(without * 1e3, 3),
            "cpu_ms_per_call_with_store": round(with_store * 1e3, 3),
            "store_cpu_ms_per_call": round((with_store - without) * 1e3, 3),
        },
        "bare_commit_cpu_ms": round(commit * 1e3, 3),
        "machine": describe_machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    output = args.output or ROOT / "bench/results" / time.strftime(
        "controller-parts-%Y%m%d-%H%M%S.json", time.gmtime()
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({key: result[key] for key in ("rehearsal", "store", "bare_commit_cpu_ms")}))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
