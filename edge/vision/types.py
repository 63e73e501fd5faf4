"""Plain data passed between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

Box = tuple[float, float, float, float]
"""x1, y1, x2, y2 in source-frame pixels."""


@dataclass(slots=True)
class Frame:
    id: str
    timestamp: float
    image: np.ndarray


@dataclass(frozen=True, slots=True)
class Face:
    box: Box
    score: float
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


@dataclass(frozen=True, slots=True)
class TrackedFace:
    """One face in one frame, after classification and tracking."""

    face: Face
    track: int
    label: str
    score: float
    decision: str | None = None
    """The track's confirmed label, or None while the vote is still open."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A track's confirmed label, emitted once when confirmed and again if it changes."""

    frame: str
    time: float
    track: int
    box: Box
    label: str
    score: float

    def as_event(self) -> dict[str, object]:
        return {
            "frame": self.frame,
            "time": round(self.time, 3),
            "track": self.track,
            "box": [round(v) for v in self.box],
            "label": self.label,
            "score": round(self.score, 4),
        }
