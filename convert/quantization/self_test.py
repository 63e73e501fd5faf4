"""Recording the self-test's known answers (edge.health.self_test checks them on every start).

The classifier's: its raw output on each reference crop, into its model card, at quantization time
or later for an already shipped file (`maskgate-convert self-test MODEL.tflite`). The detectors': the
boxes each finds on the reference frame, into reference_frame.json beside it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from convert.data.reference_faces import REFERENCES
from edge.health.self_test import (
    FRAME_ANSWERS,
    FRAME_FILE,
    REFERENCE_DIR,
    cpu_description,
    raw_answers,
    read_reference,
    runtime_description,
)

log = logging.getLogger(__name__)

INTEGER_TOLERANCE = 2
"""Quantization steps an int8/uint8 output may differ by (rounding inside another kernel)."""
FLOAT_TOLERANCE = 0.05
"""Output units a float model's output may differ by."""


def classifier_answers(model_path: Path) -> dict:
    """The card's self_test block: reference crops whose answer cannot flip within the tolerance."""
    from edge.vision.classifier import MaskClassifier

    classifier = MaskClassifier(model_path, num_threads=1)
    names = [f"{reference.name}.png" for reference in REFERENCES]
    outputs = raw_answers(classifier, names)
    integer = np.issubdtype(outputs.dtype, np.integer)
    tolerance = INTEGER_TOLERANCE if integer else FLOAT_TOLERANCE
    images = []
    for name, row in zip(names, outputs, strict=True):
        top, second = np.sort(row.astype(np.float64))[::-1][:2]
        if top - second <= 2 * tolerance:
            log.info(
                "%s: %s is too close a call for a reference answer (margin %g); left out",
                model_path,
                name,
                top - second,
            )
            continue
        output = [int(v) for v in row] if integer else [round(float(v), 5) for v in row]
        images.append({"file": name, "label": classifier.labels[int(np.argmax(row))], "output": output})
    if len({tuple(image["output"]) for image in images}) < 2:
        log.warning("%s: fewer than two distinct reference answers; a constant-output runtime would pass", model_path)
    return {
        "images": images,
        "tolerance": tolerance,
        "recorded_with": {"runtime": runtime_description(), "cpu": cpu_description()},
    }


def record_classifier(model_path: Path) -> dict:
    """Add (or replace) the self_test block of the model's card; the model file is not touched."""
    card_path = model_path.with_suffix(".json")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["self_test"] = classifier_answers(model_path)
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    labels = [image["label"] for image in card["self_test"]["images"]]
    log.info("%s: self-test answers for %d reference crops (%s)", card_path, len(labels), ", ".join(labels))
    return card["self_test"]


def record_detectors(model_dirs: list[Path], dest: Path = REFERENCE_DIR) -> dict:
    """Each detector's boxes on the reference frame with its default settings; a detector whose model files
    are not found keeps its earlier answers."""
    import cv2

    from edge.config import DetectorConfig
    from edge.detectors import create_detector
    from edge.errors import ModelNotFoundError
    from edge.registry import DETECTORS

    path = dest / FRAME_ANSWERS
    answers = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    frame = read_reference(FRAME_FILE)
    for name in DETECTORS:
        try:
            detector = create_detector(DetectorConfig(type=name), model_dirs)
        except ModelNotFoundError as exc:
            log.warning("%s: not recorded (%s)", name, str(exc).splitlines()[0])
            continue
        boxes = [[round(float(v), 1) for v in face.box] for face in detector.detect(frame)]
        recorded_with = {"opencv": cv2.__version__, "runtime": runtime_description(), "cpu": cpu_description()}
        answers[name] = {"boxes": boxes, "recorded_with": recorded_with}
        log.info("%s: %d face(s) on %s", name, len(boxes), FRAME_FILE)
    path.write_text(json.dumps(answers, indent=2) + "\n", encoding="utf-8")
    return answers
