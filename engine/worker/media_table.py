"""Which players and recorders run for which call, and the hang-ups finished prompts have fixed.

Pure bookkeeping, generic over the objects it holds: the loop stores pjsua2's players and
recorders (engine/worker/media.py) here, tests store stand-ins. An entry is removed only by the
object it holds, so a player's late end (its EOF queued while a StopPlayback removed it) cannot
end a newer player that took the same key.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Generic, TypeVar


@dataclass(frozen=True, slots=True)
class PlaybackKey:
    """A file played on a call's audio (PlayFile, or the answer prompt)."""

    call_id: str
    """The call it plays to."""
    playback_id: str
    """The flow's ("playback-1"), unique within one call only."""


@dataclass(frozen=True, slots=True)
class RecordingKey:
    """A recording of a call's received audio."""

    call_id: str
    """The call it records."""
    recording_id: str
    """The flow's, unique within one call only."""


@dataclass(frozen=True, slots=True)
class BeepKey:
    """The beep played before a recording starts (StartRecording.beep)."""

    recording: RecordingKey
    """The recording that starts once the beep has played to its end."""

    @property
    def call_id(self) -> str:
        """The call it plays to."""
        return self.recording.call_id


PlayerKey = PlaybackKey | BeepKey
"""What a player is playing for."""

Player = TypeVar("Player")
Recorder = TypeVar("Recorder")


@dataclass(frozen=True, slots=True)
class _Playing(Generic[Player]):
    player: Player
    """The player."""
    hangup_after: float | None
    """Seconds after the file ends by itself to hang the call up (None: never)."""


class MediaTable(Generic[Player, Recorder]):
    """Playbacks, recording beeps and recordings by key, and a call's hang-up due after a prompt."""

    def __init__(self) -> None:
        self._playbacks: dict[PlaybackKey, _Playing[Player]] = {}
        self._beeps: dict[BeepKey, Player] = {}
        self._recordings: dict[RecordingKey, Recorder] = {}
        self._hangups_due: list[tuple[float, str]] = []
        """A heap of (when, call_id)."""

    # ------------------------------------------------------------ playbacks

    def is_playing(self, key: PlaybackKey) -> bool:
        return key in self._playbacks

    def playback(self, key: PlaybackKey) -> Player | None:
        entry = self._playbacks.get(key)
        return None if entry is None else entry.player

    def add_playback(self, key: PlaybackKey, player: Player, hangup_after: float | None) -> None:
        """A player started for `key`; `hangup_after`: PlayFile.hangup_after_seconds."""
        if key in self._playbacks:
            raise KeyError(f"{key} is already playing")
        self._playbacks[key] = _Playing(player, hangup_after)

    def end_playback(self, key: PlaybackKey, player: Player, stopped: bool, now: float) -> bool:
        """Remove `player` from `key`; False when it had already ended. A file that ended by
        itself (not `stopped`) with a hang-up after it fixes that hang-up's time."""
        entry = self._playbacks.get(key)
        if entry is None or entry.player is not player:
            return False
        del self._playbacks[key]
        if entry.hangup_after is not None and not stopped:
            heapq.heappush(self._hangups_due, (now + entry.hangup_after, key.call_id))
        return True

    # ------------------------------------------------------------ recordings and their beeps

    def is_recording(self, key: RecordingKey) -> bool:
        return key in self._recordings

    def recording(self, key: RecordingKey) -> Recorder | None:
        return self._recordings.get(key)

    def add_recording(self, key: RecordingKey, recorder: Recorder, beep: Player | None) -> None:
        """A recording for `key`: started already, or to start after `beep` has played."""
        if key in self._recordings:
            raise KeyError(f"{key} is already recording")
        self._recordings[key] = recorder
        if beep is not None:
            self._beeps[BeepKey(key)] = beep

    def beep(self, key: RecordingKey) -> Player | None:
        """The beep still playing before the recording `key` starts."""
        return self._beeps.get(BeepKey(key))

    def end_beep(self, key: BeepKey, player: Player) -> bool:
        """Remove the beep `player`; False when it had already ended (or its recording had)."""
        if self._beeps.get(key) is not player:
            return False
        del self._beeps[key]
        return True

    def end_recording(self, key: RecordingKey, recorder: Recorder) -> bool:
        """Remove `recorder` and its beep, if still playing; False when it had already ended."""
        if self._recordings.get(key) is not recorder:
            return False
        del self._recordings[key]
        self._beeps.pop(BeepKey(key), None)
        return True

    @property
    def recording_any(self) -> bool:
        """Whether a recording runs (the loop then checks their length and silence)."""
        return bool(self._recordings)

    # ------------------------------------------------------------ by call, and all

    def players(self) -> list[Player]:
        """Every playback's player, then every beep."""
        return [e.player for e in self._playbacks.values()] + list(self._beeps.values())

    def players_of(self, call_id: str) -> list[Player]:
        """The playbacks' players of one call, then its beeps."""
        playing = [e.player for k, e in self._playbacks.items() if k.call_id == call_id]
        return playing + [p for k, p in self._beeps.items() if k.call_id == call_id]

    def recordings(self) -> list[Recorder]:
        return list(self._recordings.values())

    def recordings_of(self, call_id: str) -> list[Recorder]:
        return [r for k, r in self._recordings.items() if k.call_id == call_id]

    # ------------------------------------------------------------ hang-ups after a prompt

    def next_hangup_at(self) -> float | None:
        """When the earliest hang-up is due, if any is."""
        return self._hangups_due[0][0] if self._hangups_due else None

    def hangups_due(self, now: float) -> list[str]:
        """The calls whose hang-up is due at `now`, earliest first; each is returned once."""
        due: list[str] = []
        while self._hangups_due and self._hangups_due[0][0] <= now:
            due.append(heapq.heappop(self._hangups_due)[1])
        return due
