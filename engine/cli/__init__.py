"""The `voice-engine` command.

Each part of the engine adds its own subcommands through a `register(subparsers)` function;
a subcommand's handler takes the parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence

from engine.errors import EngineError

TOOL_DEPENDENCIES = frozenset({"rich", "matplotlib"})
"""What the tools need beyond the engine: the `tools` extra."""

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Registrar]:
    # Each registrar imports only what its arguments need; a tool is imported when its command
    # runs, so `serve` never loads the tools or their dependencies.
    from engine.cli import demo, flows, keys, loadtest, serve

    return [serve.register, demo.register, keys.register, flows.register, loadtest.register]


@contextlib.contextmanager
def tool_imports(command: str) -> Iterator[None]:
    """Around a tool's import: a missing extra becomes an error that says what to install."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if exc.name not in TOOL_DEPENDENCIES:
            raise
        raise EngineError(
            f"`voice-engine {command}` needs {exc.name}: pip install 'voice-engine[tools]'"
        ) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voice-engine", description=__doc__)
    parser.add_argument(
        "--config",
        default=None,
        help="config file (default: $VOICE_ENGINE_CONFIG or config/engine.yaml)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for register in _registrars():
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except EngineError as exc:
        print(f"voice-engine: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status
