"""KeyStore: keys are shown once, stored as hashes, checked, listed and revoked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.api.keys import KEY_PREFIX, KeyStore, hash_key
from engine.errors import RequestError


def test_create_then_authenticate(keys: KeyStore) -> None:
    key = keys.create(["Manager", "manager", "SystemAdministrator"], "ops")

    api_key = keys.authenticate(key)

    assert key.startswith(KEY_PREFIX)
    assert len(key) > 40
    assert api_key is not None
    assert api_key.name == "ops"
    assert api_key.roles == {"Manager", "SystemAdministrator"}


def test_wrong_or_empty_key_is_refused(keys: KeyStore) -> None:
    key = keys.create(["Manager"], "ops")

    assert keys.authenticate(key + "x") is None
    assert keys.authenticate("") is None


def test_only_the_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "var" / "engine.db"
    store = KeyStore(path)
    key = store.create(["Manager"], "ops")
    store.close()

    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name, key_hash FROM api_keys").fetchall()
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert rows == [("ops", hash_key(key))]
    assert key.encode() not in path.read_bytes()
    assert mode == "wal"
    reopened = KeyStore(path)
    assert reopened.authenticate(key) is not None
    reopened.close()


def test_list_and_revoke(keys: KeyStore) -> None:
    keys.create(["Manager"], "a")
    second = keys.create(["Viewer"], "b")

    assert [k.name for k in keys.list_keys()] == ["a", "b"]
    assert keys.revoke("b") is True
    assert keys.revoke("b") is False
    assert keys.authenticate(second) is None
    assert [k.name for k in keys.list_keys()] == ["a"]


def test_unnamed_keys_get_a_generated_name(keys: KeyStore) -> None:
    keys.create(["Manager"])

    [listed] = keys.list_keys()
    assert listed.name.startswith("key-")


@pytest.mark.parametrize(
    ("roles", "name", "field"),
    [(["Root"], "x", "role"), ([], "x", "role"), (["Manager"], "  ", "name")],
)
def test_bad_roles_or_names_are_refused(
    keys: KeyStore, roles: list[str], name: str, field: str
) -> None:
    with pytest.raises(RequestError) as raised:
        keys.create(roles, name)

    assert raised.value.field == field
    assert keys.list_keys() == []


def test_duplicate_name_is_refused(keys: KeyStore) -> None:
    keys.create(["Manager"], "ops")

    with pytest.raises(RequestError, match="already exists"):
        keys.create(["Manager"], "ops")
