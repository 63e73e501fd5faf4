"""`maskgate-convert evaluate-door` and `detector-sweep`: the runtime over annotated whole scenes.

Scenes are photos with Pascal VOC boxes (as labelImg writes them). Detections are matched to annotated
faces by IoU, greedily, best pairs first, one detection per face; each annotated face is scored in the
bucket of its box width. `evaluate-door` runs detector, crop, classifier, mask threshold and door policy
exactly as `maskgate run` does on an image folder (every image its own decision) and scores what the door
would do; `detector-sweep` scores the detector alone over a grid of input sizes and score thresholds.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from convert.data.dataset import DatasetError, canonical_label, sha256_file
from edge.sources import IMAGE_SUFFIXES
from edge.vision.labels import MASK, MASK_INCORRECT, NO_MASK, DoorState, LabelPolicy
from edge.vision.tracker import iou_matrix
from edge.vision.types import Box, Face, Frame

if TYPE_CHECKING:
    from edge.config import Config
    from edge.pipeline import Pipeline
    from edge.vision.types import TrackedFace

log = logging.getLogger(__name__)

MATCH_IOU = 0.4
NEAR_IOU = 0.1
MIN_WIDTH = 32
"""Annotated faces narrower than this are left out of the scores; a detection matching one is no false face."""
BUCKETS = (("32-47", 32.0, 48.0), ("48-79", 48.0, 80.0), ("80+", 80.0, math.inf))
ALL = "all"
BUCKET_NAMES = (*(name for name, _, _ in BUCKETS), ALL)
UNDECIDED = "undecided"
MISSED = "not found"
KNOWN_CLASSES = (MASK, NO_MASK, MASK_INCORRECT)
LAYOUTS = (("images", "annotations"), ("JPEGImages", "Annotations"))
"""Sub-folder pairs looked for first; otherwise images and .xml files sit side by side."""
REPORT_NAME = "door_evaluation"
SWEEP_NAME = "detector_sweep"


class DoorEvalError(DatasetError):
    """A problem with the command's inputs (ends it with exit status 2)."""


class AnnotationError(ValueError):
    pass


@dataclass(frozen=True)
class Truth:
    """One annotated face."""

    box: Box
    label: str

    @property
    def bucket(self) -> str | None:
        return bucket_of(self.box[2] - self.box[0])


def bucket_of(width: float) -> str | None:
    """The width bucket of an annotated face; None below MIN_WIDTH."""
    return next((name for name, lo, hi in BUCKETS if lo <= width < hi), None)


@dataclass(frozen=True)
class VocFile:
    filename: str
    size: tuple[int, int] | None
    """(width, height) the annotation was made on, when it says."""
    truths: tuple[Truth, ...]


def _coordinate(box: ET.Element, key: str) -> float:
    value = float(box.findtext(key) or "nan")
    if not math.isfinite(value):
        raise ValueError(key)
    return value


def _size(root: ET.Element) -> tuple[int, int] | None:
    try:
        size = int(float(root.findtext("size/width") or 0)), int(float(root.findtext("size/height") or 0))
    except ValueError:
        return None
    return size if min(size) > 0 else None


