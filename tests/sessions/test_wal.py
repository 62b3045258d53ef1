from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from engine.events.outbox import Outbox
from engine.sessions.model import Session
from engine.sessions.store import SessionStore
from engine.sessions.wal import Checkpointer, use_wal


def test_commits_leave_checkpoints_to_the_checkpointer_thread(tmp_path: Path) -> None:
    path = tmp_path / "engine.db"
    connection = sqlite3.connect(path, isolation_level=None)
    use_wal(connection)
    assert connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    connection.execute("CREATE TABLE t (x TEXT)")
    for _ in range(6000):  # about 1,500 pages: past 1,000 a default commit would checkpoint
        connection.execute("INSERT INTO t VALUES (?)", ("x" * 1000,))
    assert path.stat().st_size < 100_000  # everything is still in the WAL
    checkpointer = Checkpointer(path, interval_seconds=0.02)
    try:
        deadline = time.monotonic() + 10
        while path.stat().st_size < 6_000_000 or checkpointer.checkpoints == 0:
            assert time.monotonic() < deadline, "no checkpoint within 10 s"
            time.sleep(0.02)
    finally:
        checkpointer.stop()
        connection.close()


def test_the_store_has_its_log_checkpointed_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "engine.db"
    store = SessionStore(path)
    empty = path.stat().st_size
    for i in range(50):  # well under the 1,000 pages at which a commit would checkpoint
        store.insert(
            Session(id=f"s{i}", flow_id="f", destination="+1", from_address="+2", trunk="t")
        )
    deadline = time.monotonic() + 10
    while path.stat().st_size == empty:
        assert time.monotonic() < deadline, "nothing checkpointed within 10 s"
        time.sleep(0.05)
    store.close()


def checkpoint_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "wal-checkpoint")


def test_one_thread_checkpoints_a_file_for_all_its_users(tmp_path: Path) -> None:
    before = checkpoint_threads()
    store = SessionStore(tmp_path / "engine.db")
    outbox = Outbox(tmp_path / "engine.db")
    assert checkpoint_threads() == before + 1
    store.close()
    assert checkpoint_threads() == before + 1  # the outbox still uses the file
    outbox.close()
    assert checkpoint_threads() == before


def test_a_read_only_outbox_leaves_checkpoints_to_the_writer(tmp_path: Path) -> None:
    Outbox(tmp_path / "engine.db").close()
    before = checkpoint_threads()
    outbox = Outbox(tmp_path / "engine.db", read_only=True)
    assert checkpoint_threads() == before
    outbox.close()
