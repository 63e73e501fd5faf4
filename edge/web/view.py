"""The door page's picture: the camera frame with boxes, labels and scores, mirrored as the entrance screen
is, above the entrance screen's banner (same texts, same colours); in aim mode as the camera sees it (not
mirrored: a poster reads the right way round while the camera is turned), with the detector's smallest face
drawn to scale and every face too small to classify well marked, no captions (the page has the legend). A pure
function of frame and faces."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.outputs.annotate import annotate
from edge.outputs.screen.render import BANNER_COLOURS, BannerTexts, draw_banner, mirrored
from edge.vision.labels import DEFAULT_POLICY, LabelPolicy
from edge.vision.types import Box, TrackedFace
from edge.vision.zone import WHOLE_FRAME, DoorZone

BANNER_FRACTION = 0.16
"""Share of the picture's height given to the banner: smaller than the entrance screen's, read from 50 cm."""
AIM_COLOUR = (255, 200, 0)
SMALL_COLOUR = (255, 0, 255)


@dataclass(frozen=True)
class ViewSettings:
    width: int
    mirror: bool
    texts: BannerTexts
    min_face_size: int
    """detector.min_face_size: smaller faces are not reported at all."""
    small_face_size: int
    """zone.min_face: narrower faces are not decided yet (come closer); aim mode marks them."""
    policy: LabelPolicy = DEFAULT_POLICY
    zone: DoorZone = WHOLE_FRAME


def render_view(
    image: np.ndarray, faces: list[TrackedFace], settings: ViewSettings, fps: float | None, aim: bool = False
) -> np.ndarray:
    """The page's picture (BGR), at most settings.width wide."""
    label = settings.policy.worst_label(face.decision for face in faces)
    if settings.mirror and not aim:
        image, faces = mirrored(image, faces)
    view = annotate(image, faces, fps, settings.policy)
    if aim:
        region = None if settings.zone.whole_frame else settings.zone.region(view.shape[1], view.shape[0])
        draw_aim(view, faces, settings.min_face_size, settings.small_face_size, region)
    if view.shape[1] > settings.width:
        scale = settings.width / view.shape[1]
        view = cv2.resize(view, (settings.width, max(1, round(view.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    banner = round(view.shape[0] * BANNER_FRACTION)
    canvas = np.empty((view.shape[0] + banner, view.shape[1], 3), np.uint8)
    canvas[: view.shape[0]] = view
    colour = BANNER_COLOURS[None if label is None else settings.policy.state(label)]
    draw_banner(canvas, view.shape[0], settings.texts.for_faces(label, faces), colour)
    return canvas


def draw_aim(
    view: np.ndarray,
    faces: list[TrackedFace],
    min_face_size: int,
    small_face_size: int,
    region: tuple[int, int, int, int] | None = None,
) -> None:
    """Two squares to scale in the centre (the smallest face found, the smallest the door decides), a magenta box
    around each face narrower than the second, and the door zone's region when it is not the whole frame. No
    words: captions would sit on the faces' labels; the page's legend says what each colour is."""
    height, width = view.shape[:2]
    thickness = max(1, round(min(width, height) / 300))
    cx, cy = width // 2, height // 2
    for size, colour in ((min_face_size, AIM_COLOUR), (small_face_size, (255, 255, 255))):
        half = size // 2
        cv2.rectangle(view, (cx - half, cy - half), (cx + half, cy + half), colour, thickness)
    for face in faces:
        x1, y1, x2, y2 = (round(v) for v in face.face.box)
        if x2 - x1 < small_face_size:
            cv2.rectangle(view, (x1 - 3, y1 - 3), (x2 + 3, y2 + 3), SMALL_COLOUR, thickness)
    if region is not None:
        cv2.rectangle(view, region[:2], region[2:], AIM_COLOUR, thickness)


THUMBNAIL_SIZE = 96
"""Longest side of a decision's face picture on the page, in pixels: enough to recognise a mask, little to keep."""
THUMBNAIL_QUALITY = 80


def face_thumbnail(image: np.ndarray, box: Box, size: int = THUMBNAIL_SIZE) -> bytes | None:
    """The face inside `box` (frame pixels, as the camera sees it: not mirrored), shrunk to at most `size` pixels on
    its long side, as JPEG; None when the box lies outside the frame."""
    height, width = image.shape[:2]
    x1, y1 = max(0, round(box[0])), max(0, round(box[1]))
    x2, y2 = min(width, round(box[2])), min(height, round(box[3]))
    if x2 <= x1 or y2 <= y1:
        return None
    face = image[y1:y2, x1:x2]
    scale = size / max(face.shape[:2])
    if scale < 1:
        shrunk = (max(1, round(face.shape[1] * scale)), max(1, round(face.shape[0] * scale)))
        face = cv2.resize(face, shrunk, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a face thumbnail as JPEG")
    return data.tobytes()
