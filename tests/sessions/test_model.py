"""The session model's own helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from engine.sessions.model import iso_utc


def test_dates_are_written_in_utc_with_a_z() -> None:
    moment = datetime(2026, 12, 8, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert iso_utc(moment) == "2026-12-08T08:30:00.123456Z"
    assert iso_utc(datetime(2026, 12, 8, 9, 30)) == "2026-12-08T09:30:00Z"  # naive: UTC
    assert iso_utc(datetime(2026, 12, 8, 9, 30, tzinfo=UTC)).endswith("Z")
