from __future__ import annotations

import sysconfig
from pathlib import Path

from bench.controller_profile import ROOT, origin

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def test_c_functions_are_grouped_by_their_module() -> None:
    assert origin("~", "<method 'execute' of 'sqlite3.Connection' objects>") == "C: sqlite3"
    assert origin("~", "<built-in method builtins.isinstance>") == "C: builtins"
    validator = "<method 'validate_json' of 'pydantic_core._pydantic_core.SchemaValidator' objects>"
    assert origin("~", validator) == "C: pydantic_core"
    assert origin("~", "<method 'run_until_complete' of 'uvloop.loop.Loop' objects>") == "C: uvloop"
    assert origin("~", "<built-in method _imp.create_dynamic>") == "C: imp"


def test_python_functions_are_grouped_by_where_their_file_lives() -> None:
    assert origin(str(ROOT / "engine" / "controller" / "call" / "core.py"), "worker_message") == (
        "engine (Python)"
    )
    assert origin(str(ROOT / "engine" / "tools" / "loadtest" / "runner.py"), "run_load") == (
        "harness: engine/tools/loadtest, bench"
    )
    assert origin(str(ROOT / "bench" / "controller_cpu.py"), "one_round") == (
        "harness: engine/tools/loadtest, bench"
    )
    site = ROOT / ".venv" / "lib" / "python3.11" / "site-packages"
    assert origin(str(site / "uvicorn" / "protocols" / "http" / "h11_impl.py"), "send") == (
        "third-party (Python): uvicorn"
    )
    assert origin(str(STDLIB / "asyncio" / "streams.py"), "readline") == "standard library (Python)"
