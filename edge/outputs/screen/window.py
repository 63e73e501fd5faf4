"""The entrance screen in an OpenCV HighGUI window: a Pi with a desktop."""

from __future__ import annotations

import cv2
import numpy as np

from edge.config import ScreenConfig
from edge.outputs.video import DisplayUnavailableError

DEFAULT_WINDOW_SIZE = (1280, 720)
WINDOW_TITLE = "MaskGate entrance"


class WindowSink:
    """An OpenCV HighGUI window; needs an OpenCV built with GUI support and a desktop session."""

    @classmethod
    def from_config(cls, config: ScreenConfig) -> WindowSink:
        return cls(config.width or DEFAULT_WINDOW_SIZE[0], config.height or DEFAULT_WINDOW_SIZE[1], config.fullscreen)

    def __init__(self, width: int, height: int, fullscreen: bool) -> None:
        self.width, self.height = width, height
        try:
            cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_NORMAL)
            if fullscreen:
                cv2.setWindowProperty(WINDOW_TITLE, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        except cv2.error as exc:
            raise DisplayUnavailableError(
                'screen.backend "window" needs a desktop session and an OpenCV with GUI support (this one has none, '
                "or DISPLAY/WAYLAND_DISPLAY is unset): install opencv-python in place of opencv-python-headless, "
                'or on Raspberry Pi OS Lite use screen.backend = "framebuffer"'
            ) from exc

    def show(self, image: np.ndarray) -> None:
        cv2.imshow(WINDOW_TITLE, image)
        cv2.waitKey(1)

    def close(self) -> None:
        cv2.destroyWindow(WINDOW_TITLE)