def read_voc(path: Path) -> VocFile:
    """The faces of one Pascal VOC file; an unreadable file or an object without a usable box raises
    AnnotationError (the whole scene is skipped: a face left out would count its detection as false)."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise AnnotationError(f"not readable XML: {exc}") from None
    if root.tag != "annotation":
        raise AnnotationError(f"root element is <{root.tag}>, not a Pascal VOC <annotation>")
    truths = []
    for number, obj in enumerate(root.iter("object"), 1):
        name = (obj.findtext("name") or "").strip().lower()
        box = obj.find("bndbox")
        if not name or box is None:
            raise AnnotationError(f"object {number} lacks a <name> or a <bndbox>")
        try:
            x1, y1, x2, y2 = (_coordinate(box, key) for key in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError as exc:
            raise AnnotationError(f"object {number} ({name}): {exc} is missing or not a number") from None
        if x2 <= x1 or y2 <= y1:
            raise AnnotationError(f"object {number} ({name}): empty box {x1:g},{y1:g},{x2:g},{y2:g}")
        truths.append(Truth((x1, y1, x2, y2), canonical_label(name)))
    return VocFile((root.findtext("filename") or "").strip(), _size(root), tuple(truths))


@dataclass(frozen=True)
class Scene:
    name: str
    image: Path
    size: tuple[int, int] | None
    truths: tuple[Truth, ...]


@dataclass
class SceneSet:
    """The annotated scenes of a folder and the files left out, by reason."""

    directory: Path
    layout: str
    scenes: list[Scene]
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_files: dict[str, list[str]] = field(default_factory=dict)
    evaluated: int = 0

    def skip(self, reason: str, name: str, detail: str = "") -> None:
        log.warning("skipping %s: %s", name, detail or reason)
        self.skipped[reason] += 1
        self.skipped_files.setdefault(reason, []).append(name)

    def summary(self) -> dict[str, object]:
        return {
            "dir": str(self.directory),
            "layout": self.layout,
            "annotated_files": len(self.scenes),
            "evaluated": self.evaluated,
            "skipped": dict(self.skipped),
            "skipped_files": {reason: names[:20] for reason, names in self.skipped_files.items()},
        }


def read_scenes(directory: Path) -> SceneSet:
    """Pair each .xml with its image (same stem, else the file its <filename> names) in `images/` +
    `annotations/`, `JPEGImages/` + `Annotations/`, or one flat folder."""
    if not directory.is_dir():
        raise DoorEvalError(f"scenes directory not found: {directory}")
    image_dir, xml_dir = next(
        ((directory / i, directory / a) for i, a in LAYOUTS if (directory / i).is_dir() and (directory / a).is_dir()),
        (directory, directory),
    )
    images = {p.stem: p for p in sorted(image_dir.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
    layout = "flat" if image_dir == xml_dir else f"{image_dir.name}/ + {xml_dir.name}/"
    scene_set = SceneSet(directory, layout, [])
    used: set[str] = set()
    for xml in sorted(p for p in xml_dir.iterdir() if p.is_file() and p.suffix.lower() == ".xml"):
        try:
            voc = read_voc(xml)
        except AnnotationError as exc:
            scene_set.skip("unreadable annotation", xml.name, f"{xml}: {exc}")
            continue
        image = images.get(xml.stem) or images.get(Path(voc.filename).stem)
        if image is None:
            scene_set.skip("annotation without image", xml.name, f"{xml}: no image {xml.stem}.* in {image_dir}")
            continue
        used.add(image.stem)
        scene_set.scenes.append(Scene(image.name, image, voc.size, voc.truths))
    for stem, image in images.items():
        if stem not in used:
            scene_set.skip("image without annotation", image.name)
    if not scene_set.scenes:
        raise DoorEvalError(
            f"{directory}: no annotated scenes (images with Pascal VOC .xml files beside them, "
            "or in images/ + annotations/)"
        )
    unknown = sorted({t.label for s in scene_set.scenes for t in s.truths} - set(KNOWN_CLASSES))
    if unknown:
        log.warning("annotated classes other than %s: %s; the door is expected to stop them", KNOWN_CLASSES, unknown)
    return scene_set


def read_picture(path: Path) -> np.ndarray:
    """The picture (BGR) as `maskgate run` decodes an image file; edge.sources.files.UnreadableImageError or
    edge.pipeline.BadFrameError when it cannot be."""
    from edge.pipeline import as_bgr
    from edge.sources.files import read_image

    return as_bgr(read_image(path))


def load_images(scene_set: SceneSet) -> Iterator[tuple[Scene, np.ndarray]]:
    """Each scene with its BGR image, decoded as `maskgate run` decodes an image folder; scenes whose image
    is unreadable or not the size the annotation was made on are skipped and counted."""
    from edge.pipeline import BadFrameError
    from edge.sources.files import UnreadableImageError

    for scene in scene_set.scenes:
        try:
            image = read_picture(scene.image)
        except (UnreadableImageError, BadFrameError) as exc:
            scene_set.skip("unreadable image", scene.name, str(exc))
            continue
        height, width = image.shape[:2]
        if scene.size is not None and scene.size != (width, height):
            scene_set.skip(
                "annotation made on another image size",
                scene.name,
                f"annotated on {scene.size[0]}x{scene.size[1]} but the image is {width}x{height}",
            )
            continue
        scene_set.evaluated += 1
        yield scene, image


def match(truths: Sequence[Box], detections: Sequence[Box], min_iou: float = MATCH_IOU) -> list[int | None]:
    """Index of the detection matched to each annotated box, or None: pairs with IoU >= min_iou taken
    greedily, highest IoU first; a detection and an annotated box are each used once."""
    return match_overlaps(iou_matrix(list(truths), list(detections)), min_iou)


def match_overlaps(overlaps: np.ndarray, min_iou: float = MATCH_IOU) -> list[int | None]:
    """match() on the IoU matrix of annotated boxes (rows) and detections (columns)."""
    pairs = sorted(((overlaps[t, d], int(t), int(d)) for t, d in np.argwhere(overlaps >= min_iou)), reverse=True)
    found: list[int | None] = [None] * overlaps.shape[0]
    used: set[int] = set()
    for _, truth, detection in pairs:
        if found[truth] is None and detection not in used:
            found[truth] = detection
            used.add(detection)
    return found


def near_annotated(truths: Sequence[Box], detections: Sequence[Box], overlaps: np.ndarray | None = None) -> list[bool]:
    """For each detection: does it overlap an annotated face (IoU >= NEAR_IOU) or have its centre inside one?
    `overlaps`: their IoU matrix, detections as rows, if already known."""
    if not truths or not detections:
        return [False] * len(detections)
    if overlaps is None:
        overlaps = iou_matrix(list(detections), list(truths))
    return [
        bool(overlaps[d].max() >= NEAR_IOU)
        or any(t[0] <= (x1 + x2) / 2 <= t[2] and t[1] <= (y1 + y2) / 2 <= t[3] for t in truths)
        for d, (x1, y1, x2, y2) in enumerate(detections)
    ]


@dataclass(frozen=True)
class FaceResult:
    label: str
    bucket: str | None
    found: bool
    decision: str | None = None


@dataclass(frozen=True)
class FaceRow:
    """One line of door_faces.csv: an annotated face with the detection matched to it (if any), or a detection
    that matches no annotated face."""

    image: str
    annotated: str
    """The annotated label; "" for a detection no annotated face matches."""
    annotated_box: Box | None
    detection_box: Box | None
    iou: float
    """The matched pair's IoU; otherwise the best IoU with any detection (or annotated face): a low value next
    to a miss is a face boxed another way."""
    decision: str
    """The door's label, UNDECIDED, or "" for an annotated face no detection matches."""
    score: float | None

    @property
    def width(self) -> float:
        x1, _, x2, _ = self.annotated_box or self.detection_box or (0.0, 0.0, 0.0, 0.0)
        return x2 - x1


