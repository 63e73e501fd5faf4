"""Synthetic masks on real bare faces, with landmarks from the real YuNet detector."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from conftest import need_shared

from convert.data.synthetic_masks import (
    PLACEMENTS,
    STYLES,
    infrared,
    landmarks_in_crop,
    paste_cover,
    paste_mask,
    random_style,
)
from edge.config import DetectorConfig
from edge.detectors.yunet import YuNetDetector
from edge.vision.crop import CropRule, crop_face

FRONTAL_FACES = (
    "adult_61_0_1_20170111170127865.jpg",
    "adult_26_1_3_20170104222736351.jpg",
    "child_6_1_4_20170103213155772.jpg",
)
"""Near-frontal 200x200 photos whose chin lies inside the photo, not in the crop's black padding."""

SEEDS = range(4)


@pytest.fixture(scope="module")
def faces(yunet_model) -> list[tuple[np.ndarray, np.ndarray]]:
    """(224 px crop, its five landmarks in crop pixels) for each frontal photo, as the runtime crops them."""
    folder = need_shared("data/faces-ages/without_mask")
    detector = YuNetDetector(yunet_model, DetectorConfig())
    found = []
    for name in FRONTAL_FACES:
        frame = cv2.imread(str(folder / name))
        assert frame is not None, name
        detected = detector.detect(frame)
        assert len(detected) == 1, f"{name}: {len(detected)} faces"
        face = detected[0]
        found.append((crop_face(frame, face.box), landmarks_in_crop(face.box, face.landmarks)))
    return found


def patch(image: np.ndarray, point: np.ndarray, radius: int) -> np.ndarray:
    x, y = (round(v) for v in point)
    return image[y - radius : y + radius + 1, x - radius : x + radius + 1].astype(int)


def change(before: np.ndarray, after: np.ndarray, point: np.ndarray, radius: int) -> float:
    return float(np.abs(patch(after, point, radius) - patch(before, point, radius)).mean())


def iod(landmarks: np.ndarray) -> float:
    return float(np.hypot(*(landmarks[1] - landmarks[0])))


def below_mouth(landmarks: np.ndarray, fraction: float) -> np.ndarray:
    """The point `fraction` eye-to-mouth distances below the mouth midpoint, along the face axis."""
    eyes, mouth = landmarks[:2].mean(axis=0), landmarks[3:].mean(axis=0)
    return mouth + fraction * (mouth - eyes)


def test_landmarks_in_crop_land_on_the_same_pixels_as_crop_face():
    frame = np.zeros((300, 400), np.float32)
    points = np.array([(150.0, 80.0), (230.0, 95.0), (190.0, 140.0), (160.0, 190.0), (225.0, 200.0)])
    for x, y in points:
        frame += np.exp(-((np.arange(400)[None, :] - x) ** 2 + (np.arange(300)[:, None] - y) ** 2) / 18.0)
    image = cv2.merge([np.uint8(np.clip(frame * 255, 0, 255))] * 3)
    rule = CropRule(size=224, margin=0.2)
    for box in ((120.0, 40.0, 260.0, 230.0), (-30.0, 60.0, 250.0, 350.0)):
        crop = crop_face(image, box, rule)[..., 0].astype(np.float32)
        for mapped in landmarks_in_crop(box, points, rule):
            x, y = (round(v) for v in mapped)
            window = crop[y - 6 : y + 7, x - 6 : x + 7]
            peak_y, peak_x = np.unravel_index(int(window.argmax()), window.shape)
            assert abs(peak_x - 6) <= 1 and abs(peak_y - 6) <= 1, (box, mapped)


def test_yunet_puts_the_persons_right_eye_and_mouth_corner_on_the_image_left(faces):
    for _, landmarks in faces:
        right_eye, left_eye, nose, right_mouth, left_mouth = landmarks
        assert right_eye[0] < nose[0] < left_eye[0]
        assert right_mouth[0] < nose[0] < left_mouth[0]
        assert max(right_eye[1], left_eye[1]) < nose[1] < min(right_mouth[1], left_mouth[1])


def test_pastes_are_seeded_and_keep_shape_and_dtype(faces):
    crop, landmarks = faces[0]
    original = crop.copy()
    makers = [lambda rng, p=p: paste_mask(crop, landmarks, rng, p) for p in PLACEMENTS]
    makers += [lambda rng: paste_cover(crop, landmarks, rng), lambda rng: infrared(crop, rng)]
    for make in makers:
        first, again = make(np.random.default_rng(11)), make(np.random.default_rng(11))
        other = make(np.random.default_rng(12))
        assert first.shape == crop.shape and first.dtype == np.uint8
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first, other)
    np.testing.assert_array_equal(crop, original)


def test_every_style_pastes_at_any_crop_size(faces):
    crop, landmarks = faces[1]
    big = cv2.resize(crop, (300, 300))
    for style in STYLES:
        for image, points in ((crop, landmarks), (big, landmarks * 300 / 224)):
            masked = paste_mask(image, points, np.random.default_rng(5), "correct", style)
            assert masked.shape == image.shape and masked.dtype == np.uint8
            assert change(image, masked, points[2], 3) > 5, style
    assert {random_style(np.random.default_rng(seed)) for seed in range(200)} == set(STYLES)


def test_a_correct_mask_covers_the_nose_tip_and_spares_the_eyes(faces):
    for crop, landmarks in faces:
        eye_radius = round(0.08 * iod(landmarks))
        for seed in SEEDS:
            for style in STYLES:
                masked = paste_mask(crop, landmarks, np.random.default_rng(seed), "correct", style)
                assert change(crop, masked, landmarks[2], 3) > 5, (seed, style)
                assert change(crop, masked, landmarks[0], eye_radius) == 0, (seed, style)
                assert change(crop, masked, landmarks[1], eye_radius) == 0, (seed, style)


