"""engine/flow stays sans-IO: none of its modules imports an event loop, SIP, MQTT or HTTP."""

import ast
import subprocess
import sys
from pathlib import Path

import engine.flow

FORBIDDEN = {"asyncio", "pjsua2", "aiomqtt", "prometheus_client", "httpx"}
# The standard library pulls socket in (logging), so it is only forbidden as a direct import.
DIRECT = FORBIDDEN | {"socket", "subprocess", "threading"}
PACKAGE = Path(engine.flow.__file__).parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_in_engine_flow_imports_io_libraries() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        assert not _imported(path) & DIRECT, path


def test_importing_the_machine_pulls_none_in_transitively() -> None:
    code = (
        "import sys, engine.flow.machine, engine.flow.registry, engine.flow.simulate;"
        f"print(sorted(m for m in {sorted(FORBIDDEN)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
