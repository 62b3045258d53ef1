import os
from pathlib import Path

import pytest

from engine.errors import FlowError
from engine.flow.loader import InvalidFlow
from engine.flow.registry import FlowRegistry

GOOD = "name: {name}\nstart: a\nsteps:\n  a: {{type: say, text: {name}}}\n"


def _write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_load_get_and_ids(tmp_path: Path) -> None:
    _write(tmp_path / "one.yaml", GOOD.format(name="one"), 1000)
    _write(tmp_path / "two.yml", GOOD.format(name="two"), 1000)
    registry = FlowRegistry(tmp_path)
    registry.load_all()
    assert registry.ids() == ["one", "two"]
    assert registry.get("two").name == "two"
    with pytest.raises(FlowError, match="no flow named 'three'"):
        registry.get("three")


def test_load_all_lists_every_problem_of_every_file(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", "name: a\nstart: x\nsteps:\n  x: {type: nope}\n", 1000)
    _write(tmp_path / "b.yaml", "name: b\n", 1000)
    with pytest.raises(InvalidFlow) as caught:
        FlowRegistry(tmp_path).load_all()
    text = str(caught.value)
    assert "a.yaml:4:13: unknown step type 'nope'" in text
    assert "b.yaml:1:1: missing required key 'start'" in text


def test_reload_changed_replaces_only_valid_files(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    _write(path, GOOD.format(name="one"), 1000)
    registry = FlowRegistry(tmp_path)
    registry.load_all()
    assert registry.reload_changed() == []

    _write(path, "name: broken\nstart: a\nsteps:\n  a: {type: say}\n", 2000)
    problems = registry.reload_changed()
    assert len(problems) == 1 and "missing required key 'text'" in problems[0]
    assert registry.get("one").name == "one"  # the old version stays
    assert registry.reload_changed() == []  # reported once per change

    _write(path, GOOD.format(name="fixed"), 3000)
    _write(tmp_path / "new.yaml", GOOD.format(name="new"), 3000)
    assert registry.reload_changed() == []
    assert registry.get("one").name == "fixed" and "new" in registry

    path.unlink()
    registry.reload_changed()
    assert registry.ids() == ["new"]


def test_uses_step_type_follows_subflows(tmp_path: Path) -> None:
    _write(tmp_path / "leaf.yaml", "name: l\nstart: d\nsteps:\n  d: {type: dial, target: x}\n", 1)
    _write(
        tmp_path / "top.yaml", "name: t\nstart: s\nsteps:\n  s: {type: subflow, flow: leaf}\n", 1
    )
    registry = FlowRegistry(tmp_path)
    registry.load_all()
    assert registry.uses_step_type("top", "dial")
    assert not registry.uses_step_type("top", "record")


def test_uses_step_type_answers_anew_after_a_reload(tmp_path: Path) -> None:
    leaf = tmp_path / "leaf.yaml"
    _write(leaf, "name: l\nstart: d\nsteps:\n  d: {type: dial, target: x}\n", 1000)
    _write(
        tmp_path / "top.yaml", "name: t\nstart: s\nsteps:\n  s: {type: subflow, flow: leaf}\n", 1
    )
    registry = FlowRegistry(tmp_path)
    registry.load_all()
    assert registry.uses_step_type("top", "dial")

    _write(leaf, GOOD.format(name="l"), 2000)  # the subflow no longer dials
    registry.reload_changed()
    assert not registry.uses_step_type("top", "dial")

    _write(leaf, "name: l\nstart: d\nsteps:\n  d: {type: dial, target: x}\n", 3000)
    registry.reload_changed()
    assert registry.uses_step_type("top", "dial")

    leaf.unlink()  # a removed subflow
    registry.reload_changed()
    assert not registry.uses_step_type("top", "dial")
