import wave
from pathlib import Path

from engine.flow import commands as c
from engine.flow.events import DigitReceived, PlaybackFinished
from tests.flow.helpers import first, one_step, results, start


def _wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 80)


def test_play_resolves_path_relative_to_the_flow_file(tmp_path: Path) -> None:
    _wav(tmp_path / "audio" / "tone.wav")
    run, out = start(one_step(tmp_path, type="play", file="audio/tone.wav"))
    play = first(out, c.PlayAudio)
    assert play.path == str(tmp_path.resolve() / "audio" / "tone.wav")
    assert results(run.handle(PlaybackFinished(play.playback_id), 1.0)) == [("only", "ok")]


def test_barge_in_digit_is_kept_for_the_next_gather(tmp_path: Path) -> None:
    _wav(tmp_path / "tone.wav")
    from tests.flow.helpers import flow_from

    flow = flow_from(
        tmp_path,
        {
            "menu": {"type": "play", "file": "tone.wav", "interruptible": True, "next": "ask"},
            "ask": {"type": "gather", "max_digits": 2, "finish_key": "#"},
        },
    )
    run, out = start(flow)
    play = first(out, c.PlayAudio)
    out = run.handle(DigitReceived("4"), 0.2)
    assert c.StopPlayback(play.playback_id) in out
    timer = first(out, c.SetTimer)  # the gather skips straight to waiting for a second digit
    assert timer.deadline == 0.2 + 3.0
    out = run.handle(DigitReceived("#"), 0.5)
    assert run.variables["digits"] == "4"
    assert results(out)[-1] == ("ask", "ok")
