"""`voice-engine keys ...` through engine.cli.main, against a config in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import cli
from engine.api.keys import KeyStore
from engine.cli import keys as keys_cli

CONFIG = """\
store:
  path: var/engine.db
trunks:
  - name: local-sipp
    host: 127.0.0.1
numbers:
  - number: "+12025550143"
    trunk: local-sipp
"""


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Only the keys commands: the other parts' subcommands are not under test here.
    monkeypatch.setattr(cli, "_registrars", lambda: [keys_cli.register])
    path = tmp_path / "config" / "engine.yaml"
    path.parent.mkdir()
    path.write_text(CONFIG)
    return path


def _run(config: Path, *args: str) -> int:
    return cli.main(["--config", str(config), "keys", *args])


def test_create_prints_only_the_key_and_stores_its_hash(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _run(config_path, "create", "--role", "Manager", "--role", "viewer", "--name", "ops")

    key = capsys.readouterr().out
    assert status == 0
    assert key.count("\n") == 1
    key = key.strip()
    store = KeyStore(config_path.parent.parent / "var" / "engine.db")
    api_key = store.authenticate(key)
    store.close()
    assert api_key is not None
    assert api_key.roles == {"Manager", "Viewer"}


def test_list_never_shows_keys(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(config_path, "create", "--role", "SystemAdministrator", "--name", "admin")
    key = capsys.readouterr().out.strip()

    assert _run(config_path, "list") == 0

    out = capsys.readouterr().out
    assert out.startswith("admin\tSystemAdministrator\t")
    assert key not in out


def test_revoke(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(config_path, "create", "--role", "Manager", "--name", "ops")

    assert _run(config_path, "revoke", "ops") == 0
    assert _run(config_path, "revoke", "ops") == 1
    assert "no key named 'ops'" in capsys.readouterr().err


def test_unknown_role_is_refused_clearly(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _run(config_path, "create", "--role", "Root")

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert "unknown role 'Root'" in captured.err
    assert "Manager" in captured.err


def test_role_is_required(config_path: Path) -> None:
    with pytest.raises(SystemExit):
        _run(config_path, "create")
