from pathlib import Path

from engine.flow import commands as c
from engine.flow.events import TransferFinished
from tests.flow.helpers import first, flow_from, results, start


def _run(tmp_path: Path, event: TransferFinished) -> tuple[list[c.FlowCommand], dict[str, object]]:
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
    return run.handle(event, 1.0), run.variables


def test_accepted_transfer_ends_the_flow(tmp_path: Path) -> None:
    out, variables = _run(tmp_path, TransferFinished(True, 202, "Accepted"))
    assert results(out) == [("t", "ok")]
    assert out[-1] == c.Hangup()
    assert variables["transfer"] == {"accepted": True, "sip_code": 202, "reason": "Accepted"}


def test_refused_transfer_takes_on_failure(tmp_path: Path) -> None:
    out, _variables = _run(tmp_path, TransferFinished(False, 603, "Decline"))
    assert results(out) == [("t", "failed"), ("sorry", "ok")]
