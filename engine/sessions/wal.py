"""SQLite WAL checkpoints on a thread of their own, away from the commits on the event loop.

By default the commit that finds the write-ahead log past 1,000 pages copies it back into the
database file itself, fsync included: about one commit in 200 of the engine's, each then many
times slower than the others, which is where the API's p99 lies (docs/field-notes.md,
2026-11-27). The connections that commit on the event loop set `wal_autocheckpoint=0`
(`use_wal`) and a `Checkpointer` does the copying every second on a daemon thread with its own
connection (PASSIVE: it never waits for, nor blocks, a writer).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
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
