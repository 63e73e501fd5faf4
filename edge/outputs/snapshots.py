"""JPEG snapshots of confirmed bare faces: off by default (privacy); files are 0600, in a folder created 0700,
pruned to the newest `max_files` and to `max_days`.

Retention only ever touches files whose names this module writes (SNAPSHOT_NAME, and its hidden `.part` temp
files), so pointing `events.snapshot_dir` at a folder with other pictures never deletes them; the newest
snapshot is always kept. A folder that already exists keeps its mode. Files are created with O_NOFOLLOW and
O_EXCL, so a symlink planted under a snapshot's temp name is never written through.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
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
            if not self.directory.is_dir():
                self.directory.mkdir(parents=True, mode=0o700)
        except OSError as exc:
            raise OSError(f"events.snapshot_dir {self.directory}: {exc.strerror or exc}") from exc
        self.prune_parts()
        self.prune()

    def on_decision(self, decision: Decision) -> None:
        if self.policy.is_alarm(decision.label):
            self._pending.append(decision)

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
        due = [d for d in self._pending if d.frame == frame.id]
        self._pending = []
        if not due:
            return
        ok, jpeg = cv2.imencode(
            SUFFIX, annotate(frame.image, faces, policy=self.policy), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        )
        if not ok:
            raise OSError(f"cannot encode a snapshot of frame {frame.id}")
        if not self._space_left(len(jpeg) * len(due)):
            self.skipped_low_space += len(due)
            return
        for decision in due:
            self._write(self.directory / snapshot_name(decision), jpeg.tobytes())
        self.prune()

    def _space_left(self, needed: int) -> bool:
        """Whether writing `needed` bytes keeps min_free_bytes free; a change either way is logged once."""
        if not self.min_free_bytes:
            return True
        free = shutil.disk_usage(self.directory).free
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

    def _write(self, path: Path, data: bytes) -> None:
        """Written under a hidden name created 0600, then renamed: a snapshot is whole or absent, and a failed
        write leaves no temp file behind."""
        partial = path.with_name(f".{path.name}.part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        log.info("snapshot %s", path)

    def files(self) -> list[Path]:
        """This module's snapshots in the folder, oldest first; any other file is not ours and never listed."""
        return sorted(p for p in self.directory.iterdir() if SNAPSHOT_NAME.fullmatch(p.name) and p.is_file())

    def prune_parts(self) -> None:
        """Temp files of writes cut short by a crash or power loss."""
        stale = [p for p in self.directory.iterdir() if PART_NAME.fullmatch(p.name)]
        for path in stale:
            path.unlink(missing_ok=True)
        if stale:
            log.info("snapshots: removed %d temp files of unfinished writes", len(stale))

    def prune(self) -> None:
        """Deletes all but the newest max_files, and those older than max_days; never the newest one."""
        files = self.files()[:-1]
        doomed = files[: max(0, len(files) + 1 - self.max_files)]
        if self.max_days:
            oldest_kept = self._clock() - self.max_days * 86400
            doomed += [p for p in files[len(doomed) :] if p.lstat().st_mtime < oldest_kept]
        for path in doomed:
            path.unlink(missing_ok=True)
        if doomed:
            log.info("snapshots: deleted %d past the retention limit", len(doomed))
