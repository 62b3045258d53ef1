"""SQLite WAL checkpoints on a thread of their own, away from the commits on the event loop.

By default the commit that finds the write-ahead log past 1,000 pages copies it back into the
database file itself, fsync included, so every so often a commit took milliseconds instead of a
fraction of one (docs/field-notes.md, SQLite). The connections that commit on the event loop set
`wal_autocheckpoint=0` (`use_wal`) and a `Checkpointer` does the copying every second on a daemon
thread with its own connection (PASSIVE: it never waits for, nor blocks, a writer). The store and
the event outbox share the engine's file, and one thread per file serves them both
(`checkpoint_while_open`); the relay process's outbox leaves the file to the controller's.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_SECONDS = 1.0


def use_wal(connection: sqlite3.Connection) -> None:
    """WAL, no fsync per commit (a commit survives a process crash; a power loss can drop the
    last ones, never corrupt the file), and no checkpoint inside a commit."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")


class Checkpointer:
    def __init__(self, path: Path, interval_seconds: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        self._path = path
        self._interval = interval_seconds
        self._stopping = threading.Event()
        self.checkpoints = 0
        """How many have run (tests wait on it)."""
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        connection = sqlite3.connect(self._path)
        try:
            while not self._stopping.wait(self._interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
                self.checkpoints += 1
        finally:
            connection.close()


_running: dict[Path, Checkpointer] = {}
_users: Counter[Path] = Counter()
_running_lock = threading.Lock()


def checkpoint_while_open(path: Path | str) -> Callable[[], None]:
    """Have `path` checkpointed in the background until the returned call; the first user of a
    file starts its Checkpointer, the last one's call stops it. ":memory:" needs none."""
    if str(path) == ":memory:":
        return lambda: None
    key = Path(path).resolve()
    with _running_lock:
        if key not in _running:
            _running[key] = Checkpointer(key)
        _users[key] += 1
    released = False

    def release() -> None:
        nonlocal released
        if released:
            return
        released = True
        with _running_lock:
            _users[key] -= 1
            last = _running.pop(key) if _users[key] == 0 else None
        if last is not None:
            last.stop()

    return release
