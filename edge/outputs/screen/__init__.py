"""The entrance screen output: each frame rendered (edge.outputs.screen.render) and shown by the sink that
screen.backend names (edge.registry.SCREEN_BACKENDS): an OpenCV window (window.py) on a Pi with a desktop, or
the Linux framebuffer (framebuffer.py) on Raspberry Pi OS Lite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from edge.config import ScreenConfig
from edge.outputs import Output
from edge.outputs.screen.render import banner_texts, render_screen
from edge.registry import SCREEN_BACKENDS, load
from edge.vision.labels import DEFAULT_POLICY, LabelPolicy
from edge.vision.types import Frame, TrackedFace
from edge.vision.zone import WHOLE_FRAME, DoorZone

if TYPE_CHECKING:
    from edge.vision.stats import LoopStats


class Sink(Protocol):
    width: int
    height: int

    def show(self, image: np.ndarray) -> None: ...

    def close(self) -> None: ...


class EntranceScreen(Output):
    name = "screen"

    def __init__(
        self,
        config: ScreenConfig,
        sink: Sink | None = None,
        policy: LabelPolicy = DEFAULT_POLICY,
        zone: DoorZone = WHOLE_FRAME,
    ) -> None:
        self.texts = banner_texts(config)
        self.policy, self.zone = policy, zone
        self.mirror = config.mirror
        if sink is None:
            sink = load(SCREEN_BACKENDS, config.backend, "screen.backend").from_config(config)
        self.sink = sink
        self.width, self.height = config.width or sink.width, config.height or sink.height

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
        screen = render_screen(
            frame.image, faces, self.width, self.height, self.texts, self.mirror, self.policy, self.zone
        )
        self.sink.show(screen)

    def close(self) -> None:
        self.sink.close()
