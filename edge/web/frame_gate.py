"""Decides when the frame loop should hand a picture to the door page: only while a viewer asked for one
recently, and at most `max_fps` times a second, so a closed page costs the loop one clock read per frame."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class FrameGate:
    max_fps: float = 2.0
    viewer_timeout_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    _last_viewer: float = float("-inf")
    _last_frame: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.max_fps <= 0:
            raise ValueError(f"max_fps must be above 0, got {self.max_fps}")

    def viewer_seen(self) -> None:
        """Called by the HTTP thread whenever an open page polls for a picture."""
        with self._lock:
            self._last_viewer = self.clock()

    def due(self) -> bool:
        """Called by the frame loop: True when this frame should be encoded for the page."""
        now = self.clock()
        with self._lock:
            if now - self._last_viewer > self.viewer_timeout_s:
                return False
            if now - self._last_frame < 1.0 / self.max_fps:
                return False
            self._last_frame = now
            return True
