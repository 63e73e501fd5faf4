"""The self-test's reference inputs: faces drawn by this code, so the package ships no third-party pixels.

A face is drawn with OpenCV primitives (skin, hair, eyes, brows, nose, mouth, blur and seeded noise),
then `convert.data.synthetic_masks` pastes a mask or a cover on it. The model's answers on these crops are
not claims about real faces: they are recorded per model file (convert.quantization.self_test) so the runtime can
tell whether this machine computes the same numbers. `maskgate-convert reference-images` rewrites the
files; the drawing is deterministic, so the same code writes the same pixels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from convert.data.synthetic_masks import paste_cover, paste_mask
from edge.health.self_test import FRAME_FILE, REFERENCE_DIR

log = logging.getLogger(__name__)

DRAW_SIZE = 448
CROP_SIZE = 224


@dataclass(frozen=True)
class Reference:
    name: str
    skin: tuple[int, int, int]
    """BGR."""
    cover: str
    """"bare", "cover" (a hand or scarf), or a mask placement from convert.data.synthetic_masks.PLACEMENTS."""
    style: str | None = None
    seed: int = 1


REFERENCES = (
    Reference("mask_cloth", (120, 160, 205), "correct", "cloth"),
    Reference("mask_cloth_dark", (60, 80, 110), "correct", "cloth"),
    Reference("cover_hand", (120, 160, 205), "cover"),
    Reference("cover_hand_dark", (80, 110, 150), "cover", seed=3),
    Reference("mask_chin", (120, 160, 205), "chin", "surgical"),
    Reference("mask_chin_light", (150, 190, 230), "chin", "surgical"),
)


def _scaled(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(v * factor) for v in colour)  # type: ignore[return-value]


def draw_face(skin: tuple[int, int, int], size: int = DRAW_SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A frontal face filling most of a square BGR image, and its five landmarks in YuNet's order."""
    s = size / DRAW_SIZE

    def px(value: float) -> int:
        return round(value * s)

    wall = np.linspace(170, 120, size, dtype=np.float32)[:, None, None] * np.array([1.0, 0.97, 0.9], np.float32)
    image = np.ascontiguousarray(np.broadcast_to(np.clip(wall, 0, 255).astype(np.uint8), (size, size, 3)))
    cx, cy = size // 2, round(size * 0.52)
    hair = (30, 40, 55)
    line = cv2.LINE_AA
    cv2.rectangle(image, (cx - px(55), cy + px(120)), (cx + px(55), size), _scaled(skin, 0.85), -1, line)
    cv2.ellipse(image, (cx, size + px(40)), (px(200), px(110)), 0, 180, 360, (90, 60, 40), -1, line)
    cv2.ellipse(image, (cx, cy - px(30)), (px(122), px(150)), 0, 0, 360, hair, -1, line)
    cv2.ellipse(image, (cx, cy), (px(105), px(140)), 0, 0, 360, skin, -1, line)
    for side in (-1, 1):
        ear = (cx + side * px(105), cy + px(5))
        cv2.ellipse(image, ear, (px(16), px(30)), 0, 0, 360, _scaled(skin, 0.92), -1, line)
    cv2.ellipse(image, (cx, cy - px(110)), (px(110), px(55)), 0, 180, 360, hair, -1, line)
    eyes = []
    for side in (-1, 1):
        eye = (cx + side * px(42), cy - px(25))
        eyes.append(eye)
        cv2.ellipse(image, eye, (px(22), px(11)), 0, 0, 360, (240, 240, 240), -1, line)
        cv2.circle(image, eye, px(9), (60, 80, 100), -1, line)
        cv2.circle(image, eye, px(4), (10, 10, 10), -1, line)
        cv2.ellipse(image, (eye[0], eye[1] - px(24)), (px(26), px(8)), 0, 180, 360, (35, 45, 60), px(6), line)
    nose = (cx, cy + px(30))
    cv2.line(image, (cx - px(4), cy - px(15)), (nose[0] - px(8), nose[1]), _scaled(skin, 0.8), px(4), line)
    cv2.ellipse(image, nose, (px(18), px(9)), 0, 0, 180, _scaled(skin, 0.75), px(4), line)
    mouth_right, mouth_left = (cx - px(32), cy + px(72)), (cx + px(32), cy + px(72))
    cv2.ellipse(image, (cx, cy + px(70)), (px(32), px(12)), 0, 0, 180, (70, 70, 160), -1, line)
    cv2.line(image, mouth_right, mouth_left, (60, 60, 130), px(3), line)
    image = cv2.GaussianBlur(image, (0, 0), 1.2 * s)
    noise = np.random.default_rng(seed).normal(0.0, 1.5, image.shape)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    landmarks = np.array([eyes[0], eyes[1], nose, mouth_right, mouth_left], np.float64)
    return image, landmarks


def drawn_face(reference: Reference) -> tuple[np.ndarray, np.ndarray]:
    """The reference's drawn face with its cover or mask (square BGR) and the face's five landmarks."""
    face, landmarks = draw_face(reference.skin)
    rng = np.random.default_rng(reference.seed)
    if reference.cover == "cover":
        face = paste_cover(face, landmarks, rng)
    elif reference.cover != "bare":
        face = paste_mask(face, landmarks, rng, reference.cover, reference.style)
    return face, landmarks


def reference_crop(reference: Reference, size: int = CROP_SIZE) -> np.ndarray:
    face, _ = drawn_face(reference)
    return cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)


def reference_frame() -> np.ndarray:
    """A 640x360 scene with two faces of different sizes on a plain wall (each detector finds both, score ~0.9)."""
    frame = np.full((360, 640, 3), (150, 145, 135), np.uint8)
    for reference, (x, y, side) in ((REFERENCES[0], (60, 60, 240)), (REFERENCES[4], (380, 100, 200))):
        frame[y : y + side, x : x + side] = reference_crop(reference, side)
    return frame


def write_reference_images(dest: Path = REFERENCE_DIR) -> list[Path]:
    """The reference crops and frame as PNG (lossless: the runtime must read back exactly these pixels)."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for reference in REFERENCES:
        path = dest / f"{reference.name}.png"
        cv2.imwrite(str(path), reference_crop(reference), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        written.append(path)
    path = dest / FRAME_FILE
    cv2.imwrite(str(path), reference_frame(), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    written.append(path)
    log.info("wrote %d reference images to %s", len(written), dest)
    return written
