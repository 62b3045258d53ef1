"""The rate benchmark's verdict (the same rules for the engine and for bare pjsua2), and the
summaries its baselines hold."""

from __future__ import annotations

import json
from pathlib import Path, PosixPath
from typing import Any

import pytest

from bench import baseline
from bench.load_bench import (
    ceilings,
    speed_probe_ms,
    summarize,
    udp_receive_buffers,
    verdict,
    workers_for,
    worst_window_p50_ms,
)


def result(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "completed": 600,
        "failed": 0,
        "achieved_rate": 59.9,
        "rtp": {"calls_without_audio_both_ways": 0, "loss_ratio": 0.0005},
    }
    return {**base, **changes}


def test_a_clean_run_is_sustained() -> None:
    assert verdict(result(), 60, 600) == {"sustained": True, "broken": []}


def test_each_broken_rule_is_named() -> None:
    run = result(
        completed=590,
        failed=10,
        achieved_rate=55.0,
        rtp={"calls_without_audio_both_ways": 2, "loss_ratio": 0.24},
        api_to_invite_worst_window_p50_ms=1305.0,
    )

    assert verdict(run, 60, 600)["broken"] == [
        "590/600 completed, 10 failed",
        "placed at 55.0/s",
        "2 calls without audio both ways",
        "RTP loss 24.00%",
        "API->INVITE p50 1305.0 ms in its worst 5-s window",
    ]


def test_rtp_loss_names_what_the_far_end_dropped() -> None:
    run = result(
        rtp={"calls_without_audio_both_ways": 0, "loss_ratio": 0.0174},
        far_end_udp_drops={"datagrams": 129763, "by_port": {"58778": 129763}},
    )

    assert verdict(run, 60, 600)["broken"] == [
        "RTP loss 1.74% (SIPp's sockets dropped 129763 datagrams)"
    ]


def test_events_the_broker_never_acknowledged_break_a_run() -> None:
    delivered = {"emitted": 7200, "delivered": 7200, "undelivered": 0}
    assert verdict(result(events=delivered), 60, 600)["sustained"]
    stuck = {"emitted": 7200, "delivered": 7100, "undelivered": 100}
    assert verdict(result(events=stuck), 60, 600)["broken"] == [
        "100 events not delivered to the broker"
    ]


def test_a_queue_that_builds_up_for_one_window_is_not_sustained(tmp_path: Path) -> None:
    fast = [{"scheduled": i / 10, "api_to_invite": 0.01} for i in range(100)]
    queued = [{"scheduled": 10 + i / 10, "api_to_invite": 1.2} for i in range(50)]
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"calls": [*fast, *queued, {"scheduled": 15.0}]}))

    worst = worst_window_p50_ms(report)

    assert worst == 1200.0
    assert not verdict(result(api_to_invite_worst_window_p50_ms=worst), 60, 600)["sustained"]


def rate_row(rate: float, engine: bool, bare: bool, repetition: int = 0) -> dict[str, Any]:
    return {
        "rate": rate,
        "repetition": repetition,
        "engine": {"verdict": {"sustained": engine}},
        "bare_pjsua2": {"verdict": {"sustained": bare}},
    }


def test_the_ceiling_is_the_highest_rate_with_every_lower_rate_sustained() -> None:
    rows = [
        rate_row(80, True, True),
        rate_row(88, True, True),
        rate_row(96, False, True),
        rate_row(104, False, False),
    ]

    summary = ceilings(rows)

    [run] = summary["per_repetition"]
    assert (run["engine"], run["bare_pjsua2"]) == (88, 96)
    assert run["engine_share"] == round(88 / 96, 3) and run["engine_share_is"] == "exact"
    assert not run["bare_pjsua2_at_least"]
    assert summary["median_engine_share"] == round(88 / 96, 3)
    assert summary["median_engine_share_is"] == "exact"


def test_no_share_when_a_side_sustained_a_rate_above_its_first_failure() -> None:
    rows = [
        rate_row(104, True, True),
        rate_row(112, False, False),  # e.g. one bare pjsua2 process aborted
        rate_row(120, False, True),
        rate_row(140, False, False),
    ]

    summary = ceilings(rows)

    [run] = summary["per_repetition"]
    assert (run["engine"], run["bare_pjsua2"]) == (104, 104)
    assert run["bare_pjsua2_sustained_above"] == [120]
    assert "engine_share" not in run and summary["median_engine_share"] is None


