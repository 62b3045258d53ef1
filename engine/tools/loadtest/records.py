"""What a load run observes per call, and the sink that collects the engine's timings.

Times are `time.monotonic()` seconds of the load test's process. In-process runs get the
engine's own events (`call.invite_sent` with `api_to_invite_seconds`, `call.answered`,
`call.ended`); runs against a URL fill the same fields from polled sessions.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from engine.events import model as em
from engine.sessions.model import Outcome


@dataclass
class CallRecord:
    index: int
    scheduled: float
    """When the request was due (absolute schedule: start + index / rate)."""
    sent: float | None = None
    """When the POST was handed to the HTTP client."""
    responded: float | None = None
    http_status: int | None = None
    session_id: str | None = None
    error: str | None = None
    """Transport error or refused request (then no session exists)."""
    invite_at: float | None = None
    api_to_invite: float | None = None
    """Engine side: the API handed the request to the engine -> the worker sent the INVITE."""
    invite_parts: dict[str, float] = field(default_factory=dict)
    """api_to_invite split up (`INVITE_PARTS`), in-process runs only."""
    answered_at: float | None = None
    ended_at: float | None = None
    talk_seconds: float | None = None
    """Answer to hang-up on the worker's clock: the call.ended event's (in-process runs)."""
    outcome: str | None = None
    reason: str | None = None
    rtp: dict[str, Any] = field(default_factory=dict)
    """The call.ended event's rtp_* fields (in-process runs)."""

    @property
    def final(self) -> bool:
        return self.error is not None or self.outcome is not None

    @property
    def failed(self) -> bool:
        return self.error is not None or (self.outcome is not None and self.outcome != "completed")

    @property
    def cause(self) -> str:
        """A short failure cause for grouping ('' for a completed call)."""
        if self.error is not None:
            return self.error
        if self.outcome in (None, "completed"):
            return ""
        return f"{self.outcome}: {self.reason}" if self.reason else str(self.outcome)

    @property
    def setup_latency(self) -> float | None:
        """Request sent -> call answered."""
        if self.sent is None or self.answered_at is None:
            return None
        return self.answered_at - self.sent

    @property
    def client_to_invite(self) -> float | None:
        if self.sent is None or self.invite_at is None:
            return None
        return self.invite_at - self.sent

    def as_dict(self, origin: float) -> dict[str, Any]:
        data = asdict(self)
        for name in ("scheduled", "sent", "responded", "invite_at", "answered_at", "ended_at"):
            if data[name] is not None:
                data[name] = round(data[name] - origin, 6)
        return data


INVITE_PARTS = ("queue_seconds", "worker_pickup_seconds", "make_call_seconds")
"""The parts of api_to_invite in a `call.invite_sent` event: trunk queue and dispatch in the
controller, the worker reading the MakeCall, PJSIP building and sending the INVITE."""
TIMED_EVENTS = (em.CallInviteSent, em.CallAnswered, em.CallEnded)
"""The events whose times and fields a load report reads."""
RTP_FIELDS = ("rtp_packets_sent", "rtp_packets_received", "rtp_packets_lost", "rtp_jitter_ms")
"""A `call.ended` event's RTP counts, as the report shows them."""


@dataclass(slots=True)
class SessionTimes:
    invite_at: float | None = None
    api_to_invite: float | None = None
    invite_parts: dict[str, float] = field(default_factory=dict)
    answered_at: float | None = None
    ended_at: float | None = None
    talk_seconds: float | None = None
    outcome: str | None = None
    reason: str | None = None
    rtp: dict[str, Any] = field(default_factory=dict)


@dataclass
class EventRecorder:
    """An engine `EventSink` that keeps the timings a load report needs, by session id."""

    spool: Path | None = None
    """Where ended sessions go, one JSON line each, instead of staying in memory: a long
    in-process run then does not grow the engine process whose memory it measures."""
    sessions: dict[str, SessionTimes] = field(default_factory=dict)
    """Sessions in progress, and ended ones when there is no spool."""
    counts: dict[str, int] = field(
        default_factory=lambda: {"invited": 0, "active": 0, "ended": 0, "failed": 0}
    )
    """Kept as events come (progress reads them often; counting 10,000 sessions would not do)."""
    _spooled: dict[str, SessionTimes] = field(default_factory=dict)
    _spool_read_to: int = 0
    _spool_file: BinaryIO | None = None

    def __post_init__(self) -> None:
        if self.spool is not None:
            # One handle for writing and reading: the run keeps its own file even if the path
            # is removed or reused by another run.
            self._spool_file = self.spool.open("w+b")

    def close(self) -> None:
        if self._spool_file is not None:
            self._spool_file.close()

    def emit(self, session_id: str, kind: em.EventKind, data: em.EventData) -> None:
        if not isinstance(data, TIMED_EVENTS):
            return
        now = time.monotonic()
        times = self.sessions.setdefault(session_id, SessionTimes())
        if isinstance(data, em.CallInviteSent):
            self.counts["invited"] += 1
            times.invite_at = now
            times.api_to_invite = data.api_to_invite_seconds
            times.invite_parts = {
                part: value for part in INVITE_PARTS if (value := getattr(data, part)) is not None
            }
        elif isinstance(data, em.CallAnswered):
            self.counts["active"] += 1
            times.answered_at = now
        else:
            self.counts["ended"] += 1
            self.counts["failed"] += data.outcome is not Outcome.COMPLETED
            self.counts["active"] -= times.answered_at is not None
            times.ended_at = now
            times.talk_seconds = data.talk_seconds
            times.outcome = data.outcome.value
            times.reason = data.sip_reason
            times.rtp = {name: getattr(data, name) for name in RTP_FIELDS}
            if self._spool_file is not None:
                del self.sessions[session_id]
                # Its fields hold numbers, strings and flat dicts: no deep copy (asdict) needed.
                fields = {name: getattr(times, name) for name in SessionTimes.__slots__}
                line = json.dumps({"session_id": session_id, **fields}) + "\n"
                self._spool_file.write(line.encode())

    def times(self, session_id: str) -> SessionTimes | None:
        times = self.sessions.get(session_id)
        if times is None and self._spool_file is not None:
            if session_id not in self._spooled:
                self._read_spool()
            times = self._spooled.get(session_id)
        return times

    def _read_spool(self) -> None:
        """Loads the lines added since the last read."""
        if self._spool_file is None:
            return
        self._spool_file.flush()
        fd = self._spool_file.fileno()
        size = os.fstat(fd).st_size
        added = os.pread(fd, size - self._spool_read_to, self._spool_read_to)
        complete = added[: added.rfind(b"\n") + 1]
        self._spool_read_to += len(complete)
        for line in complete.splitlines():
            data = json.loads(line)
            session_id = data.pop("session_id")
            self._spooled[session_id] = SessionTimes(**data)

    def fill(self, record: CallRecord) -> None:
        if record.session_id is None:
            return
        times = self.times(record.session_id)
        if times is None:
            return
        for name in SessionTimes.__slots__:  # every field of SessionTimes is one of CallRecord's
            setattr(record, name, getattr(times, name))
