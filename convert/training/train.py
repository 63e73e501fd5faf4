"""`maskgate-convert train`: MobileNetV2 with the seeds' head, fine-tuned on detector crops.

With ImageNet weights (default): the base up to `boundary` is frozen, its activations are
computed once for the clean crop and `copies` augmented variants of each training crop, the head
is trained on pooled features, then the layers after `boundary` are fine-tuned at a low rate on
the cached activations for `finetune_epochs`, keeping the mean of the weights after each epoch from
`average_from` on (early stopping on the raw validation loss stopped too soon: the overconfidence that loss
punishes is what the temperature fitted afterwards takes out). That keeps a full run on a 2-core CPU to
minutes. Without weights
(`--scratch`, small variants) the whole network trains, with fresh augmentation every epoch.

A run interrupted (a session ending, a reboot) resumes when the same command is run again: the cached
activations and every phase's last finished epoch are kept under OUT/resume/<key of the inputs and
settings> until the run completes (Keras' BackupAndRestore; training from scratch starts over).

An augmented copy of a bare face may carry a synthetic mask and so another label (`convert.data.augment`).
Classes are weighted to balance the augmented set. The model outputs logits; a temperature fitted on
the validation split turns them into calibrated probabilities (`convert.training.calibrate`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from convert.data.augment import augment_sample
from convert.data.dataset import DatasetError, labels_of, load_crops, manifest_sha256, read_manifest, sha256_file
from convert.training.calibrate import fit_temperature
from edge.errors import SetupError

log = logging.getLogger(__name__)

MODEL_NAME = "model.keras"
RESUME_DIR = "resume"


class WeightsError(SetupError, ValueError):
    pass


class TrainSettingsError(SetupError, ValueError):
    pass


@dataclass
class TrainSettings:
    alpha: float = 1.0
    size: int = 224
    weights: str = ""
    """Local ImageNet weights file (include_top=False); "imagenet" lets Keras download them; "" = scratch."""
    seed: int = 1234
    copies: int = 3
    head_epochs: int = 40
    finetune_epochs: int = 10
    average_from: int = 3
    """Fine-tune: keep the mean of the weights after each epoch from this one (1-based) to the last; 0 = keep the
    epoch of lowest validation loss, stopping after `patience` epochs without one (the recipe before 2026-11-29)."""
    scratch_epochs: int = 40
    head_lr: float = 1e-3
    finetune_lr: float = 1e-5
    scratch_lr: float = 2e-3
    batch_size: int = 32
    boundary: str = "block_13_project_BN"
    patience: int = 3
    limit: int | None = None
    teacher: str = ""
    exclude_source: str = ""
    """Leave one source out of training and validation, to test generalisation on it afterwards."""
    """A trained model.keras whose soft labels the model learns from (distillation, for small variants)."""


def _seed_everything(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_base(settings: TrainSettings):
    import keras

    shape = (settings.size, settings.size, 3)
    if settings.weights == "imagenet":
        return keras.applications.MobileNetV2(
            input_shape=shape, alpha=settings.alpha, include_top=False, weights="imagenet"
        )
    base = keras.applications.MobileNetV2(input_shape=shape, alpha=settings.alpha, include_top=False, weights=None)
    if not settings.weights:
        # Keras builds MobileNetV2 with BN momentum 0.999, tuned for ImageNet-length runs; from scratch on a few
        # thousand crops the moving statistics would still be near their initial values when training ends.
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.9
    if settings.weights:
        path = Path(settings.weights)
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        try:
            base.load_weights(str(path))
        except (ValueError, OSError) as exc:
            raise WeightsError(
                f"weights file {path} does not fit MobileNetV2(alpha={settings.alpha}, input {settings.size}, "
                f"include_top=False): {exc}"
            ) from exc
    return base


def build_head(num_classes: int):
    import keras

    return [
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(128, activation="relu", name="fc128"),
        keras.layers.Dropout(0.5, name="dropout"),
        keras.layers.Dense(num_classes, name="logits"),
    ]


def _loss():
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@dataclass
class Crops:
    """Training or validation crops (BGR uint8), their class indices and landmarks in crop pixels (or None)."""

    images: np.ndarray
    targets: np.ndarray
    landmarks: list[np.ndarray | None]


def load_split(prepared_dir: Path, rows, labels: list[str], size: int) -> Crops:
    images, targets = load_crops(prepared_dir, rows, labels, size)
    report = prepared_dir / "prepare_report.json"
    crop_size = json.loads(report.read_text(encoding="utf-8"))["crop"]["size"] if report.is_file() else size
    points = []
    for row in rows:
        found = row.landmark_points()
        points.append(None if found is None else found * (size / crop_size))
    return Crops(images, targets, points)


def augmented_copy(crops: Crops, index: slice, labels: list[str], rng: np.random.Generator):
    """A random door-condition variant of the crops in `index`, and their labels (a bare face may be masked)."""
    images, targets = [], []
    positions = range(*index.indices(len(crops.images)))
    for i in positions:
        image, label = augment_sample(crops.images[i], rng, labels[crops.targets[i]], crops.landmarks[i], tuple(labels))
        images.append(image)
        targets.append(labels.index(label))
    return np.stack(images), np.array(targets, np.int64)


def balanced_weights(targets: np.ndarray, num_classes: int) -> dict[int, float]:
    counts = np.bincount(targets, minlength=num_classes).astype(np.float64)
    return {i: float(len(targets) / (num_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


def apply(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def assemble(base, head, size: int):
    """Raw RGB 0..255 in, probabilities out; the MobileNetV2 normalisation is a layer of the model."""
    import keras

    inputs = keras.Input((size, size, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="normalise")(inputs)
    return keras.Model(inputs, apply(head, base(x)), name="maskgate_mobilenetv2")


def rgb_float(batch_bgr: np.ndarray) -> np.ndarray:
    return batch_bgr[..., ::-1].astype(np.float32)


def boundary_activations(
    trunk, crops: Crops, labels: list[str], copies: int, rng: np.random.Generator, chunk: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Trunk outputs for each crop and `copies` augmented variants, computed in chunks to bound memory."""
    count = len(crops.images)
    shape = tuple(int(v) for v in trunk.output.shape[1:])
    out = np.zeros(((copies + 1) * count, *shape), np.float16)
    targets = np.tile(crops.targets, copies + 1)
    started = time.perf_counter()
    for copy in range(copies + 1):
        for start in range(0, count, chunk):
            window = slice(start, min(start + chunk, count))
            batch = crops.images[window]
            row = copy * count + start
            if copy:
                batch, targets[row : row + len(batch)] = augmented_copy(crops, window, labels, rng)
            out[row : row + len(batch)] = trunk.predict_on_batch(_normalised(batch))
        log.info("cached copy %d of %d (%.0f s so far)", copy + 1, copies + 1, time.perf_counter() - started)
    return out, targets


