"""The known-answer self-test: passes for the shipped models on this runtime, fails for a card whose labels
are swapped, for a runtime that answers the same for every input and for a detector that misses faces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from convert.data.reference_faces import REFERENCES, write_reference_images
from edge.cli import main
from edge.config import DetectorConfig
from edge.detectors import create_detector
from edge.health.self_test import (
    FRAME_ANSWERS,
    FRAME_FILE,
    REFERENCE_DIR,
    SelfTestError,
    check_classifier,
    check_detector,
    require_passed,
)
from edge.vision.classifier import MaskClassifier
from edge.vision.types import Face


def swapped_copy(model: Path, dest: Path, first: str, second: str) -> Path:
    """The model file with a card whose labels `first` and `second` trade places (a mislabelled model)."""
    copy = dest / model.name
    shutil.copy(model, copy)
    card = json.loads(model.with_suffix(".json").read_text())
    i, j = card["labels"].index(first), card["labels"].index(second)
    card["labels"][i], card["labels"][j] = card["labels"][j], card["labels"][i]
    copy.with_suffix(".json").write_text(json.dumps(card))
    return copy


class ConstantOutputs:
    """A runtime that runs but answers one fixed output tensor for every input (what XNNPACK's int8 path did
    under an emulated CPU with SVE)."""

    def __init__(self, interpreter, output: np.ndarray) -> None:
        self._interpreter = interpreter
        self._output_index = interpreter.get_output_details()[0]["index"]
        self._constant = output

    def get_tensor(self, index: int) -> np.ndarray:
        if index == self._output_index:
            return self._constant.copy()
        return self._interpreter.get_tensor(index)

    def __getattr__(self, name: str):
        return getattr(self._interpreter, name)


@pytest.mark.parametrize("model", ["mask_classifier_int8", "mask_classifier_small_int8"])
def test_the_shipped_classifiers_give_their_recorded_answers(default_classifier: Path, model: str) -> None:
    classifier = MaskClassifier(default_classifier.parent / f"{model}.tflite")
    result = check_classifier(classifier)
    assert result.ok is True, result.detail
    recorded = classifier.card.raw["self_test"]["images"]
    assert len(recorded) >= 4
    assert len({tuple(image["output"]) for image in recorded}) >= 2, "a constant runtime must not be able to pass"


def test_the_default_classifiers_references_cover_every_label(default_classifier: Path) -> None:
    card = json.loads(default_classifier.with_suffix(".json").read_text())
    assert {image["label"] for image in card["self_test"]["images"]} == set(card["labels"])


@pytest.mark.parametrize(("first", "second"), [("mask", "no_mask"), ("no_mask", "mask_incorrect")])
def test_swapped_labels_fail_and_the_error_names_runtime_cpu_and_model(
    default_classifier: Path, tmp_path: Path, first: str, second: str
) -> None:
    classifier = MaskClassifier(swapped_copy(default_classifier, tmp_path, first, second))
    result = check_classifier(classifier)
    assert result.ok is False
    assert "recorded" in result.detail
    with pytest.raises(SelfTestError) as error:
        require_passed([result], classifier, "yunet")
    message = str(error.value)
    assert "ai-edge-litert" in message and "CPU" in message and str(classifier.model_path) in message


def test_a_runtime_with_constant_outputs_fails(default_classifier: Path) -> None:
    classifier = MaskClassifier(default_classifier)
    first = classifier.card.raw["self_test"]["images"][0]["output"]
    classifier._interpreter = ConstantOutputs(classifier._interpreter, np.array([first], np.uint8))
    result = check_classifier(classifier)
    assert result.ok is False
    assert result.detail.count("recorded") >= 2, "every reference but the first must disagree"


def test_a_card_without_answers_is_not_checked_and_says_so(default_classifier: Path, tmp_path: Path) -> None:
    copy = tmp_path / default_classifier.name
    shutil.copy(default_classifier, copy)
    card = json.loads(default_classifier.with_suffix(".json").read_text())
    del card["self_test"]
    copy.with_suffix(".json").write_text(json.dumps(card))
    result = check_classifier(MaskClassifier(copy))
    assert result.ok is None and "records no reference answers" in result.detail


def test_a_garbled_self_test_block_is_a_setup_error_naming_the_card(default_classifier: Path, tmp_path: Path) -> None:
    copy = tmp_path / default_classifier.name
    shutil.copy(default_classifier, copy)
    card = json.loads(default_classifier.with_suffix(".json").read_text())
    del card["self_test"]["tolerance"]
    copy.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(SelfTestError, match=r"mask_classifier_int8.json: self_test lacks or garbles 'tolerance'"):
        check_classifier(MaskClassifier(copy))


@pytest.mark.parametrize("detector_type", ["yunet", "ultraface", "res10"])
def test_the_detectors_find_the_recorded_reference_faces(shared_models: Path, detector_type: str) -> None:
    detector = create_detector(DetectorConfig(type=detector_type), [shared_models])
    result = check_detector(detector, detector_type)
    assert result.ok is True, result.detail


class MissesAFace:
    input_label = "fake"

    def __init__(self, detector) -> None:
        self._detector = detector

    def detect(self, frame: np.ndarray) -> list[Face]:
        return self._detector.detect(frame)[:1]


class ShiftsBoxes(MissesAFace):
    def detect(self, frame: np.ndarray) -> list[Face]:
        moved = []
        for face in self._detector.detect(frame):
            x1, y1, x2, y2 = face.box
            moved.append(Face((x1 + 40, y1 + 40, x2 + 40, y2 + 40), face.score))
        return moved


@pytest.mark.parametrize("wrapper", [MissesAFace, ShiftsBoxes])
def test_a_detector_that_misses_or_moves_faces_fails(shared_models: Path, wrapper: type) -> None:
    detector = wrapper(create_detector(DetectorConfig(), [shared_models]))
    result = check_detector(detector, "yunet")
    assert result.ok is False and FRAME_FILE in result.detail


def test_run_refuses_to_start_with_a_mislabelled_model(model_env: Path, tmp_path: Path, capsys) -> None:
    from edge.modelfiles.find import DEFAULT_CLASSIFIER, packaged_model_dir

    model = swapped_copy(packaged_model_dir() / DEFAULT_CLASSIFIER, tmp_path, "mask", "no_mask")
    config = tmp_path / "maskgate.toml"
    config.write_text(f'[classifier]\nmodel = "{model}"\nfast_first = false\n')  # the model's own self-test
    source = REFERENCE_DIR / FRAME_FILE
    assert main(["run", "--config", str(config), "--source", str(source), "--events", "-"]) == 2
    error = capsys.readouterr().err
    assert "self-test failed" in error and str(model) in error and "labels do not fit" in error


def test_the_shipped_reference_images_are_what_the_generator_draws(tmp_path: Path) -> None:
    written = write_reference_images(tmp_path)
    assert {p.name for p in written} == {f"{r.name}.png" for r in REFERENCES} | {FRAME_FILE}
    import cv2

    for path in written:
        shipped = cv2.imread(str(REFERENCE_DIR / path.name))
        assert shipped is not None, f"{path.name} is not in the package"
        assert np.array_equal(shipped, cv2.imread(str(path))), f"{path.name} differs from what the generator draws"
    answers = json.loads((REFERENCE_DIR / FRAME_ANSWERS).read_text())
    assert {"yunet", "ultraface", "res10"} <= set(answers)
