"""The door zone: which faces the door decides for. A face counts as at the door when it is at least
`zone.min_face` pixels wide (close enough to the camera) and its centre lies inside the zone's region; other
faces are tracked and drawn but never classified, so people far behind cost no classifier time and get no
verdict. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.vision.types import Face, Place

if TYPE_CHECKING:
    from edge.config import ZoneConfig


@dataclass(frozen=True)
class DoorZone:
    min_face: int = 0
    left: float = 0.0
    top: float = 0.0
    right: float = 1.0
    bottom: float = 1.0

    @classmethod
    def from_config(cls, config: ZoneConfig) -> DoorZone:
        return cls(config.min_face, config.left, config.top, config.right, config.bottom)

    @property
    def whole_frame(self) -> bool:
        return (self.left, self.top, self.right, self.bottom) == (0.0, 0.0, 1.0, 1.0)

    def region(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The region in pixels of a width x height frame: x1, y1, x2, y2."""
        return (
            round(self.left * width),
            round(self.top * height),
            round(self.right * width),
            round(self.bottom * height),
        )

    def place(self, face: Face, width: int, height: int) -> Place:
        x1, y1, x2, y2 = face.box
        if not self.whole_frame:
            cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
            if not (self.left <= cx <= self.right and self.top <= cy <= self.bottom):
                return Place.OUTSIDE
        return Place.DOOR if x2 - x1 >= self.min_face else Place.FAR


WHOLE_FRAME = DoorZone()
"""Every face counts as at the door: image folders, and parts built without a zone."""
