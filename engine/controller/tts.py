"""Text to speech: espeak-ng renders, sox converts to 8 kHz mono PCM16, the result is cached.

The cache key covers everything that changes the audio, so a prompt is rendered once per
(text, voice, rate) for the life of the cache folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from pathlib import Path

from engine.errors import CallError

PATHS_REMEMBERED = 4096
"""Prompts whose cache path is kept in memory (a flow's prompts repeat call after call; the
texts made from a template may not, so past this the memory starts afresh)."""


class TtsCache:
    def __init__(self, cache_dir: Path, default_voice: str, sample_rate: int = 8000) -> None:
        self.cache_dir = cache_dir
        self.default_voice = default_voice
        self.sample_rate = sample_rate
        self._pending: dict[Path, asyncio.Task[None]] = {}
        self._paths: dict[tuple[str, str | None, int | None], Path] = {}

    def path_for(self, text: str, voice: str | None, rate_wpm: int | None) -> Path:
        asked = (text, voice, rate_wpm)
        path = self._paths.get(asked)
        if path is None:
            if len(self._paths) >= PATHS_REMEMBERED:
                self._paths.clear()
            key = f"{voice or self.default_voice}\0{rate_wpm or 0}\0{self.sample_rate}\0{text}"
            digest = hashlib.sha256(key.encode()).hexdigest()[:32]
            path = self._paths[asked] = self.cache_dir / digest[:2] / f"{digest}.wav"
        return path

    def rendered(
        self, text: str, voice: str | None = None, rate_wpm: int | None = None
    ) -> Path | None:
        """The cached rendering, if there is one already."""
        target = self.path_for(text, voice, rate_wpm)
        return target if target.exists() else None

    async def render(
        self, text: str, voice: str | None = None, rate_wpm: int | None = None
    ) -> Path:
        """Render once however many calls ask at the same time. The rendering is the cache's
        own task: a caller cancelled while it waits (its call ended) leaves it to the others."""
        cached = self.rendered(text, voice, rate_wpm)
        if cached is not None:
            return cached
        target = self.path_for(text, voice, rate_wpm)
        pending = self._pending.get(target)
        if pending is None:
            pending = asyncio.ensure_future(
                self._synthesise(text, voice or self.default_voice, rate_wpm, target)
            )
            self._pending[target] = pending
            pending.add_done_callback(lambda task: self._rendering_done(target, task))
        await asyncio.shield(pending)
        return target

    def _rendering_done(self, target: Path, task: asyncio.Task[None]) -> None:
        del self._pending[target]
        if not task.cancelled():
            task.exception()  # retrieved here: a rendering every caller gave up on is not reported

    async def _synthesise(self, text: str, voice: str, rate_wpm: int | None, target: Path) -> None:
        for tool in ("espeak-ng", "sox"):
            if shutil.which(tool) is None:
                raise CallError(f"text to speech needs {tool}, which is not installed")
        target.parent.mkdir(parents=True, exist_ok=True)
        raw = target.with_suffix(f".{os.getpid()}.raw.wav")
        converted = target.with_suffix(f".{os.getpid()}.tmp.wav")
        espeak = ["espeak-ng", "-v", voice, "-w", str(raw)]
        if rate_wpm:
            espeak += ["-s", str(rate_wpm)]
        try:
            await _run([*espeak, "--", text])
            await _run(
                [
                    "sox",
                    str(raw),
                    "-r",
                    str(self.sample_rate),
                    "-c",
                    "1",
                    "-b",
                    "16",
                    str(converted),
                ]
            )
            converted.replace(target)
        finally:
            raw.unlink(missing_ok=True)
            converted.unlink(missing_ok=True)


async def _run(argv: list[str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        raise CallError(f"{argv[0]} failed: {message[-1] if message else process.returncode}")
