"""CPU per call of the log lines `voice-engine serve` writes for a call's events: the 12 INFO
lines of a `loadtest-3s` call (`engine.controller.engine.log_event`, as `Engine.emit` writes
them), through the engine's own handler
(`engine.logs.setup_logging`: session filter, masking, text or JSON) into /dev/null.

`bench/load_bench.py` sets up no logging, so its engine pays none of this; a served engine does.

    python bench/log_lines_cpu.py [--calls 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from event_bus_cpu import call_events

from engine.config import LoggingConfig
from engine.controller.engine import log_event
from engine.logs import setup_logging
from engine.tools.loadtest.runner import describe_machine

RESULTS = Path(__file__).resolve().parent / "results"
SESSION_ID = "0123456789abcdef0123456789abcdef"


def ms_per_call(fmt: str, calls: int, rounds: int) -> float:
    """The best of `rounds`: milliseconds of CPU for one call's event lines."""
    events = call_events()
    best = float("inf")
    with open(os.devnull, "w") as sink:
        setup_logging(LoggingConfig(format=fmt, level="INFO"), ["trunk-password"], stream=sink)
        for _ in range(rounds):
            start = time.process_time()
            for _ in range(calls):
                for kind, data in events:
                    log_event(SESSION_ID, kind, data)
            best = min(best, (time.process_time() - start) / calls)
    return round(best * 1e3, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = {
        "benchmark": "log lines of a call's events, per call",
        "lines_per_call": len(call_events()),
        "ms_per_call": {fmt: ms_per_call(fmt, args.calls, args.rounds) for fmt in ("text", "json")},
        "machine": describe_machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    output = RESULTS / time.strftime("log-lines-cpu-%Y%m%d-%H%M%S.json", time.gmtime())
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ms_per_call"]))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
