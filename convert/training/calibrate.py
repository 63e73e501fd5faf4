"""Calibrated scores: temperature scaling, the mask threshold, and reliability (expected calibration error).

The model outputs logits; probabilities are softmax(logits / T) with T fitted on the validation split by
minimising the negative log-likelihood (Guo et al., "On Calibration of Modern Neural Networks", 2017).
The mask threshold is the lowest probability at which the validation split's faces that are not
properly masked pass as `mask` no more often than a target rate, and never below MIN_MASK_PROBABILITY
(a mask needs the majority of the probability, not only the largest share of three); below it a face
stays undecided.
"""

from __future__ import annotations

import itertools

import numpy as np

from edge.vision.classifier import softmax

MASK = "mask"
MIN_MASK_PROBABILITY = 0.5
UINT8_CEILING = 255 / 256
"""The highest probability a uint8 softmax output can say: a model whose scores sit there cannot rank them."""


def negative_log_likelihood(logits: np.ndarray, targets: np.ndarray, temperature: float) -> float:
    probabilities = softmax(logits.astype(np.float64) / temperature)
    return float(-np.log(np.clip(probabilities[np.arange(len(targets)), targets], 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, targets: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The temperature that minimises the validation NLL, by golden-section search on log T (NLL is unimodal
    in T for a fixed set of logits)."""
    a, b = np.log(lo), np.log(hi)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(60):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if negative_log_likelihood(logits, targets, np.exp(c)) < negative_log_likelihood(logits, targets, np.exp(d)):
            b = d
        else:
            a = c
    return round(float(np.exp((a + b) / 2)), 4)


def logits_of(probabilities: np.ndarray) -> np.ndarray:
    """Logits up to a per-row constant, which softmax ignores: enough to refit a temperature."""
    return np.log(np.clip(probabilities.astype(np.float64), 1e-12, None))


def mask_threshold(probabilities: np.ndarray, targets: np.ndarray, labels: list[str], max_pass: float) -> float:
    """The lowest threshold at which at most `max_pass` of the faces that are not `mask` would be labelled mask
    (argmax mask and probability at or above it), and at least MIN_MASK_PROBABILITY."""
    index = labels.index(MASK)
    bare = targets != index
    if not bare.any():
        return MIN_MASK_PROBABILITY
    passing = np.sort(probabilities[bare & (probabilities.argmax(axis=1) == index), index])[::-1]
    allowed = int(np.floor(max_pass * bare.sum()))
    if len(passing) <= allowed:
        return MIN_MASK_PROBABILITY
    return max(MIN_MASK_PROBABILITY, float(np.nextafter(np.float32(passing[allowed]), np.float32(1.0))))


def reliability(probabilities: np.ndarray, targets: np.ndarray, bins: int = 10) -> dict:
    """Confidence vs accuracy of the top label in equal-width bins, the expected calibration error, and the share
    of top scores stuck at the uint8 ceiling 255/256."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == targets
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (confidence > lo) & (confidence <= hi)
        if not inside.any():
            continue
        mean_conf, accuracy = float(confidence[inside].mean()), float(correct[inside].mean())
        ece += inside.mean() * abs(mean_conf - accuracy)
        rows.append(
            {
                "lo": round(float(lo), 2),
                "hi": round(float(hi), 2),
                "n": int(inside.sum()),
                "confidence": round(mean_conf, 4),
                "accuracy": round(accuracy, 4),
            }
        )
    capped = float(np.isclose(confidence, UINT8_CEILING, rtol=0, atol=1e-6).mean()) if len(confidence) else 0.0
    return {"bins": rows, "ece": round(float(ece), 4), "capped_share": round(capped, 4)}
