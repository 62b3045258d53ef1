"""The text-to-speech cache (espeak-ng and sox, as installed by `make deps`)."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from engine.controller import tts
from engine.controller.tts import TtsCache


async def test_a_prompt_is_rendered_once_and_then_found_without_rendering(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path, "en-us")
    assert cache.rendered("Hello there.") is None

    path = await cache.render("Hello there.")

    assert cache.rendered("Hello there.") == path
    assert cache.rendered("Hello there.", rate_wpm=200) is None
    with wave.open(str(path)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)


async def test_a_caller_cancelled_while_it_waits_leaves_the_rendering_to_the_others(
    tmp_path: Path,
) -> None:
    # The first caller's call ended while the prompt rendered (a render ahead of an answer
    # that never came): the second caller, waiting for the same text, still gets it.
    cache = TtsCache(tmp_path, "en-us")
    first = asyncio.ensure_future(cache.render("Hold the line, please."))
    second = asyncio.ensure_future(cache.render("Hold the line, please."))
    for _ in range(3):  # both start waiting; the rendering has begun
        await asyncio.sleep(0)
    assert not first.done()
    first.cancel()

    path = await asyncio.wait_for(second, 30)

    assert path == cache.rendered("Hold the line, please.")
    assert first.cancelled()


def test_each_prompt_keeps_its_own_path_when_the_memory_of_paths_starts_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tts, "PATHS_REMEMBERED", 2)
    cache = TtsCache(tmp_path, "en-us")
    asked = [("One.", None, None), ("Two.", None, None), ("One.", None, 200), ("Two.", "fr", None)]
    first = [cache.path_for(*prompt) for prompt in asked]

    again = [cache.path_for(*prompt) for prompt in reversed(asked)]

    assert len(set(first)) == len(asked)
    assert again == list(reversed(first))
    assert len(cache._paths) <= 2
    assert first[0] == TtsCache(tmp_path, "en-us").path_for("One.", None, None)
