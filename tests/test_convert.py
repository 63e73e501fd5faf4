"""The conversion stage end to end on real photos, CI-sized: prepare -> train -> quantize -> evaluate."""

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the conversion stage needs `pip install .[convert]`")

from convert.cli import main as convert_main
from convert.dataset import DatasetError, class_folders, read_manifest
from convert.prepare import largest_face, prepare
from convert.quantize import quantize
from convert.train import TrainSettings, WeightsError, build_base, train
from edge.classifier import MaskClassifier
from edge.config import DetectorConfig
from edge.crop import crop_face
from edge.detectors.yunet import YuNetDetector

PER_CLASS = 40


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, facemask_dir) -> Path:
    """A small class-per-folder dataset of real photos, with a corrupt file and a non-image in each class."""
    root = tmp_path_factory.mktemp("dataset")
    for folder in ("with_mask", "without_mask"):
        (root / folder).mkdir()
        for path in sorted((facemask_dir / folder).glob("*.jpg"))[::40][:PER_CLASS]:
            shutil.copy(path, root / folder / path.name)
        (root / folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage of " + folder.encode())
        (root / folder / "readme.txt").write_text(f"{folder}: not an image")
    first = sorted((root / "with_mask").glob("*.jpg"))[0]
    shutil.copy(first, root / "with_mask" / "copy_of_first.jpg")
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory, dataset, yunet_model, imagenet_weights) -> dict:
    work = tmp_path_factory.mktemp("convert")
    report = prepare(dataset, work / "prepared", yunet_model, seed=7)
    settings = TrainSettings(weights=str(imagenet_weights), copies=1, head_epochs=6, finetune_epochs=1, seed=7)
    trained = train(work / "prepared", work / "trained", settings)
    written = quantize(
        work / "trained" / "model.keras", work / "prepared", work / "tflite", samples=16, variants=("int8", "float32")
    )
    return {"work": work, "prepare": report, "train": trained, "tflite": written}


def test_the_training_record_names_input_files_by_name_and_digest_not_path(built, imagenet_weights):
    settings = built["train"]["settings"]
    assert settings["weights"] == imagenet_weights.name
    assert settings["weights_sha256"] == hashlib.sha256(imagenet_weights.read_bytes()).hexdigest()
    assert settings["teacher"] == "" and "teacher_sha256" not in settings


def test_prepare_counts_bad_files_removes_duplicates_and_splits_by_class(built):
    report = built["prepare"]
    assert report.unreadable == {"mask": 2, "no_mask": 2}, "corrupt.jpg and readme.txt in each class"
    assert report.duplicates["mask"] == 1
    assert sum(report.kept.values()) + sum(report.no_face.values()) == 2 * PER_CLASS
    rows = read_manifest(built["work"] / "prepared")
    for split in ("train", "val", "test"):
        assert {r.label for r in rows if r.split == split} == {"mask", "no_mask"}
    assert len({r.sha256 for r in rows}) == len(rows)


def test_training_crops_are_the_runtime_crops(built, dataset, yunet_model):
    row = read_manifest(built["work"] / "prepared")[0]
    image = cv2.imread(str(dataset / row.source_file))
    face, _ = largest_face(YuNetDetector(yunet_model, DetectorConfig()), image)
    runtime_crop = crop_face(image, face.box)
    saved = cv2.imread(str(built["work"] / "prepared" / row.file))
    assert saved.shape == runtime_crop.shape == (224, 224, 3)
    assert np.abs(saved.astype(int) - runtime_crop.astype(int)).mean() < 3, "only JPEG noise may differ"


def test_quantized_model_is_full_integer_with_raw_pixel_input_and_a_card(built):
    int8 = built["tflite"]["int8"]
    card = json.loads(int8.with_suffix(".json").read_text())
    assert card["labels"] == ["mask", "no_mask"]
    assert card["input"]["dtype"] == "uint8" and card["input"]["quantization"] == [1.0, 0]
    assert card["crop"]["size"] == 224 and card["crop"]["margin"] == 0.2
    assert len(card["dataset"]["manifest_sha256"]) == 64
    assert {"tensorflow", "keras", "maskgate"} <= set(card["tools"])
    assert 0.0 <= card["metrics"]["test_split"]["accuracy"] <= 1.0
    assert int8.stat().st_size < built["tflite"]["float32"].stat().st_size / 3


def test_evaluate_compares_float_and_int8_and_they_agree(built):
    work = built["work"]
    code = convert_main(
        [
            "evaluate",
            str(work / "trained" / "model.keras"),
            str(built["tflite"]["float32"]),
            str(built["tflite"]["int8"]),
            str(work / "prepared"),
            str(work / "report"),
            "--split",
            "train",
        ]
    )
    assert code == 0
    report = json.loads((work / "report" / "evaluation.json").read_text())
    assert set(report["results"]) == {"model.keras", "mask_classifier_float32.tflite", "mask_classifier_int8.tflite"}
    assert report["agreement_with_first"]["mask_classifier_float32.tflite"] >= 0.98
    assert report["agreement_with_first"]["mask_classifier_int8.tflite"] >= 0.85
    assert "| mask_classifier_int8.tflite |" in (work / "report" / "evaluation.md").read_text()
    assert cv2.imread(str(work / "report" / "confusion.png")) is not None


def test_the_runtime_runs_the_produced_model_with_its_card(built):
    classifier = MaskClassifier(built["tflite"]["int8"])
    crop = cv2.imread(str(next((built["work"] / "prepared" / "crops" / "no_mask").glob("*.jpg"))))
    probabilities = classifier.classify([crop])
    assert probabilities.shape == (1, 2) and abs(float(probabilities.sum()) - 1) < 0.02


def test_a_missing_dataset_a_single_class_and_an_empty_class_are_named(tmp_path):
    with pytest.raises(DatasetError, match="dataset directory not found"):
        class_folders(tmp_path / "nope")
    (tmp_path / "with_mask").mkdir()
    (tmp_path / "with_mask" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"1 class folder\(s\) \['mask'\]; need at least two"):
        class_folders(tmp_path)
    (tmp_path / "without_mask").mkdir()
    with pytest.raises(DatasetError, match=r"class folder .*without_mask is empty"):
        class_folders(tmp_path)
    assert convert_main(["prepare", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2


def test_weights_of_another_shape_are_refused_clearly(imagenet_weights):
    settings = TrainSettings(alpha=0.35, size=96, weights=str(imagenet_weights))
    with pytest.raises(WeightsError, match=r"does not fit MobileNetV2\(alpha=0.35"):
        build_base(settings)
    with pytest.raises(WeightsError, match="weights file not found"):
        build_base(TrainSettings(weights="/nonexistent.h5"))
