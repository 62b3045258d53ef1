from pathlib import Path

import pytest

from engine.flow import commands as c
from engine.flow.events import WebhookCompleted
from engine.flow.loader import InvalidFlow
from engine.flow.model import Flow
from tests.flow.helpers import first, flow_from, results, start


def _flow(tmp_path: Path, **options: object) -> Flow:
    return flow_from(
        tmp_path,
        {
            "hook": {
                "type": "webhook",
                "url": "{{ base }}/x",
                "next": "good",
                "on_failure": "bad",
                **options,
            },
            "good": {"type": "set", "variables": {"went": "good"}},
            "bad": {"type": "set", "variables": {"went": "bad"}},
        },
        variables={"base": "http://h", "answer": "yes"},
    )


def test_post_templated_body_and_headers(tmp_path: Path) -> None:
    flow = _flow(
        tmp_path,
        headers={"X-Session": "{{ session.id }}"},
        body={"answer": "{{ answer }}", "n": 1},
        save_as="reply",
    )
    run, out = start(flow)
    call = first(out, c.CallWebhook)
    assert (call.method, call.url, call.headers) == ("POST", "http://h/x", {"X-Session": "s-1"})
    assert call.json_body == {"answer": "yes", "n": 1}
    out = run.handle(WebhookCompleted(call.request_id, 200, {"ok": True}), 0.2)
    assert results(out)[0] == ("hook", "ok")
    assert run.variables["reply"] == {"ok": True} and run.variables["reply_status"] == 200
    assert run.variables["went"] == "good"


def test_default_body_is_every_variable(tmp_path: Path) -> None:
    _, out = start(_flow(tmp_path))
    body = first(out, c.CallWebhook).json_body or {}
    assert body["answer"] == "yes" and body["session"]["id"] == "s-1"


@pytest.mark.parametrize(
    "event",
    [
        WebhookCompleted("webhook-1", None, error="timeout"),
        WebhookCompleted("webhook-1", 500),
    ],
)
def test_failure_branch(tmp_path: Path, event: WebhookCompleted) -> None:
    run, out = start(_flow(tmp_path, method="GET"))
    assert first(out, c.CallWebhook).json_body is None
    out = run.handle(event, 1.0)
    assert results(out)[0] == ("hook", "failed")
    assert run.variables["went"] == "bad"


def test_get_has_no_body(tmp_path: Path) -> None:
    with pytest.raises(InvalidFlow, match="GET webhook has no body"):
        _flow(tmp_path, method="GET", body={"a": 1})
