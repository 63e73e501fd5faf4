"""A bounded, ordered, on-disk queue of messages waiting for the MQTT broker.

SQLite (stdlib `sqlite3`) holds the queue: each `put` is one transaction, so a message is on disk before
`put` returns and a kill -9 or a crash mid-write leaves the file consistent (an appended JSON-lines file
would need its own torn-line repair and a rewrite to remove delivered lines from the front). Rows are
numbered by AUTOINCREMENT, so delivery order is insertion order and ids are never reused. The journal
is a WAL; with `fsync` (synchronous=FULL) each put is on the medium when it returns, so a power cut loses
nothing, like the event log's fsync. Without it (synchronous=NORMAL) a crash of the process still loses
nothing, but a power cut can lose the last moments, for a tenth of the cost per put.

The queue is bounded: at the bound the oldest rows are dropped and counted (the count is kept in the
file). Rows up to `sending_upto` (handed to the MQTT client, waiting for their acknowledgement) are never
dropped, so a dropped message is one that was never sent.

A damaged file (not a database, or one whose pages are torn, e.g. by a dying SD card) is moved aside as
`<name>.corrupt-<time>` for inspection and a new queue started, with one ERROR line: its messages cannot be
trusted to be whole, and the door must not stay off for a state file (a folder that cannot be written still
is an OutboxError: that a person fixes).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class OutboxError(OSError):
    pass


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    topic: str
    payload: bytes


class Outbox:
    """Thread-safe: the frame loop puts, the MQTT sender reads and deletes, the metrics endpoint reads counts."""

    def __init__(self, path: Path, max_messages: int, fsync: bool = True) -> None:
        if max_messages < 1:
            raise ValueError(f"outbox bound must be at least 1, got {max_messages}")
        self.path = Path(path)
        self.max_messages = max_messages
        self.sending_upto = 0
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                row = self._open(fsync)
            except sqlite3.DatabaseError as exc:
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in (SQLITE_CORRUPT, SQLITE_NOTADB):
                    raise
                self._db.close()
                kept = self._move_aside()
                log.error("MQTT outbox %s is damaged (%s): kept as %s, a new one started", self.path, exc, kept)
                row = self._open(fsync)
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open the MQTT outbox {self.path}: {exc}") from exc
        self.dropped = row[0] if row else 0
        if self._depth:
            log.info("outbox %s holds %d message(s) from before; they are sent first", self.path, self._depth)

    def _open(self, fsync: bool) -> tuple[int] | None:
        """Connect, check the pages and read the counts; the dropped counter's row."""
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.executescript(SCHEMA)
        (verdict,) = self._db.execute("PRAGMA quick_check(1)").fetchone()
        if verdict != "ok":
            error = sqlite3.DatabaseError(f"quick_check: {verdict}")
            error.sqlite_errorcode = SQLITE_CORRUPT
            raise error
        self._depth = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        return self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()

    def _move_aside(self) -> Path:
        """Rename the damaged file and its WAL and shared-memory files, which belong to it, out of the way."""
        kept = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        n = 1
        while kept.exists():
            kept, n = kept.with_name(f"{kept.name.split('~')[0]}~{n}"), n + 1
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                self.path.with_name(self.path.name + suffix).rename(kept.with_name(kept.name + suffix))
        self.path.rename(kept)
        return kept

    @property
    def depth(self) -> int:
        """Messages on disk, not yet acknowledged by the broker."""
        return self._depth

    def put(self, topic: str, payload: bytes) -> int:
        """Store a message; returns its id. At the bound, the oldest unsent messages are dropped and counted."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                cursor = self._db.execute(
                    "INSERT INTO outbox (created, topic, payload) VALUES (?, ?, ?)", (time.time(), topic, payload)
                )
                excess = self._depth + 1 - self.max_messages
                removed = self._drop_oldest(excess) if excess > 0 else 0
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"cannot write to the MQTT outbox {self.path}: {exc}") from exc
            self._depth += 1 - removed
            self.dropped += removed
        if removed:
            log.warning(
                "outbox %s is full (%d messages): dropped the %d oldest unsent; %d dropped in all",
                self.path,
                self.max_messages,
                removed,
                self.dropped,
            )
        return cursor.lastrowid

    def _drop_oldest(self, count: int) -> int:
        removed = self._db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE id > ? ORDER BY id LIMIT ?)",
            (self.sending_upto, count),
        ).rowcount
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES ('dropped', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (removed,),
        )
        return removed

    def after(self, last_id: int, limit: int) -> list[Message]:
        """Up to `limit` messages with ids above `last_id`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit)
            ).fetchall()
        return [Message(i, topic, bytes(payload)) for i, topic, payload in rows]

    def delete(self, ids: list[int]) -> None:
        """Forget acknowledged messages."""
        if not ids:
            return
        with self._lock:
            try:
                removed = self._db.execute(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(ids))})", ids).rowcount
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot update the MQTT outbox {self.path}: {exc}") from exc
            self._depth -= removed

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")

    def close(self) -> None:
        with self._lock:
            self._db.close()
