"""Drawing boxes, labels and FPS on a frame: a pure function of the frame and the tracked faces."""

from __future__ import annotations

import cv2
import numpy as np

from edge.vision.labels import DEFAULT_POLICY, DoorState, LabelPolicy
from edge.vision.types import Place, TrackedFace

COLOURS = {DoorState.OK: (0, 200, 0), DoorState.WARN: (0, 150, 240), DoorState.NOT_OK: (0, 0, 230)}
UNDECIDED = (0, 200, 230)
AWAY = (150, 150, 150)
"""Grey: a face the door does not decide for (too far, or outside the door zone)."""


def colour_for(face: TrackedFace, policy: LabelPolicy = DEFAULT_POLICY) -> tuple[int, int, int]:
    if face.decision is not None:
        return COLOURS[policy.state(face.decision)]
    return UNDECIDED if face.place is Place.DOOR else AWAY


def face_text(face: TrackedFace) -> str:
    """`label score #track`: the decision, or the frame's label with a `?` while the vote is open; a face away
    from the door says where it is instead."""
    if face.decision is None and face.place is not Place.DOOR:
        return f"{'too far' if face.place is Place.FAR else 'outside'} #{face.track}"
    return f"{face.decision or face.label + '?'} {face.score:.2f} #{face.track}"


def annotate(
    image: np.ndarray, faces: list[TrackedFace], fps: float | None = None, policy: LabelPolicy = DEFAULT_POLICY
) -> np.ndarray:
    """A copy of the frame with a box and `label score #track` per face, and the FPS in the corner."""
    out = image.copy()
    scale = max(0.4, min(out.shape[:2]) / 800)
    thickness = max(1, round(2 * scale))
    for face in faces:
        x1, y1, x2, y2 = (round(v) for v in face.face.box)
        colour = colour_for(face, policy)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        text = face_text(face)
        (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = max(0, y1 - height - baseline - 4)
        left = max(0, min(x1, out.shape[1] - width - 4))  # a face at the right edge keeps its whole label
        cv2.rectangle(out, (left, top), (left + width + 4, top + height + baseline + 4), colour, cv2.FILLED)
        cv2.putText(
            out,
            text,
            (left + 2, top + height + 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )
    if fps is not None:
        cv2.putText(
            out,
            f"{fps:.1f} FPS",
            (8, round(24 * scale + 8)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            thickness + 1,
            cv2.LINE_AA,
        )
    return out
