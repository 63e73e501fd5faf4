"""`maskgate-convert evaluate`: Keras float and TFLite models side by side on the same crops.

Besides the clean test split it scores door conditions the training photos rarely show, made
deterministically from the same crops: a face 40 px wide, motion blur, dim light, heavy JPEG.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

from convert.data.dataset import (
    MANIFEST_NAME,
    DatasetError,
    ManifestRow,
    canonical_label,
    labels_of,
    load_crops,
    read_manifest,
)
from convert.evaluation.metrics import classification_metrics
from convert.training.calibrate import reliability
from edge.sources import IMAGE_SUFFIXES

log = logging.getLogger(__name__)


def _small(image: np.ndarray) -> np.ndarray:
    size = image.shape[0]
    return cv2.resize(cv2.resize(image, (40, 40), interpolation=cv2.INTER_AREA), (size, size))


def _motion_blur(image: np.ndarray) -> np.ndarray:
    kernel = np.zeros((9, 9), np.float32)
    kernel[4, :] = 1 / 9
    return cv2.filter2D(image, -1, kernel)


def _dim(image: np.ndarray) -> np.ndarray:
    return (255.0 * (image.astype(np.float32) * 0.45 / 255.0) ** 1.3).astype(np.uint8)


def _jpeg(image: np.ndarray) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 15])[1], cv2.IMREAD_COLOR)


def _mouth_covered(image: np.ndarray) -> np.ndarray:
    """A blurred patch of the face's own forehead skin over mouth and chin: a stand-in for a hand, and not
    the finger shapes training uses, so it tests occlusion rather than recall of an augmentation."""
    size = image.shape[0]
    skin = image[int(0.30 * size) : int(0.42 * size), int(0.35 * size) : int(0.65 * size)]
    top, bottom, left, right = (int(f * size) for f in (0.60, 0.86, 0.28, 0.72))
    out = image.copy()
    out[top:bottom, left:right] = cv2.GaussianBlur(cv2.resize(skin, (right - left, bottom - top)), (0, 0), 3)
    return out


CONDITIONS = {
    "clean": lambda image: image,
    "face_40px": _small,
    "motion_blur": _motion_blur,
    "dim": _dim,
    "jpeg_q15": _jpeg,
    "mouth_covered": _mouth_covered,
}
OCCLUSION = "mouth_covered"
"""Scored as the share of bare faces still called bare: whether a covered masked face is "masked" is moot."""


def rows_from_folders(folder: Path) -> list[ManifestRow]:
    rows = []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                rows.append(
                    ManifestRow(
                        str(file.relative_to(folder)), canonical_label(class_dir.name), "test", "", "", "", "", 0.0, ""
                    )
                )
    if not rows:
        raise DatasetError(f"{folder} has no class folders with images (and no {MANIFEST_NAME})")
    return rows


def load_rows(data: Path, split: str, source: str = "") -> list[ManifestRow]:
    """The manifest's rows of one split, or with `source` every row of that source (a held-out source)."""
    if (data / MANIFEST_NAME).is_file():
        rows = [r for r in read_manifest(data) if (r.source == source if source else r.split == split)]
        if not rows:
            wanted = f"source {source!r}" if source else f"split {split!r}"
            raise DatasetError(f"{data / MANIFEST_NAME} has no rows of {wanted}")
        return rows
    return rows_from_folders(data)


def model_labels(model_path: Path) -> list[str]:
    if model_path.suffix == ".tflite":
        from edge.vision.model_card import ModelCard

        return list(ModelCard.for_model(model_path).labels)
    report = model_path.parent / "train_report.json"
    if not report.is_file():
        raise DatasetError(f"{report} not found: the Keras model's label order comes from its training report")
    return json.loads(report.read_text(encoding="utf-8"))["labels"]


