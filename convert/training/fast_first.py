"""Pairing a model with a smaller, faster one (edge.vision.classifier.FastFirstClassifier).

The fast model labels every face first and keeps the answers it is at least `min_score` sure of; the
main model classifies only the rest. `min_score` is chosen on the validation split: the score with the
best door accuracy (decided, and OK / not OK as the truth), among those that let no more faces that are
not properly masked pass as mask than the main model alone; ties go to the higher score (fewer faces
left to the fast model). The pair is written into the main model's card as decision.fast_model, with
the fast model's sha256.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from convert.data.dataset import DatasetError, load_crops, read_manifest, sha256_file
from edge.vision.labels import MASK

log = logging.getLogger(__name__)

CANDIDATES = tuple(round(0.80 + 0.01 * i, 2) for i in range(20))
"""min_score values tried: 0.80 ... 0.99."""


def fast_first(main: np.ndarray, fast: np.ndarray, min_score: float) -> np.ndarray:
    """The pair's probabilities: the fast model's rows it is at least min_score sure of, else the main model's."""
    return np.where((fast.max(axis=1) >= min_score)[:, None], fast, main)


def door_outcome(
    probabilities: np.ndarray, targets: np.ndarray, labels: list[str], mask_threshold: float | None
) -> dict[str, float]:
    """Door accuracy (decided with the right OK / not-OK state; an unsure mask counts as wrong) and the share of
    faces that are not properly masked passed as mask."""
    mask = labels.index(MASK)
    best = probabilities.argmax(axis=1)
    says_mask = best == mask
    unsure = says_mask & (probabilities[:, mask] < (mask_threshold or 0.0))
    is_mask = targets == mask
    right = ~unsure & (says_mask == is_mask)
    not_masked = ~is_mask
    passed = (says_mask & ~unsure & not_masked).sum() / max(int(not_masked.sum()), 1)
    return {"door_accuracy": float(right.mean()), "not_masked_passed": float(passed)}


def choose_min_score(
    main: np.ndarray,
    fast: np.ndarray,
    targets: np.ndarray,
    labels: list[str],
    mask_threshold: float | None,
    floor: float,
) -> tuple[float, list[dict[str, float]]]:
    """The chosen min_score and the table of every candidate (see the module's docstring)."""
    alone = door_outcome(main, targets, labels, mask_threshold)
    rows = []
    for score in (s for s in CANDIDATES if s >= floor):
        outcome = door_outcome(fast_first(main, fast, score), targets, labels, mask_threshold)
        kept = float((fast.max(axis=1) >= score).mean())
        rows.append({"min_score": score, **outcome, "fast_share": kept})
    allowed = [r for r in rows if r["not_masked_passed"] <= alone["not_masked_passed"]]
    if not allowed:
        raise DatasetError(
            "no min_score lets as few faces that are not properly masked pass as the main model alone "
            f"({100 * alone['not_masked_passed']:.2f}%); this pair does not help"
        )
    best = max(allowed, key=lambda r: (round(r["door_accuracy"], 6), r["min_score"]))
    return best["min_score"], [{"min_score": 0.0, **alone, "fast_share": 0.0, "main_alone": 1.0}, *rows]


def split_probabilities(main_path: Path, fast_path: Path, prepared: Path, split: str):
    """Both models' probabilities on one split's crops, fed as the runtime feeds them: the main model's crop,
    and that crop resized for the fast model."""
    import cv2

    from edge.vision.classifier import MaskClassifier

    main, fast = MaskClassifier(main_path, batch=True), MaskClassifier(fast_path, batch=True)
    if list(main.labels) != list(fast.labels):
        raise DatasetError(f"{fast_path} answers {list(fast.labels)}, {main_path} {list(main.labels)}: not a pair")
    rows = [r for r in read_manifest(prepared) if r.split == split]
    if not rows:
        raise DatasetError(f"{prepared}: the manifest has no {split!r} rows")
    labels = list(main.labels)
    images, targets = load_crops(prepared, rows, labels, main.input_size)
    side = fast.input_size
    main_probs, fast_probs = [], []
    for start in range(0, len(images), 32):
        chunk = list(images[start : start + 32])
        main_probs.append(main.classify(chunk))
        fast_probs.append(fast.classify([cv2.resize(c, (side, side), interpolation=cv2.INTER_AREA) for c in chunk]))
    floor = max(main.mask_threshold or 0.0, fast.mask_threshold or 0.0)
    return np.concatenate(main_probs), np.concatenate(fast_probs), targets, labels, main.mask_threshold, floor


def pair(main_path: Path, fast_path: Path, prepared: Path, split: str = "val", check_split: str = "test") -> dict:
    """Choose min_score on `split`, report it on `check_split` too, and write decision.fast_model into the main
    model's card (the model files are not touched)."""
    if fast_path.parent.resolve() != main_path.parent.resolve():
        raise DatasetError(f"{fast_path} must lie beside {main_path}: the card names it by file name")
    main, fast, targets, labels, threshold, floor = split_probabilities(main_path, fast_path, prepared, split)
    min_score, table = choose_min_score(main, fast, targets, labels, threshold, floor)
    check_main, check_fast, check_targets, *_ = split_probabilities(main_path, fast_path, prepared, check_split)
    check = {
        "main_alone": door_outcome(check_main, check_targets, labels, threshold),
        "pair": door_outcome(fast_first(check_main, check_fast, min_score), check_targets, labels, threshold),
        "fast_share": float((check_fast.max(axis=1) >= min_score).mean()),
    }
    card_path = main_path.with_suffix(".json")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card.setdefault("decision", {})["fast_model"] = {
        "file": fast_path.name,
        "sha256": sha256_file(fast_path),
        "min_score": min_score,
        "chosen_on": f"{split} split ({len(targets)} crops): best door accuracy without letting more faces that are "
        "not properly masked pass than the model alone",
        split: table,
        check_split: check,
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    chosen = next(r for r in table if r["min_score"] == min_score)
    log.info(
        "%s: fast model %s keeps answers >= %.2f (%.0f%% of %s crops); door accuracy %.4f vs %.4f alone; %s split: "
        "%.4f vs %.4f",
        card_path,
        fast_path.name,
        min_score,
        100 * chosen["fast_share"],
        split,
        chosen["door_accuracy"],
        table[0]["door_accuracy"],
        check_split,
        check["pair"]["door_accuracy"],
        check["main_alone"]["door_accuracy"],
    )
    return card["decision"]["fast_model"]
