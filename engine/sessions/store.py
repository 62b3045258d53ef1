"""Sessions and their logs in SQLite (the default, single-node store).

A session's row is committed when it is created and again when it reaches its final state, each
at once (before the API answers, before the end is reported). What happens in between (state
changes, log lines: a dozen or more a call) is written in one transaction every
`FLUSH_INTERVAL_SECONDS` while an event loop runs: a commit per line was a large share of the
controller's work (docs/field-notes.md, SQLite). A crash loses at most that interval's log
lines; the session itself stays and the next start closes it as failed. Reads write what is
pending first, so they see it all.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from engine.sessions.idempotency import IdempotencyKey
from engine.sessions.model import CallState, LogEntry, Outcome, Session
from engine.sessions.wal import checkpoint_while_open, use_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    flow_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    from_address TEXT NOT NULL,
    trunk TEXT NOT NULL,
    call_state TEXT NOT NULL,
    outcome TEXT,
    sip_code INTEGER,
    sip_reason TEXT,
    date_created TEXT NOT NULL,
    date_answered TEXT,
    date_completed TEXT,
    node_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_date ON sessions (date_created DESC, id);
CREATE TABLE IF NOT EXISTS session_log (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq INTEGER NOT NULL,
    date TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    request TEXT NOT NULL
);
"""

_COLUMNS = (
    "id, flow_id, destination, from_address, trunk, call_state, outcome, sip_code, sip_reason,"
    " date_created, date_answered, date_completed, node_id"
)


FLUSH_INTERVAL_SECONDS = 0.1
"""Longest time a log line or an intermediate state waits before it is committed."""

