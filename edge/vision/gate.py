"""The change gate: decides per frame whether the face detector must run or the last tracks can be carried.

A frame is reduced to a small grey thumbnail (area averaging over blocks of ~16x16 pixels, which
averages sensor noise away) and compared with the thumbnail of the last frame the detector saw. Both
thumbnails are shifted to the same mean first, so an auto-exposure step or a slow light change moves
the whole picture and is not a change; what counts is the number of cells whose level differs by
more than `cell_threshold` grey levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.vision.tracker import Track

if TYPE_CHECKING:
    from edge.config import GateConfig


def thumbnail(image: np.ndarray, width: int) -> np.ndarray:
    """The frame as a width-wide grey float32 thumbnail, each cell the mean of its block of pixels."""
    height = max(1, round(width * image.shape[0] / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return grey.astype(np.float32)


def changed_cells(current: np.ndarray, reference: np.ndarray, cell_threshold: float) -> int:
    """Cells that differ by more than cell_threshold once the global brightness difference is removed."""
    difference = current - reference
    difference -= float(difference.mean())
    return int(np.count_nonzero(np.abs(difference) > cell_threshold))


class ChangeGate:
    """Per frame: `should_detect(image, tracks)`; after the detector ran, `detected(...)` records it."""

    def __init__(self, settings: GateConfig, recheck_every: int = 1) -> None:
        self.settings = settings
        self.recheck_every = recheck_every
        self._reference: np.ndarray | None = None
        self._since_detect = 0
        self._thumb: np.ndarray | None = None
        self.skipped = 0
        self.skipping = False
        """Whether the last frame was carried without running the detector."""

    def should_detect(self, image: np.ndarray, tracks: Sequence[Track]) -> bool:
        s = self.settings
        self._thumb = thumbnail(image, s.thumb_width)
        if self._reference is None or self._reference.shape != self._thumb.shape:
            return True
        if changed_cells(self._thumb, self._reference, s.cell_threshold) >= s.min_changed_cells:
            return True
        if not tracks:
            return self._since_detect + 1 >= s.empty_check_every
        for track in tracks:
            undecided = track.decision is None or track.votes[-1][0] != track.decision
            if undecided or track.missed > 0 or track.unlabelled + 1 >= self.recheck_every:
                return True
        return self._since_detect + 1 >= s.decided_every

    def detected(self) -> None:
        self._reference, self._since_detect, self.skipping = self._thumb, 0, False

    def carried(self, tracks: Sequence[Track]) -> None:
        """The frame was not detected: the carried tracks count it as a frame without a label."""
        self._since_detect += 1
        self.skipped += 1
        self.skipping = True
        for track in tracks:
            track.unlabelled += 1
