import numpy as np
import pytest

from convert.data.augment import augment, hand_over_mouth, recolour_lower_face
from convert.evaluation.metrics import classification_metrics, roc_auc


def face_like(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(60, 200, size=(128, 128, 3), dtype=np.uint8)


def test_augment_is_seeded_and_keeps_shape_and_dtype():
    crop = face_like()
    first = augment(crop, np.random.default_rng(5), masked=True)
    again = augment(crop, np.random.default_rng(5), masked=True)
    other = augment(crop, np.random.default_rng(6), masked=True)
    assert first.shape == crop.shape and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_hand_covers_the_lower_face_only():
    crop = face_like()
    covered = hand_over_mouth(crop, np.random.default_rng(1))
    np.testing.assert_array_equal(covered[: int(0.3 * 128)], crop[: int(0.3 * 128)])
    assert np.abs(covered.astype(int) - crop.astype(int))[int(0.6 * 128) :].mean() > 10


def test_bare_faces_get_only_mild_lower_face_colour_changes():
    crop = np.full((100, 100, 3), (90, 120, 180), np.uint8)
    rng = np.random.default_rng(0)
    bare = [recolour_lower_face(crop, rng, masked=False)[70, 50].astype(int) for _ in range(20)]
    masked = [recolour_lower_face(crop, rng, masked=True)[70, 50].astype(int) for _ in range(20)]
    spread = lambda pixels: np.ptp(np.array(pixels), axis=0).max()  # noqa: E731
    assert spread(bare) < spread(masked)


def test_roc_auc_matches_hand_computed_values():
    positive = np.array([True, True, False, False])
    assert roc_auc(positive, np.array([0.9, 0.8, 0.3, 0.1])) == 1.0
    assert roc_auc(positive, np.array([0.1, 0.3, 0.8, 0.9])) == 0.0
    assert roc_auc(positive, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert roc_auc(positive, np.array([0.9, 0.4, 0.6, 0.1])) == pytest.approx(0.75)
    assert roc_auc(np.array([True, True]), np.array([0.2, 0.3])) is None


def test_classification_metrics_confusion_and_per_class_scores():
    targets = np.array([0, 0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
    metrics = classification_metrics(targets, probabilities, ["mask", "no_mask"])
    assert metrics["confusion"] == [[2, 1], [0, 2]]
    assert metrics["accuracy"] == 0.8
    assert metrics["per_class"]["mask"] == {"precision": 1.0, "recall": 0.6667, "f1": 0.8, "support": 3}
    assert metrics["per_class"]["no_mask"]["precision"] == pytest.approx(0.6667, abs=1e-4)