def tflite_probabilities(
    model_path: Path, data: Path, rows: list[ManifestRow], labels: list[str], condition: str = "clean"
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities through the runtime's own classifier (same preprocessing as on the Pi)."""
    from edge.vision.classifier import MaskClassifier

    classifier = MaskClassifier(model_path, num_threads=2, batch=True)
    images, targets = load_crops(data, rows, labels, classifier.input_size)
    transform = CONDITIONS[condition]
    chunks = [classifier.classify([transform(img) for img in images[i : i + 32]]) for i in range(0, len(images), 32)]
    return np.concatenate(chunks), targets


def keras_probabilities(
    model_path: Path, data: Path, rows: list[ManifestRow], labels: list[str], condition: str = "clean", model=None
) -> tuple[np.ndarray, np.ndarray]:
    import keras

    model = model or keras.models.load_model(model_path)
    images, targets = load_crops(data, rows, labels, int(model.input_shape[1]))
    transform = CONDITIONS[condition]
    rgb = np.stack([transform(img) for img in images])[..., ::-1].astype(np.float32)
    return keras_output_as_probabilities(model_path, model.predict(rgb, batch_size=64, verbose=0)), targets


def keras_output_as_probabilities(model_path: Path, output: np.ndarray) -> np.ndarray:
    """Softmax(logits / T) with the training report's temperature for a model that outputs logits."""
    from edge.vision.classifier import softmax

    report = json.loads((model_path.parent / "train_report.json").read_text(encoding="utf-8"))
    if report.get("output") != "logits":
        return output
    return softmax(output.astype(np.float64) / float(report.get("temperature", 1.0))).astype(np.float32)


def plot_confusions(results: dict[str, dict], labels: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(3.6 * len(results), 3.4), squeeze=False)
    for axis, (name, result) in zip(axes[0], results.items(), strict=True):
        matrix = np.array(result["clean"]["confusion"])
        axis.imshow(matrix, cmap="Blues")
        for (row, col), value in np.ndenumerate(matrix):
            axis.text(
                col, row, str(value), ha="center", va="center", color="white" if value > matrix.max() / 2 else "black"
            )
        axis.set(
            xticks=range(len(labels)),
            yticks=range(len(labels)),
            xticklabels=labels,
            yticklabels=labels,
            xlabel="predicted",
            ylabel="true",
            title=name,
        )
        axis.tick_params(axis="x", labelrotation=30)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def condition_score(metrics: dict, condition: str) -> float:
    if condition == OCCLUSION:
        return metrics["per_class"].get("no_mask", {}).get("recall", float("nan"))
    return metrics["accuracy"]


def markdown_report(results: dict[str, dict], labels: list[str], sizes: dict[str, int], agreement: dict) -> str:
    lines = [
        "| model | size | accuracy | " + " | ".join(f"{lab} P / R / F1" for lab in labels) + " | ROC-AUC |",
        "|---|---:|---:|" + "---|" * len(labels) + "---:|",
    ]
    for name, result in results.items():
        clean = result["clean"]
        cells = [f"{c['precision']:.4f} / {c['recall']:.4f} / {c['f1']:.4f}" for c in clean["per_class"].values()]
        auc = clean["roc_auc"][labels[0]]
        lines.append(
            f"| {name} | {sizes[name] / 1e6:.2f} MB | {clean['accuracy']:.4f} | "
            + " | ".join(cells)
            + f" | {auc if auc is None else f'{auc:.4f}'} |"
        )
    lines += [
        "",
        "Accuracy under door conditions (same crops, degraded deterministically); for mouth_covered, the share",
        "of bare faces still called no_mask when a patch of their own skin covers mouth and chin (a hand):",
        "",
        "| model | " + " | ".join(CONDITIONS) + " |",
        "|---|" + "---:|" * len(CONDITIONS),
    ]
    for name, result in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{condition_score(result[c], c):.4f}" for c in CONDITIONS) + " |")
    lines += [
        "",
        "Calibration on the clean test split (reliability diagram in `reliability.png`): expected calibration "
        "error, and the share of faces whose top score is stuck at the uint8 ceiling 255/256 (a saturated output):",
        "",
        "| model | ECE | at the uint8 ceiling |",
        "|---|---:|---:|",
    ]
    for name, result in results.items():
        lines.append(f"| {name} | {result['reliability']['ece']:.4f} | {result['reliability']['capped_share']:.4f} |")
    if agreement:
        lines += [
            "",
            "Agreement of predictions with the first model: " + ", ".join(f"{k} {v:.4f}" for k, v in agreement.items()),
        ]
    return "\n".join(lines) + "\n"


def evaluate(models: list[Path], data: Path, out_dir: Path, split: str = "test", source: str = "") -> dict:
    rows = load_rows(data, split, source)
    labels = labels_of(rows)
    results: dict[str, dict] = {}
    predictions: dict[str, np.ndarray] = {}
    sizes = {}
    names = [p.name for p in models]
    for model_path in models:
        if not model_path.is_file():
            raise DatasetError(f"model file not found: {model_path}")
        order = model_labels(model_path)
        if sorted(order) != sorted(labels):
            raise DatasetError(f"{model_path} knows labels {order} but the data has {labels}")
        name = model_path.name if names.count(model_path.name) == 1 else f"{model_path.parent.name}/{model_path.name}"
        sizes[name] = model_path.stat().st_size
        results[name] = {}
        keras_model = None
        if model_path.suffix == ".keras":
            import keras

            keras_model = keras.models.load_model(model_path)
        for condition in CONDITIONS:
            if keras_model is not None:
                probabilities, targets = keras_probabilities(model_path, data, rows, order, condition, keras_model)
            else:
                probabilities, targets = tflite_probabilities(model_path, data, rows, order, condition)
            # reorder columns to the data's label order so every model is scored alike
            probabilities = probabilities[:, [order.index(label) for label in labels]]
            targets = np.array([labels.index(order[t]) for t in targets])
            results[name][condition] = classification_metrics(targets, probabilities, labels)
            if condition == "clean":
                predictions[name] = probabilities.argmax(axis=1)
                results[name]["reliability"] = reliability(probabilities, targets)
        log.info("%s: accuracy %.4f", name, results[name]["clean"]["accuracy"])
    first = next(iter(predictions))
    agreement = {k: float((v == predictions[first]).mean()) for k, v in predictions.items() if k != first}
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "data": str(data),
        "split": split,
        "labels": labels,
        "n": len(rows),
        "results": results,
        "agreement_with_first": agreement,
        "file_bytes": sizes,
    }
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "test_split.txt").write_text("".join(f"{r.source_file or r.file},{r.label}\n" for r in rows))
    (out_dir / "evaluation.md").write_text(markdown_report(results, labels, sizes, agreement), encoding="utf-8")
    plot_confusions(results, labels, out_dir / "confusion.png")
    plot_reliability(results, out_dir / "reliability.png")
    return report


def plot_reliability(results: dict[str, dict], path: Path) -> None:
    """Reliability diagram: mean confidence of the top label against its accuracy, per bin, for each model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for name, result in results.items():
        bins = result["reliability"]["bins"]
        axis.plot(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            marker="o",
            label=f"{name} (ECE {result['reliability']['ece']:.3f})",
        )
    axis.set(xlabel="confidence of the top label", ylabel="accuracy", title="Reliability (clean test split)")
    axis.set(xlim=(0, 1.02), ylim=(0, 1.02))
    axis.legend(loc="upper left", fontsize=7)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
