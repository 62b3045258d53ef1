from pathlib import Path

from engine.flow import commands as c
from engine.flow.events import DigitReceived, RecordingFinished, RemoteHangup, TimerFired
from tests.flow.helpers import first, flow_from, one_step, results, start


def test_record_with_finish_key(tmp_path: Path) -> None:
    run, out = start(one_step(tmp_path, type="record", max_seconds=30, silence_seconds=3))
    rec = first(out, c.StartRecording)
    assert (rec.max_seconds, rec.silence_seconds, rec.beep) == (30, 3, True)
    assert rec.name == f"only-{rec.recording_id}.wav"
    assert c.StopRecording(rec.recording_id) in run.handle(DigitReceived("#"), 4.0)
    out = run.handle(RecordingFinished(rec.recording_id, "/r/s-1/x.wav", 4.0, "stopped"), 4.1)
    assert results(out) == [("only", "ok")]
    assert run.variables["recording"] == {
        "path": "/r/s-1/x.wav",
        "duration": 4.0,
        "reason": "stopped",
    }


def test_named_recording_and_custom_variable(tmp_path: Path) -> None:
    run, out = start(
        one_step(tmp_path, type="record", name="c-{{ session.id }}.wav", variable="comment")
    )
    rec = first(out, c.StartRecording)
    assert rec.name == "c-s-1.wav"
    run.handle(RecordingFinished(rec.recording_id, "/p", 1.0, "silence"), 1.0)
    assert run.variables["comment"]["path"] == "/p"


def test_a_recording_that_could_not_start_fails_the_step_at_once(tmp_path: Path) -> None:
    run, out = start(one_step(tmp_path, type="record", max_seconds=30))
    rec = first(out, c.StartRecording)
    out = run.handle(RecordingFinished(rec.recording_id, "/r/x.wav", 0.0, "failed"), 0.1)
    assert results(out) == [("only", "failed")]
    assert run.variables["recording"]["reason"] == "failed"


def test_recording_never_reported_fails_after_the_guard(tmp_path: Path) -> None:
    run, out = start(one_step(tmp_path, type="record", max_seconds=10))
    timer = first(out, c.SetTimer)
    out = run.handle(TimerFired(timer.timer_id), timer.deadline)
    assert results(out) == [("only", "failed")]


def test_hangup_during_recording_keeps_the_file_for_on_hangup(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        {
            "rec": {"type": "record"},
            "after": {"type": "set", "variables": {"p": "{{ recording.path }}"}},
        },
        on_hangup="after",
    )
    run, out = start(flow)
    rec = first(out, c.StartRecording)
    assert results(run.handle(RemoteHangup(), 2.0)) == []
    out = run.handle(RecordingFinished(rec.recording_id, "/r/x.wav", 2.0, "hangup"), 2.1)
    assert results(out) == [("rec", "hangup"), ("after", "ok")]
    assert run.variables["p"] == "/r/x.wav"
    assert out[-1] == c.FlowFinished("hangup", variables=out[-1].variables)  # type: ignore[union-attr]
