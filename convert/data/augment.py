"""Door-condition augmentation in numpy/OpenCV, seeded: small and blurred faces, dim light, JPEG noise,
different mask colours, night-camera (infrared) grey. Blur, size, light and infrared are applied alike
to every class, so none of them tells the classes apart. The lower face is recoloured strongly only on
masked faces (black, dark, coloured masks); bare faces get mild skin-tone changes, since a green band
across a bare mouth would teach the model that a coloured lower face can be bare.

Bare faces with landmarks become other classes: a synthetic mask pasted where a mask belongs makes
them `mask`, one under the nose or on the chin `mask_incorrect`, so the same faces are seen masked,
unmasked and wrongly masked and the model must learn the mask rather than the photo. Scarves and
hands over the mouth keep them bare.
"""

from __future__ import annotations

import cv2
import numpy as np

LOWER_FACE = (0.5, 0.92)
"""Rows of a crop (fractions of its height) where a mask sits, given the crop margin of 0.2."""


def jitter_geometry(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flip, rotate up to 12 degrees, scale 0.9-1.1 and shift up to 6%: detector box jitter."""
    size = image.shape[0]
    if rng.random() < 0.5:
        image = image[:, ::-1]
    angle = rng.uniform(-12, 12)
    scale = rng.uniform(0.9, 1.1)
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-0.06, 0.06, size=2) * size
    return cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), borderMode=cv2.BORDER_CONSTANT)


def small_face(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Downscale to a 24-96 px face and back up, as a distant face reaches the classifier."""
    size = image.shape[0]
    side = int(rng.integers(24, 97))
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)


def blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 2.5))
    length = int(rng.integers(3, 12))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    rotation = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))