@dataclass
class Tally:
    """What one detector (and classifier) made of the scenes."""

    faces: list[FaceResult] = field(default_factory=list)
    false_faces: Counter[str] = field(default_factory=Counter)
    """Detections matching no annotated face, by decision (UNDECIDED when none)."""
    false_faces_near: Counter[str] = field(default_factory=Counter)
    """Those of them on an annotated face all the same (a face boxed otherwise, or twice), by decision."""
    seconds: list[float] = field(default_factory=list)
    """Time per image."""
    rows: list[FaceRow] = field(default_factory=list)

    def add(
        self,
        truths: Sequence[Truth],
        boxes: Sequence[Box],
        decisions: Sequence[str | None],
        seconds: float,
        image: str = "",
        scores: Sequence[float] | None = None,
    ) -> None:
        overlaps = iou_matrix([t.box for t in truths], list(boxes))
        matched = match_overlaps(overlaps)

        def score_of(detection: int) -> float | None:
            return None if scores is None else scores[detection]

        for t, (truth, index) in enumerate(zip(truths, matched, strict=True)):
            decision = None if index is None else decisions[index]
            self.faces.append(FaceResult(truth.label, truth.bucket, index is not None, decision))
            if index is None:
                best = float(overlaps[t].max()) if len(boxes) else 0.0
                self.rows.append(FaceRow(image, truth.label, truth.box, None, best, "", None))
                continue
            overlap, label = float(overlaps[t, index]), decision or UNDECIDED
            self.rows.append(FaceRow(image, truth.label, truth.box, boxes[index], overlap, label, score_of(index)))
        used = set(matched)
        unmatched = [i for i in range(len(boxes)) if i not in used]
        self.false_faces.update(decisions[i] or UNDECIDED for i in unmatched)
        near = near_annotated([t.box for t in truths], [boxes[i] for i in unmatched], overlaps.T[unmatched])
        self.false_faces_near.update(
            decisions[i] or UNDECIDED for i, is_near in zip(unmatched, near, strict=True) if is_near
        )
        for i in unmatched:
            best = float(overlaps[:, i].max()) if truths else 0.0
            self.rows.append(FaceRow(image, "", None, boxes[i], best, decisions[i] or UNDECIDED, score_of(i)))
        self.seconds.append(seconds)

    @property
    def images(self) -> int:
        return len(self.seconds)

    def timing(self) -> dict[str, float]:
        return timing(self.seconds)


def timing(seconds: Sequence[float]) -> dict[str, float]:
    """Mean and median ms per image (the median shrugs off a busy machine's stalls)."""
    times = 1000 * np.asarray(seconds or [0.0])
    return {"ms_per_image": round(float(times.mean()), 2), "ms_median": round(float(np.median(times)), 2)}


def ms_text(times: dict[str, float]) -> str:
    return f"{times['ms_median']} ({times['ms_per_image']})"


@dataclass
class ClassCounts:
    annotated: int = 0
    found: int = 0
    decided: Counter[str] = field(default_factory=Counter)

    @property
    def undecided(self) -> int:
        return self.found - sum(self.decided.values())


def class_order(labels: Iterable[str]) -> list[str]:
    present = set(labels)
    return [c for c in KNOWN_CLASSES if c in present] + sorted(present - set(KNOWN_CLASSES))


def count_faces(faces: Iterable[FaceResult]) -> dict[str, dict[str, ClassCounts]]:
    """bucket (and ALL) -> true class -> counts; faces under MIN_WIDTH are left out."""
    faces = [f for f in faces if f.bucket is not None]
    labels = class_order(f.label for f in faces)
    table = {bucket: {label: ClassCounts() for label in labels} for bucket in BUCKET_NAMES}
    for face in faces:
        for bucket in (face.bucket, ALL):
            counts = table[bucket][face.label]  # type: ignore[index]
            counts.annotated += 1
            counts.found += face.found
            if face.decision is not None:
                counts.decided[face.decision] += 1
    return table


def rate(n: int, of: int) -> dict[str, object]:
    return {"rate": round(n / of, 4) if of else None, "n": n, "of": of}


