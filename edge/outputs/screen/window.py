"""The entrance screen in an OpenCV HighGUI window: a Pi with a desktop."""

from __future__ import annotations

import numpy as np

from edge.config import ScreenConfig
from edge.outputs.video import HighGuiWindow

DEFAULT_WINDOW_SIZE = (1280, 720)
WINDOW_TITLE = "MaskGate entrance"


class WindowSink:
    """The screen in an OpenCV HighGUI window of width x height."""

    @classmethod
    def from_config(cls, config: ScreenConfig) -> WindowSink:
        return cls(config.width or DEFAULT_WINDOW_SIZE[0], config.height or DEFAULT_WINDOW_SIZE[1], config.fullscreen)

    def __init__(self, width: int, height: int, fullscreen: bool) -> None:
        self.width, self.height = width, height
        self.window = HighGuiWindow(
            WINDOW_TITLE,
            'screen.backend "window" needs a desktop session and an OpenCV with GUI support (this one has none, '
            "or DISPLAY/WAYLAND_DISPLAY is unset): install opencv-python in place of opencv-python-headless, "
            'or on Raspberry Pi OS Lite use screen.backend = "framebuffer"',
            fullscreen,
        )

    def show(self, image: np.ndarray) -> None:
        self.window.show(image)

    def close(self) -> None:
        self.window.close()
