"""Frame sources: picamera2, OpenCV capture (USB index, /dev/videoN, stream URL), video file, image, folder.

`open_source(uri, config)` picks one from the string the user gives; every source yields
`edge.types.Frame` and has `close()`. Live sources keep only the newest frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from edge.errors import SetupError

if TYPE_CHECKING:
    from edge.config import SourceConfig
    from edge.types import Frame

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
URL_PATTERN = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp)://", re.IGNORECASE)
PICAMERA_PATTERN = re.compile(r"^(picamera2?|picam|csi)(:(\d+))?$", re.IGNORECASE)


class SourceError(SetupError, ValueError):
    pass


class Source(Protocol):
    live: bool
    """True for cameras and streams (frames may be dropped); False for files (every frame processed)."""
    per_frame_decisions: bool
    """True when each frame is an unrelated picture (image folder): no tracking across frames."""

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def describe(uri: str) -> str:
    """Which kind of source a string selects, without opening it."""
    if PICAMERA_PATTERN.match(uri):
        return "picamera2"
    if uri.isdigit() or uri.startswith("/dev/video"):
        return "camera"
    if URL_PATTERN.match(uri):
        return "stream"
    path = Path(uri).expanduser()
    if path.is_dir():
        return "folder"
    if path.is_file():
        return "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
    raise SourceError(
        f"source {uri!r} is not a camera index, /dev/videoN, picamera2, stream URL, or an existing file or folder"
    )


def open_source(uri: str, config: SourceConfig) -> Source:
    kind = describe(uri)
    if kind == "picamera2":
        from edge.sources.live import LatestFrameSource, Picamera2Camera

        match = PICAMERA_PATTERN.match(uri)
        index = int(match[3]) if match and match[3] else 0
        return LatestFrameSource(lambda: Picamera2Camera(index, config), uri, config.reconnect_max_delay)
    if kind in ("camera", "stream"):
        from edge.sources.live import LatestFrameSource, OpenCVCamera

        return LatestFrameSource(lambda: OpenCVCamera(uri, config), uri, config.reconnect_max_delay)
    from edge.sources.files import ImageFilesSource, VideoFileSource

    path = Path(uri).expanduser()
    if kind == "folder":
        return ImageFilesSource.from_folder(path)
    if kind == "image":
        return ImageFilesSource([path])
    return VideoFileSource(path)
