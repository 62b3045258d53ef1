"""`voice-engine loadtest`: offered load against a SIPp callee, with a live bar and a report."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import uvloop

from engine.cli import tool_imports
from engine.config import load_config


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "loadtest",
        help="drive the HTTP API at a target rate against a SIPp callee and write a report",
    )
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second (10)")
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("--calls", type=int, help="number of calls (default: 100)")
    amount.add_argument("--duration", type=float, help="seconds of offered load")
    parser.add_argument("--flow", default="loadtest-3s", help="FlowId (default: loadtest-3s)")
    parser.add_argument("--number", default="+18144043093", help="NumberToDial")
    parser.add_argument("--scenario", help="SIPp UAS scenario (default: uas-answer-echo-wait-bye)")
    parser.add_argument(
        "--digits",
        help="the callee sends these DTMF digits after answering (uses uas-send-dtmf)",
    )
    parser.add_argument("--out", type=Path, help="report folder (default: var/loadtest/<time>)")
    parser.add_argument("--url", help="target a running engine instead of starting one")
    parser.add_argument("--key", help="API key for --url")
    parser.add_argument(
        "--sipp-port", type=int, help="with --url: start the SIPp callee on this UDP port"
    )
    parser.add_argument("--flows-dir", type=Path, help="flows for the in-process engine")
    parser.add_argument("--min-workers", type=int, help="override workers.min_workers")
    parser.add_argument("--max-workers", type=int, help="override workers.max_workers")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")
    parser.add_argument(
        "--mqtt",
        metavar="URL",
        help="the in-process engine also publishes its events to this broker (mqtt://HOST:PORT)",
    )
    parser.set_defaults(func=_loadtest)


def _loadtest(args: argparse.Namespace) -> int:
    with tool_imports("loadtest"):
        import matplotlib  # noqa: F401  the report plots with it: missing, say so before the run

        from engine.tools.loadtest.runner import DEFAULT_SCENARIO, LoadOptions, run_load

    calls = args.calls
    if calls is None:
        calls = math.ceil(args.rate * args.duration) if args.duration else 100
    out = args.out or Path("var/loadtest") / time.strftime("%Y%m%d-%H%M%S")
    options = LoadOptions(
        rate=args.rate,
        calls=calls,
        flow_id=args.flow,
        number=args.number,
        out_dir=out,
        url=args.url,
        key=args.key,
        scenario="uas-send-dtmf" if args.digits else args.scenario or DEFAULT_SCENARIO,
        sipp_port=args.sipp_port,
        flows_dir=args.flows_dir,
        min_workers=args.min_workers,
        max_workers=args.max_workers,
        progress=not args.no_progress,
        mqtt_url=args.mqtt,
    )
    config = None if args.url else load_config(args.config)
    if args.digits:
        from engine.tools.sipp.pcaps import DEFAULT_DIR, ensure_pcaps, sequence_pcap

        # uas-send-dtmf plays its working folder's dtmf-sequence.pcap: one folder per string.
        folder = ensure_pcaps(DEFAULT_DIR / f"digits-{args.digits}")
        sequence_pcap(args.digits, folder / "dtmf-sequence.pcap")
        options.sipp_cwd = folder
    summary = uvloop.run(run_load(config, options))
    return 0 if summary["failed"] == 0 and summary["unfinished"] == 0 else 1
