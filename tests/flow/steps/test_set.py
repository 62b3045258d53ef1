from pathlib import Path

import pytest

from engine.flow import commands as c
from engine.flow.loader import InvalidFlow
from tests.flow.helpers import flow_from, start


def test_set_renders_in_order_and_keeps_non_strings(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        {
            "s": {
                "type": "set",
                "variables": {
                    "a": "{{ session.caller_id }}",
                    "b": "[{{ a }}]",
                    "n": 3,
                    "m": {"k": "{{ n * 2 }}"},
                },
            }
        },
        variables={"n": 1},
    )
    run, out = start(flow)
    assert run.variables["a"] == "+12025550143"
    assert run.variables["b"] == "[+12025550143]"
    assert run.variables["n"] == 3
    assert run.variables["m"] == {"k": "6"}
    finished = next(x for x in out if isinstance(x, c.FlowFinished))
    assert "session" not in finished.variables


def test_undefined_variable_is_a_runtime_flow_error(tmp_path: Path) -> None:
    _run, out = start(flow_from(tmp_path, {"s": {"type": "set", "variables": {"a": "{{ nope }}"}}}))
    finished = next(x for x in out if isinstance(x, c.FlowFinished))
    assert finished.result == "error"
    assert "'nope' is undefined" in (finished.error or "")
    assert (finished.error or "").startswith(f"{tmp_path.resolve() / 'test.yaml'}:4:3: step 's'")
    assert out[-1] == c.Hangup("flow error")


def test_session_is_read_only(tmp_path: Path) -> None:
    with pytest.raises(InvalidFlow, match="read-only"):
        flow_from(tmp_path, {"s": {"type": "set", "variables": {"session": 1}}})
