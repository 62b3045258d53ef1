from pathlib import Path

from engine.flow import commands as c
from tests.flow.helpers import flow_from, results, start


def test_goto_jumps(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        {
            "a": {"type": "goto", "target": "c"},
            "c": {"type": "set", "variables": {"x": 1}},
        },
    )
    _, out = start(flow)
    assert results(out) == [("a", "ok"), ("c", "ok")]


def test_a_loop_that_never_waits_is_stopped(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        {
            "a": {"type": "set", "variables": {"x": 1}, "next": "b"},
            "b": {"type": "goto", "target": "a"},
        },
    )
    run, out = start(flow, max_steps_without_wait=50)
    finished = next(x for x in out if isinstance(x, c.FlowFinished))
    assert finished.result == "error"
    assert "50 steps ran without waiting" in (finished.error or "")
    assert run.finished and out[-1] == c.Hangup("flow error")
