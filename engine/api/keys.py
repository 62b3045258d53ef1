"""API keys: stored as SHA-256 hashes in SQLite, each with a name and roles.

A key is shown once, when created; the store keeps only its hash, so a leaked database does not
leak usable keys. Keys are long random tokens, so an unsalted fast hash is enough here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import RequestError

KEY_PREFIX = "ve_"
ROLES = ("Manager", "SystemAdministrator", "Viewer")
"""Known roles. Placing and reading calls needs Manager or SystemAdministrator; Viewer is
reserved for read-only access and is refused by every route today."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL,
    created TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class ApiKey:
    name: str
    roles: frozenset[str]
    created: datetime


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def canonical_role(role: str) -> str:
    """The role's canonical spelling (matching is case-insensitive); RequestError if unknown."""
    for known in ROLES:
        if known.lower() == role.strip().lower():
            return known
    raise RequestError(f"unknown role {role!r} (known: {', '.join(ROLES)})", field="role")


class KeyStore:
    """API keys in the `api_keys` table of a SQLite file (":memory:" for tests)."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the event loop and CLI; the lock serialises its use.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, roles: Iterable[str], name: str | None = None) -> str:
        """Store a new key and return it; it cannot be read back later."""
        canonical = sorted({canonical_role(r) for r in roles})
        if not canonical:
            raise RequestError("a key needs at least one role", field="role")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        name = name.strip() if name else f"key-{secrets.token_hex(4)}"
        if not name:
            raise RequestError("a key name may not be blank", field="name")
        created = datetime.now(UTC).isoformat()
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO api_keys (name, key_hash, roles, created) VALUES (?, ?, ?, ?)",
                    (name, hash_key(key), ",".join(canonical), created),
                )
        except sqlite3.IntegrityError as exc:
            raise RequestError(f"a key named {name!r} already exists", field="name") from exc
        return key

    def authenticate(self, key: str) -> ApiKey | None:
        if not key:
            return None
        presented = hash_key(key)
        with self._lock:
            row = self._db.execute(
                "SELECT name, key_hash, roles, created FROM api_keys WHERE key_hash = ?",
                (presented,),
            ).fetchone()
        if row is None or not hmac.compare_digest(row[1], presented):
            return None
        return _api_key(row[0], row[2], row[3])

    def list_keys(self) -> list[ApiKey]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, roles, created FROM api_keys ORDER BY created, name"
            ).fetchall()
        return [_api_key(*row) for row in rows]

    def revoke(self, name: str) -> bool:
        """Delete the named key; False if there is none."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM api_keys WHERE name = ?", (name,))
        return cursor.rowcount > 0


def _api_key(name: str, roles: str, created: str) -> ApiKey:
    return ApiKey(
        name, frozenset(r for r in roles.split(",") if r), datetime.fromisoformat(created)
    )
