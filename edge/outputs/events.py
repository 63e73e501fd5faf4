"""The JSON-lines event log: one line per decision, flushed (and by default fsynced) as it is written, rotated
by size.

Rotation is done here rather than with logging.handlers.RotatingFileHandler: that handler swallows write
errors into handleError, needs LogRecords and a private logger, and has no fsync. The rules kept here:
a line is never split across files (rotation happens before a line that would not fit), every rename is
atomic (each line is in exactly one file at every instant), and a line cut short by a crash is closed
with a newline on the next start so it cannot swallow the next event.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from edge.outputs import Output
from edge.types import Decision

if TYPE_CHECKING:
    from edge.config import EventsConfig

log = logging.getLogger(__name__)


class EventLog(Output):
    name = "events"
    wants_frames = False

    def __init__(self, target: str, config: EventsConfig) -> None:
        self.max_bytes, self.keep, self.fsync = config.max_bytes, config.keep, config.fsync
        self.path: Path | None = None
        if target == "-":
            self._stream: TextIO = sys.stdout
            return
        self.path = Path(target).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._terminate_cut_line()
            self._stream = self._open()
        except OSError as exc:
            raise OSError(f"cannot open event log {self.path}: {exc.strerror or exc}") from exc

    def _open(self) -> TextIO:
        assert self.path is not None
        return self.path.open("a", encoding="utf-8", buffering=1)

    def _terminate_cut_line(self) -> None:
        assert self.path is not None
        try:
            with self.path.open("rb+") as existing:
                if existing.seek(0, os.SEEK_END) == 0:
                    return
                existing.seek(-1, os.SEEK_END)
                if existing.read(1) != b"\n":
                    existing.write(b"\n")
                    log.warning("event log %s ended in a cut line (crash?); closed it", self.path)
        except FileNotFoundError:
            pass

    def rotated_path(self, index: int) -> Path:
        assert self.path is not None
        return self.path.with_name(f"{self.path.name}.{index}")

    def _rotate(self) -> None:
        self._stream.close()
        for index in range(self.keep - 1, 0, -1):
            if self.rotated_path(index).exists():
                os.replace(self.rotated_path(index), self.rotated_path(index + 1))
        assert self.path is not None
        os.replace(self.path, self.rotated_path(1))
        if self.fsync:
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        self._stream = self._open()
        log.info("event log rotated: %s -> %s", self.path, self.rotated_path(1))

    def on_decision(self, decision: Decision) -> None:
        line = json.dumps(decision.as_event(), separators=(",", ":")) + "\n"
        if self.path is not None and self.max_bytes:
            size = os.fstat(self._stream.fileno()).st_size
            if size and size + len(line.encode("utf-8")) > self.max_bytes:
                self._rotate()
        self._stream.write(line)
        self._stream.flush()
        if self.fsync and self.path is not None:
            os.fsync(self._stream.fileno())

    def close(self) -> None:
        if self.path is not None:
            self._stream.close()