def recall_scores(classes: dict[str, ClassCounts]) -> dict[str, object]:
    """Faces found per class and in total, for one bucket."""
    annotated = sum(c.annotated for c in classes.values())
    found = sum(c.found for c in classes.values())
    return {"all": rate(found, annotated), **{label: rate(c.found, c.annotated) for label, c in classes.items()}}


def door_scores(classes: dict[str, ClassCounts], policy: LabelPolicy) -> dict[str, object]:
    """The door numbers of one bucket; the right door outcome of a class is the policy's state of its label."""
    none = ClassCounts()

    def decided(label: str, keep: Callable[[str], bool]) -> int:
        return sum(n for decision, n in classes.get(label, none).decided.items() if keep(decision))

    mask, bare, wrong = (classes.get(label, none) for label in (MASK, NO_MASK, MASK_INCORRECT))
    annotated = sum(c.annotated for c in classes.values())
    found = sum(c.found for c in classes.values())
    door_right = sum(
        n for label, c in classes.items() for d, n in c.decided.items() if policy.state(d) == policy.state(label)
    )
    return {
        "faces": annotated,
        "found": recall_scores(classes),
        "door_accuracy": rate(door_right, annotated),
        "bare_passed_as_mask": rate(decided(NO_MASK, policy.lets_in), bare.found),
        "wrong_masks_flagged": rate(decided(MASK_INCORRECT, lambda d: policy.state(d) != DoorState.OK), wrong.found),
        "wrong_masks_called_mask_incorrect": rate(wrong.decided[MASK_INCORRECT], wrong.found),
        "masked_found_and_right": rate(mask.decided[MASK], mask.annotated),
        "exact_accuracy_found": rate(sum(c.decided[label] for label, c in classes.items()), found),
        "undecided": rate(sum(c.undecided for c in classes.values()), found),
        "per_class": {
            label: {
                "annotated": c.annotated,
                "found": rate(c.found, c.annotated),
                "right": rate(c.decided[label], c.found),
                "undecided": rate(c.undecided, c.found),
            }
            for label, c in classes.items()
        },
    }


def confusion(classes: dict[str, ClassCounts], labels: Sequence[str]) -> dict[str, dict[str, int]]:
    """True class -> decided label, UNDECIDED and MISSED; each row sums to the class's annotated faces."""
    return {
        label: {**{d: c.decided[d] for d in labels}, UNDECIDED: c.undecided, MISSED: c.annotated - c.found}
        for label, c in classes.items()
    }


def false_face_scores(tally: Tally, policy: LabelPolicy | None = None) -> dict[str, object]:
    total = sum(tally.false_faces.values())
    scores: dict[str, object] = {"count": total, "per_image": round(total / max(tally.images, 1), 4)}
    if policy is not None:

        def alarms_in(counts: Counter[str]) -> int:
            return sum(n for d, n in counts.items() if d != UNDECIDED and policy.is_alarm(d))

        alarms = alarms_in(tally.false_faces)
        scores |= {
            "alarms": alarms,
            "alarms_per_image": round(alarms / max(tally.images, 1), 4),
            "alarms_near_annotated": alarms_in(tally.false_faces_near),
            "by_decision": dict(tally.false_faces),
        }
    return scores


def annotated_counts(scene_set: SceneSet, evaluated: set[str]) -> dict[str, dict[str, int]]:
    """Annotated faces of the evaluated scenes by width bucket ("<32" for those left out) and class."""
    counts: dict[str, Counter[str]] = {}
    for scene in scene_set.scenes:
        if scene.name in evaluated:
            for truth in scene.truths:
                counts.setdefault(truth.bucket or f"<{MIN_WIDTH}", Counter())[truth.label] += 1
    order = [f"<{MIN_WIDTH}", *(name for name, _, _ in BUCKETS)]
    return {bucket: dict(counts[bucket]) for bucket in order if bucket in counts}


# --- settings ---------------------------------------------------------------------------------------------


def load_config(
    config_path: str | None = None,
    detector: str | None = None,
    input_size: int | None = None,
    score_threshold: float | None = None,
    second_look_size: int | None = None,
) -> Config:
    """The runtime config (file or defaults) with the command's detector flags applied and validated."""
    from edge import config as cfg

    flags = {
        "detector.model": detector or None,
        "detector.input_size": input_size,
        "detector.score_threshold": score_threshold,
        "detector.second_look_size": second_look_size,
        "detector.stills_second_look_size": second_look_size,
    }
    try:
        return cfg.load(Path(config_path) if config_path else None, flags)
    except cfg.ConfigError as exc:
        raise DoorEvalError(str(exc)) from None


def with_detector(config: Config, input_size: int, score_threshold: float) -> Config:
    changed = copy.deepcopy(config)
    changed.detector.input_size, changed.detector.score_threshold = input_size, score_threshold
    return changed


def parse_values(text: str, kind: type, flag: str) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise DoorEvalError(f"{flag}: {text!r} is not a comma-separated list of {kind.__name__}s") from None
    if not values:
        raise DoorEvalError(f"{flag}: no values given")
    return values


