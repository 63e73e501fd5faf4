"""Sources that read files: a folder of images, a single image, a video file (every frame, in order)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge.sources import IMAGE_SUFFIXES, SourceError
from edge.types import Frame

log = logging.getLogger(__name__)


def read_image(path: Path) -> np.ndarray | None:
    """BGR image, or None (logged) when the file is unreadable or not an image."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        log.warning("skipping %s: %s", path, exc)
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        log.warning("skipping %s: not a readable image", path)
    return image


class ImageFilesSource:
    """One frame per image file; the frame id is the file name. Each file is its own decision."""

    per_frame_decisions = True

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.skipped = 0

    @classmethod
    def from_folder(cls, folder: Path) -> ImageFilesSource:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SourceError(f"folder {folder} has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return cls(files)

    def __iter__(self) -> Iterator[Frame]:
        for path in self.files:
            image = read_image(path)
            if image is None:
                self.skipped += 1
                continue
            yield Frame(path.name, time.time(), image)

    def close(self) -> None:
        pass


class VideoFileSource:
    """Every frame of a video file in order; the frame id is the frame number from 0."""

    per_frame_decisions = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            raise SourceError(f"cannot open video file {path} (not a video, or no codec for it in this OpenCV)")

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            ok, image = self._capture.read()
            if not ok:
                return
            yield Frame(str(index), time.time(), image)
            index += 1

    def close(self) -> None:
        self._capture.release()
