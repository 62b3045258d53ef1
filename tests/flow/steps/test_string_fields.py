"""Every string a step holds is either a template rendered when the step runs, or used as
written and refused as a template where it is written: a template never reaches a call as
braces. The fields are read from the step models, so a new field is walked too."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from engine.flow.commands import StepFinished, StepStarted
from engine.flow.steps import STEP_TYPES
from engine.flow.steps.base import StepFields
from engine.flow.steps.branch import Condition
from engine.flow.steps.prompt import Prompt
from tests.flow.helpers import flow_from, start

PARTS: dict[str, type[StepFields]] = {**STEP_TYPES, "gather prompt": Prompt, "condition": Condition}

MINIMAL: dict[str, dict[str, Any]] = {
    "play": {"file": "tone.wav"},
    "say": {"text": "Hello."},
    "pause": {"seconds": 1},
    "gather": {"variable": "choice"},
    "record": {},
    "set": {"variables": {"a": 1}},
    "branch": {"conditions": [{"variable": "a", "equals": 1, "goto": "end"}]},
    "goto": {"target": "end"},
    "webhook": {"url": "http://127.0.0.1:9/hook"},
    "transfer": {"target": "+12025550144"},
    "dial": {"target": "+12025550144"},
    "send_digits": {"digits": "12"},
    "hangup": {},
    "subflow": {"flow": "other"},
    "gather prompt": {"say": "Press a key."},
    "condition": {"variable": "a", "equals": 1, "goto": "end"},
}
"""A valid value of each part, to which one field at a time is changed."""

RENDERED: dict[tuple[str, str], Any] = {
    ("say", "text"): "Hello {{ x }}.",
    ("record", "name"): "take-{{ x }}.wav",
    ("set", "variables"): {"copy": "{{ x }}"},
    ("webhook", "url"): "http://127.0.0.1:9/{{ x }}",
    ("webhook", "headers"): {"X-Id": "{{ x }}"},
    ("webhook", "body"): {"id": "{{ x }}"},
    ("transfer", "target"): "+1202555{{ x }}",
    ("dial", "target"): "+1202555{{ x }}",
    ("dial", "caller_id"): "+1202555{{ x }}",
    ("send_digits", "digits"): "{{ x }}",
    ("hangup", "reason"): "reason {{ x }}",
    ("gather prompt", "say"): "Press {{ x }}.",
    **{("condition", name): "{{ x }}" for name in Condition.rendered},
}
"""A template for each rendered field; with x = 4242, what the step does shows 4242."""


def holds_strings(annotation: Any) -> bool:
    """Whether a field of this type can hold a string (a Literal is not written by authors)."""
    if annotation is str or annotation is Any:
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return False  # walked as a part of its own
    return any(holds_strings(arg) for arg in typing.get_args(annotation))


def string_fields() -> list[tuple[str, str]]:
    found = []
    for part, model in PARTS.items():
        for name, info in model.model_fields.items():
            if name not in ("type", "description") and holds_strings(info.annotation):
                found.append((part, name))
    return found


WALKED = string_fields()


def test_the_walk_finds_the_fields_it_should() -> None:
    assert ("hangup", "reason") in WALKED
    assert ("say", "voice") in WALKED
    assert ("gather prompt", "say") in WALKED
    assert ("condition", "goto") in WALKED
    assert ("say", "type") not in WALKED and ("webhook", "method") not in WALKED


@pytest.mark.parametrize(("part", "name"), [w for w in WALKED if w[1] in PARTS[w[0]].rendered])
def test_a_rendered_field_has_a_case(part: str, name: str) -> None:
    assert (part, name) in RENDERED, f"add a template for {part}.{name} to RENDERED"


@pytest.mark.parametrize(("part", "name"), [w for w in WALKED if w[1] not in PARTS[w[0]].rendered])
def test_a_field_used_as_written_refuses_a_template(part: str, name: str) -> None:
    model = PARTS[part]
    fields = {**MINIMAL[part], name: "{{ x }}"}
    if part in STEP_TYPES:
        fields["type"] = part
    with pytest.raises(ValidationError) as raised:
        model.model_validate(fields)
    # Refused at the field: by this rule, or first by the field's own pattern (a name, a key).
    assert [e for e in raised.value.errors() if e["loc"][:1] == (name,)], raised.value.errors()


def _steps_for(part: str, name: str, template: Any) -> dict[str, Any]:
    """A flow that sets x, then runs the part with `template` in field `name`."""
    prelude = {"type": "set", "variables": {"x": "4242"}, "next": "under_test"}
    if part == "gather prompt":
        step = {"type": "gather", "variable": "choice", "prompt": {name: template}}
    elif part == "condition":
        condition = {"variable": "x", name: template, "goto": "matched"}
        if name in ("less_than", "greater_than", "not_equals"):
            condition[name] = "{{ x }}0" if name == "less_than" else "{{ x[:1] }}"
        if name == "one_of":
            condition[name] = ["{{ x }}"]
        step = {"type": "branch", "conditions": [condition], "default": "other"}
    else:
        step = {**MINIMAL[part], "type": part, name: template}
    steps = {"first": prelude, "under_test": step}
    if part == "condition":
        steps["matched"] = {"type": "say", "text": "matched"}
        steps["other"] = {"type": "say", "text": "other"}
    if part == "set":
        steps["under_test"]["next"] = "show"
        steps["show"] = {"type": "say", "text": "{{ copy }}"}
    return steps


@pytest.mark.parametrize(("part", "name"), sorted(RENDERED))
def test_a_rendered_field_is_rendered_when_the_step_runs(
    tmp_path: Path, part: str, name: str
) -> None:
    (tmp_path / "tone.wav").write_bytes(b"")
    flow = flow_from(tmp_path, _steps_for(part, name, RENDERED[(part, name)]))
    _, commands = start(flow)
    effects = [c for c in commands if not isinstance(c, (StepStarted, StepFinished))]
    shown = repr(effects)
    if part == "condition":
        assert "'matched'" in shown and "'other'" not in shown, shown
    else:
        assert "4242" in shown and "{{" not in shown, shown
