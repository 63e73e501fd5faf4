"""`maskgate-convert evaluate-crops`: real face crops through the real detector and classifier."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
from conftest import need_shared

from convert.cli import main as convert_main
from edge.vision.model_card import ModelCard

PER_CLASS = 12


def crops_folder(tmp_path: Path) -> Path:
    """Twelve crops-wild crops per class, a face-free grey picture among the masked ones and a text file."""
    shared = need_shared("data/crops-wild")
    root = tmp_path / "crops"
    for name in ("with_mask", "without_mask"):
        (root / name).mkdir(parents=True)
        for path in sorted((shared / name).glob("*.jpg"))[::97][:PER_CLASS]:
            shutil.copy(path, root / name / path.name)
    cv2.imwrite(str(root / "with_mask" / "grey.png"), np.full((120, 120, 3), 127, np.uint8))
    (root / "without_mask" / "notes.txt").write_text("not a picture")
    return root


def test_evaluate_crops_judges_each_picture_by_its_widest_face_and_counts_pictures_without_one(
    tmp_path: Path, yunet_model: Path, default_classifier: Path
) -> None:
    folder, out = crops_folder(tmp_path), tmp_path / "report"
    argv = ["evaluate-crops", str(folder), str(out), "--model", str(default_classifier), "--detector", str(yunet_model)]
    assert convert_main(argv) == 0
    report = json.loads((out / "crop_evaluation.json").read_text())
    assert report["skipped"] == {"no_mask": 1}, "the text file is no picture"
    assert report["detector"]["retry_border"] > 0, "judged with the settings image files get"
    pair = ModelCard.for_model(default_classifier).fast_model
    assert pair is not None
    assert set(report["models"]) == {
        default_classifier.name,
        f"{default_classifier.name} + {pair.file} >= {pair.min_score:g}",
    }, "the model alone and with its fast-first partner, as evaluate-door reports them"
    for by_class in report["models"].values():
        masked, bare = by_class["mask"], by_class["no_mask"]
        assert (masked["pictures"], bare["pictures"]) == (PER_CLASS + 1, PER_CLASS)
        assert masked["no_face"]["n"] >= 1, "the grey picture has no face"
        for label, scores in by_class.items():
            assert sum(scores["answers"].values()) == scores["pictures"]
            assert scores["answers"].get("no face", 0) == scores["no_face"]["n"]
            assert scores["answers"].get(label, 0) == scores["right_label"]["n"]
        assert masked["let_in"]["n"] == masked["right_label"]["n"], "only mask lets in"
        assert masked["let_in"]["rate"] > 0.7 > 0.2 > bare["let_in"]["rate"]
    markdown = (out / "crop_evaluation.md").read_text()
    assert "| mask | 13 |" in markdown and "no face found" in markdown


def test_evaluate_crops_without_a_folder_or_a_model_ends_with_status_2(
    tmp_path: Path, default_classifier: Path
) -> None:
    assert convert_main(["evaluate-crops", str(tmp_path / "nowhere"), str(tmp_path / "o"), "--model", "x"]) == 2
    empty_class = tmp_path / "crops" / "with_mask"
    empty_class.mkdir(parents=True)
    assert convert_main(["evaluate-crops", str(tmp_path / "crops"), str(tmp_path / "o"), "--model", "x"]) == 2
    (empty_class / "a.jpg").write_bytes(b"")
    missing = str(tmp_path / "missing.tflite")
    assert convert_main(["evaluate-crops", str(tmp_path / "crops"), str(tmp_path / "o"), "--model", missing]) == 2
    assert not (tmp_path / "o" / "crop_evaluation.json").exists()