def test_a_mask_under_the_nose_covers_the_mouth_and_leaves_the_nose_tip(faces):
    for crop, landmarks in faces:
        mouth = landmarks[3:].mean(axis=0)
        for seed in SEEDS:
            for style in STYLES:
                masked = paste_mask(crop, landmarks, np.random.default_rng(seed), "under_nose", style)
                assert change(crop, masked, mouth, 3) > 5, (seed, style)
                assert change(crop, masked, landmarks[2], 2) < 2, (seed, style)


def test_a_mask_on_the_chin_leaves_the_mouth_corners_and_covers_the_chin(faces):
    for crop, landmarks in faces:
        for seed in SEEDS:
            for style in STYLES:
                masked = paste_mask(crop, landmarks, np.random.default_rng(seed), "chin", style)
                assert change(crop, masked, below_mouth(landmarks, 0.5), 2) > 5, (seed, style)
                assert change(crop, masked, landmarks[3], 2) < 2, (seed, style)
                assert change(crop, masked, landmarks[4], 2) < 2, (seed, style)


def test_a_cover_leaves_the_eyes_and_the_nose_tip(faces):
    for crop, landmarks in faces:
        eye_radius = round(0.08 * iod(landmarks))
        for seed in range(12):
            covered = paste_cover(crop, landmarks, np.random.default_rng(seed))
            for point, radius in ((landmarks[0], eye_radius), (landmarks[1], eye_radius), (landmarks[2], 3)):
                assert change(crop, covered, point, radius) == 0, seed
            assert np.abs(covered.astype(int) - crop.astype(int)).sum(axis=2).max() > 40, seed


def test_swapped_left_and_right_landmarks_give_the_same_mask(faces):
    crop, landmarks = faces[2]
    swapped = landmarks[[1, 0, 2, 4, 3]]
    for placement in PLACEMENTS:
        np.testing.assert_array_equal(
            paste_mask(crop, landmarks, np.random.default_rng(3), placement),
            paste_mask(crop, swapped, np.random.default_rng(3), placement),
        )


def changed_region_angle(before: np.ndarray, after: np.ndarray) -> float:
    """Angle in degrees (image y down) of the principal axis of the clearly changed pixels; thin ear loops dropped."""
    changed = (np.abs(after.astype(int) - before.astype(int)).sum(axis=2) > 30).astype(np.uint8)
    changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    moments = cv2.moments(changed, binaryImage=True)
    return float(np.degrees(0.5 * np.arctan2(2 * moments["mu11"], moments["mu20"] - moments["mu02"])))


def test_the_mask_follows_the_face_roll(faces):
    # Light skin: a dark mask on a dark face would leave holes in the changed region and skew its axis.
    for crop, landmarks in faces[1:]:
        size = crop.shape[0]
        eye_line = np.degrees(np.arctan2(*(landmarks[1] - landmarks[0])[::-1]))
        rotation = cv2.getRotationMatrix2D((size / 2, size / 2), 20, 1.0)
        rolled = cv2.warpAffine(crop, rotation, (size, size))
        rolled_landmarks = np.hstack([landmarks, np.ones((5, 1))]) @ rotation.T
        for seed in SEEDS:
            upright = changed_region_angle(crop, paste_mask(crop, landmarks, np.random.default_rng(seed), "correct"))
            tilted = paste_mask(rolled, rolled_landmarks, np.random.default_rng(seed), "correct")
            assert upright == pytest.approx(eye_line, abs=4), seed
            # A counter-clockwise turn on screen is a negative angle in image coordinates (y down).
            assert changed_region_angle(rolled, tilted) == pytest.approx(upright - 20, abs=3), seed


def test_infrared_is_grey_in_all_channels(faces):
    crop, landmarks = faces[0]
    for image in (crop, paste_mask(crop, landmarks, np.random.default_rng(0), "correct")):
        night = infrared(image, np.random.default_rng(1))
        assert night.shape == image.shape and night.dtype == np.uint8
        np.testing.assert_array_equal(night[..., 0], night[..., 1])
        np.testing.assert_array_equal(night[..., 1], night[..., 2])
        assert night.std() > 10


def test_bad_arguments_and_degenerate_landmarks(faces):
    crop, landmarks = faces[0]
    with pytest.raises(ValueError, match="placement"):
        paste_mask(crop, landmarks, np.random.default_rng(0), "forehead")
    with pytest.raises(ValueError, match="style"):
        paste_mask(crop, landmarks, np.random.default_rng(0), "correct", "balaclava")
    collapsed = np.full((5, 2), 100.0)
    np.testing.assert_array_equal(paste_mask(crop, collapsed, np.random.default_rng(0), "correct"), crop)
    np.testing.assert_array_equal(paste_cover(crop, collapsed, np.random.default_rng(0)), crop)


def test_pasting_is_fast(faces):
    crop, landmarks = faces[0]
    rng = np.random.default_rng(0)
    paste_mask(crop, landmarks, rng, "correct")
    start = time.perf_counter()
    for k in range(60):
        paste_mask(crop, landmarks, rng, PLACEMENTS[k % 3])
    per_paste = (time.perf_counter() - start) / 60
    # Typically 1.5-3 ms; the margin leaves room for a busy machine.
    assert per_paste < 0.02, f"{per_paste * 1000:.1f} ms per paste"
