"""The scripts in examples/ run for real: real model files, real photos, a subprocess each."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FOLDER_LABELS = {"with_mask": "mask", "without_mask": "no_mask"}


def run_example(name: str, *args: object) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.fixture
def photos(facemask_dir: Path, tmp_path: Path) -> dict[str, str]:
    """Three photos of each class linked into one folder; file name -> the label its folder implies."""
    folder = tmp_path / "photos"
    folder.mkdir()
    expected = {}
    for sub, label in FOLDER_LABELS.items():
        for photo in sorted((facemask_dir / sub).glob("*.jpg"))[:3]:
            (folder / f"{sub}-{photo.name}").symlink_to(photo)
            expected[f"{sub}-{photo.name}"] = label
    return expected


def test_classify_photos_decides_every_photo_of_a_folder(model_env, photos, tmp_path):
    lines = run_example("classify_photos.py", tmp_path / "photos")
    decided: dict[str, set[str]] = {}
    for line in lines:
        frame, label, score, box = line.split("\t")
        assert 0.0 <= float(score) <= 1.0
        assert len(box.split(",")) == 4
        decided.setdefault(frame, set()).add(label)
    assert decided.keys() == photos.keys()
    assert decided == {name: {label} for name, label in photos.items()}


def test_custom_output_counts_and_writes_every_decision(model_env, photos, tmp_path):
    out = tmp_path / "decisions.csv"
    lines = run_example("count_labels_output.py", tmp_path / "photos", out)
    with out.open() as file:
        rows = list(csv.DictReader(file))
    printed = {label: int(count) for label, count in (line.split("\t") for line in lines)}
    from_csv: dict[str, int] = {}
    for row in rows:
        from_csv[row["label"]] = from_csv.get(row["label"], 0) + 1
        assert row["label"] == photos[row["frame"]]
    assert printed == from_csv
    assert {row["frame"] for row in rows} == photos.keys()


@pytest.mark.parametrize("folder", FOLDER_LABELS)
def test_generator_source_confirms_one_decision_after_the_vote(model_env, facemask_dir, folder):
    photo = sorted((facemask_dir / folder).glob("*.jpg"))[0]
    lines = run_example("generator_source.py", photo, "--frames", 12)
    decisions = [line for line in lines if " decided " in line]
    # One face standing still: the k-of-n vote (3 of 5 by default) confirms it once, on its third frame.
    assert decisions == [f"frame 2: track 1 decided {FOLDER_LABELS[folder]} " + decisions[0].split(" ")[-1]]
    assert lines[-1] == "12 frames, faces in the last one: 1"
