"""`maskgate-convert prepare`: detector crops made exactly as the runtime makes them, deduplicated, split.

Datasets are class-per-folder (`with_mask/`, `without_mask/`, `mask_incorrect/`, any further class).
A `MANIFEST.csv` beside the class folders or one level up names each file's source repository and,
for sets of context crops around annotated faces, the face box (`x1,y1,x2,y2`).

Rule for faces: the runtime's detector runs on every photo. With an annotated box the detection that
overlaps it most (IoU >= MATCH_IOU) is kept, so the classifier trains on the crop the Pi makes of that
very face; without one, the largest face. A photo with no face is retried once inside a black border
of 25% of its longer side (tight face crops leave YuNet no context); if that also finds nothing the
photo is skipped and counted. The detector's five landmarks are kept in crop pixels for the synthetic
masks of training. Crops of one original photo, and near-duplicate crops (same 64-bit difference
hash), are kept in one split, so the test split never holds a copy of a training image.
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

from convert.data.dataset import MANIFEST_NAME, ManifestRow, class_folders, write_manifest
from convert.data.synthetic_masks import landmarks_in_crop
from edge import __version__
from edge.config import DetectorConfig
from edge.detectors.common import look_framed
from edge.detectors.yunet import YuNetDetector
from edge.vision.crop import DEFAULT_RULE, CropRule, crop_face
from edge.vision.tracker import iou_matrix
from edge.vision.types import Box, Face

log = logging.getLogger(__name__)

RETRY_BORDER = DetectorConfig.stills_retry_border  # photos are retried as the runtime retries image files
MATCH_IOU = 0.3
SOURCE_MANIFEST = "MANIFEST.csv"


@dataclass
class PrepareReport:
    kept: Counter = field(default_factory=Counter)
    no_face: Counter = field(default_factory=Counter)
    unmatched: Counter = field(default_factory=Counter)
    unreadable: Counter = field(default_factory=Counter)
    duplicates: Counter = field(default_factory=Counter)
    padded_retry: Counter = field(default_factory=Counter)
    by_source: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    splits: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def as_dict(self) -> dict[str, object]:
        return {
            "kept": dict(self.kept),
            "no_face_skipped": dict(self.no_face),
            "annotated_face_not_found_skipped": dict(self.unmatched),
            "unreadable_skipped": dict(self.unreadable),
            "exact_duplicates_removed": dict(self.duplicates),
            "found_after_padding": dict(self.padded_retry),
            "kept_by_source": {k: dict(v) for k, v in sorted(self.by_source.items())},
            "splits": {k: dict(v) for k, v in self.splits.items()},
        }


@dataclass(frozen=True)
class SourceInfo:
    """What a dataset's MANIFEST.csv says of one file."""

    repo: str = ""
    original: str = ""
    """The photo the file was cut from; crops of one photo share a split."""
    box: Box | None = None


def _pick(faces: list[Face], annotated: Box | None) -> Face | None:
    if not faces:
        return None
    if annotated is None:
        return max(faces, key=lambda f: f.width)
    overlaps = iou_matrix([annotated], [f.box for f in faces])[0]
    best = int(overlaps.argmax())
    return faces[best] if overlaps[best] >= MATCH_IOU else None


def find_face(detector: YuNetDetector, image: np.ndarray, annotated: Box | None = None) -> tuple[Face | None, str]:
    """The face to crop and how it was found: "largest" or "matched", "padded", or "none"."""
    face = _pick(detector.detect(image), annotated)
    if face is not None:
        return face, "matched" if annotated else "largest"
    face = _pick(look_framed(detector.detect, image, RETRY_BORDER), annotated)
    return (face, "padded") if face is not None else (None, "none")


def largest_face(detector: YuNetDetector, image: np.ndarray) -> tuple[Face | None, str]:
    return find_face(detector, image)


