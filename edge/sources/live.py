"""Live cameras and streams: a thread grabs frames and keeps only the newest; a lost camera is reopened
with exponential backoff instead of ending the process."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from edge.sources import URL_PATTERN, SourceError
from edge.sources.picamera_formats import PIXEL_BYTES, STREAM_FORMAT, describe
from edge.vision.types import Frame

if TYPE_CHECKING:
    from edge.config import SourceConfig

log = logging.getLogger(__name__)

FAILED_READS_BEFORE_REOPEN = 10
CLOSE_WAIT = 0.3
STALL_WARNING_S = 5.0
"""No frame from the camera for this long is logged as a warning (once), then reminded every STALL_REMINDER_S."""
STALL_REMINDER_S = 60.0

TO_BGR: dict[tuple[str, ...], int | None] = {
    ("B", "G", "R"): None,
    ("R", "G", "B"): cv2.COLOR_RGB2BGR,
    ("B", "G", "R", "255"): cv2.COLOR_BGRA2BGR,
    ("R", "G", "B", "255"): cv2.COLOR_RGBA2BGR,
}
"""How a frame with these bytes per pixel (picamera_formats.PIXEL_BYTES) becomes BGR; None: it already is."""


class Camera(Protocol):
    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class OpenCVCamera:
    """USB camera by index or /dev/videoN, or a stream URL, through cv2.VideoCapture."""

    def __init__(self, uri: str, config: SourceConfig) -> None:
        target: int | str = int(uri) if uri.isdigit() else uri
        self._capture = cv2.VideoCapture(target)
        if not self._capture.isOpened():
            if URL_PATTERN.match(uri):
                raise SourceError(f"cannot open stream {uri!r} (server down or unreachable, wrong URL, or no codec)")
            raise SourceError(f"cannot open camera {uri!r} (unplugged, busy, or no permission for /dev/video*?)")
        if isinstance(target, int) or uri.startswith("/dev/"):
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
            self._capture.set(cv2.CAP_PROP_FPS, config.fps)
            self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def read(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        return image if ok else None

    def close(self) -> None:
        self._capture.release()


class Picamera2Camera:
    """The Raspberry Pi CSI camera through picamera2 (from Raspberry Pi OS apt: python3-picamera2).

    Frames come out in BGR whatever `stream_format` is. The default RGB888 needs no conversion: the Picamera2
    manual (appendix A, "Pixel and image formats") gives its bytes as [B, G, R]; see picamera_formats.
    """

    def __init__(self, index: int, config: SourceConfig, stream_format: str = STREAM_FORMAT) -> None:
        if stream_format not in PIXEL_BYTES:
            raise SourceError(f"picamera2 stream format {stream_format!r} is not one of {', '.join(PIXEL_BYTES)}")
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(
                "picamera2 is not importable: on Raspberry Pi OS run `sudo apt install python3-picamera2` and make "
                "the venv with --system-site-packages (systemd/install.sh does both)"
            ) from exc
        camera = None
        try:
            camera = Picamera2(index)
            configuration = camera.create_video_configuration(
                main={"size": (config.width, config.height), "format": stream_format},
                controls={"FrameRate": config.fps},
            )
            camera.configure(configuration)
            configured = camera.camera_configuration()["main"]["format"]
            if configured not in PIXEL_BYTES:
                raise RuntimeError(f"libcamera set the main stream to {configured}, which has no conversion to BGR")
            camera.start()
        except (RuntimeError, IndexError) as exc:
            if camera is not None:
                camera.close()
            raise SourceError(f"cannot start Pi camera {index}: {exc}") from exc
        self._camera = camera
        self._to_bgr = TO_BGR[PIXEL_BYTES[configured]]
        log.info("picamera2 %s", describe(configured))

    def read(self) -> np.ndarray | None:
        image = self._camera.capture_array("main")
        if image is None or self._to_bgr is None:
            return image
        return cv2.cvtColor(image, self._to_bgr)

    def close(self) -> None:
        self._camera.stop()
        self._camera.close()


class LatestFrameSource:
    """Yields the newest frame only; frames that arrive while the pipeline is busy are dropped."""

    per_frame_decisions = False

    def __init__(
        self, open_camera: Callable[[], Camera], name: str, reconnect_max_delay: float, first_delay: float = 0.5
    ) -> None:
        self.name = name
        self.reconnects = 0
        self.dropped = 0
        self._open_camera = open_camera
        self._max_delay, self._first_delay = reconnect_max_delay, first_delay
        self._condition = threading.Condition()
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._stuck_logged = False
        self._thread = threading.Thread(target=self._grab_forever, name=f"camera {name}", daemon=True)
        self._thread.start()

    def _grab_forever(self) -> None:
        delay, frame_number, failures, camera = self._first_delay, 0, 0, None
        while not self._stop.is_set():
            if camera is None:
                try:
                    camera = self._open_camera()
                    log.info("camera %s opened", self.name)
                    delay, failures = self._first_delay, 0
                except Exception as exc:  # a driver can fail in many ways; none may end the thread
                    log.warning("camera %s unavailable (%s); retrying in %.1f s", self.name, exc, delay)
                    self._stop.wait(delay)
                    delay = min(delay * 2, self._max_delay)
                    continue
            try:
                image = camera.read()
            except Exception as exc:
                log.warning("camera %s read failed: %s", self.name, exc)
                image = None
            if image is None:
                failures += 1
                if failures >= FAILED_READS_BEFORE_REOPEN:
                    log.warning("camera %s stopped delivering frames; reopening", self.name)
                    self._safe_close(camera)
                    camera, self.reconnects = None, self.reconnects + 1
                else:
                    self._stop.wait(0.05)
                continue
            failures = 0
            with self._condition:
                if self._latest is not None:
                    self.dropped += 1
                self._latest = Frame(str(frame_number), time.time(), image)
                self._condition.notify()
            frame_number += 1
        if camera is not None:
            self._safe_close(camera)

    def _safe_close(self, camera: Camera) -> None:
        try:
            camera.close()
        except Exception as exc:
            log.debug("closing camera %s: %s", self.name, exc)

    def __iter__(self) -> Iterator[Frame]:
        waiting_since: float | None = None
        warned_at: float | None = None
        while not self._stop.is_set():
            with self._condition:
                self._condition.wait_for(lambda: self._latest is not None or self._stop.is_set(), timeout=1.0)
                frame, self._latest = self._latest, None
            if frame is not None:
                if warned_at is not None and waiting_since is not None:
                    stalled = time.monotonic() - waiting_since
                    log.warning("camera %s delivers frames again after %.0f s", self.name, stalled)
                waiting_since = warned_at = None
                yield frame
                continue
            # only here, with no frame after a second's wait, does the clock get read: a flowing camera pays nothing
            now = time.monotonic()
            if waiting_since is None:
                waiting_since = now - 1.0
            stalled = now - waiting_since
            if stalled >= STALL_WARNING_S and (warned_at is None or now - warned_at >= STALL_REMINDER_S):
                again = "still " if warned_at is not None else ""
                log.warning("camera %s %sgives no frames: none for %.0f s", self.name, again, stalled)
                warned_at = now

    def close(self) -> None:
        """Returns within CLOSE_WAIT seconds: a grab thread stuck in a stalled camera's read is left to the
        process's exit (it is a daemon) instead of holding up the stop and the outputs' switch-off."""
        self._stop.set()
        with self._condition:
            self._condition.notify_all()
        self._thread.join(timeout=CLOSE_WAIT)
        if self._thread.is_alive() and not self._stuck_logged:
            self._stuck_logged = True
            log.warning("camera %s is stuck in a read (stalled stream?); not waiting for it", self.name)
