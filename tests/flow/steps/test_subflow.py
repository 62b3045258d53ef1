from pathlib import Path

import pytest

from engine.flow import commands as c
from engine.flow.events import TimerFired
from engine.flow.loader import InvalidFlow, load_flow
from tests.flow.helpers import first, flow_from, of, results, start

INNER = """\
name: inner
start: mark
steps:
  mark: {type: set, variables: {inner: "{{ outer }}"}, next: wait}
  wait: {type: pause, seconds: 1}
"""


def test_subflow_runs_then_returns(tmp_path: Path) -> None:
    (tmp_path / "inner.yaml").write_text(INNER)
    inner = load_flow(tmp_path / "inner.yaml")
    outer = flow_from(
        tmp_path,
        {
            "call": {"type": "subflow", "flow": "inner", "next": "after"},
            "after": {"type": "set", "variables": {"back": True}},
        },
        name="outer",
        variables={"outer": "shared"},
    )
    run, out = start(outer, registry_lookup={"inner": inner}.__getitem__)
    assert first(out, c.StepStarted).step == "call"
    assert ("inner/mark", "ok") in results(out)
    out = run.handle(TimerFired(first(out, c.SetTimer).timer_id), 1.0)
    assert results(out) == [("inner/wait", "ok"), ("after", "ok")]
    assert run.variables["inner"] == "shared" and run.variables["back"] is True
    assert of(out, c.Hangup)


def test_unknown_subflow_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidFlow, match="unknown flow id 'nope'"):
        flow_from(tmp_path, {"call": {"type": "subflow", "flow": "nope"}})


def test_missing_at_run_time_is_a_flow_error(tmp_path: Path) -> None:
    (tmp_path / "inner.yaml").write_text(INNER)
    outer = flow_from(tmp_path, {"call": {"type": "subflow", "flow": "inner"}}, name="outer")
    _, out = start(outer, registry_lookup={}.__getitem__)
    assert first(out, c.FlowFinished).result == "error"
