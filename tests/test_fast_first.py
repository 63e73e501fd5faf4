"""The fast-first pair: the small model labels every face and keeps what it is sure of, the default model
classifies the rest (edge.vision.classifier.FastFirstClassifier, built from the default model's card)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from convert.data.dataset import DatasetError
from convert.training.fast_first import choose_min_score, door_outcome, fast_first
from edge.app import build_classifier
from edge.cli import main as cli_main
from edge.config import from_dict
from edge.health.self_test import run_self_test
from edge.modelfiles.tflite import ModelLoadError
from edge.vision.classifier import FastFirstClassifier, MaskClassifier
from edge.vision.model_card import ModelCard, ModelCardError

SMALL = "mask_classifier_small_int8.tflite"


def faces(facemask_dir: Path, per_class: int = 6) -> list[np.ndarray]:
    files = [
        f for label in ("with_mask", "without_mask") for f in sorted((facemask_dir / label).glob("*.jpg"))[:per_class]
    ]
    return [cv2.resize(cv2.imread(str(f)), (224, 224), interpolation=cv2.INTER_AREA) for f in files]


def copy_pair(default_classifier: Path, tmp_path: Path) -> Path:
    for name in (default_classifier.name, SMALL):
        for suffix in (".tflite", ".json"):
            source = default_classifier.with_name(name).with_suffix(suffix)
            shutil.copy(source, tmp_path / source.name)
    return tmp_path / default_classifier.name


def test_the_default_model_is_paired_with_the_shipped_small_one(default_classifier: Path) -> None:
    fast = ModelCard.for_model(default_classifier).fast_model
    assert fast is not None and fast.file == SMALL
    assert 0.5 < fast.min_score <= 1.0
    classifier = build_classifier(from_dict({}))
    assert isinstance(classifier, FastFirstClassifier)
    assert classifier.fast.model_path.name == SMALL and classifier.min_score == fast.min_score
    assert classifier.fast_first == f"{SMALL} >= {fast.min_score:g}"
    alone = build_classifier(from_dict({"classifier": {"fast_first": False}}))
    assert isinstance(alone, MaskClassifier) and alone.fast_first is None


def test_sure_answers_are_the_fast_models_and_the_rest_the_main_models(
    default_classifier: Path, facemask_dir: Path
) -> None:
    main = MaskClassifier(default_classifier)
    fast = MaskClassifier(default_classifier.with_name(SMALL))
    crops = faces(facemask_dir)
    small = [cv2.resize(c, (128, 128), interpolation=cv2.INTER_AREA) for c in crops]
    fast_alone, main_alone = fast.classify(small), main.classify(crops)
    min_score = float(np.median(fast_alone.max(axis=1)))  # half the faces each way, whatever the models say
    pair = FastFirstClassifier(main, fast, min_score)
    combined = pair.classify(crops)
    sure = fast_alone.max(axis=1) >= min_score
    assert 0 < sure.sum() < len(crops)
    np.testing.assert_allclose(combined[sure], fast_alone[sure], atol=1e-6)
    np.testing.assert_allclose(combined[~sure], main_alone[~sure], atol=1e-6)
    assert (pair.fast_answers, pair.main_answers) == (int(sure.sum()), int((~sure).sum()))
    assert pair.classify([]).shape == (0, 3)
    everything_to_main = FastFirstClassifier(main, fast, 1.0).classify(crops)
    np.testing.assert_allclose(everything_to_main, main_alone, atol=1e-6)


def test_a_site_mask_threshold_above_min_score_still_holds_for_the_fast_models_answers(
    default_classifier: Path,
) -> None:
    pair = build_classifier(from_dict({"classifier": {"mask_threshold": 0.99}}))
    assert isinstance(pair, FastFirstClassifier) and pair.min_score < 0.99
    assert pair.label_of(np.array([0.96, 0.03, 0.01]))[0] == "unsure"
    assert pair.label_of(np.array([0.995, 0.004, 0.001]))[0] == "mask"


def test_a_pair_needs_the_same_labels_and_a_min_score_above_the_thresholds(default_classifier: Path) -> None:
    main = MaskClassifier(default_classifier)
    fast = MaskClassifier(default_classifier.with_name(SMALL))
    with pytest.raises(ModelLoadError, match=r"min_score 0\.3 must lie within"):
        FastFirstClassifier(main, fast, 0.3)
    fast.labels = ("mask", "no_mask", "something_else")
    with pytest.raises(ModelLoadError, match="same labels"):
        FastFirstClassifier(main, fast, 0.95)


def test_a_missing_or_replaced_fast_model_is_refused_naming_it_and_the_way_out(
    default_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    main = copy_pair(default_classifier, tmp_path)
    config = from_dict({"classifier": {"model": str(main)}})
    assert isinstance(build_classifier(config), FastFirstClassifier)
    toml = tmp_path / "maskgate.toml"
    toml.write_text(f'[classifier]\nmodel = "{main}"\n')
    assert cli_main(["models", "--config", str(toml)]) == 0
    assert f"fast classifier: {tmp_path / SMALL}  (in use)" in capsys.readouterr().out
    (tmp_path / SMALL).unlink()
    with pytest.raises(ModelLoadError, match=f"{SMALL}.*not found.*fast_first = false"):
        build_classifier(config)
    assert cli_main(["models", "--config", str(toml)]) == 1
    assert "fast classifier: not found  (in use!)" in capsys.readouterr().out
    assert isinstance(
        build_classifier(from_dict({"classifier": {"model": str(main), "fast_first": False}})), MaskClassifier
    )
    shutil.copy(default_classifier.with_name(SMALL), tmp_path / SMALL)
    card = json.loads(main.with_suffix(".json").read_text())
    card["decision"]["fast_model"]["sha256"] = "0" * 64
    main.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match=r"pairs mask_classifier_int8\.tflite with sha256 0000"):
        build_classifier(config)
    card["decision"]["fast_model"]["min_score"] = 1.5
    main.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match=r"fast_model\.min_score must be within"):
        ModelCard.for_model(main)


def test_the_self_test_checks_both_models_of_the_pair(default_classifier: Path, yunet_model: Path) -> None:
    from edge.detectors.yunet import YuNetDetector

    detector = YuNetDetector(yunet_model, from_dict({}).detector)
    results = run_self_test(detector, "yunet", build_classifier(from_dict({})))
    assert [(r.part, r.ok) for r in results] == [
        ("face detector", True),
        ("classifier", True),
        ("fast classifier", True),
    ]


LABELS = ["mask", "no_mask", "mask_incorrect"]


def test_min_score_is_the_best_door_accuracy_that_lets_no_more_bare_faces_pass() -> None:
    targets = np.array([0, 0, 1, 1, 2])  # mask, mask, no_mask, no_mask, mask_incorrect
    main = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8]])
    # the fast model is sure and right on the first three faces (0.97, 0.95, 0.96), 0.88 sure and wrong on the
    # fourth (a bare face called mask), unsure on the fifth
    fast = np.array([[0.97, 0.02, 0.01], [0.95, 0.03, 0.02], [0.02, 0.96, 0.02], [0.88, 0.1, 0.02], [0.3, 0.3, 0.4]])
    assert door_outcome(main, targets, LABELS, 0.5) == {"door_accuracy": 0.8, "not_masked_passed": 0.0}
    np.testing.assert_array_equal(fast_first(main, fast, 0.9), np.vstack([fast[:3], main[3:]]))
    score, table = choose_min_score(main, fast, targets, LABELS, 0.5, floor=0.5)
    by_score = {row["min_score"]: row for row in table[1:]}
    # up to 0.88 the bare fourth face would pass: refused, however right the door is otherwise
    assert by_score[0.88] == {"min_score": 0.88, "door_accuracy": 0.8, "not_masked_passed": 1 / 3, "fast_share": 0.8}
    # 0.89 to 0.95 all five are right; of those equally good scores the highest wins
    assert by_score[0.89]["door_accuracy"] == by_score[0.95]["door_accuracy"] == 1.0
    assert by_score[0.96]["door_accuracy"] == 0.8
    assert score == 0.95 and table[0]["door_accuracy"] == 0.8
    always_sure_mask = np.array([[0.995, 0.003, 0.002]] * 5)
    with pytest.raises(DatasetError, match="does not help"):
        choose_min_score(main, always_sure_mask, targets, LABELS, 0.5, floor=0.5)
