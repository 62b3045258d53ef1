"""Good and bad flow files: each bad one names the problem expected on its first line."""

from pathlib import Path

import pytest

from engine.flow.loader import check_flow, load_flow, sibling_ids
from engine.flow.steps.gather import GatherStep

DATA = Path(__file__).parent / "data"
BAD = sorted((DATA / "bad").glob("*.yaml"))
GOOD = sorted((DATA / "good").glob("*.yaml"))


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_good_files_load(path: Path) -> None:
    flow, problems = check_flow(path, sibling_ids(path))
    assert problems == []
    assert flow is not None and flow.id == path.stem


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_files_report_file_line_column(path: Path) -> None:
    expected = path.read_text().splitlines()[0].removeprefix("# ")
    position, _, fragment = expected.partition(": ")
    flow, problems = check_flow(path, sibling_ids(path))
    assert flow is None
    reported = [str(p) for p in problems]
    assert any(text.startswith(f"{path}:{position}: ") and fragment in text for text in reported), (
        reported
    )


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "name: x\nstart: a\nsteps:\n  a: {type: say, text: hi, bogus: 1, next: b}\n"
        "  b: {type: pause, seconds: -1}\n  c: {type: nope}\n"
    )
    _, problems = check_flow(path)
    messages = [p.message for p in problems]
    assert len(messages) == 3, messages
    assert [p.location for p in problems] == [f"{path}:4:28", f"{path}:5:29", f"{path}:6:13"]


def test_duplicate_keys_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: x\nstart: a\nsteps:\n  a: {type: hangup}\n  a: {type: hangup}\n")
    _, problems = check_flow(path)
    assert [str(p) for p in problems] == [f"{path}:5:3: duplicate key 'a'"]


def test_inline_on_hangup_steps_chain_in_order() -> None:
    flow = load_flow(DATA / "good" / "every-step.yaml", {"helper"})
    assert flow.on_hangup == "on_hangup[0]"
    assert isinstance(flow.steps["ask"], GatherStep)
    assert flow.locations["ask"].endswith("every-step.yaml:20:3")


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    for text in ("", "- a\n- b\n"):
        path = tmp_path / "x.yaml"
        path.write_text(text)
        _, problems = check_flow(path)
        assert "a flow file is a mapping" in str(problems[0])
