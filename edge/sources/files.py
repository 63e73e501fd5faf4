"""Sources that read files: a folder of images, a single image, a video file (every frame, in order)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge.sources import SourceError, scan_folder
from edge.vision.types import Frame

log = logging.getLogger(__name__)


DEFAULT_MAX_PIXELS = 25_000_000
FILE_HEADROOM_BYTES = 4_000_000
"""Beyond 4 bytes a pixel (an uncompressed BGRA bitmap): room for metadata, an embedded preview, a colour profile."""
DECODE_MIN_SIDE = 1600
"""A picture whose longer side is at least twice this is decoded at 1/2, 1/4 or 1/8 of its size (JPEG decodes
that way directly, in a fraction of the memory), keeping its longer side at least this: the border retry's canvas
(edge.detectors.common.RETRY_MAX_SIDE), more than the detector's second look for stills (1280) sees."""
VIDEO_FRAME_SLACK = 2
"""Frames a container's count may be off by (rounded durations) before an early end is called a cut file."""
REDUCED_FLAGS = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


class UnreadableImageError(ValueError):
    """A file that is not decoded: unreadable, not an image, or larger than the pixel budget."""


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header alone, without decoding it.

    imagesize (pure Python, reads a few header bytes) knows every format in IMAGE_SUFFIXES; OpenCV has no
    header-only call, and Pillow would be a large dependency for one question.
    """
    import imagesize

    if not path.is_file():
        raise UnreadableImageError("no such file" if not path.exists() else "not a file")
    try:
        width, height = imagesize.get(path)
    except OSError as exc:
        raise UnreadableImageError(f"cannot read it: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UnreadableImageError(f"not a readable image ({exc})") from exc
    if width <= 0 or height <= 0:
        raise UnreadableImageError("not a readable image (no image header)")
    return width, height


def max_file_bytes(max_pixels: int) -> int:
    """The largest file a picture within max_pixels can be; 0 = no limit."""
    return max_pixels * 4 + FILE_HEADROOM_BYTES if max_pixels else 0


def decode_flag(width: int, height: int) -> tuple[int, int]:
    """(reduction, imread flag) for a picture of this size: reduced while its longer side stays >= DECODE_MIN_SIDE."""
    for factor, flag in REDUCED_FLAGS:
        if max(width, height) // factor >= DECODE_MIN_SIDE:
            return factor, flag
    return 1, cv2.IMREAD_COLOR


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The file as a BGR image; its size is checked from the header before any pixel is decoded, so a
    decompression bomb costs a few bytes of reading, and the file's length before it is read, so a huge file
    behind a small picture's header is never read. A large picture is decoded at a reduced size (decode_flag).
    Raises UnreadableImageError naming the reason."""
    width, height = image_size(path)
    if max_pixels and width * height > max_pixels:
        raise UnreadableImageError(
            f"{width}x{height} is {width * height / 1e6:.0f} MP, over source.max_image_pixels ({max_pixels / 1e6:g} MP)"
        )
    try:
        length = path.stat().st_size
    except OSError as exc:
        raise UnreadableImageError(f"cannot read it: {exc.strerror or exc}") from exc
    if (limit := max_file_bytes(max_pixels)) and length > limit:
        raise UnreadableImageError(
            f"the file is {length / 1e6:.0f} MB, more than a picture within source.max_image_pixels "
            f"({max_pixels / 1e6:g} MP) can be ({limit / 1e6:.0f} MB)"
        )
    factor, flag = decode_flag(width, height)
    try:
        # imread streams the file into the decoder: no copy of the whole file in memory
        image = cv2.imread(str(path), flag) if length else None
    except cv2.error as exc:
        raise UnreadableImageError(f"OpenCV cannot decode it: {str(exc).strip().splitlines()[-1]}") from exc
    if image is None:
        raise UnreadableImageError("not a readable image (decoding failed)")
    if factor > 1:
        log.debug("%s: %dx%d decoded at 1/%d, %dx%d", path, width, height, factor, image.shape[1], image.shape[0])
    return image


class ImageFilesSource:
    """One frame per image file; the frame id is the file name. Each file is its own decision.

    A file that cannot be used is skipped, logged once with its reason and counted in `skipped`; `run`
    reports the count, and a source whose every file was skipped is an error there.
    """

    per_frame_decisions = True

    def __init__(self, files: list[Path], max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.files = files
        self.max_pixels = max_pixels
        self.skipped = 0

    @classmethod
    def from_folder(cls, folder: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageFilesSource:
        files, not_regular = scan_folder(folder)
        source = cls(files, max_pixels)
        source.skipped = not_regular
        return source

    def __iter__(self) -> Iterator[Frame]:
        from edge.sources.progress import with_progress

        files = with_progress(self.files, len(self.files), "images") if len(self.files) > 1 else self.files
        for path in files:
            try:
                image = read_image(path, self.max_pixels)
            except UnreadableImageError as exc:
                self.skipped += 1
                log.warning("skipping %s: %s", path, exc)
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
        announced = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        while True:
            ok, image = self._capture.read()
            if not ok:
                break
            yield Frame(str(index), time.time(), image)
            index += 1
        self.frames_read = index
        if announced > index + VIDEO_FRAME_SLACK:
            log.warning(
                "video %s ended after %d of the %d frames its container announces: the file is cut short or damaged",
                self.path,
                index,
                announced,
            )

    def close(self) -> None:
        self._capture.release()
