"""`maskgate-convert quantize`: TFLite variants of a trained Keras model, each with its model card.

int8 is full-integer: uint8 input of raw RGB pixels (scale 1, zero point 0; the MobileNetV2
normalisation is a layer of the model), int8 inside, uint8 logits out, so the Pi does no float
preprocessing. The mean error its weights' rounding adds is taken out of the biases
(convert.quantization.bias_correction). float32, float16 and dynamic-range variants are made for comparison.

Each variant is calibrated on the validation split through the runtime's own classifier: the
temperature and the mask threshold in its card are fitted to that very file's outputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from convert.data.dataset import labels_of, load_crops, manifest_sha256, read_manifest
from convert.data.sources import sources_record
from convert.quantization.bias_correction import BiasCorrectionError, corrected_for_int8
from convert.quantization.self_test import record_classifier
from convert.training.calibrate import fit_temperature, logits_of, mask_threshold, reliability
from edge import __version__

log = logging.getLogger(__name__)

VARIANTS = ("int8", "float32", "float16", "dynamic")
MAX_BARE_PASS = 0.02
"""Share of the validation split's faces that are not properly masked allowed to pass as mask."""
FEW_CALIBRATION_CROPS = 100
"""Below this many calibration crops the bias correction's per-channel means are too noisy to trust (a warning)."""


