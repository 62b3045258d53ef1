from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.events.model import Event, EventKind
from engine.events.outbox import Outbox


def draft(session_id: str, digit: str = "1") -> Event:
    return Event(
        kind=EventKind.CALL_DIGIT_RECEIVED,
        session_id=session_id,
        node_id="node-1",
        timestamp=datetime.now(UTC),
        data={"digit": digit, "step": None},
    )


def append(outbox: Outbox, event: Event, *, delivered: bool = False) -> Event:
    """Number one event and store it, as the bus does for a batch."""
    numbered = event.model_copy(update={"sequence": outbox.next_sequence(event.session_id)})
    outbox.append_many([numbered], delivered=delivered)
    return numbered


def pending(outbox: Outbox, limit: int) -> list[Event]:
    return [Event.from_json(stored.payload) for stored in outbox.pending_stored(limit)]


def test_sequence_is_per_session_and_starts_at_one(db_path: Path) -> None:
    outbox = Outbox(db_path)
    numbers = [(e.session_id, e.sequence) for e in
               (append(outbox, draft(s)) for s in ["a", "a", "b", "a", "b"])]  # fmt: skip
    assert numbers == [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("b", 2)]
    outbox.close()


def test_pending_in_insertion_order_and_delivered_rows_go(db_path: Path) -> None:
    outbox = Outbox(db_path)
    appended = [append(outbox, draft(s, str(i))) for i, s in enumerate("abab")]
    assert outbox.depth() == 4
    assert [e.id for e in pending(outbox, 10)] == [e.id for e in appended]
    assert pending(outbox, 10) == appended
    assert [e.id for e in pending(outbox, 2)] == [e.id for e in appended[:2]]
    outbox.mark_delivered_through(outbox.pending_stored(2)[-1].position)
    assert outbox.depth() == 2
    assert [e.id for e in pending(outbox, 10)] == [e.id for e in appended[2:]]
    outbox.close()


def test_sequence_and_pending_survive_reopening(db_path: Path) -> None:
    outbox = Outbox(db_path)
    for _ in range(3):
        append(outbox, draft("a"))
    outbox.mark_delivered_through(outbox.pending_stored(3)[-1].position)  # rows deleted
    left = append(outbox, draft("a"))
    outbox.close()

    reopened = Outbox(db_path)
    assert pending(reopened, 10) == [left]
    assert append(reopened, draft("a")).sequence == 5
    assert reopened.last_sequence("a") == 5
    reopened.close()


def test_delivered_append_only_draws_the_number(db_path: Path) -> None:
    outbox = Outbox(db_path)
    assert append(outbox, draft("a"), delivered=True).sequence == 1
    assert append(outbox, draft("a"), delivered=True).sequence == 2
    assert outbox.depth() == 0
    outbox.close()


def test_shares_the_file_with_other_tables(db_path: Path) -> None:
    other = sqlite3.connect(db_path)
    other.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY)")
    other.execute("INSERT INTO sessions VALUES ('x')")
    other.commit()
    outbox = Outbox(db_path)
    append(outbox, draft("x"))
    third = sqlite3.connect(db_path)
    assert third.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    third.close()
    assert other.execute("SELECT COUNT(*) FROM sessions").fetchone() == (1,)
    assert other.execute("SELECT COUNT(*) FROM event_outbox").fetchone() == (1,)
    other.close()
    outbox.close()


def test_idle_counters_are_pruned_but_not_with_pending_events(db_path: Path) -> None:
    outbox = Outbox(db_path)
    append(outbox, draft("done"))
    outbox.mark_delivered_through(outbox.pending_stored(1)[0].position)
    append(outbox, draft("waiting"))
    assert outbox.prune_sequences(idle_before=9e18) == 1
    assert outbox.last_sequence("done") == 0
    assert outbox.last_sequence("waiting") == 1
    outbox.close()


def test_stored_events_come_as_written_and_go_by_position(db_path: Path) -> None:
    outbox = Outbox(db_path)
    appended = [append(outbox, draft(s, str(i))) for i, s in enumerate("aba")]
    stored = outbox.pending_stored(2)
    assert [(e.session_id, e.kind) for e in stored] == [
        ("a", "call.digit_received"),
        ("b", "call.digit_received"),
    ]
    assert [Event.from_json(e.payload) for e in stored] == appended[:2]
    outbox.mark_delivered_through(stored[-1].position)
    assert pending(outbox, 10) == appended[2:]
    outbox.close()


def test_a_batch_is_numbered_once_and_stored_whole(db_path: Path) -> None:
    outbox = Outbox(db_path)
    batch = [draft(s).model_copy(update={"sequence": outbox.next_sequence(s)}) for s in "aab"]
    outbox.append_many(batch)
    assert pending(outbox, 10) == batch
    assert (outbox.last_sequence("a"), outbox.last_sequence("b")) == (2, 1)
    outbox.close()


def test_a_read_only_outbox_reads_past_a_position_and_cannot_write(db_path: Path) -> None:
    writer = Outbox(db_path)
    appended = [append(writer, draft(s, str(i))) for i, s in enumerate("abc")]
    reader = Outbox(db_path, read_only=True)
    first = reader.pending_stored(1)
    assert [Event.from_json(e.payload) for e in first] == appended[:1]
    after_first = reader.pending_stored(10, after=first[0].position)
    assert [Event.from_json(e.payload) for e in after_first] == appended[1:]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.mark_delivered_through(first[0].position)
    assert writer.depth() == 3
    reader.close()
    writer.close()


def test_delivered_events_are_forgotten_in_the_same_transaction_as_new_ones(
    db_path: Path,
) -> None:
    outbox = Outbox(db_path)
    old = [append(outbox, draft("a")) for _ in range(2)]
    through = outbox.pending_stored(2)[-1].position
    new = draft("b").model_copy(update={"sequence": outbox.next_sequence("b")})
    outbox.append_many([new], forget_through=through)
    assert pending(outbox, 10) == [new]
    assert old[0].id not in {e.id for e in pending(outbox, 10)}
    outbox.close()


def test_a_failed_write_forgets_nothing(db_path: Path) -> None:
    outbox = Outbox(db_path)
    kept = append(outbox, draft("a"))
    new = draft("b").model_copy(update={"sequence": outbox.next_sequence("b")})
    with pytest.raises(sqlite3.IntegrityError):  # the same event twice: its id is unique
        outbox.append_many([new, new], forget_through=outbox.pending_stored(1)[0].position)
    assert pending(outbox, 10) == [kept]
    outbox.close()


def test_positions_keep_rising_once_the_outbox_is_drained(db_path: Path) -> None:
    """A relay reads past the last position it delivered, so while it runs a position must
    not come back. (A new Outbox comes with a new relay, which reads from the start.)"""
    outbox = Outbox(db_path)
    for _ in range(3):
        append(outbox, draft("a"))
    drained_through = outbox.pending_stored(3)[-1].position
    outbox.mark_delivered_through(drained_through)
    assert outbox.depth() == 0
    append(outbox, draft("a"))
    later = outbox.pending_stored(1)[0].position
    assert later > drained_through
    outbox.close()
    reopened = Outbox(db_path)
    append(reopened, draft("a"))
    assert reopened.pending_stored(2)[-1].position > later
    reopened.close()
