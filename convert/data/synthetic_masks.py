"""Synthetic face masks, covers and a night-camera look for training crops, in numpy/OpenCV.

Bare-face crops get masks pasted with the face detector's five landmarks, in the correct place and in
the two common wrong ones, so the same faces appear masked, bare and wrongly masked and the classifier
has to look at the mask itself. The mask is laid on a vertical cylinder standing in for the head: its
roll, scale and yaw come from the landmarks, its lighting from the face it covers.

Landmarks are in YuNet's order [right eye, left eye, nose tip, right mouth corner, left mouth corner],
where "right" is the person's right (the image's left). Only geometry is used (eye and mouth
midpoints, the eye line, the nose), so a swapped left/right order gives the same result.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.crop import DEFAULT_RULE, CropRule, square_region
from edge.vision.types import Box

log = logging.getLogger(__name__)

PLACEMENTS = ("correct", "under_nose", "chin")
"""correct: over the nose bridge down below the chin; under_nose: nostrils free, mouth covered;
chin: below the lower lip, mouth free."""

STYLES = (
    "surgical",
    "cloth",
    "cloth_stripes",
    "cloth_dots",
    "cloth_checks",
    "cloth_floral",
    "cloth_camouflage",
    "kn95",
    "valve",
    "black_fabric",
)
_STYLE_WEIGHTS = np.array([0.28, 0.09, 0.05, 0.05, 0.05, 0.05, 0.05, 0.16, 0.08, 0.14])
_STYLE_CUMULATIVE = np.cumsum(_STYLE_WEIGHTS)[:-1] / _STYLE_WEIGHTS.sum()

_HEAD_RADIUS = 1.18
"""Half the face width at the cheekbones, in inter-ocular distances."""
_EYE_HALF_ANGLE = math.asin(0.5 / _HEAD_RADIUS)
"""Half the angle between the eyes seen from the head axis."""
_NOSE_YAW_GAIN = 0.48
"""Nose-tip offset from the eye midpoint per inter-ocular distance, per unit tan(yaw)."""
_MOUTH_PER_EYES = 1.07
"""Eye-to-mouth distance per inter-ocular distance of a frontal face."""
CHIN_BELOW_MOUTH = 0.62
"""Chin bottom below the mouth midpoint, in eye-to-mouth distances (measured on frontal photos)."""

_STEP = 2
"""Smooth fields (geometry, shading) are computed on every second pixel and interpolated."""

Landmarks = np.ndarray | Sequence[Sequence[float]]


def random_style(rng: np.random.Generator) -> str:
    """A style drawn with weights favouring the common ones: surgical, KN95, black fabric."""
    return STYLES[int(np.searchsorted(_STYLE_CUMULATIVE, rng.random(), side="right"))]


def landmarks_in_crop(box: Box, landmarks: Landmarks, rule: CropRule = DEFAULT_RULE) -> np.ndarray:
    """Frame-pixel landmarks mapped into the pixels of `edge.vision.crop.crop_face(frame, box, rule)`, as (N, 2)."""
    left, top, right, _ = square_region(box, rule.margin)
    scale = rule.size / (right - left)
    points = np.asarray(landmarks, np.float64).reshape(-1, 2)
    # cv2.resize maps pixel centres: x_dst + 0.5 = (x_src + 0.5) * scale.
    return (points - (left, top) + 0.5) * scale - 0.5


@dataclass(frozen=True, slots=True)
class _Face:
    """The face in its own frame: `a` along `across` (eye line), `b` along `down`, both from the eye midpoint."""

    origin: np.ndarray
    across: np.ndarray
    down: np.ndarray
    eye_mouth: float
    nose: float
    mouth: float
    chin: float
    nose_across: float
    yaw: float
    radius: float
    """Head cylinder radius at cheek height, pixels."""
    axis: float
    """Head cylinder axis along `across`."""

    def to_image(self, a: float, b: float) -> tuple[float, float]:
        x, y = self.origin + a * self.across + b * self.down
        return float(x), float(y)

    def half_width(self, b: np.ndarray | float, chin_taper: float) -> np.ndarray:
        """Cylinder radius at depth b: full at the nose, narrowing along the jaw to chin_taper at the chin."""
        e = self.eye_mouth
        knots = [self.nose, max(self.mouth, self.nose + 0.1 * e), max(self.chin, self.mouth + 0.2 * e)]
        knots.append(knots[-1] + 0.5 * e)
        widths = [1.0, 0.5 + 0.5 * chin_taper, chin_taper, chin_taper * 0.95]
        return self.radius * np.interp(b, knots, widths).astype(np.float32)


def _face(landmarks: Landmarks) -> _Face | None:
    points = np.asarray(landmarks, np.float64).reshape(5, 2)
    eye_mid = (points[0] + points[1]) / 2.0
    mouth_mid = (points[3] + points[4]) / 2.0
    towards_mouth = mouth_mid - eye_mid
    eyes, mouth = points[1] - points[0], points[4] - points[3]
    # Orient both lines so that turning them by +90 degrees (image y down) points at the mouth.
    if eyes[0] * towards_mouth[1] - eyes[1] * towards_mouth[0] < 0:
        eyes = -eyes
    if mouth[0] * towards_mouth[1] - mouth[1] * towards_mouth[0] < 0:
        mouth = -mouth
    line = 2.0 * eyes + mouth
    norm = float(np.hypot(*line))
    if not np.isfinite(norm) or norm < 1e-6:
        return None
    across = line / norm
    down = np.array([-across[1], across[0]])
    iod = abs(float(eyes @ across))
    eye_mouth = float(towards_mouth @ down)
    if eye_mouth < 2.0 or iod < 1.0:
        return None
    nose = float((points[2] - eye_mid) @ down)
    nose = min(max(nose, 0.3 * eye_mouth), 0.8 * eye_mouth)
    nose_across = float((points[2] - eye_mid) @ across)
    yaw = math.atan(np.clip(nose_across / iod / _NOSE_YAW_GAIN, -2.0, 2.0))
    frontal_iod = 0.6 * iod / math.cos(yaw) + 0.4 * eye_mouth / _MOUTH_PER_EYES
    radius = _HEAD_RADIUS * frontal_iod
    return _Face(
        origin=eye_mid,
        across=across,
        down=down,
        eye_mouth=eye_mouth,
        nose=nose,
        mouth=eye_mouth,
        chin=eye_mouth * (1.0 + CHIN_BELOW_MOUTH),
        nose_across=nose_across,
        yaw=yaw,
        radius=radius,
        axis=-radius * math.sin(yaw) * math.cos(_EYE_HALF_ANGLE),
    )


def _region(
    face: _Face, a_range: tuple[float, float], b_range: tuple[float, float], shape: tuple[int, ...], pad: int
) -> tuple[int, int, int, int]:
    """Pixel bounds (x0, y0, x1, y1) of a rectangle in face coordinates, clipped to the image."""
    corners = np.array([face.to_image(a, b) for a in a_range for b in b_range])
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + pad + 1
    height, width = shape[:2]
    return int(max(x0, 0)), int(max(y0, 0)), int(min(x1, width)), int(min(y1, height))


def _face_coords(face: _Face, bounds: tuple[int, int, int, int], step: int) -> tuple[np.ndarray, np.ndarray]:
    """Face coordinates (a, b) of every `step`-th pixel of bounds, placed so that `_upsample` aligns them."""
    x0, y0, x1, y1 = bounds
    offset = (step - 1) / 2.0
    xs = x0 + offset + step * np.arange(-(-(x1 - x0) // step), dtype=np.float32) - np.float32(face.origin[0])
    ys = y0 + offset + step * np.arange(-(-(y1 - y0) // step), dtype=np.float32) - np.float32(face.origin[1])
    ux, uy = np.float32(face.across[0]), np.float32(face.across[1])
    a = xs[None, :] * ux + ys[:, None] * uy
    b = -xs[None, :] * uy + ys[:, None] * ux
    return a, b


def _upsample(fields: list[np.ndarray], bounds: tuple[int, int, int, int], step: int) -> list[np.ndarray]:
    """Planes from `_face_coords(..., step)` resampled to every pixel of bounds."""
    x0, y0, x1, y1 = bounds
    height, width = fields[0].shape
    size = (width * step, height * step)
    return [cv2.resize(field, size, interpolation=cv2.INTER_LINEAR)[: y1 - y0, : x1 - x0] for field in fields]


def _soft_min(distances: list[np.ndarray], radius: float) -> np.ndarray:
    """Smooth minimum: the intersection of the half-planes with corners rounded by about `radius` pixels."""
    low = np.minimum.reduce(distances)
    total = sum(np.exp((low - d) * np.float32(1.0 / radius)) for d in distances)
    return low - np.float32(radius) * np.log(total)


def _signed_distance(field: np.ndarray, step: int) -> np.ndarray:
    """Roughly pixel-scaled signed distance from a field whose zero level is the edge."""
    gy, gx = np.gradient(field, float(step))
    return field / np.maximum(np.sqrt(gx * gx + gy * gy), np.float32(0.35))


def _clip01(x: np.ndarray) -> np.ndarray:
    return np.clip(x, np.float32(0.0), np.float32(1.0))


def _light_map(crop: np.ndarray, bounds: tuple[int, int, int, int], shape: tuple[int, ...]) -> np.ndarray:
    """Low-frequency luminance of the crop (its lighting, the face's details blurred away) on the grid of
    `_face_coords(face, bounds, _STEP)`, whose shape is given."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), 1.2)
    coarse = cv2.resize(small, (-(-crop.shape[1] // _STEP), -(-crop.shape[0] // _STEP)), interpolation=cv2.INTER_LINEAR)
    x0, y0 = bounds[0] // _STEP, bounds[1] // _STEP
    height, width = shape[:2]
    window = coarse[y0 : y0 + height, x0 : x0 + width]
    bottom, right = height - window.shape[0], width - window.shape[1]
    return cv2.copyMakeBorder(window, 0, bottom, 0, right, cv2.BORDER_REPLICATE) if bottom or right else window


def _colour(hue: float, sat: float, val: float) -> np.ndarray:
    """BGR float colour from hue in degrees and saturation, value in [0, 1]."""
    hsv = np.array([[[hue % 360.0 / 2.0, np.clip(sat, 0, 1) * 255.0, np.clip(val, 0, 1) * 255.0]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _any_colour(rng: np.random.Generator) -> np.ndarray:
    return _colour(rng.uniform(0, 360), rng.uniform(0.1, 0.8), rng.uniform(0.25, 0.95))


def _noise(rng: np.random.Generator, height: int, width: int, cells: float) -> np.ndarray:
    """Smooth value noise in [0, 1] with about `cells` blobs across the longer side."""
    ch = max(2, round(cells * height / max(height, width)))
    cw = max(2, round(cells * width / max(height, width)))
    small = rng.random((ch, cw), dtype=np.float32)
    # Cubic upscaling straight to full size is slow in OpenCV; cubic to a quarter, then linear, looks the same.
    middle = cv2.resize(small, (max(width // 4, cw), max(height // 4, ch)), interpolation=cv2.INTER_CUBIC)
    big = cv2.resize(middle, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.normalize(big, None, 0.0, 1.0, cv2.NORM_MINMAX)


def _smoothstep(x: np.ndarray, width: float) -> np.ndarray:
    return _clip01(0.5 + x / np.float32(width))


# Colour images are kept as lists of three float32 planes (B, G, R): a 224 px crop's planes stay small enough
# for the allocator's heap, where interleaved three-channel temporaries cost a page fault per page.
Planes = list[np.ndarray]


def _paint(plane: np.ndarray, colour: np.ndarray) -> Planes:
    return [plane * np.float32(c) for c in colour]


def _fill(height: int, width: int, colour: np.ndarray) -> Planes:
    return [np.full((height, width), c, np.float32) for c in colour]


def _mix(under: Planes, over: Planes | np.ndarray, weight: np.ndarray) -> Planes:
    """under + (over - under) * weight, in place on under; over may be planes or one colour."""
    for c, plane in enumerate(under):
        plane += (over[c] - plane) * weight
    return under


_TILE = 256
_GRAIN = np.random.default_rng(20260501).standard_normal((_TILE, _TILE), dtype=np.float32)
_SOFT_GRAIN = cv2.GaussianBlur(_GRAIN, (0, 0), 0.7)
_SOFT_GRAIN /= _SOFT_GRAIN.std()
_GRAIN.setflags(write=False)
_SOFT_GRAIN.setflags(write=False)


def _grain(rng: np.random.Generator, height: int, width: int, soft: bool = False) -> np.ndarray:
    """Unit Gaussian noise, a window of a fixed tile: drawing fresh normals costs more than the rest of a paste."""
    tile = _SOFT_GRAIN if soft else _GRAIN
    if height > _TILE or width > _TILE:
        tile = np.tile(tile, (height // _TILE + 2, width // _TILE + 2))
    y = int(rng.integers(0, tile.shape[0] - height + 1))
    x = int(rng.integers(0, tile.shape[1] - width + 1))
    return tile[y : y + height, x : x + width]


def _blend(
    crop: np.ndarray,
    bounds: tuple[int, int, int, int],
    colour: Planes,
    alpha: np.ndarray,
    shadow: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of the crop with colour laid over bounds at alpha, darkened by shadow where uncovered.

    The colour planes are used up: they are clipped and scaled in place.
    """
    x0, y0, x1, y1 = bounds
    out = crop.copy()
    keep = 1.0 - alpha
    if shadow is not None:
        keep *= 1.0 - shadow
    for c, plane in enumerate(colour):
        view = out[y0:y1, x0:x1, c]
        mixed = view * keep
        np.clip(plane, np.float32(0.0), np.float32(255.0), out=plane)
        plane *= alpha
        mixed += plane
        view[...] = np.rint(mixed, out=mixed)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Mask textures live in texture space: s across from -1 to 1 (columns), t down from 0 to 1 (rows).


@dataclass(frozen=True, slots=True)
class _Texture:
    shade: np.ndarray
    """Luminance multiplier (pleats, weave, creases), float32."""
    pattern: np.ndarray | None
    """BGR uint8 print of patterned fabrics; None for one colour."""
    base: np.ndarray
    """The main colour (BGR float), also for ear loops and valves."""


def _fabric_grain(rng: np.random.Generator, height: int, width: int, strength: float) -> np.ndarray:
    """Multiplicative fabric structure around 1: weave, fibre grain and soft creases."""
    period = rng.uniform(1.6, 2.6)
    weave = np.outer(
        np.sin(np.arange(height, dtype=np.float32) * np.float32(2 * np.pi / period)),
        np.sin(np.arange(width, dtype=np.float32) * np.float32(2 * np.pi / period)),
    )
    grain = weave * np.float32(0.5 * strength)
    grain += 1.0 + np.float32(strength) * _grain(rng, height, width, soft=True)
    grain += np.float32(rng.uniform(0.04, 0.12)) * (_noise(rng, height, width, rng.uniform(4, 8)) - 0.5)
    return grain


def _surgical_texture(rng: np.random.Generator, height: int, width: int) -> _Texture:
    # Light blue, white, green, pink, black: (hue, saturation, value) ranges.
    hue, sat, val = [
        ((190, 212), (0.22, 0.45), (0.82, 0.97)),
        ((0, 360), (0.0, 0.05), (0.88, 0.98)),
        ((150, 175), (0.18, 0.35), (0.72, 0.9)),
        ((330, 355), (0.15, 0.32), (0.85, 0.97)),
        ((0, 360), (0.0, 0.08), (0.12, 0.22)),
    ][int(rng.choice(5, p=[0.45, 0.2, 0.1, 0.1, 0.15]))]
    base = _colour(rng.uniform(*hue), rng.uniform(*sat), rng.uniform(*val))
    # Pleats change slowly across the mask: shade a few columns and stretch them.
    columns = 16
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    s = np.linspace(-1.0, 1.0, columns, dtype=np.float32)[None, :]
    count = int(rng.integers(3, 5))
    spacing = rng.uniform(0.15, 0.2)
    start = 0.5 - spacing * (count - 1) / 2 + rng.uniform(-0.04, 0.04)
    # Pleats open in the middle and are sewn together at the side bindings.
    fan = 1.0 - 0.35 * s**2
    shade = np.ones((height, columns), np.float32)
    depth = rng.uniform(0.1, 0.22)
    for k in range(count):
        offset = (t - 0.5) / (spacing * fan) - (start + k * spacing - 0.5) / spacing
        shade += np.float32(depth) * (0.5 * np.clip(offset + 0.6, 0.0, 0.6) - 1.6 * np.exp(-((offset / 0.07) ** 2)))
    hem = (t < 0.06) | (t > 0.94) | (np.abs(s) > 0.94)
    shade = np.where(hem, np.float32(1.0 + 0.04 * rng.standard_normal()), shade)
    shade = cv2.resize(shade, (width, height), interpolation=cv2.INTER_LINEAR)
    shade *= _fabric_grain(rng, height, width, rng.uniform(0.015, 0.04))
    return _Texture(shade, None, base)


def _dots(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Coverage in [0, 1] of round dots on a staggered grid."""
    step = rng.uniform(7, 16)
    radius = step * rng.uniform(0.15, 0.32)
    ys = np.arange(height, dtype=np.float32)[:, None] / np.float32(step)
    xs = np.arange(width, dtype=np.float32)[None, :] / np.float32(step)
    row = np.floor(ys + 0.5)
    shift = 0.5 * (row % 2)
    dx = xs - shift - np.floor(xs - shift + 0.5)
    dy = ys - row
    return _clip01((np.float32(radius / step) - np.sqrt(dx * dx + dy * dy)) * np.float32(step) + 0.5)


def _cloth_texture(rng: np.random.Generator, height: int, width: int, pattern: str) -> _Texture:
    base = _any_colour(rng)
    if pattern == "black_fabric":
        base = _colour(rng.uniform(0, 360), rng.uniform(0.0, 0.15), rng.uniform(0.08, 0.2))
    shade = _fabric_grain(rng, height, width, rng.uniform(0.02, 0.06))
    if not pattern.startswith("cloth_"):
        return _Texture(shade, None, base)
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    texture = _fill(height, width, base)
    second = _any_colour(rng)
    if pattern == "cloth_stripes":
        angle = rng.choice([0.0, np.pi / 2, np.pi / 4, -np.pi / 4]) + rng.uniform(-0.1, 0.1)
        period = rng.uniform(5, 16)
        phase = (xs * np.float32(np.cos(angle)) + ys * np.float32(np.sin(angle))) / np.float32(period)
        stripe = _smoothstep(np.sin(np.float32(2 * np.pi) * phase) - np.float32(rng.uniform(-0.4, 0.4)), 0.4)
        _mix(texture, second, stripe)
    elif pattern == "cloth_dots":
        _mix(texture, second, _dots(rng, height, width))
    elif pattern == "cloth_checks":
        period = np.float32(rng.uniform(6, 18) / (2 * np.pi))
        _mix(texture, second, 0.5 * (_smoothstep(np.sin(xs / period), 0.3) + _smoothstep(np.sin(ys / period), 0.3)))
        if rng.random() < 0.5:
            line = (np.abs(np.sin(xs / period + 1.5)) < 0.12) | (np.abs(np.sin(ys / period + 1.5)) < 0.12)
            _mix(texture, _any_colour(rng), line * np.float32(0.5))
    elif pattern == "cloth_floral":
        _mix(texture, second, _smoothstep(_noise(rng, height, width, rng.uniform(4, 9)) - rng.uniform(0.4, 0.6), 0.08))
    elif pattern == "cloth_camouflage":
        palettes = [
            [(40, 70, 60), (60, 100, 95), (50, 80, 120), (30, 40, 45)],
            [(150, 150, 150), (100, 100, 100), (60, 60, 60), (200, 200, 200)],
            [(120, 160, 190), (70, 110, 150), (50, 80, 100), (160, 190, 210)],
            [(160, 120, 200), (120, 80, 170), (200, 170, 230), (90, 60, 120)],
        ]
        palette = np.array(palettes[int(rng.integers(len(palettes)))], np.float32) * np.float32(rng.uniform(0.8, 1.15))
        texture = _fill(height, width, palette[0])
        for colour in palette[1:]:
            blot = _smoothstep(_noise(rng, height, width, rng.uniform(5, 10)) - rng.uniform(0.5, 0.65), 0.05)
            _mix(texture, colour, blot)
    printed = cv2.merge([np.clip(plane, 0, 255).astype(np.uint8) for plane in texture])
    if pattern == "cloth_floral":
        petal, centre = _any_colour(rng).tolist(), _any_colour(rng).tolist()
        size = rng.uniform(4, 8)
        petal_radius, centre_radius = max(1, round(size * 0.6)), max(1, round(size * 0.4))
        for _ in range(int(width * height / (size * size * rng.uniform(30, 60)))):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            for k in range(5):
                angle = 2 * np.pi * k / 5 + cx
                centre_xy = (round(cx + size * np.cos(angle)), round(cy + size * np.sin(angle)))
                cv2.circle(printed, centre_xy, petal_radius, petal, -1, cv2.LINE_AA)
            cv2.circle(printed, (round(cx), round(cy)), centre_radius, centre, -1, cv2.LINE_AA)
    return _Texture(shade, printed, base)


def _kn95_texture(rng: np.random.Generator, height: int, width: int) -> _Texture:
    # White, black, grey, pink, blue, beige: (hue, saturation, value) ranges.
    hue, sat, val = [
        ((0, 360), (0.0, 0.04), (0.9, 0.98)),
        ((0, 360), (0.0, 0.08), (0.1, 0.25)),
        ((0, 360), (0.0, 0.05), (0.5, 0.75)),
        ((330, 355), (0.2, 0.4), (0.85, 0.97)),
        ((195, 225), (0.3, 0.6), (0.6, 0.9)),
        ((25, 45), (0.15, 0.3), (0.75, 0.9)),
    ][int(rng.choice(6, p=[0.6, 0.1, 0.1, 0.08, 0.07, 0.05]))]
    base = _colour(rng.uniform(*hue), rng.uniform(*sat), rng.uniform(*val))
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    s = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    inset = rng.uniform(0.05, 0.09)
    rim = np.minimum(np.minimum(t, 1 - t) / np.float32(inset), (1 - np.abs(s)) / np.float32(2 * inset * height / width))
    shade = 1.0 - 0.12 * np.exp(-(((rim - 1.0) / 0.18) ** 2))
    shade *= 1.0 + np.float32(rng.uniform(0.02, 0.06)) * (_noise(rng, height, width, 5) - 0.5)
    shade *= 1.0 + np.float32(rng.uniform(0.02, 0.05)) * _grain(rng, height, width, soft=True)
    return _Texture(shade, None, base)


# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _MaskShape:
    top: Callable[[np.ndarray], np.ndarray]
    bottom: Callable[[np.ndarray], np.ndarray]
    spread: float
    """Half the angle the mask wraps around the head cylinder, radians."""
    chin_taper: float
    corner: float
    """Corner rounding, pixels."""


def _mask_shape(face: _Face, family: str, placement: str, rng: np.random.Generator) -> _MaskShape:
    """Top and bottom edges in face coordinates (b) as functions of s, the position across the mask."""
    e = face.eye_mouth
    if placement == "correct":
        top0 = face.nose * rng.uniform(0.33, 0.5)
        flat = 1.0
    elif placement == "under_nose":
        top0 = face.nose + (face.mouth - face.nose) * rng.uniform(0.32, 0.5)
        flat = 0.3
    else:
        top0 = face.mouth + e * rng.uniform(0.26, 0.36)
        flat = 0.15
    drop = {"correct": 0.0, "under_nose": rng.uniform(0.08, 0.18), "chin": rng.uniform(0.15, 0.3)}[placement]
    bottom0 = face.chin + e * (rng.uniform(0.05, 0.22) + drop)
    lift = rng.uniform(0.0, 0.3) * e if placement == "chin" else 0.0

    if family == "surgical":
        peak, width, droop = rng.uniform(0.03, 0.09) * e * flat, rng.uniform(0.15, 0.25), rng.uniform(0.1, 0.22) * e
        rise = rng.uniform(0.25, 0.45) * e

        def top_edge(s: np.ndarray) -> np.ndarray:
            return top0 + peak * (1 - np.exp(-((s / width) ** 2))) + droop * flat * s**2

        def bottom_edge(s: np.ndarray) -> np.ndarray:
            return bottom0 - rise * s**2

        spread, taper, corner = math.radians(rng.uniform(66, 82)), rng.uniform(0.78, 0.9), 0.04 * e
    elif family == "kn95":
        slope, power = rng.uniform(0.28, 0.42) * e * max(flat, 0.3), rng.uniform(1.0, 1.3)
        rise, bottom_power = rng.uniform(0.45, 0.65) * e, rng.uniform(1.2, 1.5)

        def top_edge(s: np.ndarray) -> np.ndarray:
            return top0 + slope * np.abs(s) ** power

        def bottom_edge(s: np.ndarray) -> np.ndarray:
            return bottom0 - rise * np.abs(s) ** bottom_power

        spread, taper, corner = math.radians(rng.uniform(62, 75)), rng.uniform(0.72, 0.84), 0.08 * e
    else:
        arc, peak = rng.uniform(0.18, 0.32) * e * flat, rng.uniform(0.0, 0.05) * e * flat
        rise = rng.uniform(0.4, 0.65) * e

        def top_edge(s: np.ndarray) -> np.ndarray:
            return top0 + arc * s**2 + peak * (1 - np.exp(-((s / 0.3) ** 2)))

        def bottom_edge(s: np.ndarray) -> np.ndarray:
            return bottom0 - rise * s**2

        spread, taper, corner = math.radians(rng.uniform(62, 78)), rng.uniform(0.72, 0.85), 0.12 * e

    def top(s: np.ndarray) -> np.ndarray:
        edge = top_edge(s)
        if lift:
            edge = edge - lift * np.clip((np.abs(s) - 0.6) / 0.4, 0.0, 1.0) ** 2
        return edge

    return _MaskShape(top, bottom_edge, spread, taper, max(corner, 1.0))


def _family(style: str) -> str:
    if style in ("surgical", "kn95"):
        return style
    return "cloth"


def paste_mask(
    crop: np.ndarray,
    landmarks: Landmarks,
    rng: np.random.Generator,
    placement: str,
    style: str | None = None,
) -> np.ndarray:
    """A copy of the BGR uint8 crop with a mask pasted at `placement`, in `style` (random when None).

    `landmarks` are the crop's five YuNet points (see `landmarks_in_crop`). The mask follows the face's
    roll, size and yaw and is shaded with the crop's own lighting.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, not {placement!r}")
    style = random_style(rng) if style is None else style
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, not {style!r}")
    face = _face(landmarks)
    if face is None:
        log.debug("landmarks %s give no face geometry; crop left bare", np.asarray(landmarks).tolist())
        return crop.copy()
    family = _family(style)
    valve = style == "valve"
    if valve and rng.random() < 0.6:
        family = "kn95"

    e = face.eye_mouth
    shape = _mask_shape(face, family, placement, rng)
    radius_scale = rng.uniform(0.97, 1.1)
    # The mask bulges over the nose: its centre line goes through the nose tip even on turned faces.
    nose_angle = math.asin(float(np.clip((face.nose_across - face.axis) / face.radius, -1, 1)))
    twist = float(np.clip(nose_angle - face.yaw, -0.26, 0.26))
    softness = rng.uniform(0.6, 1.6) * max(1.0, crop.shape[0] / 224.0)
    shadow_width = max(1.5, 0.06 * e)

    samples = np.linspace(-1, 1, 21)
    top_b, bottom_b = float(shape.top(samples).min()), float(shape.bottom(samples).max())
    reach = face.radius * radius_scale * 1.02
    bounds = _region(face, (face.axis - reach, face.axis + reach), (top_b, bottom_b), crop.shape, 3)
    if bounds[2] - bounds[0] < 2 or bounds[3] - bounds[1] < 2:
        return crop.copy()

    a, b = _face_coords(face, bounds, _STEP)
    half = face.half_width(b, shape.chin_taper) * np.float32(radius_scale)
    w = (a - np.float32(face.axis)) / half
    on_head = np.clip(w, np.float32(-1.0), np.float32(1.0))
    angle = np.arcsin(on_head)
    cos_angle = np.sqrt(1.0 - on_head * on_head)
    s = (angle - np.float32(face.yaw + twist)) * np.float32(1.0 / shape.spread)
    top, bottom = shape.top(s), shape.bottom(s)
    px_per_s = np.float32(shape.spread) * half * np.maximum(cos_angle, np.float32(0.05))
    edges = [b - top, bottom - b, (1.0 - np.abs(s)) * px_per_s, (1.0 - np.abs(w)) * half]
    distance = _signed_distance(_soft_min(edges, shape.corner), _STEP)
    height_px = np.maximum(bottom - top, np.float32(1.0))
    t = _clip01((b - top) / height_px)

    light_angle = np.float32(rng.uniform(-0.6, 0.6))
    ambient = np.float32(rng.uniform(0.4, 0.65))
    facing = _clip01(np.cos(angle - light_angle))
    shade = ambient + (1 - ambient) * facing
    # Below the mouth the mask slopes back towards the neck, away from light from above.
    under_chin = _clip01((b - np.float32(face.mouth)) / np.float32(0.8 * e))
    shade *= 1.0 - np.float32(rng.uniform(0.15, 0.45)) * under_chin
    seam_px = s * px_per_s
    if placement == "correct":
        ridge = np.exp(-((seam_px / np.float32(0.15 * e)) ** 2)) * _clip01((face.nose - b) / np.float32(0.1 * e) + 0.5)
        shade *= 1.0 + np.float32(rng.uniform(0.04, 0.14)) * ridge
    if family == "kn95":
        shade *= 1.0 + np.float32(rng.uniform(-0.12, 0.12)) * np.tanh(seam_px / np.float32(1.5))
        shade *= 1.0 - np.float32(rng.uniform(0.1, 0.25)) * np.exp(-((seam_px / np.float32(1.2)) ** 2))
    elif family == "cloth" and rng.random() < 0.7:
        shade *= 1.0 - np.float32(rng.uniform(0.1, 0.25)) * np.exp(-(seam_px**2))
    gloss = facing * facing
    gloss *= gloss
    sheen = np.float32(rng.uniform(0.0, 30.0)) * gloss * gloss * np.exp(-(((b - face.nose) / np.float32(0.6 * e)) ** 2))

    light = _light_map(crop, bounds, a.shape)
    inside = _clip01(distance + 0.5)
    mean_light = float((light * inside).sum() / float(inside.sum())) if inside.any() else 128.0
    relative = np.clip(light / max(mean_light, 1.0), 0.4, 1.6) ** np.float32(rng.uniform(0.5, 1.0))
    scene = float(np.clip((mean_light / 140.0) ** rng.uniform(0.4, 0.8), 0.3, 1.2) * rng.uniform(0.85, 1.15))
    shade *= relative * np.float32(scene)

    fields = [distance, s, t, shade, sheen]
    if valve:
        valve_edge, valve_shade, valve_colour = _valve(s, t, px_per_s, height_px, e, rng)
        fields += [valve_edge, valve_shade]
    fields = _upsample(fields, bounds, _STEP)
    distance, s, t, shade, sheen = fields[:5]
    softness = np.float32(softness)
    alpha = _clip01(distance / softness + 0.5)
    if not alpha.any():
        return crop.copy()

    tex_h = int(np.clip(bottom_b - top_b, 32, 256))
    tex_w = int(np.clip(2 * shape.spread * face.radius, 64, 512))
    if family == "surgical":
        texture = _surgical_texture(rng, tex_h, tex_w)
    elif family == "kn95":
        texture = _kn95_texture(rng, tex_h, tex_w)
    else:
        texture = _cloth_texture(rng, tex_h, tex_w, style)
    map_x = (s + 1.0) * np.float32(0.5 * (tex_w - 1))
    map_y = t * np.float32(tex_h - 1)
    fabric = cv2.remap(texture.shade, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    shade *= fabric
    # Folds and pleats also catch light additively, or a dark mask would show none of them.
    fabric -= 1.0
    sheen += np.float32(rng.uniform(10.0, 40.0) * scene) * fabric
    if texture.pattern is None:
        colour = _paint(shade, texture.base)
    else:
        printed = cv2.remap(texture.pattern, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        colour = [printed[..., c] * shade for c in range(3)]
    if valve:
        cap = _paint(fields[6] * shade, texture.base if valve_colour is None else valve_colour)
        _mix(colour, cap, _clip01(fields[5] / softness + 0.5))
    sheen += np.float32(rng.uniform(1.0, 4.0)) * _grain(rng, *alpha.shape)
    for plane in colour:
        plane += sheen
    if rng.random() < 0.6:
        sigma = rng.uniform(0.35, 1.0) * crop.shape[0] / 224.0
        colour = [cv2.GaussianBlur(plane, (0, 0), sigma) for plane in colour]

    contact = np.float32(rng.uniform(0.04, 0.16))
    shadow = _clip01(1.0 + distance / np.float32(shadow_width)) * (distance < 0) * contact
    out = _blend(crop, bounds, colour, alpha, shadow)
    if rng.random() < 0.55:
        loop_colour = texture.base if family == "cloth" else _colour(0, 0, rng.uniform(0.85, 0.97))
        _ear_loops(out, face, shape, radius_scale, twist, loop_colour * scene, rng)
    return out


def _valve(
    s: np.ndarray, t: np.ndarray, px_per_s: np.ndarray, height_px: np.ndarray, e: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A round exhalation valve on one cheek: its signed edge distance, relief shading and colour (None: the mask's)."""
    side = rng.choice([-1.0, 1.0])
    centre_s, centre_t = side * rng.uniform(0.32, 0.48), rng.uniform(0.42, 0.6)
    radius = np.float32(rng.uniform(0.13, 0.18) * e)
    dx = (s - np.float32(centre_s)) * px_per_s
    dy = (t - np.float32(centre_t)) * height_px
    dist = np.sqrt(dx * dx + dy * dy)
    colour = [None, _colour(0, 0, rng.uniform(0.15, 0.3)), _colour(0, 0, rng.uniform(0.75, 0.95))][int(rng.integers(3))]
    relief = 1.0 + 0.25 * (-dx - dy) / radius * (dist < radius)
    ring = 1.0 - 0.35 * np.exp(-(((dist - 0.7 * radius) / (0.08 * radius)) ** 2))
    slits = 1.0 - 0.25 * (np.abs(np.sin(dy / radius * 9.0)) < 0.3) * (dist < 0.55 * radius)
    return radius - dist, (relief * ring * slits).astype(np.float32), colour


def _ear_loops(
    out: np.ndarray,
    face: _Face,
    shape: _MaskShape,
    radius_scale: float,
    twist: float,
    colour: np.ndarray,
    rng: np.random.Generator,
) -> None:
    e = face.eye_mouth
    thickness = max(1, round(e / 70))
    for side in (-1.0, 1.0):
        edge_angle = side * shape.spread + face.yaw + twist
        if abs(edge_angle) > math.radians(84) or abs(side * math.pi / 2 + face.yaw) > math.pi / 2:
            continue
        ear_a = face.axis + side * face.radius * rng.uniform(0.9, 1.0) * math.cos(face.yaw)
        edge_s = np.array([side])
        top, bottom = float(shape.top(edge_s)[0]), float(shape.bottom(edge_s)[0])
        for t, ear_b in ((0.1, rng.uniform(-0.1, 0.12) * e), (0.85, face.nose + rng.uniform(0.05, 0.25) * e)):
            start_b = top + t * (bottom - top)
            half = float(face.half_width(start_b, shape.chin_taper)) * radius_scale
            start_a = face.axis + half * math.sin(edge_angle)
            mid_a, mid_b = (start_a + ear_a) / 2 + side * rng.uniform(0.0, 0.05) * e, (start_b + ear_b) / 2
            curve = []
            for k in np.linspace(0.0, 1.0, 8):
                pa = (1 - k) ** 2 * start_a + 2 * k * (1 - k) * mid_a + k**2 * ear_a
                pb = (1 - k) ** 2 * start_b + 2 * k * (1 - k) * mid_b + k**2 * ear_b
                curve.append(face.to_image(pa, pb))
            points = np.rint(np.array(curve) * 4).astype(np.int32)
            shade = rng.uniform(0.75, 1.0)
            cv2.polylines(out, [points], False, np.clip(colour * shade, 0, 255).tolist(), thickness, cv2.LINE_AA, 2)


# ---------------------------------------------------------------------------------------------------------------


def paste_cover(crop: np.ndarray, landmarks: Landmarks, rng: np.random.Generator) -> np.ndarray:
    """A copy of the crop with a non-mask cover below the nose: a scarf, a raised collar or a hand.

    Covers are wider than the face or skin-coloured, never reach the nose and have no ear loops, so
    the crop keeps its bare-face label.
    """
    face = _face(landmarks)
    if face is None:
        log.debug("landmarks %s give no face geometry; crop left uncovered", np.asarray(landmarks).tolist())
        return crop.copy()
    kind = rng.choice(3, p=[0.55, 0.25, 0.2])
    if kind == 2:
        return _hand(crop, face, rng)
    e = face.eye_mouth
    highest = face.nose + 0.3 * e
    bounds = _region(face, (-4.0 * face.radius, 4.0 * face.radius), (highest - 0.1 * e, 6.0 * e), crop.shape, 2)
    if bounds[2] - bounds[0] < 2 or bounds[3] - bounds[1] < 2:
        return crop.copy()
    a, b = _face_coords(face, bounds, _STEP)
    rel = (a - np.float32(face.axis)) / np.float32(face.radius)
    bumps = _noise(rng, 1, 64, rng.uniform(4, 9))[0]
    bump = np.interp(np.clip(rel, -4, 4), np.linspace(-4, 4, 64), bumps).astype(np.float32)
    if kind == 0:
        if rng.random() < 0.4:
            base = face.mouth - rng.uniform(0.0, 0.18) * e
        else:
            base = face.mouth + rng.uniform(0.1, 0.45) * e
        rise = np.float32(rng.uniform(0.0, 0.5) * e) * np.clip(np.abs(rel) - 0.8, 0.0, 1.5)
        top = base + np.float32(rng.uniform(0.1, 0.25) * e) * (bump - 0.5) - rise
    else:
        base = face.mouth + rng.uniform(0.25, 0.55) * e
        width = rng.uniform(0.3, 0.5)
        notch = np.float32(rng.uniform(0.25, 0.6) * e) * _clip01(1.0 - np.abs(rel) / np.float32(width))
        rise = np.float32(rng.uniform(0.2, 0.6) * e) * _clip01(np.abs(rel) - 0.6)
        top = base + notch - rise + np.float32(0.03 * e) * (bump - 0.5)
    top = np.maximum(top, np.float32(highest))
    distance = _signed_distance(b - top, _STEP)
    below = b - top
    folds = 1.0 + np.float32(rng.uniform(0.08, 0.2)) * np.sin(b / np.float32(rng.uniform(0.15, 0.3) * e) + 3.0 * bump)
    roll = 1.0 + 0.2 * np.exp(-((below / np.float32(0.06 * e)) ** 2))
    roll -= 0.25 * np.exp(-(((below - np.float32(0.15 * e)) / np.float32(0.05 * e)) ** 2))
    light = _light_map(crop, bounds, a.shape)
    scene = np.clip(light / 140.0, 0.3, 1.3) ** np.float32(rng.uniform(0.5, 0.9)) * np.float32(rng.uniform(0.85, 1.15))
    distance, shade = _upsample([distance, folds * roll * scene], bounds, _STEP)

    # The knit and check patterns are finer than the coarse grid.
    a, b = _face_coords(face, bounds, 1)
    period = np.float32(rng.uniform(0.07, 0.14) * e)
    colour_a, colour_b = _any_colour(rng), _any_colour(rng)
    if kind == 0 and rng.random() < 0.55:
        stitch = np.abs(((a / period) % 1.0) - 0.5) * 2.0
        chevron = np.abs(np.sin(np.float32(np.pi) * (b / (0.7 * period) + stitch)))
        fabric = _paint(shade * (0.8 + 0.25 * chevron + 0.1 * np.cos(np.float32(2 * np.pi) * a / period)), colour_a)
    elif kind == 0:
        check = 0.5 * (_smoothstep(np.sin(a / period), 0.5) + _smoothstep(np.sin(b / period), 0.5))
        fabric = _mix(_paint(shade, colour_a), _paint(shade, colour_b), check)
    else:
        colour_a = _colour(rng.uniform(0, 360), rng.uniform(0.0, 0.5), rng.uniform(0.1, 0.55))
        if rng.random() < 0.4:
            zipper = np.exp(-(((a - np.float32(face.axis)) / np.float32(max(1.0, 0.02 * e))) ** 2))
            shade = shade * (1 + 0.6 * zipper)
        fabric = _paint(shade, colour_a)
    noise = np.float32(rng.uniform(2.0, 6.0)) * _grain(rng, *shade.shape)
    for plane in fabric:
        plane += noise
    softness = rng.uniform(0.6, 1.2) * max(1.0, crop.shape[0] / 224.0)
    alpha = _clip01(distance / np.float32(softness) + 0.5)
    return _blend(crop, bounds, fabric, alpha)


def _capsule(a: np.ndarray, b: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Distance from each (a, b) to the segment start-end."""
    direction = end - start
    length2 = max(float(direction @ direction), 1e-9)
    along = _clip01(((a - start[0]) * direction[0] + (b - start[1]) * direction[1]) / np.float32(length2))
    da = a - (start[0] + along * direction[0])
    db = b - (start[1] + along * direction[1])
    return np.sqrt(da * da + db * db)


def _hand(crop: np.ndarray, face: _Face, rng: np.random.Generator) -> np.ndarray:
    """Four rounded fingers and a palm over the mouth or chin, in the face's own skin colour."""
    e = face.eye_mouth
    highest = face.nose + 0.3 * e
    finger = rng.uniform(0.08, 0.1) * e
    length = rng.uniform(0.8, 1.1) * e
    if rng.random() < 0.6:
        anchor = np.array([face.axis + rng.uniform(-0.3, 0.3) * face.radius, face.mouth + rng.uniform(0.7, 1.0) * e])
        heading = -math.pi / 2 + rng.uniform(-0.5, 0.5)
    else:
        side = rng.choice([-1.0, 1.0])
        anchor = np.array([face.axis - side * 1.3 * face.radius, face.mouth + rng.uniform(0.1, 0.35) * e])
        heading = (0.0 if side > 0 else math.pi) + rng.uniform(-0.25, 0.25)
    along = np.array([math.cos(heading), math.sin(heading)])
    beside = np.array([-along[1], along[0]])
    reach = 2.2 * length
    a_range = (anchor[0] - reach, anchor[0] + reach)
    bounds = _region(face, a_range, (max(highest - 0.1 * e, anchor[1] - reach), anchor[1] + reach), crop.shape, 2)
    if bounds[2] - bounds[0] < 2 or bounds[3] - bounds[1] < 2:
        return crop.copy()
    a, b = _face_coords(face, bounds, _STEP)
    roundness = np.zeros_like(a)
    nearest = np.full_like(a, np.inf)
    for k, share in enumerate(rng.uniform(0.85, 1.0) * np.array([0.8, 0.95, 1.0, 0.88])):
        base = anchor + (k - 1.5) * 2.05 * finger * beside
        dist = _capsule(a, b, base, base + share * length * along) - np.float32(finger)
        roundness = np.where(dist < nearest, np.sqrt(_clip01(-dist / np.float32(finger))), roundness)
        nearest = np.minimum(nearest, dist)
    palm_radius = 4.2 * finger
    palm = _capsule(a, b, anchor - 0.4 * length * along, anchor - 2.0 * length * along) - np.float32(palm_radius)
    roundness = np.where(palm < nearest, np.sqrt(_clip01(-palm / np.float32(palm_radius) * 2)), roundness)
    nearest = np.maximum(np.minimum(nearest, palm), np.float32(highest) - b)
    distance = _signed_distance(-nearest, _STEP)

    cheek = crop[_cheek_region(face, *crop.shape[:2])].reshape(-1, 3)
    skin = np.median(cheek, axis=0).astype(np.float32) if len(cheek) else np.float32([120, 140, 180])
    skin = skin * np.float32(rng.uniform(0.9, 1.15))
    light = _light_map(crop, bounds, a.shape)
    blue, green, red = cv2.mean(crop)[:3]
    relative = light / max(0.114 * blue + 0.587 * green + 0.299 * red, 1.0)
    shade = relative * (0.62 + 0.38 * roundness)
    distance, shade = _upsample([distance, shade], bounds, _STEP)
    softness = rng.uniform(0.6, 1.2) * max(1.0, crop.shape[0] / 224.0)
    alpha = _clip01(distance / np.float32(softness) + 0.5)
    hand = _paint(shade + np.float32(rng.uniform(0.005, 0.015)) * _grain(rng, *shade.shape), skin)
    return _blend(crop, bounds, hand, alpha)


def _cheek_region(face: _Face, height: int, width: int) -> tuple[slice, slice]:
    """Rows and columns across both cheeks, just above the nose tip."""
    x, y = face.to_image(face.axis, face.nose * 0.8)
    r = max(2, round(0.15 * face.eye_mouth))
    rows = slice(min(max(0, round(y) - r), height), min(height, max(0, round(y) + r)))
    return rows, slice(min(max(0, round(x) - 3 * r), width), min(width, max(0, round(x) + 3 * r)))


# ---------------------------------------------------------------------------------------------------------------


def infrared(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Near-infrared night-camera look: grey in all three channels, bright flat skin, noise, vignetting."""
    image = crop.astype(np.float32)
    red = rng.uniform(0.55, 0.8)
    green = rng.uniform(0.1, 1.0 - red)
    grey = image[..., 2] * red + image[..., 1] * green + image[..., 0] * (1.0 - red - green)
    smooth = cv2.bilateralFilter(grey, 5, 25.0, 5.0)
    grey = grey + (smooth - grey) * np.float32(rng.uniform(0.3, 0.8))
    grey = 255.0 * (np.clip(grey, 0, 255) / 255.0) ** np.float32(rng.uniform(0.55, 0.85))
    mean = float(grey.mean())
    grey = mean + (grey - mean) * np.float32(rng.uniform(0.65, 0.95)) + np.float32(rng.uniform(-15, 15))
    if rng.random() < 0.6:
        height, width = grey.shape
        cx, cy = width * rng.uniform(0.4, 0.6), height * rng.uniform(0.4, 0.6)
        scale = 1.0 / (0.5 * max(height, width)) ** 2
        dx2 = (np.arange(width, dtype=np.float32) - np.float32(cx)) ** 2
        dy2 = (np.arange(height, dtype=np.float32) - np.float32(cy)) ** 2
        falloff = np.minimum((dy2[:, None] + dx2[None, :]) * np.float32(scale), np.float32(2.0))
        grey *= 1.0 - np.float32(rng.uniform(0.15, 0.45) / 2.0) * falloff
    if rng.random() < 0.5:
        grey = cv2.GaussianBlur(grey, (0, 0), rng.uniform(0.5, 1.2))
    grey += np.float32(rng.uniform(2.0, 7.0)) * _grain(rng, *grey.shape)
    single = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return cv2.merge([single, single, single])
