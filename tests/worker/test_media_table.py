"""The media bookkeeping by typed key, with stand-ins for pjsua2's players and recorders."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.worker.media_table import BeepKey, MediaTable, PlaybackKey, RecordingKey


class Player:
    """Stands in for a pjsua2 player: the table only keeps and compares it."""


class Recorder:
    """Stands in for a recording."""


P1 = PlaybackKey("c1", "playback-1")
R1 = RecordingKey("c1", "recording-1")
T0 = 100.0


def table() -> MediaTable[Player, Recorder]:
    return MediaTable()


def test_keys_of_different_kinds_never_match() -> None:
    assert PlaybackKey("c1", "x") != RecordingKey("c1", "x")
    assert BeepKey(RecordingKey("c1", "x")) != RecordingKey("c1", "x")
    assert len({PlaybackKey("c1", "x"), RecordingKey("c1", "x"), PlaybackKey("c2", "x")}) == 3


def test_a_playback_is_found_by_its_key_and_ends_once() -> None:
    media = table()
    player = Player()
    media.add_playback(P1, player, hangup_after=None)
    assert media.is_playing(P1) and media.playback(P1) is player
    assert not media.is_playing(PlaybackKey("c2", "playback-1"))

    assert media.end_playback(P1, player, stopped=True, now=T0)
    assert not media.end_playback(P1, player, stopped=False, now=T0)  # EOF after a stop
    assert media.playback(P1) is None


def test_a_key_plays_one_file_at_a_time() -> None:
    media = table()
    media.add_playback(P1, Player(), hangup_after=None)
    with pytest.raises(KeyError):
        media.add_playback(P1, Player(), hangup_after=None)


def test_a_late_end_of_an_old_player_leaves_the_new_one_on_its_key() -> None:
    media = table()
    old, new = Player(), Player()
    media.add_playback(P1, old, hangup_after=None)
    media.end_playback(P1, old, stopped=True, now=T0)
    media.add_playback(P1, new, hangup_after=None)

    assert not media.end_playback(P1, old, stopped=False, now=T0)
    assert media.playback(P1) is new


def test_a_prompt_that_plays_to_its_end_fixes_its_hang_up() -> None:
    media = table()
    player = Player()
    media.add_playback(P1, player, hangup_after=2.0)
    assert media.next_hangup_at() is None

    media.end_playback(P1, player, stopped=False, now=T0)

    assert media.next_hangup_at() == T0 + 2.0
    assert media.hangups_due(T0 + 1.9) == []
    assert media.hangups_due(T0 + 2.0) == ["c1"]
    assert media.hangups_due(T0 + 5.0) == []
    assert media.next_hangup_at() is None


def test_a_stopped_prompt_fixes_no_hang_up() -> None:
    media = table()
    player = Player()
    media.add_playback(P1, player, hangup_after=2.0)
    media.end_playback(P1, player, stopped=True, now=T0)
    assert media.next_hangup_at() is None


def test_hang_ups_come_due_earliest_first() -> None:
    media = table()
    for call_id, after in (("late", 3.0), ("early", 1.0), ("middle", 2.0)):
        key, player = PlaybackKey(call_id, "p"), Player()
        media.add_playback(key, player, hangup_after=after)
        media.end_playback(key, player, stopped=False, now=T0)
    assert media.next_hangup_at() == T0 + 1.0
    assert media.hangups_due(T0 + 10) == ["early", "middle", "late"]


def test_a_recording_after_a_beep_waits_for_the_beep() -> None:
    media = table()
    recorder, beep = Recorder(), Player()
    media.add_recording(R1, recorder, beep)
    assert media.beep(R1) is beep and media.recording(R1) is recorder

    assert media.end_beep(BeepKey(R1), beep)

    assert media.beep(R1) is None
    assert media.recording(R1) is recorder  # the loop starts it now
    assert media.recording_any


def test_ending_a_recording_drops_its_beep() -> None:
    media = table()
    recorder, beep = Recorder(), Player()
    media.add_recording(R1, recorder, beep)

    assert media.end_recording(R1, recorder)

    assert media.beep(R1) is None
    assert not media.end_beep(BeepKey(R1), beep)  # its EOF, arriving later
    assert not media.end_recording(R1, recorder)
    assert not media.recording_any


def test_a_late_beep_end_leaves_a_newer_recording_s_beep() -> None:
    media = table()
    first = (Recorder(), Player())
    media.add_recording(R1, *first)
    media.end_recording(R1, first[0])
    second = (Recorder(), Player())
    media.add_recording(R1, *second)

    assert not media.end_beep(BeepKey(R1), first[1])
    assert media.beep(R1) is second[1]


def test_a_key_records_one_recording_at_a_time() -> None:
    media = table()
    media.add_recording(R1, Recorder(), None)
    assert media.is_recording(R1)
    with pytest.raises(KeyError):
        media.add_recording(R1, Recorder(), None)


def test_a_call_s_media_is_listed_apart_from_other_calls() -> None:
    media = table()
    mine, beep, other = Player(), Player(), Player()
    recording, other_recording = Recorder(), Recorder()
    media.add_playback(P1, mine, hangup_after=None)
    media.add_playback(PlaybackKey("c2", "playback-1"), other, hangup_after=None)
    media.add_recording(R1, recording, beep)
    media.add_recording(RecordingKey("c2", "recording-1"), other_recording, None)

    assert media.players_of("c1") == [mine, beep]
    assert media.recordings_of("c1") == [recording]
    assert media.players() == [mine, other, beep]
    assert media.recordings() == [recording, other_recording]


def test_the_media_table_needs_no_pjsua2() -> None:
    code = "import sys, engine.worker.media_table; sys.exit('pjsua2' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
