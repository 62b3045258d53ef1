"""`webhook`: an HTTP request; a JSON response's fields become variables."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from engine.flow import templates
from engine.flow.commands import CallWebhook
from engine.flow.events import WebhookCompleted
from engine.flow.steps.base import (
    FailableStep,
    Identifier,
    RunContext,
    StepRun,
    Template,
)


class WebhookStep(FailableStep):
    type: Literal["webhook"]
    rendered = frozenset({"url", "headers", "body"})
    url: Template
    method: Literal["GET", "POST"] = "POST"
    headers: dict[str, Template] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    """POST JSON body, strings templated; omitted: every variable (session included)."""
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    save_as: Identifier = "webhook"
    """The response's JSON object goes here (`{{ webhook.field }}`), `<save_as>_status` gets
    the HTTP status (0 when none came)."""

    media: ClassVar[bool] = False

    @field_validator("body")
    @classmethod
    def _templates(cls, body: dict[str, Any] | None) -> dict[str, Any] | None:
        return templates.check_templates_in(body)

    @model_validator(mode="after")
    def _no_get_body(self) -> WebhookStep:
        if self.method == "GET" and self.body is not None:
            raise ValueError("a GET webhook has no body")
        return self

    def summary(self) -> str:
        return f"{self.method} {self.url}"

    def run(self, ctx: RunContext) -> StepRun:
        request_id = ctx.new_id("webhook")
        body: dict[str, Any] | None = None
        if self.method == "POST":
            body = ctx.render_value(self.body) if self.body is not None else dict(ctx.variables)
        ctx.emit(
            CallWebhook(
                request_id,
                self.method,
                ctx.render(self.url),
                {name: ctx.render(value) for name, value in self.headers.items()},
                body,
                self.timeout_seconds,
            )
        )
        while True:
            event = yield
            if isinstance(event, WebhookCompleted) and event.request_id == request_id:
                break
        status = event.status_code
        ctx.variables[self.save_as] = dict(event.json_body or {})
        ctx.variables[f"{self.save_as}_status"] = status or 0
        ok = event.error is None and status is not None and 200 <= status < 300
        return self.ended(ok, str(status) if ok else event.error or f"HTTP {status}")
