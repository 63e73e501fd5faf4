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
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from edge.outputs import Output
from edge.vision.types import Decision

if TYPE_CHECKING:
    from edge.config import EventsConfig

log = logging.getLogger(__name__)


NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class EventLog(Output):
    """Appends to `target` (a file, or "-" for stdout). A path that is a symlink is refused (O_NOFOLLOW); a
    special file such as /dev/null is written without fsync or rotation. A write that fails (disk full) is
    cut back to the last whole line and raised, for the pipeline to count and report."""

    name = "events"
    wants_frames = False

    def __init__(self, target: str, config: EventsConfig) -> None:
        self.max_bytes, self.keep, self.fsync = config.max_bytes, config.keep, config.fsync
        self.path: Path | None = None
        self._fd = -1
        self._regular = False
        if target == "-":
            self._stream: TextIO = sys.stdout
            return
        self.path = Path(target).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = self._open()
            if self._regular:
                self._terminate_cut_line()
        except OSError as exc:
            raise OSError(f"cannot open event log {self.path}: {exc.strerror or exc}") from exc

    def _open(self) -> int:
        assert self.path is not None
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | NO_FOLLOW, 0o644)
        self._regular = stat.S_ISREG(os.fstat(fd).st_mode)
        return fd

    def _terminate_cut_line(self) -> None:
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            write_all(self._fd, b"\n")
            log.warning("event log %s ended in a cut line (crash?); closed it", self.path)

    def rotated_path(self, index: int) -> Path:
        assert self.path is not None
        return self.path.with_name(f"{self.path.name}.{index}")

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
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
        self._fd = self._open()
        log.info("event log rotated: %s -> %s", self.path, self.rotated_path(1))

    def on_decision(self, decision: Decision) -> None:
        line = json.dumps(decision.as_event(), separators=(",", ":")) + "\n"
        if self.path is None:
            self._stream.write(line)
            self._stream.flush()
            return
        if self._fd < 0:  # a rotation failed half-way: try again
            self._fd = self._open()
        data = line.encode("utf-8")
        if not self._regular:
            write_all(self._fd, data)
            return
        size = os.fstat(self._fd).st_size
        if self.max_bytes and size and size + len(data) > self.max_bytes:
            self._rotate()
            size = 0
        try:
            write_all(self._fd, data)
            if self.fsync:
                os.fsync(self._fd)
        except OSError:
            os.ftruncate(self._fd, size)  # no torn line is left behind
            raise

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