def _callbacks(patience: int, backup: Path | None = None, keep_weights: Path | None = None, keep_from: int = 0):
    """Backups for a resumed run, and either early stopping on the validation loss or, with `keep_weights`, the
    weights after each epoch from `keep_from` on written there to be averaged."""
    import keras

    callbacks = [keras.callbacks.BackupAndRestore(str(backup))] if backup else []
    if keep_weights is not None:
        return [*callbacks, epoch_weights_saver(keep_weights, keep_from)]
    return [*callbacks, keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)]


def epoch_weights_saver(directory: Path, first_epoch: int):
    """A Keras callback writing the model's weights after each epoch from `first_epoch` (1-based) on, one file per
    epoch, each written whole or not at all, so a resumed run averages the epochs of the run it resumes too."""
    import keras

    class SaveEpochWeights(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs=None) -> None:
            if epoch + 1 >= first_epoch:
                weights = self.model.get_weights()
                save_arrays(directory / f"epoch_{epoch + 1:03d}.npz", {f"w{i}": w for i, w in enumerate(weights)})

    return SaveEpochWeights()


def mean_weights(directory: Path) -> list[np.ndarray]:
    """The element-wise mean of the weights epoch_weights_saver wrote, in the model's order."""
    files = sorted(directory.glob("epoch_*.npz"))
    if not files:
        raise FileNotFoundError(f"no epoch weights in {directory}")
    epochs = []
    for path in files:
        with np.load(path) as stored:
            epochs.append([stored[f"w{i}"] for i in range(len(stored.files))])
    log.info("fine-tune weights: the mean of %d epochs (%s to %s)", len(files), files[0].stem, files[-1].stem)
    return [np.mean([weights[i] for weights in epochs], axis=0) for i in range(len(epochs[0]))]


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """`arrays` in the .npz `path`, written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        np.savez(handle, **arrays)
    partial.replace(path)


def cached(path: Path, compute) -> tuple[np.ndarray, np.ndarray]:
    """The arrays `compute()` returns, kept in `path` (written whole or not at all) so a resumed run reuses them."""
    if path.is_file():
        with np.load(path) as stored:
            log.info("reusing %s", path)
            return stored["x"], stored["y"]
    x, y = compute()
    save_arrays(path, {"x": x, "y": y})
    return x, y


def _fit(
    model,
    x,
    y,
    val,
    epochs: int,
    settings: TrainSettings,
    history: list[dict],
    phase: str,
    patience: int | None = None,
    class_weight: dict[int, float] | None = None,
    backup: Path | None = None,
    keep_weights: Path | None = None,
) -> None:
    """`keep_weights`: where the weights after each epoch from settings.average_from on go (no early stopping)."""
    result = model.fit(
        x,
        y,
        validation_data=val,
        epochs=epochs,
        batch_size=settings.batch_size,
        shuffle=True,
        callbacks=_callbacks(patience or settings.patience, backup, keep_weights, settings.average_from),
        class_weight=class_weight,
        verbose=2,
    )
    for epoch in range(len(result.history["loss"])):
        history.append({"phase": phase, **{k: float(v[epoch]) for k, v in result.history.items()}})


def train_pretrained(settings, base, head, train, val, labels, rng, history, work: Path):
    import keras

    trunk = keras.Model(base.input, base.get_layer(settings.boundary).output)
    top = keras.Model(base.get_layer(settings.boundary).output, base.output)
    started = time.perf_counter()
    cached_train, y_aug = cached(
        work / "train_activations.npz", lambda: boundary_activations(trunk, train, labels, settings.copies, rng)
    )
    cached_val, _ = cached(work / "val_activations.npz", lambda: boundary_activations(trunk, val, labels, 0, rng))
    seconds = time.perf_counter() - started
    log.info("%d boundary activations ready in %.0f s", len(cached_train) + len(cached_val), seconds)
    by_class = np.bincount(y_aug, minlength=len(labels))
    log.info("augmented training set by class: %s", dict(zip(labels, by_class.tolist(), strict=True)))
    weights = balanced_weights(y_aug, len(labels))

    for layer in base.layers:
        layer.trainable = False
    pooled = keras.layers.GlobalAveragePooling2D()(top.output)
    pooled_model = keras.Model(top.input, pooled)
    features = pooled_model.predict(cached_train, batch_size=128, verbose=0)
    features_val = pooled_model.predict(cached_val, batch_size=128, verbose=0)
    head_input = keras.Input(features.shape[1:])
    head_model = keras.Model(head_input, apply(head[1:], head_input))
    head_model.compile(keras.optimizers.Adam(settings.head_lr), _loss(), metrics=["accuracy"])
    _fit(
        head_model,
        features,
        y_aug,
        (features_val, val.targets),
        settings.head_epochs,
        settings,
        history,
        "head",
        class_weight=weights,
        backup=work / "backup" / "head",
    )

    if settings.finetune_epochs:
        for layer in top.layers:
            layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
        epoch_weights = work / "finetune_weights" if settings.average_from else None
        boundary_input = keras.Input(cached_train.shape[1:])
        finetune = keras.Model(boundary_input, apply(head, top(boundary_input)))
        finetune.compile(keras.optimizers.Adam(settings.finetune_lr), _loss(), metrics=["accuracy"])
        _fit(
            finetune,
            cached_train,
            y_aug,
            (cached_val, val.targets),
            settings.finetune_epochs,
            settings,
            history,
            "finetune",
            class_weight=weights,
            backup=work / "backup" / "finetune",
            keep_weights=epoch_weights,
        )
        if epoch_weights is not None:
            finetune.set_weights(mean_weights(epoch_weights))


def _normalised(images_bgr: np.ndarray) -> np.ndarray:
    return rgb_float(images_bgr) / 127.5 - 1.0


def resized(images: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if images.shape[1] == size:
        return images
    return np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) for img in images])


def train_distilled(settings, base, head, train, val, labels, rng, history, work: Path):
    """The student learns from a blend of the true label and the teacher's probabilities on the same
    augmented crop; the teacher sees the crop at its own size, the student at settings.size."""
    import keras

    teacher = keras.models.load_model(settings.teacher)
    teacher_temperature = _teacher_temperature(settings.teacher)
    count = len(train.images)
    inputs, soft, hard = [], [], []
    for copy in range(settings.copies + 1):
        for start in range(0, count, 64):
            window = slice(start, min(start + 64, count))
            batch, targets = train.images[window], train.targets[window]
            if copy:
                batch, targets = augmented_copy(train, window, labels, rng)
            soft.append(_softmax(teacher.predict_on_batch(rgb_float(batch)) / teacher_temperature))
            inputs.append(resized(batch, settings.size))
            hard.append(targets)
    one_hot = np.eye(len(labels), dtype=np.float32)
    blended = 0.5 * one_hot[np.concatenate(hard)] + 0.5 * np.concatenate(soft)
    model = assemble(base, head, settings.size)
    model.compile(
        keras.optimizers.Adam(settings.scratch_lr),
        keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    val_inputs = rgb_float(resized(val.images, settings.size))
    _fit(
        model,
        rgb_float(np.concatenate(inputs)),
        blended,
        (val_inputs, one_hot[val.targets]),
        settings.scratch_epochs,
        settings,
        history,
        "distil",
        patience=settings.patience * 2,
        backup=work / "backup" / "distil",
    )


def train_scratch(settings, base, head, train, val, labels, rng, history):
    import keras

    model = assemble(base, head, settings.size)
    model.compile(keras.optimizers.Adam(settings.scratch_lr), _loss(), metrics=["accuracy"])
    best, best_loss, waited = None, np.inf, 0
    for epoch in range(settings.scratch_epochs):
        x, targets = augmented_copy(train, slice(None), labels, rng)
        result = model.fit(
            rgb_float(x),
            targets,
            validation_data=(rgb_float(val.images), val.targets),
            batch_size=settings.batch_size,
            epochs=1,
            shuffle=True,
            verbose=0,
        )
        row = {"phase": "scratch", **{k: float(v[0]) for k, v in result.history.items()}}
        history.append(row)
        log.info("scratch epoch %d: %s", epoch + 1, row)
        if row["val_loss"] < best_loss:
            best, best_loss, waited = model.get_weights(), row["val_loss"], 0
        elif (waited := waited + 1) >= settings.patience * 2:
            break
    if best is not None:
        model.set_weights(best)


def _softmax(logits: np.ndarray) -> np.ndarray:
    from edge.vision.classifier import softmax

    return softmax(logits.astype(np.float64)).astype(np.float32)


def _teacher_temperature(path: str) -> float:
    report = Path(path).parent / "train_report.json"
    if report.is_file():
        return float(json.loads(report.read_text(encoding="utf-8")).get("temperature", 1.0))
    return 1.0


def validation_logits(model, val: Crops) -> np.ndarray:
    return model.predict(rgb_float(val.images), batch_size=64, verbose=0)


def _teacher_size(path: str) -> int:
    import keras

    if not Path(path).is_file():
        raise WeightsError(f"teacher model not found: {path}")
    return int(keras.models.load_model(path).input_shape[1])


def plot_history(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history) + 1)
    figure, axis = plt.subplots(figsize=(8, 5))
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        axis.plot(epochs, [row[key] for row in history], label=key)
    for i in range(1, len(history)):
        if history[i]["phase"] != history[i - 1]["phase"]:
            axis.axvline(i + 0.5, color="grey", linestyle=":")
    axis.set(xlabel="epoch (head, then fine-tune)", ylabel="loss / accuracy", title="MaskGate training")
    axis.legend(loc="center right")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def settings_record(settings: TrainSettings) -> dict:
    """The settings as the model card keeps them: input files by name and sha256, not by a build machine's path."""
    record = asdict(settings)
    for key in ("weights", "teacher"):
        path = Path(record[key])
        if record[key] and path.is_file():
            record[key], record[f"{key}_sha256"] = path.name, sha256_file(path)
    return record


