import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.sessions.idempotency import IdempotencyKey
from engine.sessions.model import CallState, LogEntry, Outcome, Session
from engine.sessions.store import FLUSH_INTERVAL_SECONDS, SessionStore


def make_session(session_id: str, created: datetime) -> Session:
    return Session(
        id=session_id,
        flow_id="greeting",
        destination="+18144043093",
        from_address="+12025550143",
        trunk="local-sipp",
        date_created=created,
        node_id="node-1",
        log=[LogEntry(created, "created")],
    )


def test_session_and_log_survive_reopening(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    store = SessionStore(db)
    created = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    session = make_session("s1", created)
    store.insert(session)
    session.call_state = CallState.DISCONNECTED
    session.outcome = Outcome.BUSY
    session.sip_code = 486
    session.sip_reason = "Busy Here"
    session.date_completed = created + timedelta(seconds=2)
    store.save(session)
    store.append_logs("s1", 1, created + timedelta(seconds=1), ["INVITE sent"])
    store.close()

    reopened = SessionStore(db).get("s1")
    assert reopened is not None
    assert reopened.outcome is Outcome.BUSY
    assert (reopened.sip_code, reopened.sip_reason) == (486, "Busy Here")
    assert reopened.call_state is CallState.DISCONNECTED
    assert reopened.date_completed == created + timedelta(seconds=2)
    assert [e.message for e in reopened.log] == ["created", "INVITE sent"]


def test_list_is_newest_first_and_paged(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "engine.db")
    start = datetime(2026, 11, 26, tzinfo=UTC)
    for index in range(5):
        store.insert(make_session(f"s{index}", start + timedelta(minutes=index)))
    page, total = store.page(skip=1, take=2)
    assert total == 5
    assert [s.id for s in page] == ["s3", "s2"]


def test_a_page_gives_every_session_its_own_log_in_order(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "engine.db")
    start = datetime(2026, 11, 26, tzinfo=UTC)
    for index in range(600):
        store.insert(make_session(f"s{index:03}", start + timedelta(seconds=index)))
        for seq in (2, 1):  # written out of order: the log is ordered by seq, not by writing
            store.append_logs(f"s{index:03}", seq, start, [f"s{index:03} line {seq}"])
    page, total = store.page(skip=0, take=600)
    assert total == 600 and len(page) == 600
    for session in page:
        assert [e.message for e in session.log] == [
            "created",
            f"{session.id} line 1",
            f"{session.id} line 2",
        ]
    assert [s.id for s in page[:2]] == ["s599", "s598"]


def test_unfinished_sessions_are_found_for_recovery(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "engine.db")
    now = datetime.now(UTC)
    store.insert(make_session("live", now))
    done = make_session("done", now)
    done.outcome = Outcome.COMPLETED
    store.insert(done)
    assert [s.id for s in store.unfinished("node-1")] == ["live"]
    assert store.unfinished("node-2") == []
    assert store.get("missing") is None
    assert store.writable()


def committed_log(db: Path, session_id: str) -> list[str]:
    """What another connection (another process, a crash's survivor) would read."""
    with sqlite3.connect(db) as other:
        rows = other.execute(
            "SELECT message FROM session_log WHERE session_id=? ORDER BY seq", (session_id,)
        ).fetchall()
    return [message for (message,) in rows]


def committed_outcome(db: Path, session_id: str) -> str | None:
    with sqlite3.connect(db) as other:
        (outcome,) = other.execute(
            "SELECT outcome FROM sessions WHERE id=?", (session_id,)
        ).fetchone()
    return str(outcome) if outcome is not None else None


async def test_log_lines_are_committed_together_within_the_interval(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    store = SessionStore(db)
    now = datetime.now(UTC)
    store.insert(make_session("s1", now))
    assert committed_log(db, "s1") == ["created"]
    store.append_logs("s1", 1, now, ["INVITE sent"])
    store.append_logs("s1", 2, now, ["ringing"])
    assert committed_log(db, "s1") == ["created"]
    deadline = time.monotonic() + FLUSH_INTERVAL_SECONDS + 5
    while committed_log(db, "s1") != ["created", "INVITE sent", "ringing"]:
        assert time.monotonic() < deadline, committed_log(db, "s1")
        await asyncio.sleep(0.01)
    store.close()


async def test_reads_see_pending_lines_and_a_final_state_is_committed_at_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "engine.db"
    store = SessionStore(db)
    now = datetime.now(UTC)
    session = make_session("s1", now)
    store.insert(session)
    store.append_logs("s1", 1, now, ["answered"])
    session.call_state = CallState.CONNECTED
    store.save(session)
    read = store.get("s1")
    assert read is not None and [e.message for e in read.log] == ["created", "answered"]
    assert read.call_state is CallState.CONNECTED

    store.append_logs("s1", 2, now, ["outcome: completed"])
    session.outcome = Outcome.COMPLETED
    session.call_state = CallState.DISCONNECTED
    store.save(session)
    assert committed_outcome(db, "s1") == "completed"
    assert committed_log(db, "s1")[-1] == "outcome: completed"
    store.close()


async def test_a_new_session_commits_what_other_sessions_left_pending(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    store = SessionStore(db)
    now = datetime.now(UTC)
    store.insert(make_session("s1", now))
    store.append_logs("s1", 1, now, ["INVITE sent"])
    store.insert(make_session("s2", now))
    assert committed_log(db, "s1") == ["created", "INVITE sent"]
    assert committed_log(db, "s2") == ["created"]
    store.close()


def test_without_an_event_loop_every_write_is_committed_at_once(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    store = SessionStore(db)
    now = datetime.now(UTC)
    store.insert(make_session("s1", now))
    store.append_logs("s1", 1, now, ["INVITE sent"])
    assert committed_log(db, "s1") == ["created", "INVITE sent"]
    store.close()


def test_an_idempotency_key_is_kept_with_its_session_and_never_given_twice(
    tmp_path: Path,
) -> None:
    db = tmp_path / "engine.db"
    store = SessionStore(db)
    now = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    key = IdempotencyKey.of("k1", "greeting", "+18144043093", None)
    store.insert(make_session("s1", now), key)

    with pytest.raises(sqlite3.IntegrityError):
        store.insert(make_session("s2", now), key)
    assert store.get("s2") is None  # nothing half-written
    store.close()

    reopened = SessionStore(db)
    assert reopened.find_idempotency_key("k1") == ("s1", key)
    assert reopened.find_idempotency_key("k2") is None


def test_a_store_made_before_idempotency_keys_gains_their_table(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    SessionStore(db).close()
    with sqlite3.connect(db) as old:
        old.execute("DROP TABLE idempotency_keys")

    store = SessionStore(db)
    store.insert(make_session("s1", datetime(2026, 11, 28, tzinfo=UTC)), IdempotencyKey("k", "{}"))

    assert store.find_idempotency_key("k") == ("s1", IdempotencyKey("k", "{}"))
