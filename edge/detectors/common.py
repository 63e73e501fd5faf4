"""Helpers shared by detector backends."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from edge.vision.types import Face

INTERPOLATIONS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}


def fit_within(frame: np.ndarray, max_side: int, method: str = "area") -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most max_side (method: a key of INTERPOLATIONS); returns the image
    and the factor to undo it."""
    height, width = frame.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale == 1.0:
        return frame, 1.0
    resized = cv2.resize(
        frame, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=INTERPOLATIONS[method]
    )
    return resized, 1.0 / scale


RETRY_MAX_SIDE = 1600
"""The longest side of the border retry's canvas: more than the second look for stills (1280) sees, and a
bounded 7.7 MB however large the picture (a 25 MP one framed at full size took 463 MB)."""


def look_framed(
    detect: Callable[[np.ndarray], list[Face]],
    image: np.ndarray,
    border_share: float,
    min_side: int = 0,
    max_side: int = RETRY_MAX_SIDE,
) -> list[Face]:
    """The faces `detect` finds in the image set inside a black border of border_share of its longer side and,
    if the result is smaller, enlarged so its longer side is min_side, or shrunk first so it is at most max_side;
    boxes and landmarks in image pixels. A tight face crop gives a detector no head outline or background to go
    by; the border gives it some."""
    inner = int(max_side / (1 + 2 * border_share)) - 1  # the border is rounded: one pixel for it
    shrink = min(1.0, inner / max(image.shape[:2]))
    if shrink < 1.0:
        image = cv2.resize(image, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    border = round(border_share * max(image.shape[:2]))
    framed = cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    scale = max(1.0, min_side / max(framed.shape[:2]))
    if scale > 1.0:
        framed = cv2.resize(framed, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    faces = []
    for face in detect(framed):
        x1, y1, x2, y2 = ((v / scale - border) / shrink for v in face.box)
        points = (
            tuple(((x / scale - border) / shrink, (y / scale - border) / shrink) for x, y in face.landmarks)
            if face.landmarks
            else None
        )
        faces.append(Face((x1, y1, x2, y2), face.score, points))
    return faces


NESTED_SHARE = 0.7
"""Two boxes, one with at least this share of its area inside the other, are one head seen twice."""


def clip_faces(faces: list[Face], width: int, height: int, min_size: float, max_faces: int) -> list[Face]:
    """Clip boxes to the frame, drop those smaller than min_size and those nested in a better face, keep the
    max_faces best by score."""
    kept = []
    for face in faces:
        x1, y1, x2, y2 = face.box
        box = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
        if box[2] - box[0] >= min_size and box[3] - box[1] >= min_size:
            kept.append(Face(box, face.score, face.landmarks))
    kept.sort(key=lambda f: f.score, reverse=True)
    return drop_nested(kept)[:max_faces]


def drop_nested(faces: list[Face]) -> list[Face]:
    """Faces (best score first) without those nested with a better one (mostly inside it, or holding it):
    non-maximum suppression by IoU misses a face box inside a larger box around the same head (their IoU is
    small), and each would start its own track and decision."""
    kept: list[Face] = []
    for face in faces:
        if all(_nested_share(face.box, better.box) < NESTED_SHARE for better in kept):
            kept.append(face)
    return kept


def _nested_share(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The share of the smaller box's area that lies inside the other box."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return max(width, 0.0) * max(height, 0.0) / max(smaller, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, score_threshold: float, nms_threshold: float) -> list[int]:
    """Indices kept by OpenCV's non-maximum suppression; boxes are x1, y1, x2, y2."""
    if len(boxes) == 0:
        return []
    xywh = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), score_threshold, nms_threshold)
    return [int(i) for i in np.asarray(keep).reshape(-1)]


def use_opencv_threads(count: int) -> None:
    """Size OpenCV's thread pool; 0 keeps its default. There is one pool per process: other OpenCV calls use it too."""
    if count:
        cv2.setNumThreads(count)
