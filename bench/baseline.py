"""The one format every kept benchmark writes: a baseline (bench/README.md describes it).

A run writes `var/bench/results/<benchmark>-<revision>-<time>.json`; with `--baseline` it
writes `bench/results/<benchmark>-<revision>.json` instead, the file that docs/performance.md
cites and that later revisions are compared with.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

ROOT = Path(__file__).resolve().parent.parent
BASELINES = ROOT / "bench" / "results"
"""Committed baselines: one per benchmark and deliberate change."""
RUNS = ROOT / "var" / "bench" / "results"
"""Runs not kept as baselines (var/ is not committed)."""
SCHEMA: Literal[1] = 1
BENCHMARK_NAME = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
REVISION = r"^[0-9a-f]{7,40}(-dirty)?$"


class Baseline(BaseModel):
    """One benchmark's result at one revision on one machine."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_version: Literal[1] = Field(SCHEMA, alias="schema")
    """The format's version; a change to the fields below raises it."""
    benchmark: str = Field(pattern=BENCHMARK_NAME)
    """What was measured, e.g. "controller-cpu" or "rate"; the file name starts with it."""
    revision: str = Field(pattern=REVISION)
    """The commit whose engine was measured, "-dirty" when its working tree had changes."""
    date: dt.datetime
    """When the run ended, in UTC."""
    machine: dict[str, JsonValue]
    """The machine's description (CPU, cores, kernel, Python, ...) as the run read it."""
    command: str
    """The command line that produced the rows, from the repository's root."""
    rows: list[dict[str, JsonValue]] = Field(min_length=1)
    """One object per round, rate, count or case, as the benchmark measured it."""
    summary: dict[str, JsonValue]
    """The figures computed from the rows that the docs cite and comparisons read."""
    source: str | None = None
    """For a baseline converted from older result files: which files, at which revisions."""

    @field_validator("date")
    @classmethod
    def _in_utc(cls, value: dt.datetime) -> dt.datetime:
        if value.utcoffset() != dt.timedelta(0):
            raise ValueError("the date must be in UTC")
        return value

    @property
    def file_name(self) -> str:
        return f"{self.benchmark}-{self.revision}.json"

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=1) + "\n"


def load(path: Path) -> Baseline:
    return Baseline.model_validate_json(path.read_text())


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def revision(root: Path = ROOT) -> str:
    """The checkout's commit (7 hex digits), "-dirty" when a tracked file outside
    bench/results/ has uncommitted changes."""
    git = ["git", "-C", str(root)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"{commit}-dirty" if changed else commit


def save(baseline: Baseline, as_baseline: bool) -> Path:
    """Write `baseline` to bench/results/ when `as_baseline`, else to var/bench/results/ with
    the time in its name so that runs at one revision do not overwrite each other."""
    if as_baseline:
        path = BASELINES / baseline.file_name
    else:
        stamp = baseline.date.strftime("%Y%m%d-%H%M%S")
        path = RUNS / f"{baseline.benchmark}-{baseline.revision}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(baseline.to_json())
    return path


def latest(benchmark: str, folder: Path | None = None) -> Baseline | None:
    """The newest baseline of `benchmark` in `folder` (bench/results/) by its date, None when
    there is none."""
    found = [load(path) for path in (folder or BASELINES).glob(f"{benchmark}-*.json")]
    found = [b for b in found if b.benchmark == benchmark]
    return max(found, key=lambda b: b.date, default=None)


def command_line(script: str, argv: list[str]) -> str:
    """How a script was run, as the `command` field records it."""
    return " ".join(["python", script, *argv])


def record(
    benchmark: str,
    command: str,
    machine: dict[str, Any],
    rows: list[dict[str, Any]],
    summary: dict[str, Any],
    root: Path = ROOT,
) -> Baseline:
    """A baseline of this checkout's revision, dated now."""
    return Baseline(
        benchmark=benchmark,
        revision=revision(root),
        date=now(),
        machine=machine,
        command=command,
        rows=rows,
        summary=summary,
    )