def lighting(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contrast, brightness and gamma: dim entrances and backlight."""
    contrast, brightness, gamma = rng.uniform(0.5, 1.4), rng.uniform(-60, 35), rng.uniform(0.7, 1.8)
    adjusted = np.clip(image.astype(np.float32) * contrast + brightness, 0, 255)
    return (255.0 * (adjusted / 255.0) ** gamma).astype(np.uint8)


def recolour_lower_face(image: np.ndarray, rng: np.random.Generator, masked: bool) -> np.ndarray:
    """Masked: any hue, saturation 0.3-1.6x, value 0.25-1.2x; bare: hue +-8, saturation and value 0.7-1.2x."""
    size = image.shape[0]
    top, bottom = (round(f * size) for f in LOWER_FACE)
    hsv = cv2.cvtColor(np.ascontiguousarray(image[top:bottom]), cv2.COLOR_BGR2HSV).astype(np.float32)
    hue = rng.uniform(0, 180) if masked else rng.uniform(-8, 8)
    saturation, value = (rng.uniform(0.3, 1.6), rng.uniform(0.25, 1.2)) if masked else rng.uniform(0.7, 1.2, 2)
    hsv[..., 0] = (hsv[..., 0] + hue) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * value, 0, 255)
    out = image.copy()
    out[top:bottom] = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
    return out


def jpeg_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 70))])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else image


def hand_over_mouth(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Three or four fingers in the face's own skin tone across mouth and chin: a hand is not a mask."""
    size = image.shape[0]
    skin = image[int(0.28 * size) : int(0.42 * size), int(0.35 * size) : int(0.65 * size)].reshape(-1, 3).mean(axis=0)
    layer = np.zeros((size, size, 3), np.float32)
    alpha = np.zeros((size, size), np.float32)
    fingers = int(rng.integers(3, 5))
    width = size * rng.uniform(0.08, 0.11)
    centre, top = size * rng.uniform(0.4, 0.6), size * rng.uniform(0.55, 0.66)
    length = size * rng.uniform(0.3, 0.42)
    radius = int(width / 2)
    for i in range(fingers):
        x = centre + (i - (fingers - 1) / 2) * width * 1.05
        tone = (skin * rng.uniform(0.85, 1.1)).tolist()
        corners = (int(x - width / 2), int(top)), (int(x + width / 2), int(top + length))
        for target, value in ((layer, tone), (alpha, 1.0)):
            cv2.rectangle(target, *corners, value, -1)
            cv2.ellipse(target, (int(x), int(top)), (radius, radius), 0, 0, 360, value, -1)
        gap = int(x + width * 0.52)
        cv2.line(
            layer, (gap, int(top + width * 0.3)), (gap, int(top + length)), (skin * 0.55).tolist(), max(1, size // 112)
        )
    matrix = cv2.getRotationMatrix2D((centre, top + length / 2), rng.uniform(-35, 35), 1.0)
    layer = cv2.warpAffine(layer, matrix, (size, size))
    alpha = cv2.GaussianBlur(cv2.warpAffine(alpha, matrix, (size, size)), (0, 0), size / 150)[..., None]
    return (image * (1 - alpha) + layer * alpha).astype(np.uint8)


STEPS = ((small_face, 0.5), (blur, 0.3), (lighting, 0.6), (jpeg_noise, 0.4))

MASK, NO_MASK, MASK_INCORRECT = "mask", "no_mask", "mask_incorrect"
BARE_FACE_CHANGES = ((MASK, "correct", 0.3), (MASK_INCORRECT, "under_nose", 0.12), (MASK_INCORRECT, "chin", 0.08))
"""(new label, placement, probability) of pasting a synthetic mask onto a bare face with landmarks."""
COVER_CHANCE, HAND_CHANCE, INFRARED_CHANCE = 0.1, 0.15, 0.12


def restyle_bare_face(
    crop: np.ndarray, rng: np.random.Generator, landmarks: np.ndarray, labels: tuple[str, ...]
) -> tuple[np.ndarray, str]:
    """A bare face masked, wrongly masked, covered by a scarf or a hand, or left bare; and its new label."""
    from convert.data.synthetic_masks import paste_cover, paste_mask

    draw = rng.random()
    for label, placement, chance in BARE_FACE_CHANGES:
        if draw < chance and label in labels:
            return paste_mask(crop, landmarks, rng, placement), label
        draw -= chance
    if draw < COVER_CHANCE:
        return paste_cover(crop, landmarks, rng), NO_MASK
    if draw < COVER_CHANCE + HAND_CHANCE:
        return hand_over_mouth(crop, rng), NO_MASK
    return crop, NO_MASK


def augment_sample(
    crop: np.ndarray,
    rng: np.random.Generator,
    label: str,
    landmarks: np.ndarray | None = None,
    labels: tuple[str, ...] = (MASK, NO_MASK, MASK_INCORRECT),
) -> tuple[np.ndarray, str]:
    """One random door-condition variant of a BGR uint8 crop and its label (a bare face may be masked)."""
    image = crop
    if label == NO_MASK and landmarks is not None:
        image, label = restyle_bare_face(image, rng, landmarks, labels)
    elif label == NO_MASK and rng.random() < HAND_CHANCE:
        image = hand_over_mouth(image, rng)
    image = jitter_geometry(image, rng)
    if label == MASK and rng.random() < 0.4:
        image = recolour_lower_face(image, rng, masked=True)
    elif label == NO_MASK and rng.random() < 0.3:
        image = recolour_lower_face(image, rng, masked=False)
    if rng.random() < INFRARED_CHANCE:
        from convert.data.synthetic_masks import infrared

        image = infrared(image, rng)
    for step, probability in STEPS:
        if rng.random() < probability:
            image = step(image, rng)
    return np.ascontiguousarray(image), label


def augment(crop: np.ndarray, rng: np.random.Generator, masked: bool) -> np.ndarray:
    """One random door-condition variant of a BGR uint8 crop, keeping its class; same shape and dtype."""
    return augment_sample(crop, rng, MASK if masked else NO_MASK, None, (MASK, NO_MASK))[0]
