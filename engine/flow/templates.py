"""`{{ variables }}` in flow strings, through Jinja2's sandbox.

Undefined variables are errors (StrictUndefined): a typo in a flow must not silently say nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from engine.errors import FlowRuntimeError

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_COMPILED: dict[str, Template] = {}


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def check_template(text: str) -> str:
    """Raise ValueError when `text` does not parse; a pydantic validator (errors get a location)."""
    if is_template(text):
        try:
            _ENV.parse(text)
        except TemplateSyntaxError as exc:
            raise ValueError(f"template does not parse: {exc.message}") from exc
    return text


def contains_template(value: Any) -> bool:
    """Whether a string, or any string inside lists and mappings, is a template."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, Mapping):
        return any(contains_template(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_template(item) for item in value)
    return False


def check_templates_in(value: Any) -> Any:
    """check_template on every string inside lists and mappings."""
    if isinstance(value, str):
        check_template(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            check_templates_in(item)
    elif isinstance(value, list):
        for item in value:
            check_templates_in(item)
    return value


def render(text: str, variables: Mapping[str, Any]) -> str:
    """Render one string; FlowRuntimeError on an undefined variable or a sandbox violation."""
    if not is_template(text):
        return text
    template = _COMPILED.get(text)
    if template is None:
        template = _COMPILED[text] = _ENV.from_string(text)
    try:
        return template.render(variables)
    except TemplateError as exc:
        raise FlowRuntimeError(f"template {text!r}: {exc}") from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise FlowRuntimeError(f"template {text!r}: {type(exc).__name__}: {exc}") from exc


def render_value(value: Any, variables: Mapping[str, Any]) -> Any:
    """Render every string inside `value`; other scalars are kept as they are."""
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, Mapping):
        return {key: render_value(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, variables) for item in value]
    return value