def representative_crops(prepared_dir: Path, size: int, samples: int, seed: int = 1234) -> np.ndarray:
    """RGB float32 training crops, balanced by class; the same pixels the runtime feeds (0..255)."""
    rows = [r for r in read_manifest(prepared_dir) if r.split == "train"]
    labels = labels_of(rows)
    rng = np.random.default_rng(seed)
    per_class = max(1, samples // len(labels))
    chosen = []
    for label in labels:
        members = [r for r in rows if r.label == label]
        chosen += [members[i] for i in rng.permutation(len(members))[:per_class]]
    images, _ = load_crops(prepared_dir, chosen, labels, size)
    return images[..., ::-1].astype(np.float32)


def convert(model, variant: str, representative: np.ndarray) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    elif variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant != "float32":
        raise ValueError(f"unknown variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    return converter.convert()


def tensor_summary(model_path: Path) -> dict:
    from edge.modelfiles.tflite import load_interpreter

    interpreter = load_interpreter(model_path)
    summary = {}
    for kind, detail in (
        ("input", interpreter.get_input_details()[0]),
        ("output", interpreter.get_output_details()[0]),
    ):
        scale, zero_point = detail["quantization"]
        summary[kind] = {
            "dtype": np.dtype(detail["dtype"]).name,
            "shape": [int(v) for v in detail["shape"]],
            "quantization": [float(scale), int(zero_point)],
        }
    return summary


def tool_versions() -> dict:
    import keras
    import tensorflow as tf

    return {
        "maskgate": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def build_card(
    name: str, variant: str, labels: list[str], tensors: dict, prepared_dir: Path, train_report: dict, size_bytes: int
) -> dict:
    prepare_report = json.loads((prepared_dir / "prepare_report.json").read_text(encoding="utf-8"))
    return {
        "name": name,
        "variant": variant,
        "labels": labels,
        "file_bytes": size_bytes,
        "input": {"size": tensors["input"]["shape"][1], "colour": "RGB", "normalisation": "folded", **tensors["input"]},
        "output": {"kind": train_report.get("output", "probabilities"), **tensors["output"]},
        "decision": {"temperature": 1.0},
        "crop": prepare_report["crop"],
        "dataset": {
            "manifest_sha256": manifest_sha256(prepared_dir),
            "source": prepare_report["dataset"],
            "kept": prepare_report["kept"],
            "splits": prepare_report["splits"],
            "prepared_with": prepare_report.get("prepared_with", {}),
        },
        "training_sources": sources_record(prepare_report.get("kept_by_source", {})),
        "training": {k: train_report.get(k) for k in ("settings", "train_seconds", "train_crops", "val_crops")},
        "metrics": {},
        "tools": tool_versions(),
        "created": time.strftime("%Y-%m-%d"),
    }


def test_split_metrics(model_path: Path, prepared_dir: Path) -> dict:
    from convert.evaluation.evaluate import tflite_probabilities
    from convert.evaluation.metrics import classification_metrics

    rows = read_manifest(prepared_dir)
    labels = labels_of(rows)
    test = [r for r in rows if r.split == "test"]
    if not test:
        return {}
    probabilities, targets = tflite_probabilities(model_path, prepared_dir, test, labels)
    return {"test_split": classification_metrics(targets, probabilities, labels)}


def calibrate(model_path: Path, prepared_dir: Path, card: dict, max_bare_pass: float) -> dict:
    """The card's decision block fitted on the validation split: temperature, then the mask threshold."""
    from convert.evaluation.evaluate import tflite_probabilities

    rows = read_manifest(prepared_dir)
    labels = list(card["labels"])
    val = [r for r in rows if r.split == "val"]
    if not val or "mask" not in labels:
        return card["decision"]
    raw, targets = tflite_probabilities(model_path, prepared_dir, val, labels)
    temperature = fit_temperature(logits_of(raw), targets) if card["output"]["kind"] == "logits" else 1.0
    from edge.vision.classifier import softmax

    calibrated = softmax(logits_of(raw) / temperature)
    threshold = mask_threshold(calibrated, targets, labels, max_bare_pass)
    return {
        "temperature": temperature,
        "mask_threshold": round(threshold, 4),
        "chosen_on": f"validation split ({len(val)} crops): at most {max_bare_pass:.1%} of faces not properly "
        "masked pass as mask",
        "validation_reliability": reliability(calibrated, targets),
    }


def quantize(
    model_path: Path,
    prepared_dir: Path,
    out_dir: Path,
    name: str = "mask_classifier",
    samples: int = 300,
    variants: tuple[str, ...] = VARIANTS,
    max_bare_pass: float = MAX_BARE_PASS,
    bias_correction: bool = True,
) -> dict[str, Path]:
    import keras

    model = keras.models.load_model(model_path)
    size = int(model.input_shape[1])
    train_report_path = model_path.parent / "train_report.json"
    train_report = json.loads(train_report_path.read_text(encoding="utf-8")) if train_report_path.is_file() else {}
    labels = train_report.get("labels") or labels_of(read_manifest(prepared_dir))
    representative = representative_crops(prepared_dir, size, samples)
    if bias_correction and "int8" in variants and len(representative) < FEW_CALIBRATION_CROPS:
        log.warning(
            "int8 bias correction measures each channel's mean error on only %d calibration crops; with so few the "
            "means are noisy and it can add error (it was measured to help with 300: --samples 300, or "
            "--no-bias-correction)",
            len(representative),
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for variant in variants:
        started = time.perf_counter()
        path = out_dir / f"{name}_{variant}.tflite"
        correcting = variant == "int8" and bias_correction
        try:
            with corrected_for_int8(model, representative) if correcting else nullcontext(0) as corrected_layers:
                path.write_bytes(convert(model, variant, representative))
        except BiasCorrectionError as exc:
            raise BiasCorrectionError(
                f"{model_path}: cannot bias-correct the int8 conversion: {exc}; "
                "quantize it with --no-bias-correction, or train it with `maskgate-convert train`"
            ) from None
        tensors = tensor_summary(path)
        if variant == "int8" and tensors["input"]["quantization"] != [1.0, 0]:
            log.warning(
                "%s: input quantization %s is not raw pixels (1.0, 0); the runtime will rescale",
                path,
                tensors["input"]["quantization"],
            )
        card = build_card(name, variant, labels, tensors, prepared_dir, train_report, path.stat().st_size)
        if variant == "int8":
            card["quantization"] = {
                "calibration_crops": len(representative),
                "bias_correction_layers": corrected_layers,
            }
        card["model_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()  # checked by the runtime at load
        path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        card["decision"] = calibrate(path, prepared_dir, card, max_bare_pass)
        path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        card["metrics"] = test_split_metrics(path, prepared_dir)
        path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        record_classifier(path)
        log.info(
            "%s: %d bytes in %.0f s, test accuracy %s",
            path,
            path.stat().st_size,
            time.perf_counter() - started,
            card["metrics"].get("test_split", {}).get("accuracy"),
        )
        written[variant] = path
    return written
