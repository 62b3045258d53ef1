from pathlib import Path

from engine.flow import commands as c
from engine.flow.events import FlowEvent, TimerFired, TransferFinished
from engine.flow.machine import FlowRun
from engine.flow.steps.transfer import REFER_TIMEOUT_SECONDS
from tests.flow.helpers import first, flow_from, results, start


def _start(tmp_path: Path) -> tuple[FlowRun, list[c.FlowCommand]]:
    flow = flow_from(
        tmp_path,
        {
            "t": {"type": "transfer", "target": "{{ agent }}", "on_failure": "sorry"},
            "sorry": {"type": "set", "variables": {"went": "sorry"}},
        },
        variables={"agent": "sip:agent@example.org"},
    )
    run, out = start(flow)
    assert first(out, c.TransferCall).target == "sip:agent@example.org"
    return run, out


def _answer(tmp_path: Path, event: FlowEvent) -> tuple[list[c.FlowCommand], dict[str, object]]:
    run, _ = _start(tmp_path)
    return run.handle(event, 1.0), run.variables


def _transfer_id(tmp_path: Path) -> str:
    return first(_start(tmp_path)[1], c.TransferCall).transfer_id


def test_accepted_transfer_ends_the_flow(tmp_path: Path) -> None:
    transfer_id = _transfer_id(tmp_path)
    out, variables = _answer(tmp_path, TransferFinished(transfer_id, True, 202, "Accepted"))
    assert results(out) == [("t", "ok")]
    assert out[-1] == c.Hangup()
    assert variables["transfer"] == {"accepted": True, "sip_code": 202, "reason": "Accepted"}


def test_refused_transfer_takes_on_failure(tmp_path: Path) -> None:
    transfer_id = _transfer_id(tmp_path)
    out, _variables = _answer(tmp_path, TransferFinished(transfer_id, False, 603, "Decline"))
    assert results(out) == [("t", "failed"), ("sorry", "ok")]


def test_a_result_for_another_transfer_is_not_this_steps(tmp_path: Path) -> None:
    out, _variables = _answer(tmp_path, TransferFinished("transfer-999", True, 202, "Accepted"))
    assert results(out) == []


def test_no_result_at_all_fails_the_step_after_the_refer_timeout(tmp_path: Path) -> None:
    run, out = _start(tmp_path)
    guard = first(out, c.SetTimer)
    assert guard.deadline == REFER_TIMEOUT_SECONDS
    out = run.handle(TimerFired(guard.timer_id), guard.deadline)
    assert results(out) == [("t", "failed"), ("sorry", "ok")]
    assert run.variables["transfer"] == {
        "accepted": False,
        "sip_code": 408,
        "reason": f"no answer to the REFER in {REFER_TIMEOUT_SECONDS:g} s",
    }
