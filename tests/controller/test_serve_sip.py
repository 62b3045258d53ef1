"""`voice-engine serve` as a user runs it: a process, a config file, keys from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from engine.tools.serve_process import ServeProcess
from engine.tools.sipp.ports import free_tcp_port
from engine.tools.sipp.runner import SippUas
from tests.support.engine import FLOWS, TTS_CACHE

pytestmark = pytest.mark.sip

TRUNK_PASSWORD = "trunk-pass-4711"
NS = "http://schemas.datacontract.org/2004/07/Voice.Api.Sessions"
SAMPLE = (
    '<NewOutgoingSession xmlns:i="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns="http://schemas.datacontract.org/2004/07/Voice.Api.Sessions">\n'
    "<CallerId>{caller}</CallerId>\n"
    "<FlowId>{flow}</FlowId>\n"
    "<NumberToDial>{number}</NumberToDial>\n"
    "</NewOutgoingSession>"
)


def write_config(root: Path, sipp_port: int, http_port: int) -> Path:
    config = {
        "node_id": "serve-test",
        "http": {"host": "127.0.0.1", "port": http_port},
        "store": {"path": "var/engine.db"},
        "flows_dir": str(FLOWS),
        "recordings_dir": "var/recordings",
        "tts": {"cache_dir": str(TTS_CACHE)},
        "workers": {"min_workers": 1, "max_workers": 1},
        "trunks": [
            {
                "name": "sipp",
                "host": "127.0.0.1",
                "port": sipp_port,
                "username": "engine",
                "password": TRUNK_PASSWORD,
            }
        ],
        "logging": {"format": "json", "level": "INFO"},
        "numbers": [{"number": "+12025550143", "trunk": "sipp"}],
        "drain_seconds": 2,
    }
    path = root / "config" / "engine.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(config))
    return path


def cli(config: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, SippUas]]:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        port = free_tcp_port()
        config = write_config(tmp_path, uas.port, port)
        base = f"http://127.0.0.1:{port}"
        with ServeProcess(config, base, tmp_path / "serve.log"):
            yield base, config, uas


def follow(client: httpx.Client, session_id: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        session: dict[str, object] = client.get(f"/sessions/{session_id}").json()
        if session["ended"]:
            return session
        assert time.monotonic() < deadline, f"session {session_id} did not end"
        time.sleep(0.05)


def test_sample_xml_request_places_a_completed_call(served: tuple[str, Path, SippUas]) -> None:
    base, config, uas = served
    key = cli(config, "keys", "create", "--role", "Manager", "--name", "ops")
    body = SAMPLE.format(caller="+12025550143", flow="greeting", number="+18144043093")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        response = client.post(
            "/sessions/outgoing",
            content=body.encode(),
            headers={"Accept": "application/xml", "Content-Type": "application/xml"},
        )
        assert response.status_code == 200, response.text
        assert f'xmlns="{NS}"' in response.text
        session_id = response.text.split("<Id>")[1].split("</Id>")[0]
        session = follow(client, session_id)
    assert session["outcome"] == "completed"
    assert session["fromAddress"] == "+12025550143"
    assert f"X-Session-Id: {session_id}" in uas.messages_text()


def test_json_with_basic_auth_and_roles(served: tuple[str, Path, SippUas]) -> None:
    base, config, _ = served
    manager = cli(config, "keys", "create", "--role", "Manager", "--name", "m")
    viewer = cli(config, "keys", "create", "--role", "Viewer", "--name", "v")
    request = {"flowId": "greeting", "numberToDial": "+1 814-404-3093"}
    with httpx.Client(base_url=base) as client:
        assert client.post("/sessions/outgoing", json=request).status_code == 401
        forbidden = client.post(
            "/sessions/outgoing", json=request, headers={"Authorization": f"Bearer {viewer}"}
        )
        assert forbidden.status_code == 403
        assert forbidden.json()["responseStatus"]["errorCode"]
        response = client.post("/sessions/outgoing", json=request, auth=(manager, ""))
        assert response.status_code == 200, response.text
        created = response.json()
        assert created["destination"] == "+18144043093"
        client.auth = (manager, "")
        session = follow(client, created["id"])
    assert session["outcome"] == "completed"


def test_rejected_requests_dial_nothing(served: tuple[str, Path, SippUas]) -> None:
    base, config, uas = served
    key = cli(config, "keys", "create", "--role", "Manager", "--name", "ops")
    headers = {"Authorization": f"Bearer {key}"}
    bad_requests = [
        ({"flowId": "no-such-flow", "numberToDial": "+18144043093"}, "FlowId"),
        ({"flowId": "greeting", "numberToDial": "8144043093"}, "NumberToDial"),
        (
            {"flowId": "greeting", "numberToDial": "+18144043093", "callerId": "+18005550199"},
            "CallerId",
        ),
    ]
    with httpx.Client(base_url=base, headers=headers) as client:
        for body, field in bad_requests:
            response = client.post("/sessions/outgoing", json=body)
            assert response.status_code == 400, response.text
            errors = response.json()["responseStatus"]["errors"]
            assert [e["fieldName"] for e in errors] == [field]
        malformed = [
            (b"{not json", "application/json", 400),
            (b'<!DOCTYPE x [<!ENTITY a "b">]><NewOutgoingSession/>', "application/xml", 400),
            (b"x", "text/csv", 415),
            (b"{" + b" " * 70_000 + b"}", "application/json", 413),
        ]
        for content, content_type, status in malformed:
            response = client.post(
                "/sessions/outgoing", content=content, headers={"Content-Type": content_type}
            )
            assert response.status_code == status, (content_type, response.text)
        listed = client.get("/sessions").json()
    assert listed["total"] == 0
    assert "INVITE" not in uas.messages_text()


def test_logs_are_json_lines_with_session_ids_and_no_secrets(
    served: tuple[str, Path, SippUas],
) -> None:
    base, config, _ = served
    key = cli(config, "keys", "create", "--role", "Manager", "--name", "ops")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        created = client.post(
            "/sessions/outgoing", json={"flowId": "greeting", "numberToDial": "+18144043093"}
        ).json()
        follow(client, created["id"])
    text = (config.parent.parent / "serve.log").read_text()
    assert key not in text
    assert TRUNK_PASSWORD not in text
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    events = [r for r in records if r.get("session_id") == created["id"]]
    kinds = [r["message"].split()[0] for r in events]
    assert kinds[0] == "session.created"
    assert "call.answered" in kinds
    assert kinds[-1] == "session.completed"