def detector_files(config: Config) -> list[Path]:
    from edge.detectors import detector_class
    from edge.modelfiles import find as model_files

    d = config.detector
    return list(detector_class(d.type).find_model_files(d.model, model_files.model_dirs(config.models.dir)))


def file_record(path: Path) -> dict[str, str]:
    return {"file": path.name, "sha256": sha256_file(path)}


def detector_settings(config: Config, stills: bool = False) -> dict[str, object]:
    from edge.app import detector_config

    d = detector_config(config, stills)
    return {
        "type": d.type,
        "files": [file_record(p) for p in detector_files(config)],
        "input_size": d.input_size,
        "score_threshold": d.score_threshold,
        "nms_threshold": d.nms_threshold,
        "second_look_size": d.second_look_size,
        "second_look_score": d.second_look_score,
        "downscale": d.downscale,
        "retry_border": d.retry_border,
        "retry_score": d.retry_score,
        "min_face_size": d.min_face_size,
        "max_faces": d.max_faces,
        "num_threads": d.num_threads,
    }


def stills_detector_record(config: Config, detector) -> dict[str, object]:
    """The report's record of the detector built for stills from `config`: its settings and engine."""
    return detector_settings(config, stills=True) | {"engine": detector.engine}


def policy_record(policy: LabelPolicy) -> dict[str, list[str]]:
    """The report's record of the door policy: the labels let in and those let in with a warning."""
    return {"ok": sorted(policy.ok_labels), "warn": sorted(policy.warn_labels)}


def build_detector(config: Config, stills: bool = False):
    from edge.app import build_detector as build

    try:
        return build(config, stills=stills)
    except ValueError as exc:
        raise DoorEvalError(str(exc)) from None


def model_names(models: Sequence[Path]) -> list[str]:
    names = [p.name for p in models]
    return [p.name if names.count(p.name) == 1 else f"{p.parent.name}/{p.name}" for p in models]


# --- evaluate-door ----------------------------------------------------------------------------------------


class ReplayDetector:
    """Hands every model's pipeline the faces the real detector found in the current scene."""

    def __init__(self) -> None:
        self.faces: list[Face] = []

    def detect(self, frame: np.ndarray) -> list[Face]:
        return self.faces


@dataclass
class ModelRun:
    name: str
    path: Path
    pipeline: Pipeline
    tally: Tally = field(default_factory=Tally)

    def process(self, scene: Scene, image: np.ndarray) -> None:
        begin = time.perf_counter()
        tracked: list[TrackedFace] = self.pipeline.process(Frame(scene.name, 0.0, image))[0]
        seconds = time.perf_counter() - begin
        self.tally.add(
            scene.truths,
            [t.face.box for t in tracked],
            [t.decision for t in tracked],
            seconds,
            scene.name,
            [t.score for t in tracked],
        )


def all_model_runs(config: Config, models: Sequence[Path], detector: ReplayDetector) -> list[ModelRun]:
    """Every model's runs (model_runs), named apart where two files share a name."""
    return [
        run
        for path, name in zip(models, model_names(models), strict=True)
        for run in model_runs(config, path, name, detector)
    ]


def model_runs(config: Config, path: Path, name: str, detector: ReplayDetector) -> list[ModelRun]:
    """The model as `maskgate run` builds it; a model whose card pairs it with a fast model (and
    classifier.fast_first on) is also run alone, so the report shows what the pair changes."""
    run = model_run(config, path, name, detector)
    if not run.pipeline.classifier.fast_first:
        return [run]
    run.name = f"{name} + {run.pipeline.classifier.fast_first}"
    alone = copy.deepcopy(config)
    alone.classifier.fast_first = False
    return [model_run(alone, path, name, detector), run]


def model_run(config: Config, path: Path, name: str, detector: ReplayDetector) -> ModelRun:
    """The runtime's classifier and per-image tracker for one model, as `maskgate run` builds them."""
    from edge.app import build_classifier, build_tracker
    from edge.modelfiles.tflite import ModelLoadError
    from edge.pipeline import Pipeline
    from edge.vision.model_card import ModelCardError

    if not path.is_file():
        raise DoorEvalError(f"model file not found: {path}")
    own = copy.deepcopy(config)
    own.classifier.model = str(path)
    try:
        classifier = build_classifier(own)
    except (ModelCardError, ModelLoadError) as exc:
        raise DoorEvalError(str(exc)) from None
    return ModelRun(name, path, Pipeline(detector, classifier, build_tracker(own, per_frame=True)))


