"""`voice-engine serve`: the engine and its HTTP API until SIGTERM or SIGINT (then a drain)."""

from __future__ import annotations

import argparse

import uvloop

from engine.app.serve import serve
from engine.config import load_config
from engine.logs import secrets_of, setup_logging


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the engine and its HTTP API")
    parser.add_argument("--host", help="HTTP address (default: http.host from the config)")
    parser.add_argument("--port", type=int, help="HTTP port (default: http.port from the config)")
    parser.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.host:
        config.http.host = args.host
    if args.port is not None:
        config.http.port = args.port
    setup_logging(config.logging, secrets_of(config))
    uvloop.run(serve(config))
    return 0
