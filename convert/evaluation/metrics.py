"""Classification metrics in numpy (accuracy, per-class precision/recall/F1, confusion, ROC-AUC)."""

from __future__ import annotations

import numpy as np


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve by the rank-sum formula (ties averaged); None with a single class."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(targets: np.ndarray, probabilities: np.ndarray, labels: list[str]) -> dict:
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((len(labels), len(labels)), int)
    np.add.at(confusion, (targets, predicted), 1)
    per_class = {}
    for i, label in enumerate(labels):
        tp = confusion[i, i]
        precision = tp / confusion[:, i].sum() if confusion[:, i].sum() else 0.0
        recall = tp / confusion[i].sum() if confusion[i].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(confusion[i].sum()),
        }
    auc = {label: roc_auc(targets == i, probabilities[:, i]) for i, label in enumerate(labels)}
    return {
        "n": len(targets),
        "accuracy": round(float((predicted == targets).mean()), 4) if len(targets) else 0.0,
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "roc_auc": {k: (round(v, 4) if v is not None else None) for k, v in auc.items()},
    }
