"""`voice-engine demo`: one call to a local SIPp callee, with its timeline (a tool: imported
only when the command runs)."""

from __future__ import annotations

import argparse

import uvloop

from engine.cli import tool_imports
from engine.config import load_config


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo", help="call a local SIPp callee through the engine and print the session timeline"
    )
    demo.add_argument("--flow", default="greeting", help="FlowId to run (default: greeting)")
    demo.add_argument(
        "--number", default="+18144043093", help="NumberToDial (default: +18144043093)"
    )
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the end")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    with tool_imports("demo"):
        from engine.tools.demo import run_demo

    config = load_config(args.config)
    return uvloop.run(run_demo(config, flow_id=args.flow, number=args.number, timeout=args.timeout))
