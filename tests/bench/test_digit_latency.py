"""The digit bench's pairing of digits with prompts, and how it times the engine from outside."""

from __future__ import annotations

import sys
import types

import pytest

from bench.digit_latency import pair, rebound, summary
from engine.ipc import codec
from engine.ipc import messages as m


def test_each_digit_pairs_with_the_first_prompt_before_the_next_digit() -> None:
    digits = [10.0, 10.4, 10.8]
    plays = [9.0, 10.001, 10.002, 10.8025]  # none between the second digit and the third

    assert pair(digits, plays) == pytest.approx([1.0, 2.5])


def test_no_samples_give_no_figures() -> None:
    assert summary([]) == {
        "samples": 0,
        "p50_ms": None,
        "p99_ms": None,
        "max_ms": None,
        "mean_ms": None,
    }
    assert summary([1.0, 2.0, 3.0])["p50_ms"] == 2.0


def test_a_codec_function_is_replaced_wherever_the_engine_imported_it_and_put_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    importer = types.ModuleType("engine.controller.an_importer")
    importer.encode = codec.encode  # type: ignore[attr-defined]
    outsider = types.ModuleType("not_the_engine")
    outsider.encode = codec.encode  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, importer.__name__, importer)
    monkeypatch.setitem(sys.modules, outsider.__name__, outsider)
    encoded: list[m.Message] = []
    original = codec.encode

    def encode(message: m.Message) -> bytes:
        encoded.append(message)
        return original(message)

    with rebound(original, encode):
        assert codec.encode is encode
        assert importer.encode is encode  # type: ignore[attr-defined]
        assert outsider.encode is original  # type: ignore[attr-defined]
        importer.encode(m.Shutdown())  # type: ignore[attr-defined]

    assert codec.encode is original
    assert importer.encode is original  # type: ignore[attr-defined]
    assert encoded == [m.Shutdown()]
