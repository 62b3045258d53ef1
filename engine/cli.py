"""The `voice-engine` command.

Each part of the engine adds its own subcommands through a `register(subparsers)` function;
a subcommand's handler takes the parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from engine.errors import EngineError

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Registrar]:
    from engine.api import keys_cli
    from engine.controller import serve_cli
    from engine.flow import cli as flows_cli
    from engine.loadtest import cli as loadtest_cli

    registrars: list[Registrar] = [
        serve_cli.register,
        keys_cli.register,
        flows_cli.register,
        loadtest_cli.register,
    ]
    return registrars


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


if __name__ == "__main__":
    sys.exit(main())
