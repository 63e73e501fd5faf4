"""JPEG snapshots of confirmed bare faces: off by default (privacy); files are 0600, in a folder created 0700,
pruned to the newest `max_files` and to `max_days`.

Retention only ever touches files whose names this module writes (SNAPSHOT_NAME, and its hidden `.part` temp
files), so pointing `events.snapshot_dir` at a folder with other pictures never deletes them; the newest
snapshot is always kept. A folder that already exists keeps its mode. No symbolic link is followed: the folder is
opened once with O_NOFOLLOW (a symlinked snapshot_dir is refused) and every write, rename, listing and deletion
goes through that open folder (dir_fd), so swapping the folder for a link later changes nothing; files are created
with O_NOFOLLOW and O_EXCL, and a link among the entries is neither listed nor written through.

on_frame returns True only when it wrote a snapshot (edge.pipeline counts that, not an idle frame, as the output
working again after a failure).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from edge.outputs import Output
from edge.outputs.annotate import annotate
from edge.vision.labels import DEFAULT_POLICY, LabelPolicy
from edge.vision.types import Decision, Frame, TrackedFace

if TYPE_CHECKING:
    from edge.config import EventsConfig
    from edge.vision.stats import LoopStats

log = logging.getLogger(__name__)

SUFFIX = ".jpg"
JPEG_QUALITY = 85
SNAPSHOT_NAME = re.compile(r"\d{8}T\d{6}\.\d{3}Z-track\d+\.jpg")
PART_NAME = re.compile(r"\.\d{8}T\d{6}\.\d{3}Z-track\d+\.jpg\.part")
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


def snapshot_name(decision: Decision) -> str:
    """Sortable by time: 20260101T120000.123Z-track7.jpg."""
    stamp = datetime.fromtimestamp(decision.time, UTC)
    return f"{stamp:%Y%m%dT%H%M%S}.{stamp.microsecond // 1000:03d}Z-track{decision.track}{SUFFIX}"


class Snapshots(Output):
    name = "snapshots"

    def __init__(
        self,
        directory: Path,
        config: EventsConfig,
        clock: Callable[[], float] = time.time,
        policy: LabelPolicy = DEFAULT_POLICY,
    ) -> None:
        self.policy = policy
        self.directory = Path(directory).expanduser()
        self.max_files, self.max_days = config.snapshot_max_files, config.snapshot_max_days
        self.min_free_bytes = config.snapshot_min_free_mb * 2**20
        self.skipped_low_space = 0
        """Snapshots not written because free space was below `min_free_bytes` (the event log comes first)."""
        self._low_space = False
        self._clock = clock
        self._pending: list[Decision] = []
        try:
            if not self.directory.is_symlink() and not self.directory.is_dir():
                self.directory.mkdir(parents=True, mode=0o700)
            self._dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | NO_FOLLOW)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if self.directory.is_symlink():
                reason = "is a symbolic link, which snapshots never follow; fix: name the folder it points to"
            raise OSError(f"events.snapshot_dir {self.directory}: {reason}") from exc
        self.prune_parts()
        self.prune()

    def on_decision(self, decision: Decision) -> None:
        if self.policy.is_alarm(decision.label):
            self._pending.append(decision)

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> bool:
        """True when a snapshot was written; False when none was due (or there was no room for it)."""
        due = [d for d in self._pending if d.frame == frame.id]
        self._pending = []
        if not due:
            return False
        ok, jpeg = cv2.imencode(
            SUFFIX, annotate(frame.image, faces, policy=self.policy), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        )
        if not ok:
            raise OSError(f"cannot encode a snapshot of frame {frame.id}")
        if not self._space_left(len(jpeg) * len(due)):
            self.skipped_low_space += len(due)
            return False
        try:
            for decision in due:
                self._write(snapshot_name(decision), jpeg.tobytes())
        except OSError as exc:
            error = OSError(f"cannot write a snapshot into {self.directory}: {exc.strerror or exc}")
            error.errno = exc.errno
            raise error from exc
        self.prune()
        return True

    def _space_left(self, needed: int) -> bool:
        """Whether writing `needed` bytes keeps min_free_bytes free; a change either way is logged once."""
        if not self.min_free_bytes:
            return True
        usage = os.statvfs(self._dir_fd)
        free = usage.f_bavail * usage.f_frsize
        low = free - needed < self.min_free_bytes
        if low != self._low_space:
            self._low_space = low
            if low:
                log.warning(
                    "snapshots paused: %d MB free in %s, below events.snapshot_min_free_mb; the event log goes on",
                    free // 2**20,
                    self.directory,
                )
            else:
                log.info("snapshots resumed: %d MB free in %s", free // 2**20, self.directory)
        return not low

    def _write(self, name: str, data: bytes) -> None:
        """Written under a hidden name created 0600, then renamed: a snapshot is whole or absent, and a failed
        write leaves no temp file behind."""
        partial = f".{name}.part"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW, 0o600, dir_fd=self._dir_fd)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(partial, name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
        except BaseException:
            self._unlink(partial)
            raise
        log.info("snapshot %s", self.directory / name)

    def _unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self._dir_fd)

    def _entries(self) -> list[os.DirEntry]:
        with os.scandir(self._dir_fd) as entries:
            return list(entries)

    def files(self) -> list[Path]:
        """This module's snapshots in the folder, oldest first; any other file (or a link) is not ours and never
        listed."""
        return sorted(
            self.directory / e.name
            for e in self._entries()
            if SNAPSHOT_NAME.fullmatch(e.name) and e.is_file(follow_symlinks=False)
        )

    def prune_parts(self) -> None:
        """Temp files of writes cut short by a crash or power loss."""
        stale = [e.name for e in self._entries() if PART_NAME.fullmatch(e.name)]
        for name in stale:
            self._unlink(name)
        if stale:
            log.info("snapshots: removed %d temp files of unfinished writes", len(stale))

    def prune(self) -> None:
        """Deletes all but the newest max_files, and those older than max_days; never the newest one."""
        files = self.files()[:-1]
        doomed = files[: max(0, len(files) + 1 - self.max_files)]
        if self.max_days:
            oldest_kept = self._clock() - self.max_days * 86400
            doomed += [
                p
                for p in files[len(doomed) :]
                if os.stat(p.name, dir_fd=self._dir_fd, follow_symlinks=False).st_mtime < oldest_kept
            ]
        for path in doomed:
            self._unlink(path.name)
        if doomed:
            log.info("snapshots: deleted %d past the retention limit", len(doomed))

    def close(self) -> None:
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1
