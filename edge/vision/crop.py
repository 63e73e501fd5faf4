"""The one crop rule shared by the runtime and the conversion stage (training crops == runtime crops)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.types import Box


@dataclass(frozen=True, slots=True)
class CropRule:
    size: int = 224
    """Side of the square output, in pixels."""
    margin: float = 0.2
    """Extra context around the detector box, as a fraction of the box's longer side."""

    def as_dict(self) -> dict[str, object]:
        return {"size": self.size, "margin": self.margin, "square": True, "pad": "black", "colour": "BGR"}


DEFAULT_RULE = CropRule()


class EmptyCropError(ValueError):
    pass


def square_region(box: Box, margin: float) -> tuple[int, int, int, int]:
    """The square (x1, y1, x2, y2) centred on the box, enlarged by margin; may extend past the frame."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1.0 + margin)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    left, top = round(cx - side / 2.0), round(cy - side / 2.0)
    side_px = max(1, round(side))
    return left, top, left + side_px, top + side_px


def crop_face(frame: np.ndarray, box: Box, rule: CropRule = DEFAULT_RULE) -> np.ndarray:
    """Square crop around a face, resized to rule.size; parts outside the frame are padded black.

    A box that lies entirely outside the frame (or has no area) raises EmptyCropError instead of
    returning an empty array.
    """
    height, width = frame.shape[:2]
    left, top, right, bottom = square_region(box, rule.margin)
    cx1, cy1 = max(left, 0), max(top, 0)
    cx2, cy2 = min(right, width), min(bottom, height)
    if cx2 - cx1 < 2 or cy2 - cy1 < 2:
        raise EmptyCropError(f"face box {tuple(round(v) for v in box)} lies outside the {width}x{height} frame")
    inside = frame[cy1:cy2, cx1:cx2]
    padded = cv2.copyMakeBorder(
        inside, cy1 - top, bottom - cy2, cx1 - left, right - cx2, cv2.BORDER_CONSTANT, value=(0, 0, 0)
    )
    interpolation = cv2.INTER_AREA if padded.shape[0] > rule.size else cv2.INTER_LINEAR
    return cv2.resize(padded, (rule.size, rule.size), interpolation=interpolation)
