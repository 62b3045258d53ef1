from pathlib import Path

import pytest

from engine.flow import commands as c
from engine.flow.events import TimerFired
from engine.flow.loader import InvalidFlow
from engine.flow.machine import FlowRun
from tests.flow.helpers import FACTS, first, one_step, results


def test_pause_sets_an_absolute_deadline(tmp_path: Path) -> None:
    run = FlowRun(one_step(tmp_path, type="pause", seconds=1.5), FACTS)
    timer = first(run.start(10.0), c.SetTimer)
    assert timer.deadline == 11.5
    assert run.handle(TimerFired("timer-other"), 11.0) == []
    assert results(run.handle(TimerFired(timer.timer_id), 11.5)) == [("only", "ok")]


def test_pause_rejects_zero(tmp_path: Path) -> None:
    with pytest.raises(InvalidFlow, match="seconds"):
        one_step(tmp_path, type="pause", seconds=0)
