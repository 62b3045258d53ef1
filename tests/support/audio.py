"""Audio files for tests that play them on real calls."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    """One second of 440 Hz, 8 kHz mono PCM16, made with sox."""
    sox = shutil.which("sox")
    if sox is None:
        pytest.skip("sox is not installed")
    path = tmp_path / "tone.wav"
    subprocess.run(
        [sox, "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", "1", "sine", "440"],
        check=True,
    )
    return path
