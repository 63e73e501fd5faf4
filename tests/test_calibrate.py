"""Calibration: temperature scaling recovers a known temperature, the mask threshold holds the bare-face pass rate."""

from __future__ import annotations

import numpy as np

from convert.training.calibrate import MIN_MASK_PROBABILITY, fit_temperature, mask_threshold, reliability
from edge.vision.classifier import softmax

LABELS = ["mask", "no_mask", "mask_incorrect"]


def test_temperature_scaling_recovers_the_temperature_that_made_the_labels():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 4, size=(4000, 3))
    true_temperature = 2.5
    probabilities = softmax(logits / true_temperature)
    targets = np.array([rng.choice(3, p=p) for p in probabilities])
    assert abs(fit_temperature(logits, targets) - true_temperature) < 0.25
    overconfident = reliability(softmax(logits), targets)
    calibrated = reliability(softmax(logits / fit_temperature(logits, targets)), targets)
    assert calibrated["ece"] < overconfident["ece"] / 2


def test_the_mask_threshold_lets_at_most_the_target_share_of_bare_faces_through():
    rng = np.random.default_rng(4)
    bare = np.column_stack([rng.uniform(0.3, 0.99, 500), np.zeros(500), np.zeros(500)])
    bare[:, 1] = 1 - bare[:, 0]
    masked = np.column_stack([np.full(100, 0.99), np.full(100, 0.01), np.zeros(100)])
    probabilities = np.vstack([bare, masked])
    targets = np.array([1] * 500 + [0] * 100)
    threshold = mask_threshold(probabilities, targets, LABELS, max_pass=0.02)
    passed = ((probabilities[:500, 0] >= threshold) & (probabilities[:500].argmax(axis=1) == 0)).mean()
    assert passed <= 0.02 and threshold > MIN_MASK_PROBABILITY
    assert ((probabilities[500:, 0] >= threshold).mean()) == 1.0, "confident masks still pass"
    assert mask_threshold(masked, np.zeros(100, int), LABELS, 0.02) == MIN_MASK_PROBABILITY


def test_reliability_counts_scores_stuck_at_the_uint8_ceiling():
    probabilities = np.array([[255 / 256, 1 / 256, 0.0], [0.999, 0.001, 0.0], [0.6, 0.4, 0.0]])
    result = reliability(probabilities, np.array([0, 0, 1]))
    assert result["capped_share"] == round(1 / 3, 4) and sum(b["n"] for b in result["bins"]) == 3
