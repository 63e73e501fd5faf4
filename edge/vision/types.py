"""Plain data passed between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
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


class Place(StrEnum):
    """Where a face is with respect to the door zone (edge.vision.zone)."""

    DOOR = "door"
    """At the door: classified, voted on and decided."""
    FAR = "far"
    """Inside the region but too small to decide yet: the screen asks the person to come closer."""
    OUTSIDE = "outside"
    """Outside the door region: tracked and drawn, never classified."""


@dataclass(frozen=True, slots=True)
class TrackedFace:
    """One face in one frame, after classification and tracking."""

    face: Face
    track: int
    label: str
    score: float
    decision: str | None = None
    """The track's confirmed label, or None while the vote is still open."""
    place: Place = Place.DOOR
    """Faces away from the door (FAR, OUTSIDE) carry no per-frame label of their own ("")."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A track's confirmed label: once when first confirmed, and again only as a correction (`previous` set) when
    strong evidence overturns it (tracker.change_min)."""

    frame: str
    time: float
    track: int
    box: Box
    label: str
    score: float
    previous: str | None = None
    """The label this decision corrects; None for a person's first decision."""

    @property
    def corrected(self) -> bool:
        return self.previous is not None

    def as_event(self) -> dict[str, object]:
        event: dict[str, object] = {
            "event": "corrected" if self.corrected else "decided",
            "frame": self.frame,
            "time": round(self.time, 3),
            "track": self.track,
            "box": [round(v) for v in self.box],
            "label": self.label,
            "score": round(self.score, 4),
        }
        if self.previous is not None:
            event["previous"] = self.previous
        return event