def difference_hash(crop: np.ndarray) -> int:
    gray = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (9, 8), interpolation=cv2.INTER_AREA)
    bits = (gray[:, 1:] > gray[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def source_info(dataset_dir: Path) -> dict[str, SourceInfo]:
    """file (relative to the dataset) -> what the MANIFEST.csv beside the classes, or one level up, says."""
    for base in (dataset_dir, dataset_dir.parent):
        path = base / SOURCE_MANIFEST
        if path.is_file():
            break
    else:
        return {}
    prefix = dataset_dir.relative_to(base).as_posix() + "/" if base != dataset_dir else ""
    info = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = row.get("file", "")
            if not name.startswith(prefix):
                continue
            box = None
            if row.get("x1"):
                box = tuple(float(row[k]) for k in ("x1", "y1", "x2", "y2"))
            repo = row.get("source_repo", "")
            info[name[len(prefix) :]] = SourceInfo(repo, f"{repo}:{row.get('source_path', name)}", box)  # type: ignore[arg-type]
    return info


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


def linked_groups(keys: list[tuple[object, ...]]) -> list[list[int]]:
    """Indexes grouped so that items sharing any key (a hash, an original photo) end up in one group."""
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[object, int] = {}
    for index, item_keys in enumerate(keys):
        for key in item_keys:
            if key in first_with:
                parent[root(index)] = root(first_with[key])
            else:
                first_with[key] = index
    members: dict[int, list[int]] = defaultdict(list)
    for index in range(len(keys)):
        members[root(index)].append(index)
    return list(members.values())


def _sample(files: list[Path], limit: int | None, rng: np.random.Generator) -> list[Path]:
    if limit is None:
        return files
    return [files[i] for i in sorted(rng.permutation(len(files))[:limit])]


def prepare(
    datasets: Path | list[Path],
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
    dataset_dirs = [datasets] if isinstance(datasets, Path) else list(datasets)
    detector = YuNetDetector(detector_model, detector_config or DetectorConfig(downscale="area"))
    report = PrepareReport()
    seen_bytes: set[str] = set()
    pending: list[dict] = []
    rng = np.random.default_rng(seed)
    prefixes = _dataset_prefixes(dataset_dirs)
    for dataset_dir in dataset_dirs:
        classes = class_folders(dataset_dir, min_classes=1 if len(dataset_dirs) > 1 else 2)
        sources = source_info(dataset_dir)
        for label, files in classes.items():
            (out_dir / "crops" / label).mkdir(parents=True, exist_ok=True)
            for path in _sample(files, limit_per_class, rng):
                item = _prepare_one(path, label, dataset_dir, prefixes[dataset_dir], sources, detector, rule, out_dir)
                if isinstance(item, str):
                    getattr(report, item)[label] += 1
                    continue
                if item["source_sha256"] in seen_bytes:
                    report.duplicates[label] += 1
                    (out_dir / item["file"]).unlink()
                    continue
                seen_bytes.add(item["source_sha256"])
                if item["rule"] == "padded":
                    report.padded_retry[label] += 1
                report.kept[label] += 1
                report.by_source[item["source"]][label] += 1
                pending.append(item)
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(pending):
        by_label[item.pop("_label_key")].append(index)
    groups = {
        label: [[members[i] for i in group] for group in linked_groups([pending[i].pop("_keys") for i in members])]
        for label, members in by_label.items()
    }
    split_of = assign_splits(groups, seed, val, test)
    rows = []
    for index, item in enumerate(pending):
        split = split_of[index]
        report.splits[split][item["label"]] += 1
        rows.append(ManifestRow(split=split, **item))
    write_manifest(out_dir / MANIFEST_NAME, rows)
    summary = {
        "dataset": [str(d) for d in dataset_dirs],
        "detector": detector_model.name,
        "detector_sha256": hashlib.sha256(detector_model.read_bytes()).hexdigest(),
        "prepared_with": {
            "engine": detector.engine,
            "input_size": detector.config.input_size,
            "score_threshold": detector.config.score_threshold,
            **prepare_tools(detector.engine),
        },
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


def prepare_tools(engine: str) -> dict[str, str]:
    """The versions that decide which faces YuNet finds and how they are cropped: the same commands give other
    crops with another OpenCV (decoding, resizing) or onnxruntime."""
    tools = {"maskgate": __version__, "opencv": cv2.__version__, "numpy": np.__version__}
    if engine == "onnxruntime":
        import onnxruntime

        tools["onnxruntime"] = onnxruntime.__version__
    return tools


def _dataset_prefixes(dataset_dirs: list[Path]) -> dict[Path, str]:
    """A file-name prefix per dataset ("" for one), unique even for folders of the same name."""
    if len(dataset_dirs) == 1:
        return {dataset_dirs[0]: ""}
    prefixes = {}
    for d in dataset_dirs:
        name = d.name if d.parent.name in ("", ".", "data") else f"{d.parent.name}-{d.name}"
        while name in prefixes.values():
            name += "_"
        prefixes[d] = name
    return prefixes


def _prepare_one(
    path: Path,
    label: str,
    dataset_dir: Path,
    prefix: str,
    sources: dict[str, SourceInfo],
    detector: YuNetDetector,
    rule: CropRule,
    out_dir: Path,
) -> dict | str:
    """The manifest item of one photo (its crop written), or the name of the report counter that skips it."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        log.warning("skipping %s: not a readable image", path)
        return "unreadable"
    relative_source = path.relative_to(dataset_dir).as_posix()
    info = sources.get(relative_source, SourceInfo())
    face, how = find_face(detector, image, info.box)
    if face is None:
        return "unmatched" if info.box is not None else "no_face"
    crop = crop_face(image, face.box, rule)
    name = f"{prefix}_{path.stem}" if prefix else path.stem
    relative = Path("crops") / label / f"{name}.jpg"
    cv2.imwrite(str(out_dir / relative), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
    points = landmarks_in_crop(face.box, face.landmarks, rule) if face.landmarks else []
    original = info.original or f"{prefix}:{relative_source}"
    return {
        "file": relative.as_posix(),
        "label": label,
        "sha256": hashlib.sha256((out_dir / relative).read_bytes()).hexdigest(),
        "source_file": f"{prefix}/{relative_source}" if prefix else relative_source,
        "source_sha256": digest,
        "face_score": round(face.score, 4),
        "rule": how,
        "landmarks": " ".join(f"{v:.1f}" for point in points for v in point),
        "source": (info.repo or prefix or dataset_dir.name).split("/")[0],
        "_label_key": label,
        "_keys": (("dhash", difference_hash(crop)), ("photo", original)),
    }
