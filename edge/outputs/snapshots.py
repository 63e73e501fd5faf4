"""JPEG snapshots of confirmed bare faces: off by default (privacy); files are 0600 in a 0700 folder and
pruned to the newest `max_files` and to `max_days`."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from edge.labels import DEFAULT_POLICY, LabelPolicy
from edge.outputs import Output
from edge.outputs.annotate import annotate
from edge.types import Decision, Frame, TrackedFace

if TYPE_CHECKING:
    from edge.config import EventsConfig
    from edge.stats import LoopStats

log = logging.getLogger(__name__)

SUFFIX = ".jpg"
JPEG_QUALITY = 85


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
        self._clock = clock
        self._pending: list[Decision] = []
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.directory.chmod(0o700)
        except OSError as exc:
            raise OSError(f"events.snapshot_dir {self.directory}: {exc.strerror or exc}") from exc
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
        for decision in due:
            self._write(self.directory / snapshot_name(decision), jpeg.tobytes())
        self.prune()

    def _write(self, path: Path, data: bytes) -> None:
        """Written under a hidden name created 0600, then renamed: a snapshot is whole or absent."""
        partial = path.with_name(f".{path.name}.part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(partial, path)
        log.info("snapshot %s", path)

    def files(self) -> list[Path]:
        return sorted(p for p in self.directory.glob(f"*{SUFFIX}") if not p.name.startswith("."))

    def prune(self) -> None:
        files = self.files()
        doomed = files[: max(0, len(files) - self.max_files)]
        if self.max_days:
            oldest_kept = self._clock() - self.max_days * 86400
            doomed += [p for p in files[len(doomed) :] if p.stat().st_mtime < oldest_kept]
        for path in doomed:
            path.unlink(missing_ok=True)
        if doomed:
            log.info("snapshots: deleted %d past the retention limit", len(doomed))
