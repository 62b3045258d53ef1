"""The process's one clock, injected where time is read (tests pass a fake one)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on CLOCK_MONOTONIC: the same clock in every process of the host, so the
        controller can subtract a worker's readings from its own."""
        ...

    def utc(self) -> datetime:
        """The wall-clock time, for records people read."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SystemClock:
    """The real clock (the functions themselves, without a method call around them)."""

    monotonic = staticmethod(time.monotonic)
    utc = staticmethod(_utc_now)
