from pathlib import Path

from engine.flow import commands as c
from engine.flow.events import TimerFired
from tests.flow.helpers import first, flow_from, start


def test_hangup_ends_with_its_reason(tmp_path: Path) -> None:
    run, out = start(flow_from(tmp_path, {"bye": {"type": "hangup", "reason": "done here"}}))
    assert out[-2:] == [c.FlowFinished("completed", variables={}), c.Hangup("done here")]
    assert run.finished


def test_hangup_inside_a_subflow_ends_the_whole_run(tmp_path: Path) -> None:
    (tmp_path / "inner.yaml").write_text(
        "name: inner\nstart: h\nsteps:\n  h: {type: hangup, reason: from inside}\n"
    )
    flows = {}
    outer = flow_from(
        tmp_path,
        {
            "call": {"type": "subflow", "flow": "inner", "next": "wait"},
            "wait": {"type": "pause", "seconds": 1},
        },
    )
    from engine.flow.loader import load_flow

    flows["inner"] = load_flow(tmp_path / "inner.yaml")
    run, out = start(outer, registry_lookup=flows.__getitem__)
    assert out[-1] == c.Hangup("from inside")
    assert run.handle(TimerFired("timer-1"), 1.0) == []
    assert not [x for x in out if isinstance(x, c.SetTimer)]
    assert first(out, c.StepStarted).step == "call"
