"""Reading class-per-folder datasets and the prepared-crop manifest."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from edge.errors import SetupError

CANONICAL_LABELS = {
    "with_mask": "mask",
    "without_mask": "no_mask",
    "with_incorrect_mask": "mask_incorrect",
    "mask_weared_incorrect": "mask_incorrect",
}
MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = (
    "file",
    "label",
    "split",
    "sha256",
    "source_file",
    "source_sha256",
    "source",
    "face_score",
    "rule",
    "landmarks",
)


class DatasetError(SetupError, ValueError):
    pass


def canonical_label(folder_name: str) -> str:
    return CANONICAL_LABELS.get(folder_name, folder_name)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def class_folders(dataset_dir: Path, min_classes: int = 2) -> dict[str, list[Path]]:
    """label -> files of each class folder; a missing dataset, too few classes or an empty class fail clearly.
    One dataset of several may hold a single class (e.g. bare faces only)."""
    if not dataset_dir.is_dir():
        raise DatasetError(f"dataset directory not found: {dataset_dir}")
    classes = {}
    for folder in sorted(p for p in dataset_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(
            p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".") and p.name != "MANIFEST.csv"
        )
        if not files:
            raise DatasetError(f"class folder {folder} is empty")
        classes[canonical_label(folder.name)] = files
    if len(classes) < min_classes:
        raise DatasetError(
            f"{dataset_dir} has {len(classes)} class folder(s) {sorted(classes)}; need at least {min_classes} "
            "(e.g. with_mask/ and without_mask/)"
        )
    return classes


@dataclass(frozen=True)
class ManifestRow:
    file: str
    label: str
    split: str
    sha256: str
    source_file: str
    source_sha256: str
    source: str
    face_score: float
    rule: str
    landmarks: str = ""
    """The detector's five landmarks in crop pixels, "x y" pairs separated by spaces; empty if unknown."""

    def landmark_points(self):
        """(5, 2) float32 array of the landmarks in crop pixels, or None."""
        import numpy as np

        if not self.landmarks:
            return None
        return np.array(self.landmarks.split(), np.float32).reshape(5, 2)


def write_manifest(path: Path, rows: list[ManifestRow]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_FIELDS)
        for row in rows:
            writer.writerow([getattr(row, name) for name in MANIFEST_FIELDS])


def read_manifest(prepared_dir: Path) -> list[ManifestRow]:
    path = prepared_dir / MANIFEST_NAME
    if not path.is_file():
        raise DatasetError(f"{path} not found: run `maskgate-convert prepare DATASET_DIR {prepared_dir}` first")
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            ManifestRow(**{**row, "face_score": float(row["face_score"]), "landmarks": row.get("landmarks") or ""})
            for row in csv.DictReader(handle)
        ]


def labels_of(rows: list[ManifestRow]) -> list[str]:
    """Class labels in a fixed order: mask, no_mask, then any further classes alphabetically (mask_incorrect)."""
    found = {row.label for row in rows}
    ordered = [label for label in ("mask", "no_mask") if label in found]
    return ordered + sorted(found - set(ordered))


def manifest_sha256(prepared_dir: Path) -> str:
    return sha256_file(prepared_dir / MANIFEST_NAME)


def load_crops(prepared_dir: Path, rows: list[ManifestRow], labels: list[str], size: int):
    """BGR uint8 crops resized to size x size, and their class indices (into labels)."""
    import cv2
    import numpy as np

    images = np.zeros((len(rows), size, size, 3), np.uint8)
    targets = np.zeros(len(rows), np.int64)
    for i, row in enumerate(rows):
        image = cv2.imread(str(prepared_dir / row.file), cv2.IMREAD_COLOR)
        if image is None:
            raise DatasetError(f"prepared crop {prepared_dir / row.file} is missing or unreadable; run prepare again")
        if image.shape[0] != size:
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        images[i] = image
        targets[i] = labels.index(row.label)
    return images, targets
