"""bench-compare's pure parts: the order of the rounds, their rows, medians and ratios."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import baseline
from bench.compare import (
    Checkout,
    Side,
    default_base,
    medians,
    parse_row,
    ratios,
    round_command,
    schedule,
)

ROW = {"engine_ms_a_call": 2.89, "engine_over_load_client": 8.26, "speed_probe_ms": 8.4}


def test_the_rounds_alternate_from_the_base() -> None:
    assert schedule(3) == [
        (1, Side.BASE),
        (1, Side.NEW),
        (2, Side.BASE),
        (2, Side.NEW),
        (3, Side.BASE),
        (3, Side.NEW),
    ]


def test_medians_are_taken_of_the_compared_figures() -> None:
    rows = [
        {"engine_ms_a_call": 3.0, "engine_over_load_client": 9.0, "other": 1},
        {"engine_ms_a_call": 2.0, "engine_over_load_client": 8.0, "other": 2},
        {"engine_ms_a_call": 4.0, "engine_over_load_client": 7.5, "other": 3},
        {"engine_ms_a_call": 1.0, "engine_over_load_client": 8.5, "other": 4},
    ]

    assert medians(rows) == {"engine_ms_a_call": 2.5, "engine_over_load_client": 8.25}


def test_the_ratio_is_new_over_base() -> None:
    base = {"engine_ms_a_call": 2.5, "engine_over_load_client": 8.0}
    new = {"engine_ms_a_call": 2.0, "engine_over_load_client": 8.8}

    assert ratios(base, new) == {"engine_ms_a_call": 0.8, "engine_over_load_client": 1.1}


def test_the_row_is_the_last_json_line_that_has_the_compared_figures() -> None:
    earlier = {**ROW, "engine_ms_a_call": 9.9}
    output = "\n".join(
        [
            json.dumps(earlier),
            json.dumps(ROW),
            '{"rate": 100, "engine": "a progress line"}',
            "{not json",
            "/work/var/bench/results/controller-cpu-1d94ac5.json",
        ]
    )

    assert parse_row(output) == ROW


def test_output_without_a_row_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_row('Traceback (most recent call last):\n{"engine_ms_a_call": 2.0}\n')


def test_a_round_runs_that_checkouts_own_script_once_without_saving(tmp_path: Path) -> None:
    command = round_command(Checkout(Side.BASE, tmp_path, "1d94ac5"), 100.0, 10.0)

    assert command[1] == str(tmp_path / "bench" / "controller_cpu.py")
    assert command[2:] == ["--rate", "100", "--seconds", "10", "--rounds", "1", "--no-save"]


def test_the_default_base_is_the_controller_cpu_baselines_revision(tmp_path: Path) -> None:
    shutil.copy(baseline.BASELINES / "controller-cpu-1d94ac5.json", tmp_path)

    assert default_base(tmp_path) == "1d94ac5"
    with pytest.raises(SystemExit):
        default_base(tmp_path / "empty")
