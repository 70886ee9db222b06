"""The receiver's durable queue: an SQLite file between `webhooks serve` and `run --from-webhooks`.

SQLite rather than DuckDB: the receiver writes while a drain reads and marks, from two
processes, and DuckDB lets only one process open a file for writing. In WAL mode with
`synchronous=FULL` a commit is on disk when `append` returns, so an event the receiver has
answered 200 for survives a crash of the receiver, or of the machine.

An event is stored once (its `id` is unique; a second delivery counts in `deliveries`), and
every accepted delivery id is remembered for as long as its timestamp is within the tolerance:
the same signed request arriving again is a replay. Drained events stay, marked done with the
load that carried them, for a week: long enough to explain a lag or a gap.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import dlt

from pipelines import runlog
from sources.wirelane.errors import WirelaneConfigError, WirelaneError

Outcome = Literal["queued", "duplicate", "replayed"]
KEEP_DONE_S = 7 * 86400
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL,
    body BLOB NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 1,
    done_at REAL,
    load_id TEXT
);
CREATE INDEX IF NOT EXISTS events_pending ON events (seq) WHERE done_at IS NULL;
CREATE TABLE IF NOT EXISTS deliveries (delivery_id TEXT PRIMARY KEY, signed_at INTEGER NOT NULL);
"""


class QueueError(WirelaneError):
    """The queue file cannot be opened or written."""


@dataclass(frozen=True)
class Queued:
    seq: int
    event_id: str
    received_at: float
    body: bytes


def configured_path() -> Path:
    """`sources.wirelane.webhook_queue`, else `<dlt data dir>/wirelane-sync/webhooks.sqlite`:
    the receiver and the drain find the same file from the same settings."""
    value = dlt.config.get("sources.wirelane.webhook_queue", str)
    return Path(value).expanduser() if value else runlog.state_dir() / "webhooks.sqlite"


class WebhookQueue:
    """One connection, shared by the receiver's threads under a lock (SQLite serializes
    writers anyway); the drain, another process, opens its own."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as error:
            raise WirelaneConfigError(
                f"webhook queue {path} cannot be opened ({error}); set sources.wirelane.webhook_queue to a writable "
                "path of an SQLite file"
            ) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def append(self, event_id: str, body: bytes, delivery_id: str, signed_at: int, now: float) -> Outcome:
        """Stores a verified delivery, committed before returning."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute("INSERT INTO deliveries VALUES (?, ?)", (delivery_id, signed_at))
                except sqlite3.IntegrityError:
                    self._db.execute("ROLLBACK")
                    return "replayed"
                (deliveries,) = self._db.execute(
                    "INSERT INTO events (event_id, received_at, body) VALUES (?, ?, ?) "
                    "ON CONFLICT (event_id) DO UPDATE SET deliveries = deliveries + 1 RETURNING deliveries",
                    (event_id, now, body),
                ).fetchone()
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise QueueError(f"webhook queue {self.path}: {error}") from None
        return "queued" if deliveries == 1 else "duplicate"

    def forget_deliveries(self, signed_before: int) -> None:
        """Deliveries signed longer ago than the tolerance cannot come back (their timestamp is refused)."""
        with self._lock:
            self._db.execute("DELETE FROM deliveries WHERE signed_at < ?", (signed_before,))

    def pending(self, limit: int) -> list[Queued]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, received_at, body FROM events WHERE done_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [Queued(int(seq), str(event_id), float(at), bytes(body)) for seq, event_id, at, body in rows]

    def mark_done(self, seqs: Iterable[int], load_id: str | None, now: float | None = None) -> None:
        """Marks drained events; and forgets those drained more than a week ago."""
        at = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "UPDATE events SET done_at = ?, load_id = ? WHERE seq = ?", ((at, load_id, seq) for seq in seqs)
            )
            self._db.execute("DELETE FROM events WHERE done_at < ?", (at - KEEP_DONE_S,))
            self._db.execute("COMMIT")

    def counts(self) -> dict[str, float | int | None]:
        """Pending and done events, and how long the oldest pending one has waited."""
        with self._lock:
            pending, done, oldest = self._db.execute(
                "SELECT count(*) FILTER (WHERE done_at IS NULL), count(*) FILTER (WHERE done_at IS NOT NULL), "
                "min(received_at) FILTER (WHERE done_at IS NULL) FROM events"
            ).fetchone()
        return {
            "pending": int(pending),
            "done": int(done),
            "oldest_pending_s": None if oldest is None else round(time.time() - float(oldest), 1),
        }
