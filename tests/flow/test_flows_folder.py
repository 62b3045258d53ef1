"""Every example flow in flows/ is valid and runs to its end in simulation."""

from pathlib import Path

import pytest

from engine.flow.loader import check_flow, flow_files, sibling_ids
from engine.flow.registry import FlowRegistry
from engine.flow.simulate import Script, simulate

FLOWS = Path(__file__).resolve().parents[2] / "flows"


@pytest.mark.parametrize("path", flow_files(FLOWS), ids=lambda p: p.stem)
def test_example_flow_is_valid_and_finishes(path: Path) -> None:
    flow, problems = check_flow(path, sibling_ids(path))
    assert problems == [] and flow is not None
    result = simulate(flow, Script(digits="1"))
    assert result.finished is not None and result.finished.result == "completed"


def test_greeting_is_short() -> None:
    registry = FlowRegistry(FLOWS)
    registry.load_all()
    result = simulate(registry.get("greeting"), Script())
    assert 3.0 <= result.lines[-1].time <= 5.0


def test_audio_files_are_tiny() -> None:
    for wav in (FLOWS / "audio").glob("*.wav"):
        assert wav.stat().st_size < 32_000, wav
