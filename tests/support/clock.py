"""A clock that moves only when a test moves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._wall_at_start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        self._start = start

    def monotonic(self) -> float:
        return self.now

    def utc(self) -> datetime:
        return self._wall_at_start + timedelta(seconds=self.now - self._start)

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now
