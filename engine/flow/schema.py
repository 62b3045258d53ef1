"""A JSON Schema of flow files, built from the step models, for YAML editors."""

from __future__ import annotations

import functools
import operator
from typing import Annotated, Any

from pydantic import Field, create_model

from engine.flow.model import FlowHeader
from engine.flow.steps import STEP_TYPES


def flow_json_schema() -> dict[str, Any]:
    step_union: Any = functools.reduce(operator.or_, STEP_TYPES.values())
    step = Annotated[step_union, Field(discriminator="type")]
    model = create_model(
        "FlowFile",
        __base__=FlowHeader,
        steps=(dict[str, step], ...),
        on_hangup=(str | list[step] | None, None),
    )
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "voice-engine flow"
    return schema
