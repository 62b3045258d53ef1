from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import get_args

import pytest
from pydantic import ValidationError

from engine.events.model import (
    DATA_MODELS,
    CallEnded,
    Event,
    EventKind,
    NodeStatus,
    SessionEventData,
    kind_topic,
    status_topic,
    validate_data,
)


def test_every_kind_has_one_data_model() -> None:
    assert set(DATA_MODELS) == set(EventKind)
    assert len(DATA_MODELS) == len(get_args(SessionEventData))  # no two models of one kind


def test_event_envelope_shape_and_version() -> None:
    event = Event(
        kind=EventKind.CALL_ENDED,
        session_id="s1",
        node_id="node-1",
        timestamp=datetime(2026, 11, 26, 22, 0, 0, 123000, tzinfo=UTC),
        sequence=7,
        data=validate_data(
            EventKind.CALL_ENDED,
            CallEnded(
                outcome="busy",
                sip_code=486,
                sip_reason="Busy Here",
                post_dial_delay_seconds=0.2,
                ring_seconds=None,
                talk_seconds=None,
            ),
        ),
    )
    payload = json.loads(event.to_json())
    assert set(payload) == {"id", "version", "kind", "session_id", "node_id", "timestamp",
                            "sequence", "data"}  # fmt: skip
    assert re.fullmatch(r"[0-9a-f]{32}", payload["id"])
    assert payload["version"] == 1
    assert payload["kind"] == "call.ended"
    assert payload["timestamp"] == "2026-11-26T22:00:00.123Z"
    assert payload["data"] == {
        "outcome": "busy",
        "sip_code": 486,
        "sip_reason": "Busy Here",
        "post_dial_delay_seconds": 0.2,
        "ring_seconds": None,
        "talk_seconds": None,
        "rtp_packets_sent": None,
        "rtp_packets_received": None,
        "rtp_packets_lost": None,
        "rtp_jitter_ms": None,
    }
    assert Event.from_json(event.to_json()) == event
    assert isinstance(event.typed_data(), CallEnded)


def test_timestamps_are_converted_to_utc() -> None:
    from datetime import timedelta, timezone

    local = datetime(2026, 11, 26, 23, 0, tzinfo=timezone(timedelta(hours=1)))
    event = Event(kind="session.completed", session_id="s", node_id="n", timestamp=local,
                  data={"outcome": "completed", "duration_seconds": 1.0})  # fmt: skip
    assert json.loads(event.to_json())["timestamp"] == "2026-11-26T22:00:00.000Z"


def test_a_newer_version_is_refused() -> None:
    event = Event(kind="call.ringing", session_id="s", node_id="n",
                  timestamp=datetime.now(UTC), data={"sip_code": 180})  # fmt: skip
    payload = json.loads(event.to_json())
    payload["version"] = 2
    with pytest.raises(ValidationError):
        Event.model_validate(payload)


def test_data_is_checked_against_its_kind() -> None:
    assert validate_data(EventKind.CALL_DIGIT_RECEIVED, {"digit": "5"}) == {
        "digit": "5",
        "step": None,
    }
    with pytest.raises(ValidationError):
        validate_data(EventKind.CALL_DIGIT_RECEIVED, {"digit": "55"})
    with pytest.raises(ValidationError):
        validate_data(EventKind.CALL_RINGING, {"sip_code": 180, "colour": "red"})
    with pytest.raises(TypeError):
        validate_data(EventKind.CALL_RINGING, CallEnded(outcome="busy", sip_code=486,
                                                        sip_reason="Busy"))  # fmt: skip


def test_topics() -> None:
    event = Event(kind="call.ringing", session_id="abc", node_id="n",
                  timestamp=datetime.now(UTC), data={"sip_code": 180})  # fmt: skip
    assert kind_topic("ve", event.session_id, event.kind) == "ve/sessions/abc/events/call.ringing"
    assert status_topic("ve", "node-1") == "ve/nodes/node-1/status"
    with pytest.raises(ValueError):
        status_topic("ve", "a/b")


def test_node_status_payload() -> None:
    will = json.loads(NodeStatus(node_id="node-1", state="offline").to_json())
    assert will == {"version": 1, "node_id": "node-1", "state": "offline", "timestamp": None}
