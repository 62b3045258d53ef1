from pathlib import Path

from engine.flow import commands as c
from engine.flow.events import DialAnswered, DialFinished, RemoteHangup
from engine.flow.machine import FlowRun
from tests.flow.helpers import first, flow_from, results, start


def _run(tmp_path: Path) -> tuple[FlowRun, c.DialLeg]:
    flow = flow_from(
        tmp_path,
        {
            "d": {
                "type": "dial",
                "target": "+12025550199",
                "caller_id": "{{ session.caller_id }}",
                "ring_timeout": 20,
                "on_failure": "busy",
            },
            "busy": {"type": "set", "variables": {"went": "busy"}},
        },
    )
    run, out = start(flow)
    return run, first(out, c.DialLeg)


def test_dial_bridges_until_the_second_leg_hangs_up(tmp_path: Path) -> None:
    run, leg = _run(tmp_path)
    assert (leg.target, leg.caller_id, leg.ring_timeout_seconds) == (
        "+12025550199",
        "+12025550143",
        20,
    )
    assert run.handle(DialAnswered(leg.leg_id), 3.0) == []
    assert run.handle(DialFinished("leg-999", True, 200, "BYE"), 4.0) == []
    out = run.handle(DialFinished(leg.leg_id, True, 200, "BYE", 30.0), 33.0)
    assert results(out) == [("d", "ok")]
    assert run.variables["dial"]["duration"] == 30.0


def test_unanswered_leg_takes_on_failure(tmp_path: Path) -> None:
    run, leg = _run(tmp_path)
    out = run.handle(DialFinished(leg.leg_id, False, 486, "Busy Here"), 3.0)
    assert results(out) == [("d", "failed"), ("busy", "ok")]


def test_caller_hangup_hangs_up_the_second_leg(tmp_path: Path) -> None:
    run, leg = _run(tmp_path)
    out = run.handle(RemoteHangup(), 5.0)
    assert c.HangupLeg(leg.leg_id) in out
    assert results(out) == [("d", "hangup")]
    assert not [x for x in out if isinstance(x, c.Hangup)]
    assert run.finished
