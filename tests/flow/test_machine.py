"""The interpreter as a whole: ids, stale events, hang-ups, errors."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.flow import commands as c
from engine.flow.events import (
    DigitReceived,
    PlaybackFinished,
    RemoteHangup,
    TimerFired,
    WebhookCompleted,
)
from engine.flow.machine import FlowRun
from engine.flow.model import Flow
from tests.flow.helpers import FACTS, first, flow_from, of, results, start


def _greeting(tmp_path: Path, **top: Any) -> Flow:
    return flow_from(
        tmp_path,
        {
            "hello": {"type": "say", "text": "hello", "next": "wait"},
            "wait": {"type": "pause", "seconds": 1, "next": "bye"},
            "bye": {"type": "say", "text": "bye"},
            "report": {"type": "webhook", "url": "http://h/{{ session.id }}", "next": "flag"},
            "flag": {"type": "set", "variables": {"reported": True}},
        },
        on_hangup="report",
        **top,
    )


def test_step_started_and_finished_frame_every_step(tmp_path: Path) -> None:
    run, out = start(_greeting(tmp_path))
    assert out[0] == c.StepStarted("hello", "say", "hello")
    out = run.handle(PlaybackFinished(first(out, c.Speak).playback_id), 1.0)
    assert [type(x).__name__ for x in out] == ["StepFinished", "StepStarted", "SetTimer"]


def test_ids_are_unique_within_a_run(tmp_path: Path) -> None:
    run, out = start(_greeting(tmp_path))
    ids = [first(out, c.Speak).playback_id]
    out = run.handle(PlaybackFinished(ids[0]), 1.0)
    ids.append(first(out, c.SetTimer).timer_id)
    out = run.handle(TimerFired(ids[1]), 2.0)
    ids.append(first(out, c.Speak).playback_id)
    assert len(set(ids)) == 3
    assert run.handle(TimerFired(ids[1]), 2.5) == []  # fired twice: stale
    assert run.handle(PlaybackFinished(ids[0]), 2.5) == []


def test_remote_hangup_runs_on_hangup_without_a_hangup_command(tmp_path: Path) -> None:
    run, out = start(_greeting(tmp_path))
    out = run.handle(RemoteHangup(), 0.5)
    assert results(out) == [("hello", "hangup")]
    call = first(out, c.CallWebhook)
    assert call.url == "http://h/s-1"
    assert run.handle(RemoteHangup(), 0.6) == []
    assert run.handle(DigitReceived("1"), 0.6) == []
    out = run.handle(WebhookCompleted(call.request_id, 204), 0.7)
    assert results(out) == [("report", "ok"), ("flag", "ok")]
    finished = out[-1]
    assert isinstance(finished, c.FlowFinished) and finished.result == "hangup"
    assert finished.variables["reported"] is True
    assert not of(out, c.Hangup)
    assert run.finished and run.handle(RemoteHangup(), 1.0) == []


def test_remote_hangup_cancels_the_waiting_timer(tmp_path: Path) -> None:
    run, out = start(_greeting(tmp_path))
    out = run.handle(PlaybackFinished(first(out, c.Speak).playback_id), 1.0)
    timer = first(out, c.SetTimer)
    out = run.handle(RemoteHangup(), 1.2)
    assert c.CancelTimer(timer.timer_id) in out
    assert run.handle(TimerFired(timer.timer_id), 2.0) == []


def test_without_on_hangup_the_flow_just_ends(tmp_path: Path) -> None:
    flow = flow_from(tmp_path, {"wait": {"type": "pause", "seconds": 5}})
    run, _ = start(flow)
    out = run.handle(RemoteHangup(), 1.0)
    assert isinstance(out[-1], c.FlowFinished) and out[-1].result == "hangup"


def test_media_steps_after_a_hangup_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "inner.yaml").write_text(
        "name: inner\nstart: s\nsteps:\n  s: {type: say, text: x, next: m}\n"
        "  m: {type: set, variables: {inner_ran: true}}\n"
    )
    from engine.flow.loader import load_flow

    inner = load_flow(tmp_path / "inner.yaml")
    flow = flow_from(
        tmp_path,
        {"wait": {"type": "pause", "seconds": 5}, "sub": {"type": "subflow", "flow": "inner"}},
        on_hangup="sub",
    )
    run, _ = start(flow, registry_lookup={"inner": inner}.__getitem__)
    out = run.handle(RemoteHangup(), 1.0)
    assert ("inner/s", "skipped") in results(out)
    assert run.variables["inner_ran"] is True and run.finished


def test_start_twice_is_a_bug(tmp_path: Path) -> None:
    run, _ = start(_greeting(tmp_path))
    with pytest.raises(RuntimeError):
        run.start(0.0)


def test_session_facts_are_variables(tmp_path: Path) -> None:
    run, _ = start(_greeting(tmp_path))
    assert run.variables["session"]["destination"] == "+12025550100"
    assert run.variables["session"]["id"] == "s-1"


def test_session_variables_are_the_facts_over_extra_and_copied_per_run(tmp_path: Path) -> None:
    facts = replace(FACTS, extra={"id": "not-the-session-id", "tags": ["a"]})
    flow = flow_from(tmp_path, {"bye": {"type": "hangup"}})
    first_run, second_run = FlowRun(flow, facts), FlowRun(flow, facts)

    session = first_run.variables["session"]
    assert session["id"] == "s-1" and session["answered_at"] == FACTS.answered_at
    assert session["tags"] == ["a"]
    session["tags"].append("b")
    assert facts.extra["tags"] == ["a"]
    assert second_run.variables["session"]["tags"] == ["a"]
