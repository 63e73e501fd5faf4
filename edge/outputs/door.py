"""The door's state in one frame, from the confirmed decisions of the tracked faces in view."""

from __future__ import annotations

from edge.types import MASK, NO_MASK, TrackedFace


def door_status(faces: list[TrackedFace]) -> str | None:
    """NO_MASK if any face in view is confirmed as anything but a mask, else MASK if one is confirmed masked,
    else None (nobody confirmed yet). Unconfirmed faces never count."""
    decided = {face.decision for face in faces if face.decision is not None}
    if any(label != MASK for label in decided):
        return NO_MASK
    return MASK if decided else None