_SESSIONS_PER_LOG_QUERY = 500
"""Well under SQLite's limit on a statement's parameters (32,766)."""
_INSERT_LOG = "INSERT INTO session_log (session_id, seq, date, message) VALUES (?,?,?,?)"
_UPDATE_STATE = (
    "UPDATE sessions SET call_state=?, outcome=?, sip_code=?, sip_reason=?,"
    " date_answered=?, date_completed=? WHERE id=?"
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SessionStore:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        use_wal(self._db)
        self._db.execute("PRAGMA busy_timeout=5000")
        self._end_checkpoints = checkpoint_while_open(path)
        self._db.executescript(_SCHEMA)
        self._pending_logs: list[tuple[str, int, str, str]] = []
        self._pending_states: dict[str, tuple[object, ...]] = {}
        self._flush_timer: asyncio.TimerHandle | None = None

    def close(self) -> None:
        self._end_checkpoints()
        with self._lock:
            self._write_pending()
            self._db.close()

    def insert(self, session: Session, idempotency: IdempotencyKey | None = None) -> None:
        """Commit a new session and its first log lines now (with anything pending), and the
        request's idempotency key with them if it has one."""
        statements = [
            (
                f"INSERT INTO sessions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                self._row(session),
            )
        ]
        if idempotency is not None:
            statements.append(
                (
                    "INSERT INTO idempotency_keys (key, session_id, request) VALUES (?,?,?)",
                    (idempotency.key, session.id, idempotency.request),
                )
            )
        with self._lock:
            self._write_pending(
                *statements, logs=self._log_rows(session.id, session.log, first_seq=0)
            )

    def find_idempotency_key(self, key: str) -> tuple[str, IdempotencyKey] | None:
        """The session a request with this Idempotency-Key created, and that request."""
        with self._lock:
            row = self._db.execute(
                "SELECT session_id, request FROM idempotency_keys WHERE key=?", (key,)
            ).fetchone()
        if row is None:
            return None
        return str(row[0]), IdempotencyKey(key, str(row[1]))

    def save(self, session: Session) -> None:
        """Write the session's state fields (the log is appended separately): at once when the
        session is final, else with the next flush."""
        row = self._row(session)
        with self._lock:
            self._pending_states[session.id] = (
                row[5], row[6], row[7], row[8], row[10], row[11], session.id,
            )  # fmt: skip
            if session.outcome is not None:
                self._write_pending()
            else:
                self._schedule_flush()

    def append_logs(
        self, session_id: str, first_seq: int, date: datetime, messages: Sequence[str]
    ) -> None:
        """Log lines written at one moment, numbered from `first_seq`."""
        stamp = date.isoformat()
        rows = [(session_id, first_seq + i, stamp, message) for i, message in enumerate(messages)]
        with self._lock:
            self._pending_logs.extend(rows)
            self._schedule_flush()

    def flush(self) -> None:
        """Commit whatever is pending now."""
        with self._lock:
            self._write_pending()

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            self._write_pending()
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE id=?", (session_id,)
            ).fetchone()
            return self._with_logs([row])[0] if row is not None else None

    def page(self, skip: int, take: int) -> tuple[list[Session], int]:
        with self._lock:
            self._write_pending()
            (total,) = self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM sessions ORDER BY date_created DESC, rowid DESC"
                " LIMIT ? OFFSET ?",
                (take, skip),
            ).fetchall()
            return self._with_logs(rows), int(total)

    def unfinished(self, node_id: str) -> list[Session]:
        """Sessions of this node without a final outcome (left by a crash or a kill)."""
        with self._lock:
            self._write_pending()
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE outcome IS NULL AND node_id=?",
                (node_id,),
            ).fetchall()
            return self._with_logs(rows)

    def writable(self) -> bool:
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            return False
        return True

    def _schedule_flush(self) -> None:
        if self._flush_timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a command-line tool): nothing would flush later
            self._write_pending()
            return
        self._flush_timer = loop.call_later(FLUSH_INTERVAL_SECONDS, self.flush)

    def _write_pending(
        self,
        *statements: tuple[str, tuple[object, ...]],
        logs: Sequence[tuple[str, int, str, str]] = (),
    ) -> None:
        """One transaction: `statements`, then the pending states and log lines, then `logs`.
        Called with the lock held. On failure the pending writes stay pending."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        states, pending_logs = self._pending_states, self._pending_logs
        if not (statements or states or pending_logs or logs):
            return
        self._pending_states, self._pending_logs = {}, []
        try:
            with self._db:
                self._db.execute("BEGIN")
                for sql, parameters in statements:
                    self._db.execute(sql, parameters)
                self._db.executemany(_UPDATE_STATE, list(states.values()))
                self._db.executemany(_INSERT_LOG, [*pending_logs, *logs])
        except sqlite3.Error:
            self._pending_states = states | self._pending_states
            self._pending_logs = pending_logs + self._pending_logs
            raise

    @staticmethod
    def _log_rows(
        session_id: str, entries: list[LogEntry], first_seq: int
    ) -> list[tuple[str, int, str, str]]:
        return [
            SessionStore._log_row(session_id, first_seq + i, entry)
            for i, entry in enumerate(entries)
        ]

    @staticmethod
    def _log_row(session_id: str, seq: int, entry: LogEntry) -> tuple[str, int, str, str]:
        return (session_id, seq, entry.date.isoformat(), entry.message)

    def _with_logs(self, rows: list[tuple[object, ...]]) -> list[Session]:
        """The sessions of `rows` with their logs, read in one query per 500 sessions."""
        sessions = {session.id: session for session in map(self._session, rows)}
        ids = list(sessions)
        for start in range(0, len(ids), _SESSIONS_PER_LOG_QUERY):
            chunk = ids[start : start + _SESSIONS_PER_LOG_QUERY]
            marks = ",".join("?" * len(chunk))
            for session_id, date, message in self._db.execute(
                "SELECT session_id, date, message FROM session_log"
                f" WHERE session_id IN ({marks}) ORDER BY session_id, seq",
                chunk,
            ):
                sessions[session_id].log.append(LogEntry(datetime.fromisoformat(date), message))
        return list(sessions.values())

    @staticmethod
    def _row(s: Session) -> tuple[object, ...]:
        return (
            s.id,
            s.flow_id,
            s.destination,
            s.from_address,
            s.trunk,
            s.call_state.value,
            s.outcome.value if s.outcome else None,
            s.sip_code,
            s.sip_reason,
            _iso(s.date_created),
            _iso(s.date_answered),
            _iso(s.date_completed),
            s.node_id,
        )

    @staticmethod
    def _session(row: tuple[object, ...]) -> Session:
        (
            id_,
            flow_id,
            destination,
            from_address,
            trunk,
            call_state,
            outcome,
            sip_code,
            sip_reason,
            created,
            answered,
            completed,
            node_id,
        ) = row
        return Session(
            id=str(id_),
            flow_id=str(flow_id),
            destination=str(destination),
            from_address=str(from_address),
            trunk=str(trunk),
            call_state=CallState(str(call_state)),
            outcome=Outcome(str(outcome)) if outcome else None,
            sip_code=int(str(sip_code)) if sip_code is not None else None,
            sip_reason=str(sip_reason) if sip_reason is not None else None,
            date_created=_parse(str(created)) or datetime.min,
            date_answered=_parse(str(answered)) if answered else None,
            date_completed=_parse(str(completed)) if completed else None,
            node_id=str(node_id),
        )
