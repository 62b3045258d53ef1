"""A small load run through the whole stack: HTTP API, engine, workers, SIPp; zero failures."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from engine.tools.loadtest.runner import LoadOptions, run_load
from tests.support.engine import engine_config
from tests.support.mosquitto import MosquittoBroker
from tests.support.mqtt import subscribed

pytestmark = pytest.mark.sip


@pytest.mark.timeout(90)
async def test_200_calls_at_20_per_second_without_a_failure(tmp_path: Path) -> None:
    config = engine_config(
        tmp_path, 5060, workers={"min_workers": 4, "max_workers": 12}
    )  # the trunk's port is replaced by the load test's SIPp
    out = tmp_path / "report"
    summary = await run_load(
        config,
        LoadOptions(
            rate=20, calls=200, flow_id="loadtest-1s", out_dir=out, final_wait=30, progress=False
        ),
    )
    assert summary["failures_by_cause"] == {}
    assert (summary["completed"], summary["failed"], summary["unfinished"]) == (200, 0, 0)
    assert summary["achieved_rate"] == pytest.approx(20, rel=0.25)
    assert summary["api_to_invite"]["p50_ms"] is not None
    # Every call's audio went out to SIPp and came back (its RTP echo).
    assert summary["rtp"]["calls_counted"] == 200
    assert summary["rtp"]["calls_without_audio_both_ways"] == 0
    # The kernel's drop counters on SIPp's sockets: how many depends on the machine.
    far_end = summary["far_end_udp_drops"]
    assert far_end["datagrams"] == sum(far_end["by_port"].values())
    document = json.loads((out / "report.json").read_text())
    assert len(document["calls"]) == 200
    assert document["per_second"] and document["resources"]
    assert (out / "report.md").read_text().startswith("# Load test report")
    assert (out / "report.png").stat().st_size > 10_000


@pytest.mark.mqtt
@pytest.mark.timeout(90)
async def test_with_mqtt_every_session_is_published_to_the_end(tmp_path: Path) -> None:
    config = engine_config(tmp_path, 5060, workers={"min_workers": 2, "max_workers": 4})
    with MosquittoBroker() as broker:
        async with subscribed(broker, "voice-engine/sessions/+/events/#") as sub:
            summary = await run_load(
                config,
                LoadOptions(
                    rate=10, calls=20, flow_id="loadtest-1s", out_dir=tmp_path / "report",
                    final_wait=30, progress=False, mqtt_url=broker.url,
                ),
            )  # fmt: skip
            assert (summary["completed"], summary["failed"]) == (20, 0)
            events = summary["events"]
            assert events["undelivered"] == 0
            assert events["emitted"] >= 20 * 5  # created ... completed, at least
            assert events["delivered"] >= events["emitted"]
            completed = lambda: {  # noqa: E731
                e.session_id for e in sub.unique_events() if e.kind == "session.completed"
            }
            deadline = time.monotonic() + 10
            while len(completed()) < 20:
                assert time.monotonic() < deadline, f"{len(completed())} of 20 published"
                await asyncio.sleep(0.05)
    for session in completed():
        numbers = [e.sequence for e in sub.unique_events() if e.session_id == session]
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), numbers
