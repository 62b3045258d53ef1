"""The simulator records as the engine does: the caller's speech, then the silence rule, a
finish key, a hang-up or the length, whichever comes first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.flow.simulate import Script, Simulator
from tests.flow.helpers import flow_from


def recorded(tmp_path: Path, script: Script, **record: Any) -> dict[str, Any]:
    steps = {
        "take": {"type": "record", "beep": False, "name": "m.wav", **record, "next": "bye"},
        "bye": {"type": "hangup"},
    }
    result = Simulator(flow_from(tmp_path, steps), script, quiet=True).execute()
    recording: dict[str, Any] = result.variables["recording"]
    return recording


@pytest.mark.parametrize(
    ("script", "record", "duration", "reason"),
    [
        (Script(recording_seconds=7), {"silence_seconds": 2}, 9, "silence"),
        (Script(silence=True), {"silence_seconds": 2}, 2, "silence"),
        (
            Script(recording_seconds=7),
            {"silence_seconds": None, "max_seconds": 30},
            30,
            "max_length",
        ),
        (Script(recording_seconds=7), {"silence_seconds": 5, "max_seconds": 10}, 10, "max_length"),
        (Script(recording_seconds=7, hangup_at=4), {"silence_seconds": 2}, 4, "hangup"),
        (
            Script(recording_seconds=7, digits_at=[(3.5, "#")]),
            {"silence_seconds": 2, "finish_key": "#"},
            3.5,
            "stopped",
        ),
    ],
)
def test_the_recording_ends_as_the_engines_would(
    tmp_path: Path, script: Script, record: dict[str, Any], duration: float, reason: str
) -> None:
    recording = recorded(tmp_path, script, **record)
    assert (recording["duration"], recording["reason"]) == (duration, reason)
