from pathlib import Path
from typing import Any

import pytest

from engine.flow import commands as c
from engine.flow.loader import InvalidFlow
from tests.flow.helpers import flow_from, start


def _route(tmp_path: Path, condition: dict[str, Any], variables: dict[str, Any]) -> str:
    flow = flow_from(
        tmp_path,
        {
            "b": {"type": "branch", "conditions": [{**condition, "goto": "yes"}], "default": "no"},
            "yes": {"type": "set", "variables": {"went": "yes"}},
            "no": {"type": "set", "variables": {"went": "no"}},
        },
        variables=variables,
    )
    run, _ = start(flow)
    return str(run.variables["went"])


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ({"variable": "v", "equals": 1}, "1", "yes"),
        ({"variable": "v", "equals": "1"}, "2", "no"),
        ({"variable": "v", "not_equals": "a"}, "b", "yes"),
        ({"variable": "v", "less_than": 10}, "9", "yes"),
        ({"variable": "v", "less_than": 10}, "10", "no"),
        ({"variable": "v", "greater_or_equal": 3}, 3, "yes"),
        ({"variable": "v", "greater_than": "b"}, "c", "yes"),
        ({"variable": "v", "matches": "[0-9]{3}"}, "123", "yes"),
        ({"variable": "v", "matches": "[0-9]{3}"}, "1234", "no"),
        ({"variable": "v", "one_of": [1, 2]}, "2", "yes"),
        ({"variable": "v", "equals": True}, True, "yes"),
        ({"variable": "v", "equals": "{{ w }}"}, "x", "yes"),
    ],
)
def test_operators(tmp_path: Path, condition: dict[str, Any], value: Any, expected: str) -> None:
    assert _route(tmp_path, condition, {"v": value, "w": "x"}) == expected


def test_dotted_variables(tmp_path: Path) -> None:
    condition = {"variable": "session.destination", "matches": r"\+1.*"}
    assert _route(tmp_path, condition, {}) == "yes"


def test_missing_variable_is_a_runtime_error(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        {"b": {"type": "branch", "conditions": [{"variable": "nope", "equals": 1, "goto": "b"}]}},
    )
    _, out = start(flow)
    finished = next(x for x in out if isinstance(x, c.FlowFinished))
    assert finished.result == "error" and "no variable 'nope'" in (finished.error or "")


def test_a_condition_needs_exactly_one_operator(tmp_path: Path) -> None:
    with pytest.raises(InvalidFlow, match="exactly one of"):
        flow_from(
            tmp_path,
            {"b": {"type": "branch", "conditions": [{"variable": "v", "goto": "b"}]}},
        )
