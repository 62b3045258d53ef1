"""The baselines' schema, and every committed baseline against it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bench import baseline
from bench.baseline import Baseline

WHEN = dt.datetime(2026, 12, 7, 14, 14, 3, tzinfo=dt.UTC)


def fields(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema": 1,
        "benchmark": "controller-cpu",
        "revision": "1d94ac5",
        "date": "2026-12-07T14:14:03Z",
        "machine": {"cpu": "AMD EPYC", "cores": 2},
        "command": "python bench/controller_cpu.py --rounds 1",
        "rows": [{"engine_ms_a_call": 2.89}],
        "summary": {"engine_ms_a_call_median": 2.89},
    }
    return {**document, **changes}


@pytest.mark.parametrize("path", sorted(baseline.BASELINES.glob("*")), ids=lambda p: p.name)
def test_every_committed_baseline_follows_the_schema_and_is_named_by_it(path: Path) -> None:
    found = baseline.load(path)

    assert path.name == found.file_name
    assert not found.revision.endswith("-dirty"), "a baseline names a commit"
    assert found.date < dt.datetime.now(dt.UTC)


def test_there_is_a_controller_cpu_baseline_for_bench_compare() -> None:
    assert baseline.latest("controller-cpu") is not None


def test_a_document_reads_back_as_it_was_written() -> None:
    written = Baseline.model_validate(fields())

    again = Baseline.model_validate_json(written.to_json())

    assert again == written
    assert json.loads(written.to_json())["schema"] == 1
    assert again.date == WHEN


@pytest.mark.parametrize(
    "changes",
    [
        {"schema": 2},
        {"benchmark": "Controller CPU"},
        {"revision": "main"},
        {"revision": "1d94"},
        {"date": "2026-12-07T15:14:03+01:00"},
        {"date": "2026-12-07T14:14:03"},
        {"rows": []},
        {"notes": "a key the schema does not have"},
    ],
    ids=str,
)
def test_a_document_off_the_schema_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Baseline.model_validate(fields(**changes))


@pytest.mark.parametrize("missing", ["benchmark", "revision", "date", "machine", "command"])
def test_every_field_but_source_is_required(missing: str) -> None:
    document = fields()
    del document[missing]

    with pytest.raises(ValidationError):
        Baseline.model_validate(document)


def test_a_run_goes_to_var_with_its_time_and_a_baseline_to_bench_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(baseline, "BASELINES", tmp_path / "bench" / "results")
    monkeypatch.setattr(baseline, "RUNS", tmp_path / "var" / "bench" / "results")
    result = Baseline.model_validate(fields())

    run = baseline.save(result, as_baseline=False)
    kept = baseline.save(result, as_baseline=True)

    assert run == tmp_path / "var/bench/results/controller-cpu-1d94ac5-20261207-141403.json"
    assert kept == tmp_path / "bench/results/controller-cpu-1d94ac5.json"
    assert baseline.load(kept) == baseline.load(run) == result


def test_the_latest_baseline_is_the_newest_by_date(tmp_path: Path) -> None:
    for revision, day in (("aaaaaaa", 7), ("bbbbbbb", 9), ("ccccccc", 8)):
        document = fields(revision=revision, date=f"2026-12-0{day}T10:00:00Z")
        (tmp_path / f"controller-cpu-{revision}.json").write_text(json.dumps(document))
    other = fields(benchmark="controller-cpu-profile", revision="ddddddd", date="2026-12-10T10:00Z")
    (tmp_path / "controller-cpu-profile-ddddddd.json").write_text(json.dumps(other))

    found = baseline.latest("controller-cpu", tmp_path)

    assert found is not None and found.revision == "bbbbbbb"
    assert baseline.latest("rate", tmp_path) is None


def git(folder: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *arguments],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_the_revision_is_dirty_only_for_changes_outside_bench_results(tmp_path: Path) -> None:
    (tmp_path / "bench" / "results").mkdir(parents=True)
    (tmp_path / "engine.py").write_text("A = 1\n")
    (tmp_path / "bench" / "results" / "rate-1234567.json").write_text("{}\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    commit = git(tmp_path, "rev-parse", "--short=7", "HEAD")

    assert baseline.revision(tmp_path) == commit
    (tmp_path / "bench" / "results" / "rate-1234567.json").write_text("{}\n\n")
    (tmp_path / "untracked.py").write_text("")
    assert baseline.revision(tmp_path) == commit
    (tmp_path / "engine.py").write_text("A = 2\n")
    assert baseline.revision(tmp_path) == f"{commit}-dirty"
