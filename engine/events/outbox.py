"""A durable outbox for events: SQLite tables in the engine's own database file.

An event is written here before anyone tries to publish it, so a broker outage or an engine
restart loses nothing: the publisher reads `pending_stored()` in insertion order, and what the
broker acknowledged is deleted (`mark_delivered_through`, or `append_many(forget_through=)`).
Only undelivered events are kept, so the table stays as small as the backlog.

Per-session sequence numbers live in their own table, because delivered rows are deleted and the
next number must still continue after them (and after a restart). A session's counter is pruned
once it has been idle for `sequence_retention_seconds` and none of its events wait here. The
numbers are drawn from a cache in memory (`next_sequence`) and written with the events
(`append_many`: one transaction for a whole batch), so one Outbox must be the only one to append
events to its file; a transaction per event cost four SQLite statements an event. The
relay process (engine/events/relay.py) opens a read-only Outbox on the same file (`read_only`)
and reports what the broker acknowledged; the controller's Outbox deletes it. So only the
controller's process writes the file: a writer in another process held SQLite's write lock
while the controller's commits waited for it asleep on the event loop (docs/field-notes.md,
SQLite).

The file is shared with other tables (sessions, keys): this class opens its own connection and
only touches the two `event_outbox*` tables. Calls must come from one thread (the event loop's).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from engine.events.model import Event
from engine.sessions.wal import checkpoint_while_open, use_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_outbox (
    position INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS event_outbox_sequence (
    session_id TEXT PRIMARY KEY,
    last INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS event_outbox_sequence_idle ON event_outbox_sequence (updated_at);
"""

_SAVE_SEQUENCE = """
INSERT INTO event_outbox_sequence (session_id, last, updated_at) VALUES (?, ?, ?)
ON CONFLICT (session_id) DO UPDATE
SET last = max(last, excluded.last), updated_at = excluded.updated_at
"""
_INSERT_EVENT = (
    "INSERT INTO event_outbox (position, id, session_id, sequence, payload) VALUES (?, ?, ?, ?, ?)"
)
_FORGET_DELIVERED = "DELETE FROM event_outbox WHERE position <= ?"

_PRUNE_EVERY_SECONDS = 60.0
SEQUENCES_CACHED = 10_000
"""Sessions whose last number is kept in memory; past this the cache starts afresh (each session
then costs one read of its counter again)."""


class StoredEvent(NamedTuple):
    """An undelivered event as the publisher sends it: its JSON as stored, unparsed."""

    position: int
    session_id: str
    kind: str
    payload: str


class Outbox:
    def __init__(
        self,
        path: Path | str,
        *,
        sequence_retention_seconds: float = 7 * 86400.0,
        busy_timeout_seconds: float = 5.0,
        read_only: bool = False,
    ) -> None:
        """`read_only`: the relay's Outbox, which only reads what is pending from a file that
        another Outbox (the controller's) has created, writes and checkpoints."""
        self.path = Path(path)
        self.read_only = read_only
        if str(path) != ":memory:" and not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE), taking the write lock
        # up front.
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_seconds)
        if read_only:
            self._conn.execute("PRAGMA query_only=ON")
            self._end_checkpoints: Callable[[], None] = lambda: None
        else:
            use_wal(self._conn)
            self._end_checkpoints = checkpoint_while_open(path)
            self._conn.executescript(_SCHEMA)
        self._last_position = 0 if read_only else self._max_position()
        """Positions are drawn here, not left to SQLite: it gives a row the largest rowid
        plus one, so once the newest rows are deleted it would give their positions again,
        and the relay reads only past the last position it delivered."""
        self._retention = sequence_retention_seconds
        self._last_prune = 0.0
        self._last_drawn: dict[str, int] = {}
        """Each session's last sequence number drawn, written or not."""

    def close(self) -> None:
        self._end_checkpoints()
        self._conn.close()

    def next_sequence(self, session_id: str) -> int:
        """Draw the session's next number; `append_many` writes it with the event."""
        last = self._last_drawn.get(session_id)
        if last is None:
            last = self.last_sequence(session_id)
        self._last_drawn[session_id] = last + 1
        return last + 1

    def append_many(
        self,
        events: Sequence[Event],
        *,
        delivered: bool = False,
        forget_through: int | None = None,
    ) -> None:
        """Store `events`, already numbered by `next_sequence`, in one transaction (with
        `delivered=True`, only their sessions' counters), and in the same one forget the events
        delivered up to position `forget_through`, if given. On failure nothing changes."""
        now = time.time()
        last_by_session = {event.session_id: event.sequence for event in events}
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if forget_through is not None:
                conn.execute(_FORGET_DELIVERED, (forget_through,))
            if events and not delivered:
                first = self._last_position + 1
                conn.executemany(
                    _INSERT_EVENT,
                    [
                        (position, e.id, e.session_id, e.sequence, e.model_dump_json())
                        for position, e in enumerate(events, first)
                    ],
                )
                self._last_position += len(events)  # kept on failure too: a gap is harmless
            if last_by_session:
                conn.executemany(
                    _SAVE_SEQUENCE, [(s, last, now) for s, last in last_by_session.items()]
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if len(self._last_drawn) > SEQUENCES_CACHED:
            self._last_drawn = dict(last_by_session)
        if forget_through is not None:
            self._maybe_prune_sequences()

    def pending_stored(self, limit: int = 100, after: int = 0) -> list[StoredEvent]:
        """The oldest undelivered events past position `after`, in the order they were
        appended, unparsed: what the publisher sends as it is."""
        rows = self._conn.execute(
            "SELECT position, session_id, json_extract(payload, '$.kind'), payload"
            " FROM event_outbox WHERE position > ? ORDER BY position LIMIT ?",
            (after, limit),
        ).fetchall()
        return [StoredEvent(*row) for row in rows]

    def mark_delivered_through(self, position: int) -> None:
        """Forget every event up to `position` (the acknowledged prefix of `pending_stored`)."""
        self.append_many((), forget_through=position)

    def _max_position(self) -> int:
        (position,) = self._conn.execute(
            "SELECT COALESCE(MAX(position), 0) FROM event_outbox"
        ).fetchone()
        return int(position)

    def depth(self) -> int:
        """How many events wait for delivery."""
        (count,) = self._conn.execute("SELECT COUNT(*) FROM event_outbox").fetchone()
        return int(count)

    def last_sequence(self, session_id: str) -> int:
        """The last sequence number given to a session's events (0: none yet)."""
        row = self._conn.execute(
            "SELECT last FROM event_outbox_sequence WHERE session_id = ?", (session_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    def _maybe_prune_sequences(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < _PRUNE_EVERY_SECONDS:
            return
        self._last_prune = now
        self.prune_sequences(time.time() - self._retention)

    def prune_sequences(self, idle_before: float) -> int:
        """Drop counters of sessions idle since before `idle_before` (epoch seconds) with
        nothing pending; returns how many were dropped."""
        cursor = self._conn.execute(
            "DELETE FROM event_outbox_sequence WHERE updated_at < ? AND session_id NOT IN"
            " (SELECT session_id FROM event_outbox)",
            (idle_before,),
        )
        return cursor.rowcount
