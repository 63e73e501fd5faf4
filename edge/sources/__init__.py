"""Frame sources: picamera2, OpenCV capture (USB index, /dev/videoN, stream URL), video file, image, folder.

`open_source(uri, config)` picks one from the string the user gives, by the first kind in SOURCES whose
matcher takes it; every source yields `edge.vision.types.Frame` and has `close()`. Live sources keep only the
newest frame. This module imports nothing heavy: `maskgate doctor` matches sources without OpenCV.

The folder holds one module per kind of source and the progress line of a long run over files (progress.py).
May import edge.vision (the plain types), edge.config, edge.registry and edge.errors; never a detector, an
output or anything that builds the loop.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from edge.errors import SetupError, os_errors_as, third_party_imports
from edge.registry import resolve

if TYPE_CHECKING:
    from edge.config import SourceConfig
    from edge.vision.types import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
URL_PATTERN = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp)://", re.IGNORECASE)
PICAMERA_PATTERN = re.compile(r"^(picamera2?|picam|csi)(:(\d+))?$", re.IGNORECASE)
DEMO_SOURCE = "demo"
DEMO_CLIP = Path(__file__).parent.parent / "models" / "demo" / "door.avi"
"""A short drawn clip of people walking up to a door (convert/data/demo_clip.py), shipped in the package."""


class SourceError(SetupError, ValueError):
    pass


class Source(Protocol):
    per_frame_decisions: bool
    """True when each frame is an unrelated picture (image folder): no tracking across frames."""

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SourceKind:
    matches: Callable[[str], bool]
    """Whether a source string selects this kind; opens nothing."""
    open: str
    """"module:function" of (uri, SourceConfig) -> Source, imported when a source of this kind is opened."""
    doctor_check: str = ""
    """"module:function" of (uri) -> edge.health.doctor.Check, what `maskgate doctor` checks for this kind."""
    stills: bool = False
    """Each picture is its own scene, judged once (the source's per_frame_decisions)."""


def open_picamera2(uri: str, config: SourceConfig) -> Source:
    from edge.sources.live import LatestFrameSource, Picamera2Camera

    match = PICAMERA_PATTERN.match(uri)
    index = int(match[3]) if match and match[3] else 0
    return LatestFrameSource(lambda: Picamera2Camera(index, config), uri, config.reconnect_max_delay)


def open_capture(uri: str, config: SourceConfig) -> Source:
    from edge.sources.live import LatestFrameSource, OpenCVCamera

    return LatestFrameSource(lambda: OpenCVCamera(uri, config), uri, config.reconnect_max_delay)


def open_folder(uri: str, config: SourceConfig) -> Source:
    from edge.sources.files import ImageFilesSource

    return ImageFilesSource.from_folder(Path(uri).expanduser(), config.max_image_pixels)


def open_image(uri: str, config: SourceConfig) -> Source:
    from edge.sources.files import ImageFilesSource

    return ImageFilesSource([Path(uri).expanduser()], config.max_image_pixels)


def open_video(uri: str, config: SourceConfig) -> Source:
    from edge.sources.files import VideoFileSource

    return VideoFileSource(Path(uri).expanduser())


def open_demo(uri: str, config: SourceConfig) -> Source:
    if not DEMO_CLIP.is_file():
        raise SourceError(f"the demo clip {DEMO_CLIP} is missing from this install; reinstall maskgate")
    return open_video(str(DEMO_CLIP), config)


def _is_picamera(uri: str) -> bool:
    return PICAMERA_PATTERN.match(uri) is not None


def _is_video_device(uri: str) -> bool:
    return uri.isdigit() or uri.startswith("/dev/video")


def _is_url(uri: str) -> bool:
    return URL_PATTERN.match(uri) is not None


def _is_folder(uri: str) -> bool:
    return Path(uri).expanduser().is_dir()


def _is_file(uri: str) -> bool:
    return Path(uri).expanduser().is_file()


def _is_image_file(uri: str) -> bool:
    return _is_file(uri) and Path(uri).suffix.lower() in IMAGE_SUFFIXES


SOURCES: dict[str, SourceKind] = {
    "demo": SourceKind(lambda uri: uri == DEMO_SOURCE, "edge.sources:open_demo"),
    "picamera2": SourceKind(_is_picamera, "edge.sources:open_picamera2", "edge.health.doctor:check_picamera2"),
    "camera": SourceKind(_is_video_device, "edge.sources:open_capture", "edge.health.doctor:check_v4l2"),
    "stream": SourceKind(_is_url, "edge.sources:open_capture"),
    "folder": SourceKind(_is_folder, "edge.sources:open_folder", stills=True),
    "image": SourceKind(_is_image_file, "edge.sources:open_image", stills=True),
    "video": SourceKind(_is_file, "edge.sources:open_video"),
}
"""Source kinds in the order they are tried; the first whose matcher takes the string wins (a folder named demo
is `./demo`)."""


def is_stills(uri: str) -> bool:
    """Whether a source string selects pictures each judged on its own (image files, folders), without opening it."""
    return SOURCES[describe(uri)].stills


def is_live(uri: str) -> bool:
    """Whether a source string selects a camera or stream (runs until stopped) rather than files, without opening it."""
    return describe(uri) in ("picamera2", "camera", "stream")


def describe(uri: str) -> str:
    """Which kind of source a string selects, without opening it."""
    for kind, entry in SOURCES.items():
        if entry.matches(uri):
            return kind
    raise SourceError(
        f"source {uri!r}: no such file or folder (and not a camera index, /dev/videoN, picamera2, demo or stream URL)"
    )


def no_such_path(what: str, path: Path) -> SourceError:
    """The one wording of a path that does not exist, for every command that reads pictures."""
    return SourceError(f"{what} {str(path)!r}: no such file or folder")


def image_files(folder: Path) -> list[Path]:
    """The folder's image files by name; a folder with none is a SourceError naming it."""
    return scan_folder(folder)[0]


def scan_folder(folder: Path) -> tuple[list[Path], int]:
    """The folder's image files by name (a link to a picture counts as one), and how many entries with a picture's
    name were skipped because they are no picture file: a link that is broken or loops, a FIFO (whose read would
    wait forever), a device (/dev/zero never ends) or a socket, or a link to one of those. Those are logged once
    per folder, with their kinds."""
    import stat
    from collections import Counter

    files, odd = [], Counter()
    with os.scandir(folder) as entries:
        for entry in entries:
            if Path(entry.name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                mode = entry.stat().st_mode
            except OSError:
                odd["broken or looping link"] += 1
                continue
            if stat.S_ISREG(mode):
                files.append(folder / entry.name)
            elif not stat.S_ISDIR(mode):
                odd[("link to a " if entry.is_symlink() else "") + _special_kind(mode)] += 1
    if odd:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(odd.items()))
        log.warning("folder %s: skipping %d entries that are no picture file (%s)", folder, odd.total(), kinds)
    if not files:
        raise SourceError(f"folder {folder} has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return sorted(files), odd.total()


def _special_kind(mode: int) -> str:
    import stat

    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "socket" if stat.S_ISSOCK(mode) else "special file"


def none_readable(count: int, what: str) -> SourceError:
    return SourceError(f"none of the {count} image file(s) of {what} could be read (each is named above)")


def open_source(uri: str, config: SourceConfig) -> Source:
    kind = describe(uri)
    with (
        third_party_imports(f"source {uri!r} ({kind})"),
        os_errors_as(SourceError, f"source {uri!r}", fix="check that it exists and this user may read it"),
    ):
        return resolve(SOURCES[kind].open)(uri, config)
