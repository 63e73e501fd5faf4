"""`maskgate-convert prepare`: detector crops made exactly as the runtime makes them, deduplicated, split.

Rule for faces: the runtime's detector runs on every photo and the largest face found is kept.
A photo with no face is retried once inside a black border of 25% of its longer side (tight
face crops, common in these datasets, leave YuNet no context); if that also finds nothing the
photo is skipped and counted. Near-duplicate crops (same 64-bit difference hash, e.g. the
augmented copies some datasets contain) are kept in one split, so the test split never holds a
copy of a training image.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from convert.dataset import MANIFEST_NAME, ManifestRow, class_folders, write_manifest
from edge.config import DetectorConfig
from edge.crop import DEFAULT_RULE, CropRule, crop_face
from edge.detectors.yunet import YuNetDetector
from edge.types import Face

log = logging.getLogger(__name__)

RETRY_BORDER = 0.25


@dataclass
class PrepareReport:
    kept: Counter = field(default_factory=Counter)
    no_face: Counter = field(default_factory=Counter)
    unreadable: Counter = field(default_factory=Counter)
    duplicates: Counter = field(default_factory=Counter)
    padded_retry: Counter = field(default_factory=Counter)
    splits: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def as_dict(self) -> dict[str, object]:
        return {
            "kept": dict(self.kept),
            "no_face_skipped": dict(self.no_face),
            "unreadable_skipped": dict(self.unreadable),
            "exact_duplicates_removed": dict(self.duplicates),
            "found_after_padding": dict(self.padded_retry),
            "splits": {k: dict(v) for k, v in self.splits.items()},
        }


def largest_face(detector: YuNetDetector, image: np.ndarray) -> tuple[Face | None, str]:
    faces = detector.detect(image)
    if faces:
        return max(faces, key=lambda f: f.width), "largest"
    border = round(RETRY_BORDER * max(image.shape[:2]))
    padded = cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    faces = detector.detect(padded)
    if not faces:
        return None, "none"
    face = max(faces, key=lambda f: f.width)
    x1, y1, x2, y2 = (v - border for v in face.box)
    return Face((x1, y1, x2, y2), face.score), "padded"


def difference_hash(crop: np.ndarray) -> int:
    gray = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (9, 8), interpolation=cv2.INTER_AREA)
    bits = (gray[:, 1:] > gray[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def source_names(dataset_dir: Path) -> dict[str, str]:
    """file (relative to the dataset) -> source repository, from a MANIFEST.csv beside the classes if any."""
    path = dataset_dir / "MANIFEST.csv"
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["file"]: row.get("source_repo", "") for row in csv.DictReader(handle)}


def assign_splits(groups: dict[str, list[list[int]]], seed: int, val: float, test: float) -> dict[int, str]:
    """Seeded, stratified split of duplicate groups; every member of a group gets the group's split."""
    rng = np.random.default_rng(seed)
    split_of = {}
    for label in sorted(groups):
        label_groups = groups[label]
        order = rng.permutation(len(label_groups))
        total = sum(len(g) for g in label_groups)
        n_test, n_val = round(total * test), round(total * val)
        taken = 0
        for index in order:
            group = label_groups[index]
            split = "test" if taken < n_test else "val" if taken < n_test + n_val else "train"
            taken += len(group)
            for member in group:
                split_of[member] = split
    return split_of


def prepare(
    dataset_dir: Path,
    out_dir: Path,
    detector_model: Path,
    *,
    rule: CropRule = DEFAULT_RULE,
    detector_config: DetectorConfig | None = None,
    seed: int = 1234,
    val: float = 0.1,
    test: float = 0.1,
    limit_per_class: int | None = None,
) -> PrepareReport:
    classes = class_folders(dataset_dir)
    detector = YuNetDetector(detector_model, detector_config or DetectorConfig())
    sources = source_names(dataset_dir)
    report = PrepareReport()
    seen_bytes: set[str] = set()
    pending: list[dict] = []
    rng = np.random.default_rng(seed)
    for label, files in classes.items():
        if limit_per_class is not None:
            files = [files[i] for i in sorted(rng.permutation(len(files))[:limit_per_class])]
        (out_dir / "crops" / label).mkdir(parents=True, exist_ok=True)
        for path in files:
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen_bytes:
                report.duplicates[label] += 1
                continue
            seen_bytes.add(digest)
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("skipping %s: not a readable image", path)
                report.unreadable[label] += 1
                continue
            face, how = largest_face(detector, image)
            if face is None:
                report.no_face[label] += 1
                continue
            if how == "padded":
                report.padded_retry[label] += 1
            crop = crop_face(image, face.box, rule)
            relative = Path("crops") / label / f"{path.stem}.jpg"
            cv2.imwrite(str(out_dir / relative), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
            pending.append(
                {
                    "file": relative.as_posix(),
                    "label": label,
                    "source_file": str(path.relative_to(dataset_dir)),
                    "source_sha256": digest,
                    "face_score": round(face.score, 4),
                    "rule": how,
                    "dhash": difference_hash(crop),
                    "source": sources.get(path.relative_to(dataset_dir).as_posix(), "").split("/")[0],
                }
            )
            report.kept[label] += 1
    groups: dict[str, dict[int, list[int]]] = defaultdict(dict)
    for index, item in enumerate(pending):
        groups[item["label"]].setdefault(item["dhash"], []).append(index)
    split_of = assign_splits({k: list(v.values()) for k, v in groups.items()}, seed, val, test)
    rows = []
    for index, item in enumerate(pending):
        split = split_of[index]
        report.splits[split][item["label"]] += 1
        item.pop("dhash")
        rows.append(
            ManifestRow(split=split, sha256=hashlib.sha256((out_dir / item["file"]).read_bytes()).hexdigest(), **item)
        )
    write_manifest(out_dir / MANIFEST_NAME, rows)
    summary = {
        "dataset": str(dataset_dir),
        "detector": str(detector_model),
        "crop": rule.as_dict(),
        "seed": seed,
        "val_fraction": val,
        "test_fraction": test,
        "limit_per_class": limit_per_class,
        **report.as_dict(),
    }
    (out_dir / "prepare_report.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log.info("prepared %s", json.dumps(report.as_dict()))
    return report
