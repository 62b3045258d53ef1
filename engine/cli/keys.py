"""`voice-engine keys create|list|revoke`: manage API keys in the store's SQLite file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.api.keys import ROLES, KeyStore
from engine.config import load_config


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = subparsers.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)

    create = actions.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument(
        "--role",
        action="append",
        required=True,
        help=f"a role of the key; repeat for several ({', '.join(ROLES)})",
    )
    create.add_argument("--name", default=None, help="a unique name, used to revoke the key")
    create.set_defaults(func=_create)

    listing = actions.add_parser("list", help="list keys: name, roles, created (never the key)")
    listing.set_defaults(func=_list)

    revoke = actions.add_parser("revoke", help="delete a key by name")
    revoke.add_argument("name")
    revoke.set_defaults(func=_revoke)


def _store(args: argparse.Namespace) -> KeyStore:
    config = load_config(Path(args.config) if args.config else None)
    return KeyStore(config.store.path)


def _create(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        key = store.create(args.role, args.name)
    finally:
        store.close()
    # The key alone on stdout, so `KEY=$(voice-engine keys create ...)` works.
    print(key)
    return 0


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        keys = store.list_keys()
    finally:
        store.close()
    for key in keys:
        print(f"{key.name}\t{','.join(sorted(key.roles))}\t{key.created.isoformat()}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        revoked = store.revoke(args.name)
    finally:
        store.close()
    if not revoked:
        print(f"voice-engine: no key named {args.name!r}", file=sys.stderr)
        return 1
    print(f"revoked {args.name}", file=sys.stderr)
    return 0