def test_a_ceiling_at_the_highest_rate_run_makes_the_share_a_bound() -> None:
    rows = [
        rate_row(80, True, True, repetition=0),
        rate_row(88, False, True, repetition=0),  # bare pjsua2 at least 88: share at most
        rate_row(88, True, False, repetition=1),  # the engine at least 88: share at least
        rate_row(80, True, True, repetition=1),  # rows of a repetition come in any order
        rate_row(80, True, True, repetition=2),
        rate_row(88, True, True, repetition=2),  # both at least 88: no share
    ]

    summary = ceilings(rows)

    first, second, third = summary["per_repetition"]
    assert (first["engine_share"], first["engine_share_is"]) == (round(80 / 88, 3), "at most")
    assert (second["engine_share"], second["engine_share_is"]) == (1.1, "at least")
    assert "engine_share" not in third and summary["median_engine_share"] is None
    assert ceilings(rows[:4])["median_engine_share"] is None  # "at most" with "at least"


def test_a_repetition_in_which_the_engine_sustained_nothing_lowers_the_median() -> None:
    rows = [
        rate_row(104, True, True, repetition=0),
        rate_row(112, True, True, repetition=0),
        rate_row(120, False, True, repetition=0),
        rate_row(104, False, True, repetition=1),
        rate_row(112, False, True, repetition=1),
        rate_row(120, False, True, repetition=1),
    ]

    summary = ceilings(rows)

    first, second = summary["per_repetition"]
    assert (first["engine_share"], first["engine_share_is"]) == (round(112 / 120, 3), "at most")
    assert second["engine"] is None
    assert (second["engine_share"], second["engine_share_is"]) == (round(104 / 120, 3), "at most")
    assert summary["median_engine_share"] == round((112 / 120 + 104 / 120) / 2, 3)
    assert summary["median_engine_share_is"] == "at most"


def test_processes_give_each_call_its_slot_seconds() -> None:
    assert workers_for(100) == 102  # 4 s a call: rate + 2
    assert workers_for(100, slot_seconds=4.5) == 115
    assert workers_for(10, slot_seconds=4.5) == 14


def test_the_speed_probe_reads_milliseconds_of_cpu() -> None:
    probes = [speed_probe_ms(rounds=2) for _ in range(2)]
    assert all(0.5 < probe < 500 for probe in probes), probes


def _setting(tmp_path: Path, value: int) -> Path:
    setting = tmp_path / "rmem_default"
    setting.write_text(f"{value}\n")
    return setting


def test_the_receive_buffer_is_raised_for_the_run_and_put_back(tmp_path: Path) -> None:
    setting = _setting(tmp_path, 212992)
    with udp_receive_buffers(8388608, setting) as record:
        assert setting.read_text() == "8388608\n"
        assert record == {"udp_rmem_default_before_run": 212992}
    assert setting.read_text() == "212992\n"


def test_a_larger_buffer_or_size_0_leaves_the_machine_alone(tmp_path: Path) -> None:
    setting = _setting(tmp_path, 16777216)
    with udp_receive_buffers(8388608, setting):
        assert setting.read_text() == "16777216\n"
    setting = _setting(tmp_path, 212992)
    with udp_receive_buffers(0, setting):
        assert setting.read_text() == "212992\n"


class _ReadOnly(PosixPath):
    def write_text(self, *args: Any, **kwargs: Any) -> int:
        raise PermissionError(13, "Permission denied")


def test_a_buffer_that_cannot_be_raised_is_recorded_with_why(tmp_path: Path) -> None:
    setting = _ReadOnly(_setting(tmp_path, 212992))
    with udp_receive_buffers(8388608, setting) as record:
        assert record["udp_rmem_default_before_run"] == 212992
        assert "Permission denied" in record["udp_rmem_default_not_raised"]
    assert setting.read_text() == "212992\n"


@pytest.mark.parametrize("kind", ["rate", "latency", "concurrency", "soak"])
def test_the_baseline_holds_the_summary_of_its_rows(kind: str) -> None:
    found = baseline.latest(kind)
    assert found is not None

    assert summarize(kind, found.rows) == found.summary


def test_a_run_without_bare_pjsua2_has_no_ceilings() -> None:
    rate = baseline.latest("rate")
    assert rate is not None
    engine_only = [{k: v for k, v in row.items() if k != "bare_pjsua2"} for row in rate.rows]

    summary = summarize("rate", engine_only)

    assert "median_engine_share" not in summary
    assert all("bare_pjsua2_sustained" not in row for row in summary["by_row"])


def test_a_kind_without_a_summary_is_refused() -> None:
    with pytest.raises(ValueError):
        summarize("profile", [{}])
