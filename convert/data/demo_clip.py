"""The demo door clip `maskgate run --source demo` plays: drawn people walking up to a door, no third-party pixels.

Three people come up one after the other (a cloth mask, a bare face, a surgical mask under the chin), each drawn by
`convert.data.reference_faces` and growing as they near the camera, on a drawn corridor. The drawing is
deterministic; `maskgate-convert demo-clip` rewrites the file. Motion JPEG in AVI: OpenCV reads it with its
own decoder, without FFmpeg, so every OpenCV build plays it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from convert.data.reference_faces import Reference, drawn_face
from edge.sources import DEMO_CLIP

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 640, 480
FPS = 8
JPEG_QUALITY = 70
STEPS = 16
"""Frames each person takes from the far end of the corridor to the camera."""
NEAR_SIDES = (150, 330)
"""The drawing's side at the far end and near the camera; its face is about half as wide."""


@dataclass(frozen=True)
class Walker:
    reference: Reference
    start: int
    """The frame the person appears in."""
    x: tuple[int, int]
    """Face centre at the far end and near the camera."""


WALKERS = (
    Walker(Reference("demo_mask", (60, 80, 110), "correct", "cloth", seed=5), 2, (250, 300)),
    Walker(Reference("demo_bare", (120, 160, 205), "bare", seed=1), 21, (400, 340)),
    Walker(Reference("demo_chin", (150, 190, 230), "chin", "surgical", seed=7), 40, (220, 320)),
)
FRAMES = WALKERS[-1].start + STEPS + 2


def corridor() -> np.ndarray:
    """A plain corridor: wall, floor and a door frame, so the face detector has something that is not a face."""
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    image[:] = (170, 175, 180)
    image[HEIGHT * 2 // 3 :] = (95, 110, 125)
    cv2.rectangle(image, (WIDTH // 2 - 90, 60), (WIDTH // 2 + 90, HEIGHT * 2 // 3), (120, 130, 140), 10)
    return image


def person(reference: Reference) -> tuple[np.ndarray, np.ndarray]:
    """The drawn head and shoulders (square BGR) and an alpha mask that leaves the drawing's own wall out."""
    face, _ = drawn_face(reference)
    size = face.shape[0]
    alpha = np.zeros((size, size), np.float32)
    cv2.ellipse(alpha, (size // 2, round(size * 0.49)), (round(size * 0.3), round(size * 0.38)), 0, 0, 360, 1.0, -1)
    cv2.ellipse(alpha, (size // 2, round(size * 1.09)), (round(size * 0.45), round(size * 0.25)), 0, 180, 360, 1.0, -1)
    return face, cv2.GaussianBlur(alpha, (0, 0), size / 100)


def paste(frame: np.ndarray, drawing: tuple[np.ndarray, np.ndarray], centre_x: int, side: int) -> None:
    """The person `side` pixels tall with the face centred at `centre_x`, feet towards the floor."""
    face, alpha = (cv2.resize(part, (side, side), interpolation=cv2.INTER_AREA) for part in drawing)
    x1, y1 = centre_x - side // 2, HEIGHT * 2 // 3 - side + side // 8
    fx1, fy1 = max(0, -x1), max(0, -y1)
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(WIDTH, x1 + side - fx1), min(HEIGHT, y1 + side - fy1)
    region = frame[y1:y2, x1:x2].astype(np.float32)
    a = alpha[fy1 : fy1 + y2 - y1, fx1 : fx1 + x2 - x1, None]
    blended = region * (1 - a) + face[fy1 : fy1 + y2 - y1, fx1 : fx1 + x2 - x1] * a
    frame[y1:y2, x1:x2] = blended.astype(np.uint8)


def demo_frames() -> list[np.ndarray]:
    background = corridor()
    drawings = [person(walker.reference) for walker in WALKERS]
    frames = []
    for index in range(FRAMES):
        frame = background.copy()
        for walker, drawing in zip(WALKERS, drawings, strict=True):
            step = index - walker.start
            if 0 <= step < STEPS:
                t = step / (STEPS - 1)
                side = round(NEAR_SIDES[0] + t * (NEAR_SIDES[1] - NEAR_SIDES[0]))
                paste(frame, drawing, round(walker.x[0] + t * (walker.x[1] - walker.x[0])), side)
        frames.append(frame)
    return frames


def write_demo_clip(dest: Path = DEMO_CLIP) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(dest), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise OSError(f"cannot write {dest}: this OpenCV has no MJPG writer")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, JPEG_QUALITY)
    for frame in demo_frames():
        writer.write(frame)
    writer.release()
    log.info("wrote the demo clip %s (%d frames, %d kB)", dest, FRAMES, dest.stat().st_size // 1024)
    return dest
