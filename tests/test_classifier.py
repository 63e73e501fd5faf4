import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.modelfiles.tflite import ModelLoadError
from edge.vision.classifier import MaskClassifier
from edge.vision.model_card import ModelCardError


def crops(facemask_dir: Path, label: str, count: int, size: int) -> list[np.ndarray]:
    files = sorted((facemask_dir / label).glob("*.jpg"))[:count]
    return [cv2.resize(cv2.imread(str(f)), (size, size)) for f in files]


def copy_model(model: Path, tmp_path: Path) -> Path:
    target = tmp_path / model.name
    shutil.copy(model, target)
    shutil.copy(model.with_suffix(".json"), target.with_suffix(".json"))
    return target


def test_default_model_reads_its_quantization_and_labels_from_model_and_card(default_classifier):
    classifier = MaskClassifier(default_classifier)
    assert classifier.labels == ("mask", "no_mask", "mask_incorrect")
    assert classifier.card.output_kind == "logits" and classifier.card.temperature > 0
    assert classifier.mask_threshold is not None and 0.5 <= classifier.mask_threshold < 1
    assert classifier._input["dtype"] == np.uint8
    assert tuple(classifier._input["quantization"]) == (1.0, 0), "raw pixels in: no float preprocessing on the Pi"


def test_probabilities_are_a_distribution_and_batch_equals_per_face(default_classifier, facemask_dir):
    faces = crops(facemask_dir, "with_mask", 3, 224) + crops(facemask_dir, "without_mask", 3, 224)
    single = MaskClassifier(default_classifier, num_threads=1).classify(faces)
    batched = MaskClassifier(default_classifier, num_threads=2, batch=True).classify(faces)
    assert single.shape == (6, 3)
    np.testing.assert_allclose(single.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(single, batched, atol=1e-6)
    assert MaskClassifier(default_classifier).classify([]).shape == (0, 3)
    top = single.max(axis=1)
    assert len(set(np.round(top, 6).tolist())) == len(top), "logits softmaxed in the runtime: no shared 255/256 cap"
    assert not np.any(np.isclose(top, 255 / 256, atol=1e-7))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_corrupt_or_truncated_model_names_the_file(default_classifier, tmp_path, damage):
    model = copy_model(default_classifier, tmp_path)
    data = model.read_bytes()
    model.write_bytes({"truncate": data[: len(data) // 3], "garbage": b"\x00not a model" * 100, "empty": b""}[damage])
    with pytest.raises(ModelLoadError, match=str(model)):
        MaskClassifier(model)


def test_a_missing_card_or_one_that_does_not_fit_the_model_is_refused(default_classifier, tmp_path):
    model = copy_model(default_classifier, tmp_path)
    card = json.loads(model.with_suffix(".json").read_text())
    model.with_suffix(".json").unlink()
    with pytest.raises(ModelCardError, match=r"card .* not found"):
        MaskClassifier(model)
    model.with_suffix(".json").write_text(json.dumps({**card, "input": {**card["input"], "size": 160}}))
    with pytest.raises(ModelLoadError, match=r"does not fit crops of 160x160x3"):
        MaskClassifier(model)
    model.with_suffix(".json").write_text(json.dumps({**card, "labels": ["mask", "no_mask"]}))
    with pytest.raises(ModelLoadError, match="output has 3 classes but the model card names 2"):
        MaskClassifier(model)
    model.with_suffix(".json").write_text("{labels")
    with pytest.raises(ModelCardError, match="not valid JSON"):
        MaskClassifier(model)


def test_every_installed_backend_gives_the_same_probabilities(default_classifier, facemask_dir):
    from edge.modelfiles.tflite import interpreter_class
    from edge.registry import TFLITE_RUNTIMES

    faces = crops(facemask_dir, "without_mask", 2, 224)
    results = {}
    for backend in TFLITE_RUNTIMES:
        try:
            interpreter_class(backend)
        except ModelLoadError:
            continue
        results[backend] = MaskClassifier(default_classifier, backend=backend).classify(faces)
    assert "ai-edge-litert" in results
    for probabilities in results.values():
        np.testing.assert_allclose(probabilities, results["ai-edge-litert"], atol=0.02)


def test_the_small_variant_ships_and_takes_128_pixel_crops(default_classifier, facemask_dir):
    small = MaskClassifier(default_classifier.with_name("mask_classifier_small_int8.tflite"))
    assert small.input_size == 128 and small.labels == ("mask", "no_mask", "mask_incorrect")
    probabilities = small.classify(crops(facemask_dir, "without_mask", 4, 128))
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.02)


def test_the_classifier_keyword_defaults_are_the_configs() -> None:
    """`maskgate run` builds the classifier from [classifier] (edge.app); its keyword defaults serve convert and
    tests, and must not drift from the config's as Tracker's recheck_every once did."""
    import inspect

    from edge.config import ClassifierConfig

    defaults = {name: p.default for name, p in inspect.signature(MaskClassifier).parameters.items()}
    config = ClassifierConfig()
    assert (defaults["num_threads"], defaults["batch"], defaults["backend"]) == (
        config.num_threads,
        config.batch,
        config.backend,
    )
    assert defaults["mask_threshold"] is None and config.mask_threshold == 0.0, "both mean: the model card's"
