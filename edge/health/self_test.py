"""Known-answer self-test: the classifier and the face detector on shipped reference inputs, against the
answers recorded when the model was made (convert.quantization.self_test). A runtime, a CPU or a model file that
computes garbage without raising an error (as XNNPACK's int8 path under some emulated CPUs did: the same
confident answer for every face) is caught here before the door trusts it.

The reference images are drawn by convert.data.reference_faces (no third-party pixels). The classifier's
answers live in its model card ("self_test"): per image the label and the raw output tensor, which
must agree within `tolerance` raw units (quantization steps for int8). The detector's live in
reference_frame.json beside the frame: per detector type the boxes it found, matched by IoU.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge.errors import SetupError

if TYPE_CHECKING:
    from edge.detectors import FaceDetector
    from edge.vision.classifier import FastFirstClassifier, MaskClassifier

log = logging.getLogger(__name__)

REFERENCE_DIR = Path(__file__).parent.parent / "models" / "selftest"
FRAME_FILE = "reference_frame.png"
FRAME_ANSWERS = "reference_frame.json"
MIN_IOU = 0.8
"""A reference box counts as found again when the detector's box overlaps it this much."""


class SelfTestError(SetupError):
    """This machine's runtime gives other answers than the model's recorded ones on the reference inputs."""


@dataclass(frozen=True)
class SelfTestResult:
    part: str
    ok: bool | None
    """True passed, False wrong answers, None nothing recorded to compare with (not checked)."""
    detail: str
    seconds: float


def cpu_description() -> str:
    """The CPU as /proc/cpuinfo names it (model name, or the ARM part number), and the machine type."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or fields.get("Model") or fields.get("Hardware")
    if not name and "CPU part" in fields:
        name = f"ARM CPU part {fields['CPU part']}"
    return f"{name or 'unknown CPU'} ({platform.machine()})"


def runtime_description() -> str:
    from edge.modelfiles.tflite import interpreter_class

    name, _ = interpreter_class()
    try:
        return f"{name} {importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return name


def read_reference(name: str) -> np.ndarray:
    import cv2

    path = REFERENCE_DIR / name
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SelfTestError(f"self-test reference image {path} is missing or unreadable; reinstall maskgate")
    return image


def reference_crop(name: str, size: int) -> np.ndarray:
    import cv2

    image = read_reference(name)
    if image.shape[0] == size:
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def raw_answers(classifier: MaskClassifier, names: list[str]) -> np.ndarray:
    """The classifier's raw output rows for the named reference crops (what a card records)."""
    size = classifier.input_size
    return classifier.raw_outputs([reference_crop(name, size) for name in names])


def check_classifier(classifier: MaskClassifier, part: str = "classifier") -> SelfTestResult:
    started = time.perf_counter()
    block = (classifier.card.raw or {}).get("self_test")
    if not block:
        return SelfTestResult(
            part, None, f"the model card of {classifier.model_path} records no reference answers", 0.0
        )
    try:
        images = [(str(i["file"]), str(i["label"]), [float(v) for v in i["output"]]) for i in block["images"]]
        shown = {file: "[" + ", ".join(f"{v:g}" for v in output) + "]" for file, _, output in images}
        tolerance = float(block["tolerance"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SelfTestError(
            f"model card {classifier.model_path.with_suffix('.json')}: self_test lacks or garbles {exc}; "
            "record it again with maskgate-convert self-test"
        ) from None
    if not images:
        return SelfTestResult(part, None, "its model card records no reference answers sure enough", 0.0)
    outputs = raw_answers(classifier, [file for file, _, _ in images])
    wrong = []
    for (file, expected_label, expected), row in zip(images, outputs, strict=True):
        label = classifier.labels[int(np.argmax(row))]
        off = float(np.max(np.abs(row.astype(np.float64) - np.asarray(expected))))
        if off > tolerance:
            wrong.append(
                f"{file}: {label} {row.tolist()}, recorded {expected_label} {shown[file]} "
                f"(off by {off:g}, tolerance {tolerance:g})"
            )
        elif label != expected_label:
            wrong.append(
                f"{file}: the recorded outputs {shown[file]} but {label} instead of {expected_label}: "
                "the card's labels do not fit the model file"
            )
    seconds = time.perf_counter() - started
    if wrong:
        return SelfTestResult(part, False, "; ".join(wrong), seconds)
    return SelfTestResult(
        part, True, f"{len(images)} reference crops give the recorded answers (within {tolerance:g})", seconds
    )


def frame_answers() -> dict:
    path = REFERENCE_DIR / FRAME_ANSWERS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SelfTestError(f"self-test answers {path} are missing or unreadable ({exc}); reinstall maskgate") from None


def iou(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def check_detector(detector: FaceDetector, detector_type: str) -> SelfTestResult:
    started = time.perf_counter()
    recorded = frame_answers().get(detector_type)
    if not recorded:
        return SelfTestResult("face detector", None, f"no reference answers recorded for {detector_type!r}", 0.0)
    faces = detector.detect(read_reference(FRAME_FILE))
    seconds = time.perf_counter() - started
    found = [list(face.box) for face in faces]
    expected = recorded["boxes"]
    unmatched = [box for box in expected if not any(iou(box, other) >= MIN_IOU for other in found)]
    if len(found) != len(expected) or unmatched:
        rounded = [[round(v) for v in box] for box in found]
        detail = f"{FRAME_FILE}: found {len(found)} face(s) {rounded}, recorded {len(expected)} {expected}"
        return SelfTestResult("face detector", False, detail + f" (boxes must overlap by IoU >= {MIN_IOU})", seconds)
    return SelfTestResult("face detector", True, f"{len(expected)} reference faces found where recorded", seconds)


def run_self_test(
    detector: FaceDetector, detector_type: str, classifier: MaskClassifier | FastFirstClassifier
) -> list[SelfTestResult]:
    """The detector's and every classifier model's known answers (a fast-first pair has two)."""
    return [check_detector(detector, detector_type)] + [check_classifier(m, part) for part, m in classifier.parts()]


def require_passed(
    results: list[SelfTestResult], classifier: MaskClassifier | FastFirstClassifier, detector_type: str
) -> None:
    """Raise SelfTestError naming runtime, CPU and model when any part gave wrong answers; log the rest."""
    for result in results:
        if result.ok is None:
            log.warning("self-test: %s not checked: %s", result.part, result.detail)
    failed = [r for r in results if r.ok is False]
    if failed:
        details = "; ".join(f"{r.part}: {r.detail}" for r in failed)
        raise SelfTestError(
            f"self-test failed on runtime {runtime_description()}, CPU {cpu_description()}, "
            f"classifier {classifier.model_path}, detector {detector_type}: {details}. Its answers differ from those "
            "recorded with the model, so the door's labels cannot be trusted; fix: reinstall the model and its card, "
            "try another ai-edge-litert release, or report the machine and these numbers"
        )
    log.info("self-test passed in %.0f ms", 1000 * sum(r.seconds for r in results))