def resume_dir(out_dir: Path, prepared_dir: Path, settings: TrainSettings) -> Path:
    """Where this run keeps what a resumed run reuses: named by the training set and the settings, so a run with
    other inputs never picks up this one's."""
    inputs = {"manifest": manifest_sha256(prepared_dir), "settings": settings_record(settings)}
    return out_dir / RESUME_DIR / hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def train(prepared_dir: Path, out_dir: Path, settings: TrainSettings) -> dict:
    fine_tuned = settings.weights and not settings.teacher and settings.finetune_epochs
    if fine_tuned and settings.average_from > settings.finetune_epochs:
        raise TrainSettingsError(
            f"--average-from {settings.average_from} comes after the last fine-tune epoch (--finetune-epochs "
            f"{settings.finetune_epochs}): average from an epoch within them, or 0 to keep the best epoch"
        )
    rows = read_manifest(prepared_dir)
    labels = labels_of(rows)
    kept = [r for r in rows if not (settings.exclude_source and r.source == settings.exclude_source)]
    by_split = {split: [r for r in kept if r.split == split] for split in ("train", "val", "test")}
    if settings.limit:
        rng_limit = np.random.default_rng(settings.seed)
        by_split = {
            k: [v[i] for i in sorted(rng_limit.permutation(len(v))[: settings.limit])] for k, v in by_split.items()
        }
    for split in ("train", "val"):
        present = {r.label for r in by_split[split]}
        if present != set(labels):
            raise DatasetError(f"{split} split has classes {sorted(present)}, expected all of {labels}")
    _seed_everything(settings.seed)
    rng = np.random.default_rng(settings.seed)
    started = time.perf_counter()
    load_size = _teacher_size(settings.teacher) if settings.teacher else settings.size
    train_data = load_split(prepared_dir, by_split["train"], labels, load_size)
    val_data = load_split(prepared_dir, by_split["val"], labels, load_size)
    base, head = build_base(settings), build_head(len(labels))
    history: list[dict] = []
    work = resume_dir(out_dir, prepared_dir, settings)
    if settings.teacher:
        train_distilled(settings, base, head, train_data, val_data, labels, rng, history, work)
    elif settings.weights:
        train_pretrained(settings, base, head, train_data, val_data, labels, rng, history, work)
    else:
        train_scratch(settings, base, head, train_data, val_data, labels, rng, history)
    model = assemble(base, head, settings.size)
    val_at_size = (
        val_data if load_size == settings.size else Crops(resized(val_data.images, settings.size), val_data.targets, [])
    )
    temperature = fit_temperature(validation_logits(model, val_at_size), val_data.targets)
    log.info("temperature fitted on the validation split: %.3f", temperature)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / MODEL_NAME)
    plot_history(history, out_dir / "training_curve.png")
    report = {
        "labels": labels,
        "output": "logits",
        "temperature": temperature,
        "settings": settings_record(settings),
        "manifest_sha256": manifest_sha256(prepared_dir),
        "prepared_dir": str(prepared_dir),
        "train_seconds": round(time.perf_counter() - started, 1),
        "train_crops": len(by_split["train"]),
        "val_crops": len(by_split["val"]),
        "history": history,
    }
    (out_dir / "train_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out_dir / RESUME_DIR, ignore_errors=True)
    log.info("trained in %.0f s -> %s", report["train_seconds"], out_dir / MODEL_NAME)
    return report
