"""The controller-alone bench's summary: the medians its baseline holds."""

from __future__ import annotations

from bench import baseline
from bench.controller_cpu import summarize


def test_the_baseline_holds_the_medians_of_its_rounds() -> None:
    found = baseline.latest("controller-cpu")
    assert found is not None

    expected = summarize(found.rows, found.summary["rate"], found.summary["seconds"])

    assert {key: found.summary[key] for key in expected} == expected


def test_the_summary_is_the_median_round() -> None:
    rows = [
        {
            "engine_ms_a_call": ms,
            "engine_over_load_client": ratio,
            "load_client_ms_a_call": 0.35,
            "speed_probe_ms": probe,
        }
        for ms, ratio, probe in ((3.1, 8.0, 8.4), (2.9, 8.5, 8.2), (3.5, 9.1, 9.0))
    ]

    assert summarize(rows, 100.0, 30.0) == {
        "rate": 100.0,
        "seconds": 30.0,
        "rounds": 3,
        "engine_ms_a_call_median": 3.1,
        "engine_over_load_client_median": 8.5,
        "load_client_ms_a_call_median": 0.35,
        "speed_probe_ms_median": 8.4,
    }