def evaluate_door(scenes_dir: Path, out_dir: Path, models: Sequence[Path], config: Config) -> dict:
    from edge.app import build_policy

    if not models:
        raise DoorEvalError("name at least one model with --model")
    scene_set = read_scenes(scenes_dir)
    policy = build_policy(config)
    detector, replay = build_detector(config, stills=True), ReplayDetector()
    detector_info = stills_detector_record(config, detector)
    runs = all_model_runs(config, models, replay)
    detect_seconds: list[float] = []
    evaluated: set[str] = set()
    begin_all = time.perf_counter()
    for scene, image in load_images(scene_set):
        begin = time.perf_counter()
        replay.faces = detector.detect(image)
        detect_seconds.append(time.perf_counter() - begin)
        evaluated.add(scene.name)
        for run in runs:
            run.process(scene, image)
    if not evaluated:
        raise DoorEvalError(f"{scenes_dir}: none of the {len(scene_set.scenes)} annotated scenes has a readable image")
    report = {
        "scenes": scene_set.summary(),
        "annotated_faces": annotated_counts(scene_set, evaluated),
        "settings": {
            "detector": detector_info,
            "match_iou": MATCH_IOU,
            "min_face_width": MIN_WIDTH,
            "buckets": [name for name, _, _ in BUCKETS],
            "policy": policy_record(policy),
            "tracker": "per_frame (each image its own decision)",
            "mask_threshold_override": config.classifier.mask_threshold or None,
        },
        "timing": {
            "seconds": round(time.perf_counter() - begin_all, 2),
            "detector": timing(detect_seconds),
        },
        "models": {run.name: model_report(run, policy) for run in runs},
    }
    write_reports(out_dir, report)
    write_faces_csv(out_dir / FACES_CSV, runs)
    return report


FACES_CSV = "door_faces.csv"
FACES_CSV_COLUMNS = (
    "model",
    "image",
    "annotated",
    "width",
    "annotated_box",
    "detection_box",
    "iou",
    "decision",
    "score",
)


def box_text(box: Box | None) -> str:
    return "" if box is None else " ".join(str(round(v)) for v in box)


