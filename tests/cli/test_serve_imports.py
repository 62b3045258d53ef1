"""`voice-engine serve` loads neither the tools nor matplotlib (rich it cannot promise: httpx
imports it for its own command line whenever it is installed)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from engine.cli import build_parser
import engine.cli.serve
build_parser()
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib"
                or m.startswith("engine.tools"))
print(",".join(loaded))
"""


def test_serve_and_the_parser_import_no_tool() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
