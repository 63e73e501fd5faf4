"""Annotated frames to a window, a video file or a folder of images."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import numpy as np

from edge.errors import OutputError, SetupError
from edge.outputs import Output
from edge.outputs.annotate import annotate
from edge.sources import IMAGE_SUFFIXES
from edge.vision.stats import LoopStats
from edge.vision.types import Frame, TrackedFace

log = logging.getLogger(__name__)

VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
WINDOW_TITLE = "MaskGate"


class DisplayUnavailableError(SetupError, RuntimeError):
    pass


class HighGuiWindow:
    """One OpenCV HighGUI window; needs an OpenCV built with GUI support and a desktop session, else
    DisplayUnavailableError with `unavailable` as its message."""

    def __init__(self, title: str, unavailable: str, fullscreen: bool = False) -> None:
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
            if fullscreen:
                cv2.setWindowProperty(title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        except cv2.error as exc:
            raise DisplayUnavailableError(unavailable) from exc

    def show(self, image: np.ndarray) -> None:
        cv2.imshow(self.title, image)
        cv2.waitKey(1)

    def close(self) -> None:
        cv2.destroyWindow(self.title)


class Window(Output):
    """Annotated frames in a desktop window, for debugging (`--display window`)."""

    name = "window"

    def __init__(self) -> None:
        self.window = HighGuiWindow(
            WINDOW_TITLE,
            "--display window needs an OpenCV with GUI support and a desktop session: this OpenCV has none "
            "(opencv-python-headless) or no display is set. Install python3-opencv (apt) or opencv-python, or use "
            "--display none",
        )

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
        self.window.show(annotate(frame.image, faces, stats.fps))

    def close(self) -> None:
        self.window.close()


def frame_file_name(frame_id: str) -> str:
    if Path(frame_id).suffix.lower() in IMAGE_SUFFIXES:
        return Path(frame_id).name
    return f"{int(frame_id):06d}.jpg" if frame_id.isdigit() else re.sub(r"[^\w.-]", "_", frame_id) + ".jpg"


class Recorder(Output):
    """A path ending in .mp4/.avi/.mkv is a video file; anything else is a folder of annotated images."""

    name = "record"

    def __init__(self, target: str, fps: float = 10.0) -> None:
        self.path = Path(target).expanduser()
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None
        self._is_video = self.path.suffix.lower() in VIDEO_CODECS
        if not self._is_video and self.path.suffix and not self.path.is_dir():
            raise OutputError(
                f"output.record {self.path}: {self.path.suffix} is not a video format this writes "
                f"({', '.join(VIDEO_CODECS)}); use one of those, or a folder name without a suffix for images"
            )
        (self.path.parent if self._is_video else self.path).mkdir(parents=True, exist_ok=True)

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
        image = annotate(frame.image, faces, stats.fps)
        if not self._is_video:
            if not cv2.imwrite(str(self.path / frame_file_name(frame.id)), image):
                log.warning("could not write annotated frame %s to %s", frame.id, self.path)
            return
        if self._writer is None:
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
            self._size = (image.shape[1], image.shape[0])
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                raise OSError(f"cannot write video {self.path} (codec not available in this OpenCV)")
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size)
        self._writer.write(image)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
