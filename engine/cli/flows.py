"""`voice-engine flows validate|schema|simulate|graph`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from engine.config import load_config
from engine.errors import ConfigError, FlowError
from engine.flow.graph import mermaid
from engine.flow.loader import check_flow, flow_files, load_flow, sibling_ids
from engine.flow.model import Flow
from engine.flow.schema import flow_json_schema
from engine.flow.simulate import Script, simulate


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    flows = subparsers.add_parser("flows", help="validate, simulate and draw call flows")
    sub = flows.add_subparsers(dest="flows_command", required=True)

    validate = sub.add_parser("validate", help="check flow files; exit 1 on any problem")
    validate.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (default: flows_dir)"
    )
    validate.set_defaults(func=run_validate)

    schema = sub.add_parser("schema", help="write a JSON Schema of flow files")
    schema.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    schema.set_defaults(func=run_schema)

    sim = sub.add_parser("simulate", help="run a flow on a virtual clock, without SIP")
    sim.add_argument("flow", help="a flow id (in flows_dir) or a flow file")
    sim.add_argument("--digits", default="", help="typed one by one when a gather listens")
    sim.add_argument(
        "--digit-at", action="append", default=[], metavar="SECONDS:DIGIT", type=_digit_at
    )
    sim.add_argument("--hangup-at", type=float, metavar="SECONDS")
    sim.add_argument("--silence", action="store_true", help="the caller never types or speaks")
    hook = sim.add_mutually_exclusive_group()
    hook.add_argument("--webhook-response", type=_json_object, metavar="JSON")
    hook.add_argument("--webhook-fail", action="store_true")
    sim.add_argument(
        "--recording-seconds",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="how long the caller speaks once a recording starts (default 3)",
    )
    sim.add_argument(
        "--transfer-refused", action="store_true", help="the far end refuses a transfer's REFER"
    )
    sim.add_argument(
        "--dial-unanswered", action="store_true", help="a dial step's second leg does not answer"
    )
    sim.add_argument(
        "--dial-seconds",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long an answered second leg stays before it hangs up (default 5)",
    )
    sim.add_argument(
        "--max-seconds",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="stop the simulation at this time (default 3600)",
    )
    sim.set_defaults(func=run_simulate)

    graph = sub.add_parser("graph", help="print a Mermaid flowchart of a flow")
    graph.add_argument("flow", help="a flow id (in flows_dir) or a flow file")
    graph.set_defaults(func=run_graph)


def _digit_at(text: str) -> tuple[float, str]:
    seconds, _, digit = text.partition(":")
    try:
        return float(seconds), _one_digit(digit)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SECONDS:DIGIT, e.g. 2.5:1") from exc


def _one_digit(digit: str) -> str:
    if len(digit) != 1 or digit not in "0123456789*#ABCD":
        raise ValueError(digit)
    return digit


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def flows_dir(args: argparse.Namespace) -> Path:
    """The configured flows folder; ./flows when the configuration cannot be loaded."""
    config = getattr(args, "config", None)
    try:
        return load_config(Path(config) if config else None).flows_dir
    except ConfigError:
        return Path("flows")


def run_validate(args: argparse.Namespace) -> int:
    paths: list[Path] = args.paths or [flows_dir(args)]
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(flow_files(path))
        else:
            files.append(path)
    if not files:
        print(f"no flow files in {', '.join(str(p) for p in paths)}")
        return 1
    failed = False
    for path in files:
        flow, problems = check_flow(path, sibling_ids(path))
        for problem in problems:
            print(problem)
        if flow is not None:
            print(f"{path}: OK ({len(flow.steps)} steps)")
        failed = failed or bool(problems)
    return 1 if failed else 0


def run_schema(args: argparse.Namespace) -> int:
    text = json.dumps(flow_json_schema(), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def resolve_flow(args: argparse.Namespace) -> Flow:
    """FLOW as a file path, or as an id in the configured flows folder."""
    path = Path(args.flow)
    if not path.is_file():
        folder = flows_dir(args)
        path = next((folder / f"{args.flow}{s}" for s in (".yaml", ".yml")), path)
        if not path.is_file():
            raise FlowError(f"no flow file {args.flow!r} (nor {path})")
    return load_flow(path, sibling_ids(path))


def run_simulate(args: argparse.Namespace) -> int:
    flow = resolve_flow(args)
    script = Script(
        digits=args.digits,
        digits_at=args.digit_at,
        hangup_at=args.hangup_at,
        silence=args.silence,
        webhook_response=args.webhook_response,
        webhook_fail=args.webhook_fail,
        recording_seconds=args.recording_seconds,
        transfer_accepted=not args.transfer_refused,
        dial_answered=not args.dial_unanswered,
        dial_seconds=args.dial_seconds,
        max_seconds=args.max_seconds,
    )

    def lookup(flow_id: str) -> Flow:
        return load_flow(flow.folder / f"{flow_id}.yaml", sibling_ids(flow.path))

    result = simulate(flow, script, lookup)
    print(f"simulating {flow.id}: {flow.name}")
    print(result.render())
    if result.finished is None or result.finished.result == "error":
        return 1
    return 0


def run_graph(args: argparse.Namespace) -> int:
    print(mermaid(resolve_flow(args)), end="")
    return 0
