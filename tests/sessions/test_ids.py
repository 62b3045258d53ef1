"""Session ids: UUIDv7 hex, ordered by creation time."""

from __future__ import annotations

import time
import uuid

from engine.sessions.ids import new_session_id


def test_an_id_is_a_version_7_uuid_in_32_hex_digits() -> None:
    session_id = new_session_id()
    parsed = uuid.UUID(hex=session_id)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert session_id == parsed.hex


def test_its_first_48_bits_are_the_unix_milliseconds_of_its_creation() -> None:
    before = time.time_ns() // 1_000_000
    session_id = new_session_id()
    after = time.time_ns() // 1_000_000
    assert before <= int(session_id[:12], 16) <= after


def test_ids_sort_by_creation_across_milliseconds_and_do_not_repeat() -> None:
    ids = []
    deadline = time.monotonic() + 5
    while len({i[:12] for i in ids}) < 3 and time.monotonic() < deadline:
        ids.append(new_session_id())
    millisecond_order = [i[:12] for i in ids]
    assert millisecond_order == sorted(millisecond_order)
    assert len({i[:12] for i in ids}) >= 3
    assert len(set(ids)) == len(ids)
