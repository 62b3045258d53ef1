"""Players and recorders attached to a call's audio.

Each is destroyed as soon as it ends (PJSUA_MAX_PLAYERS = 32 per process), never inside a
PJSIP callback: callbacks only queue work for the polling loop.
"""

from __future__ import annotations

import math
import struct
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Literal, TypeVar

import pjsua2 as pj

from engine.clock import Clock
from engine.worker.media_table import PlayerKey, RecordingKey

SILENCE_LEVEL = 4
"""The far end's level (`heard_level`, 0..100) below which it counts as silent: silent RTP reads
0, speech and tones far more (docs/sip-worker.md)."""

StopReason = Literal["max_length", "silence", "stopped", "hangup"]

FINALISE_TIMEOUT_SECONDS = 1.0
BEEP_SECONDS = 0.25
BEEP_HZ = 1000


def heard_level(audio: pj.AudioMedia) -> int:
    """The level of what the far end sends on the call, 0..100: pjsua2's `getTxLevel()`, which
    reads the conference port's receive level (`getRxLevel()` reads what the bridge sends to
    the far end, silence while recording; docs/field-notes.md)."""
    return int(audio.getTxLevel())


class Playback(pj.AudioMediaPlayer):
    """A file played to a call's audio; `on_eof` is called on PJSIP's clock thread."""

    def __init__(self, key: PlayerKey, loop: bool, on_eof: Callable[[Playback], None]) -> None:
        super().__init__()
        self.key = key
        """A PlayFile's playback, or the beep before a recording."""
        self.loop = loop
        self._on_eof = on_eof

    def start(self, path: str, audio: pj.AudioMedia) -> None:
        self.createPlayer(path, 0 if self.loop else pj.PJMEDIA_FILE_NO_LOOP)
        self.startTransmit(audio)

    def onEof2(self) -> None:
        if not self.loop:
            self._on_eof(self)


Player = TypeVar("Player")


class EndedPlayers(Generic[Player]):
    """Players that have ended, kept until no PJSIP thread is inside one of their callbacks.

    A player's EOF callback runs on PJSIP's media event thread, which holds a reference to the
    player while it runs. If the polling thread has dropped the player meanwhile, that
    reference is the last and the player is destroyed on the event thread: its destructor waits
    for the conference bridge's mutex, which the clock thread holds while it waits, in
    `pjmedia_event_unsubscribe`, for that same callback to return: a deadlock. So the polling
    thread keeps ended players here and drops each only once nothing else refers to it.
    """

    def __init__(self) -> None:
        self._players: list[Player] = []
        self._held_by_us = self._references_held_by_us()

    def add(self, player: Player) -> None:
        self._players.append(player)

    def release_unreferenced(self) -> None:
        """Drop (and so destroy) each player that only this list refers to."""
        if self._players:
            self._players = [p for p in self._players if sys.getrefcount(p) > self._held_by_us]

    def clear(self) -> None:
        self._players.clear()

    def __len__(self) -> int:
        return len(self._players)

    @staticmethod
    def _references_held_by_us() -> int:
        """What `sys.getrefcount` reads in `release_unreferenced` for a player nothing else
        refers to (the list, the comprehension's variable, the call's argument)."""
        probe = [object()]
        return next(sys.getrefcount(p) for p in probe)


class Recording:
    """A WAV recording of a call's received audio, stopped by length or silence."""

    def __init__(
        self,
        key: RecordingKey,
        path: str,
        max_seconds: float,
        silence_seconds: float | None,
        clock: Clock,
    ) -> None:
        self.key = key
        self.path = path
        self.max_seconds = max_seconds
        self.silence_seconds = silence_seconds
        self.recorder: pj.AudioMediaRecorder | None = None
        self.started_at: float | None = None
        self._sound_at = 0.0
        self._clock = clock

    def start(self, audio: pj.AudioMedia) -> None:
        self.recorder = pj.AudioMediaRecorder()
        self.recorder.createRecorder(self.path)
        audio.startTransmit(self.recorder)
        self.began(self._clock.monotonic())

    def began(self, now: float) -> None:
        """The recorder is on the bridge from `now`: the length and the silence count from it."""
        self.started_at = self._sound_at = now

    def check(self, level: int | None, now: float) -> StopReason | None:
        """The reason to stop now ('max_length' or 'silence'), or None to go on; `level` is
        what the far end sends now (`heard_level`), None once the call has no audio."""
        if self.started_at is None:
            return None
        if now - self.started_at >= self.max_seconds:
            return "max_length"
        if self.silence_seconds is None or level is None:
            return None
        if level >= SILENCE_LEVEL:
            self._sound_at = now
        elif now - self._sound_at >= self.silence_seconds:
            return "silence"
        return None

    def close(self) -> float:
        """Destroy the recorder (which finalises the WAV header); return the seconds written."""
        elapsed = 0.0 if self.started_at is None else self._clock.monotonic() - self.started_at
        if self.recorder is None:
            return 0.0
        self.recorder = None  # the SWIG destructor removes it from the bridge
        _wait_finalised(Path(self.path), self._clock)
        try:
            with wave.open(self.path, "rb") as wav:
                return wav.getnframes() / wav.getframerate()
        except (OSError, EOFError, wave.Error):
            return elapsed


def _wait_finalised(path: Path, clock: Clock) -> None:
    """Wait until the WAV header has its final sizes.

    Since PJSIP 2.14 the conference bridge removes ports asynchronously, on its clock thread:
    the recorder's file is flushed and its header written a frame or so after the destructor
    returns. Bounded by a deadline.
    """
    deadline = clock.monotonic() + FINALISE_TIMEOUT_SECONDS
    while clock.monotonic() < deadline:
        try:
            with path.open("rb") as wav:
                head = wav.read(8)
                size = wav.seek(0, 2)
        except OSError:
            head, size = b"", 0
        if len(head) == 8 and head[:4] == b"RIFF" and struct.unpack("<I", head[4:])[0] == size - 8:
            return
        time.sleep(0.005)


def write_beep(path: Path, clock_rate: int) -> Path:
    """A short sine tone in PCM16 mono, played before a recording starts."""
    frames = int(clock_rate * BEEP_SECONDS)
    samples = (int(12000 * math.sin(2 * math.pi * BEEP_HZ * n / clock_rate)) for n in range(frames))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(clock_rate)
        wav.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path
