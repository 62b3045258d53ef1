"""The text-to-speech cache (espeak-ng and sox, as installed by `make deps`)."""

from __future__ import annotations

import wave
from pathlib import Path

from engine.controller.tts import TtsCache


async def test_a_prompt_is_rendered_once_and_then_found_without_rendering(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path, "en-us")
    assert cache.rendered("Hello there.") is None

    path = await cache.render("Hello there.")

    assert cache.rendered("Hello there.") == path
    assert cache.rendered("Hello there.", rate_wpm=200) is None
    with wave.open(str(path)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