def write_faces_csv(path: Path, runs: Sequence[ModelRun]) -> None:
    """Every annotated face and every detection, a line each per model: which faces a door got wrong."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FACES_CSV_COLUMNS)
        for run in runs:
            for row in run.tally.rows:
                writer.writerow(
                    (
                        run.name,
                        row.image,
                        row.annotated,
                        round(row.width),
                        box_text(row.annotated_box),
                        box_text(row.detection_box),
                        round(row.iou, 3),
                        row.decision,
                        "" if row.score is None else round(row.score, 4),
                    )
                )
    log.info("wrote %s", path)


def model_report(run: ModelRun, policy: LabelPolicy) -> dict[str, object]:
    classifier = run.pipeline.classifier
    table = count_faces(run.tally.faces)
    return {
        **file_record(run.path),
        "labels": list(classifier.labels),
        "mask_threshold": classifier.mask_threshold,
        "crop": classifier.card.crop.as_dict(),
        **fast_first_record(classifier),
        **run.tally.timing(),
        "buckets": {bucket: door_scores(table[bucket], policy) for bucket in BUCKET_NAMES},
        "false_faces": false_face_scores(run.tally, policy),
        "confusion": {bucket: confusion(table[bucket], classifier.labels) for bucket in BUCKET_NAMES},
    }


def fast_first_record(classifier) -> dict[str, object]:
    if not classifier.fast_first:
        return {}
    fast = classifier.fast
    answered = classifier.fast_answers + classifier.main_answers
    return {
        "fast_model": {
            **file_record(fast.model_path),
            "min_score": classifier.min_score,
            "answered_by_fast": rate(classifier.fast_answers, answered),
        }
    }


# --- reports ----------------------------------------------------------------------------------------------


def pct(score: dict | None, counts: bool = True) -> str:
    if not score or score["rate"] is None:
        return "—"
    text = f"{100 * score['rate']:.1f}%"
    return f"{text} ({score['n']}/{score['of']})" if counts else text


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def scenes_lines(report: dict) -> list[str]:
    scenes = report["scenes"]
    skipped = ", ".join(f"{reason}: {n}" for reason, n in scenes["skipped"].items()) or "none"
    faces = report["annotated_faces"]
    classes = class_order(label for counts in faces.values() for label in counts)
    return [
        f"Scenes: `{scenes['dir']}` ({scenes['layout']}), {scenes['evaluated']} evaluated; skipped: {skipped}.",
        "",
        "Annotated faces of the evaluated scenes by box width (faces under "
        f"{MIN_WIDTH} px are left out of the scores; a detection on one is not a false face):",
        "",
        *table(["width", *classes], [[b, *(c.get(k, 0) for k in classes)] for b, c in faces.items()]),
        "",
    ]


def detector_line(detector: dict) -> str:
    files = ", ".join(f"`{f['file']}` (sha256 {f['sha256'][:12]}…)" for f in detector["files"])
    point = (
        f"input size {detector['input_size']}, score threshold {detector['score_threshold']}, "
        if "input_size" in detector
        else ""
    )
    if detector["type"] == "yunet":
        if detector.get("second_look_size"):
            point += (
                f"second look at up to {detector['second_look_size']} px (the image's own size at most), "
                f"score threshold {detector['second_look_score']}, "
            )
        if detector.get("downscale"):
            point += f"{detector['downscale']} downscaling, "
        if detector.get("retry_border"):
            point += f"pictures without a face retried inside a {detector['retry_border']:.0%} border, "
            if detector.get("retry_score", 1.0) < detector["score_threshold"]:
                point += f"then for a face filling the picture at score {detector['retry_score']}, "
        if detector.get("engine"):
            point += f"run by {detector['engine']}, "
    return (
        f"Detector: {detector['type']} {files}, {point}NMS {detector['nms_threshold']}, min face "
        f"{detector['min_face_size']} px, threads {detector['num_threads'] or 'default'}."
    )


KEY_SCORES = (
    ("door_accuracy", "door accuracy"),
    ("bare_passed_as_mask", "bare faces passed as mask"),
    ("wrong_masks_flagged", "wrong masks flagged"),
    ("wrong_masks_called_mask_incorrect", "wrong masks called mask_incorrect"),
    ("masked_found_and_right", "masked faces found and right"),
    ("exact_accuracy_found", "exact label, of found"),
    ("undecided", "undecided, of found"),
)


def door_markdown(report: dict) -> str:
    settings, models = report["settings"], report["models"]
    lines = [
        "# Door validation",
        "",
        detector_line(settings["detector"]),
        f"Matching: IoU ≥ {settings['match_iou']}, greedy, best first. Policy: let in {settings['policy']['ok']}, "
        f"warn {settings['policy']['warn'] or 'none'}; everything else is stopped. Each image its own decision. "
        f"Every face and detection, a line each: `{FACES_CSV}`.",
        f"Time: {report['timing']['seconds']} s in all; detector {ms_text(report['timing']['detector'])} ms per "
        "image, median (mean), run once per scene for all models.",
        "",
        *scenes_lines(report),
        "## Models",
        "",
        *table(
            ["model", "sha256", "labels", "mask threshold", "ms / image, median (mean): crop, classify, decide"],
            [
                [name, m["sha256"][:12], ", ".join(m["labels"]), m["mask_threshold"] or "none (argmax)", ms_text(m)]
                for name, m in models.items()
            ],
        ),
        f"\n## Door numbers, faces ≥ {MIN_WIDTH} px\n",
        *table(
            ["model", "faces found", *(title for _, title in KEY_SCORES), "alarms on non-faces", "false faces / image"],
            [
                [
                    name,
                    pct(m["buckets"][ALL]["found"]["all"]),
                    *(pct(m["buckets"][ALL][key]) for key, _ in KEY_SCORES),
                    f"{m['false_faces']['alarms']} ({m['false_faces']['alarms_per_image']} / image; "
                    f"{m['false_faces']['alarms_near_annotated']} on an annotated face)",
                    m["false_faces"]["per_image"],
                ]
                for name, m in models.items()
            ],
        ),
        "\n## By face width\n",
        *table(
            ["model", "width", "faces", "found", *(title for _, title in KEY_SCORES)],
            [
                [name, bucket, s["faces"], pct(s["found"]["all"]), *(pct(s[key]) for key, _ in KEY_SCORES)]
                for name, m in models.items()
                for bucket, s in m["buckets"].items()
            ],
        ),
        "\n## Per class: found (recall), right given found, undecided given found\n",
        *table(
            ["model", "width", "class", "annotated", "found", "right", "undecided"],
            [
                [name, bucket, label, c["annotated"], pct(c["found"]), pct(c["right"]), pct(c["undecided"])]
                for name, m in models.items()
                for bucket, s in m["buckets"].items()
                for label, c in s["per_class"].items()
            ],
        ),
        f"\n## Confusion, faces ≥ {MIN_WIDTH} px (true class by decided label)\n",
    ]
    for name, m in models.items():
        rows = m["confusion"][ALL]
        columns = list(next(iter(rows.values()), {}))
        lines += [f"**{name}**", "", *table(["true \\ decided", *columns], [[k, *r.values()] for k, r in rows.items()])]
        lines.append("")
    lines += [
        "## Definitions",
        "",
        f"- faces found: annotated faces matched by a detection (IoU ≥ {MATCH_IOU}, one detection per face).",
        "- right: decided label equals the true label; an undecided face (mask below the threshold) is not right.",
        "- bare faces passed as mask: found `no_mask` faces whose decision the policy lets in.",
        "- wrong masks flagged: found `mask_incorrect` faces decided with a door state other than OK.",
        "- masked faces found and right: share of ALL annotated `mask` faces found and decided `mask`.",
        "- door accuracy: share of all annotated faces found and decided with the door state of their true "
        "class (mask: let in; no_mask, mask_incorrect: decided and stopped).",
        '- alarms on non-faces: detections matching no annotated face that are decided and not let in; "on an '
        f'annotated face": those overlapping one all the same (IoU ≥ {NEAR_IOU}, or the centre inside its box): a '
        "face boxed otherwise than its annotation or twice, not a non-face. The rest include unannotated faces.",
    ]
    return "\n".join(lines) + "\n"


PLOTTED = (("found", "faces found"), *KEY_SCORES[:3], KEY_SCORES[4])


def plot_door(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = report["models"]
    figure, axes = plt.subplots(1, len(PLOTTED), figsize=(3.4 * len(PLOTTED), 3.6), squeeze=False)
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(BUCKET_NAMES))
    for axis, (key, title) in zip(axes[0], PLOTTED, strict=True):
        for index, (name, m) in enumerate(models.items()):
            scores = [m["buckets"][b][key] for b in BUCKET_NAMES]
            values = [(s["all"] if key == "found" else s)["rate"] for s in scores]
            axis.bar(x + index * width, [np.nan if v is None else v for v in values], width, label=name)
        axis.set(title=title, xticks=x + width * (len(models) - 1) / 2, xticklabels=BUCKET_NAMES, ylim=(0, 1))
        axis.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("share")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(models), 4), fontsize=8)
    figure.tight_layout(rect=(0, 0.06 * math.ceil(len(models) / 4), 1, 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_json(path: Path, report: dict) -> None:
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def write_reports(out_dir: Path, report: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / f"{REPORT_NAME}.json", report)
    (out_dir / f"{REPORT_NAME}.md").write_text(door_markdown(report), encoding="utf-8")
    plot_door(report, out_dir / f"{REPORT_NAME}.png")
    for name, m in report["models"].items():
        overall = m["buckets"][ALL]
        log.info(
            "%s: door accuracy %s, bare faces passed as mask %s, faces found %s",
            name,
            pct(overall["door_accuracy"]),
            pct(overall["bare_passed_as_mask"]),
            pct(overall["found"]["all"]),
        )
    log.info("wrote %s/%s.{md,json,png}", out_dir, REPORT_NAME)


# --- detector-sweep ---------------------------------------------------------------------------------------


def detector_sweep(
    scenes_dir: Path, out_dir: Path, config: Config, input_sizes: Sequence[int], thresholds: Sequence[float]
) -> dict:
    """Recall by class and width, false faces and time per image of the detector at each setting."""
    scene_set = read_scenes(scenes_dir)
    combos = [with_detector(config, size, threshold) for size in input_sizes for threshold in thresholds]
    detectors = [build_detector(c) for c in combos]
    tallies = [Tally() for _ in combos]
    evaluated: set[str] = set()
    for scene, image in load_images(scene_set):
        for detector, tally in zip(detectors, tallies, strict=True):
            if not evaluated:
                detector.detect(image)  # warm-up: the first call allocates the network
            begin = time.perf_counter()
            faces = detector.detect(image)
            tally.add(scene.truths, [f.box for f in faces], [None] * len(faces), time.perf_counter() - begin)
        evaluated.add(scene.name)
    if not evaluated:
        raise DoorEvalError(f"{scenes_dir}: none of the {len(scene_set.scenes)} annotated scenes has a readable image")
    results = []
    for combo, tally in zip(combos, tallies, strict=True):
        counts = count_faces(tally.faces)
        results.append(
            {
                "input_size": combo.detector.input_size,
                "score_threshold": combo.detector.score_threshold,
                "found": {bucket: recall_scores(counts[bucket]) for bucket in BUCKET_NAMES},
                "false_faces": false_face_scores(tally),
                **tally.timing(),
            }
        )
    report = {
        "scenes": scene_set.summary(),
        "annotated_faces": annotated_counts(scene_set, evaluated),
        "settings": {
            "detector": {
                k: v for k, v in detector_settings(config).items() if k not in ("input_size", "score_threshold")
            },
            "match_iou": MATCH_IOU,
            "min_face_width": MIN_WIDTH,
        },
        "results": results,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / f"{SWEEP_NAME}.json", report)
    (out_dir / f"{SWEEP_NAME}.md").write_text(sweep_markdown(report), encoding="utf-8")
    log.info("wrote %s/%s.{md,json}", out_dir, SWEEP_NAME)
    return report


def sweep_markdown(report: dict) -> str:
    detector, results = report["settings"]["detector"], report["results"]
    classes = class_order(label for r in results[:1] for label in r["found"][ALL] if label != "all")
    lines = [
        "# Detector sweep",
        "",
        detector_line(detector),
        f"Matching: IoU ≥ {report['settings']['match_iou']}, greedy, best first. Found = recall of annotated "
        f"faces ≥ {MIN_WIDTH} px; ms / image = the detector alone (decoded image in, boxes out).",
        "",
        *scenes_lines(report),
        *table(
            [
                "input size",
                "score threshold",
                *(f"found {c}" for c in classes),
                "found all",
                *(f"found {b}" for b in BUCKET_NAMES[:-1]),
                "false faces / image",
                "ms / image, median (mean)",
            ],
            [
                [
                    r["input_size"],
                    r["score_threshold"],
                    *(pct(r["found"][ALL].get(c), counts=False) for c in classes),
                    pct(r["found"][ALL]["all"]),
                    *(pct(r["found"][b]["all"], counts=False) for b in BUCKET_NAMES[:-1]),
                    r["false_faces"]["per_image"],
                    ms_text(r),
                ]
                for r in results
            ],
        ),
        "\n## Found by class and width\n",
        *table(
            ["input size", "score threshold", "width", *classes],
            [
                [r["input_size"], r["score_threshold"], b, *(pct(r["found"][b].get(c)) for c in classes)]
                for r in results
                for b in BUCKET_NAMES[:-1]
            ],
        ),
    ]
    return "\n".join(lines) + "\n"
