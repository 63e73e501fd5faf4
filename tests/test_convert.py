"""The conversion stage end to end on real photos, CI-sized: prepare -> train -> quantize -> evaluate, three classes
from two kinds of dataset (class folders, and context crops with annotated face boxes)."""

import csv
import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import need_module, need_shared

need_module("tensorflow", "the conversion stage needs `pip install .[convert]`")

from convert.cli import main as convert_main
from convert.data.dataset import DatasetError, class_folders, read_manifest, sha256_file
from convert.data.prepare import largest_face, prepare
from convert.quantization.quantize import quantize
from convert.training.train import TrainSettings, WeightsError, build_base, train
from edge.config import DetectorConfig
from edge.detectors.yunet import YuNetDetector
from edge.vision.classifier import MaskClassifier
from edge.vision.crop import crop_face

PER_CLASS = 40
SCENE_CROPS_PER_CLASS = 12


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, facemask_dir) -> Path:
    """A small class-per-folder dataset of real photos, with a corrupt file and a non-image in each class."""
    root = tmp_path_factory.mktemp("dataset")
    for folder in ("with_mask", "without_mask"):
        (root / folder).mkdir()
        for path in sorted((facemask_dir / folder).glob("*.jpg"))[::40][:PER_CLASS]:
            shutil.copy(path, root / folder / path.name)
        (root / folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage of " + folder.encode())
        (root / folder / "readme.txt").write_text(f"{folder}: not an image")
    first = sorted((root / "with_mask").glob("*.jpg"))[0]
    shutil.copy(first, root / "with_mask" / "copy_of_first.jpg")
    return root


@pytest.fixture(scope="module")
def scene_crops(tmp_path_factory) -> Path:
    """A few context crops of the annotated scenes set, three classes, with their MANIFEST.csv one level up."""
    shared = need_shared("data/scenes-ilc2021")
    root = tmp_path_factory.mktemp("scenes")
    with (shared / "MANIFEST.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["file"].startswith("train/")]
    kept = []
    for label in ("with_mask", "without_mask", "mask_incorrect"):
        of_label = [r for r in rows if r["label"] == label][: SCENE_CROPS_PER_CLASS * 3 : 3]
        for row in of_label:
            (root / Path(row["file"]).parent).mkdir(parents=True, exist_ok=True)
            shutil.copy(shared / row["file"], root / row["file"])
        kept += of_label
    with (root / "MANIFEST.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(kept)
    return root / "train"


@pytest.fixture(scope="module")
def built(tmp_path_factory, dataset, scene_crops, yunet_model, imagenet_weights) -> dict:
    work = tmp_path_factory.mktemp("convert")
    report = prepare([dataset, scene_crops], work / "prepared", yunet_model, seed=7)
    settings = TrainSettings(
        weights=str(imagenet_weights), copies=2, head_epochs=6, finetune_epochs=1, average_from=1, seed=7
    )
    trained = train(work / "prepared", work / "trained", settings)
    written = quantize(
        work / "trained" / "model.keras", work / "prepared", work / "tflite", samples=16, variants=("int8", "float32")
    )
    return {"work": work, "prepare": report, "train": trained, "tflite": written}


def test_the_training_record_names_input_files_by_name_and_digest_not_path(built, imagenet_weights):
    settings = built["train"]["settings"]
    assert settings["weights"] == imagenet_weights.name
    assert settings["weights_sha256"] == hashlib.sha256(imagenet_weights.read_bytes()).hexdigest()
    assert settings["teacher"] == "" and "teacher_sha256" not in settings


def test_prepare_counts_bad_files_removes_duplicates_and_splits_by_class(built):
    report = built["prepare"]
    assert report.unreadable == {"mask": 2, "no_mask": 2}, "corrupt.jpg and readme.txt in each class"
    assert report.duplicates["mask"] == 1
    scene_faces = 3 * SCENE_CROPS_PER_CLASS
    assert sum(report.kept.values()) + sum(report.no_face.values()) + sum(report.unmatched.values()) == (
        2 * PER_CLASS + scene_faces
    )
    rows = read_manifest(built["work"] / "prepared")
    for split in ("train", "val"):
        assert {r.label for r in rows if r.split == split} == {"mask", "no_mask", "mask_incorrect"}
    assert len({r.sha256 for r in rows}) == len(rows)
    assert report.by_source["jolignier"]["mask_incorrect"] > 0, "the scenes' source comes from their manifest"


def test_scene_crops_keep_the_detection_that_matches_the_annotated_face(built, scene_crops, yunet_model):
    from convert.data.prepare import find_face
    from edge.vision.tracker import iou_matrix

    rows = [r for r in read_manifest(built["work"] / "prepared") if r.source == "jolignier"]
    assert rows and all(r.rule in ("matched", "padded") for r in rows)
    with (scene_crops.parent / "MANIFEST.csv").open(newline="") as handle:
        boxes = {r["file"]: tuple(float(r[k]) for k in ("x1", "y1", "x2", "y2")) for r in csv.DictReader(handle)}
    detector = YuNetDetector(yunet_model, DetectorConfig())
    for row in rows[:6]:
        name = row.source_file.split("/", 1)[1]
        image = cv2.imread(str(scene_crops / name))
        annotated = boxes[f"train/{name}"]
        face, _ = find_face(detector, image, annotated)
        assert iou_matrix([annotated], [face.box])[0, 0] >= 0.3
        saved = cv2.imread(str(built["work"] / "prepared" / row.file))
        assert np.abs(saved.astype(int) - crop_face(image, face.box).astype(int)).mean() < 3
        points = row.landmark_points()
        assert points is not None and points.shape == (5, 2) and (points > 0).all() and (points < 224).all()


def test_training_crops_are_the_runtime_crops(built, dataset, yunet_model):
    row = next(r for r in read_manifest(built["work"] / "prepared") if r.rule == "largest")
    prefix, relative = row.source_file.split("/", 1)
    assert prefix.endswith(dataset.name), "each dataset's files are named after it"
    image = cv2.imread(str(dataset / relative))
    face, _ = largest_face(YuNetDetector(yunet_model, DetectorConfig()), image)
    runtime_crop = crop_face(image, face.box)
    saved = cv2.imread(str(built["work"] / "prepared" / row.file))
    assert saved.shape == runtime_crop.shape == (224, 224, 3)
    assert np.abs(saved.astype(int) - runtime_crop.astype(int)).mean() < 3, "only JPEG noise may differ"


def test_quantized_model_is_full_integer_with_raw_pixel_input_and_a_card(built):
    int8 = built["tflite"]["int8"]
    card = json.loads(int8.with_suffix(".json").read_text())
    assert card["labels"] == ["mask", "no_mask", "mask_incorrect"]
    assert card["output"]["kind"] == "logits"
    assert 0.05 <= card["decision"]["temperature"] <= 20 and 0.5 <= card["decision"]["mask_threshold"] < 1.0
    sources = {s["source"]: s for s in card["training_sources"]}
    assert len(sources) == 2 and sources["jolignier"]["licence"] == "no licence file"
    (own,) = set(sources) - {"jolignier"}
    assert sources[own]["licence"] == "as its owner grants", "a folder without a manifest is the user's own data"
    assert all(s["licence"] and s["commercial_use"] for s in card["training_sources"])
    assert card["input"]["dtype"] == "uint8" and card["input"]["quantization"] == [1.0, 0]
    assert card["crop"]["size"] == 224 and card["crop"]["margin"] == 0.2
    # 16 samples asked, 5 per class of 3; 52 convolutions and 2 Dense layers corrected
    assert card["quantization"] == {"calibration_crops": 15, "bias_correction_layers": 54}
    assert len(card["dataset"]["manifest_sha256"]) == 64
    assert {"tensorflow", "keras", "maskgate"} <= set(card["tools"])
    import cv2
    import onnxruntime

    assert card["dataset"]["prepared_with"] == {
        "engine": "onnxruntime",
        "input_size": 416,
        "score_threshold": 0.5,
        "maskgate": card["tools"]["maskgate"],
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
    }, "the versions that decide the crops travel with the model"
    assert 0.0 <= card["metrics"]["test_split"]["accuracy"] <= 1.0
    assert int8.stat().st_size < built["tflite"]["float32"].stat().st_size / 3
    recorded = card["self_test"]  # the answers `maskgate run` checks at start; this tiny model's may be few
    assert recorded["tolerance"] == 2 and all(len(image["output"]) == 3 for image in recorded["images"])
    from edge.health.self_test import check_classifier
    from edge.vision.classifier import MaskClassifier

    assert check_classifier(MaskClassifier(int8)).ok is not False


def test_evaluate_compares_float_and_int8_and_they_agree(built):
    work = built["work"]
    code = convert_main(
        [
            "evaluate",
            str(work / "trained" / "model.keras"),
            str(built["tflite"]["float32"]),
            str(built["tflite"]["int8"]),
            str(work / "prepared"),
            str(work / "report"),
            "--split",
            "train",
        ]
    )
    assert code == 0
    report = json.loads((work / "report" / "evaluation.json").read_text())
    assert set(report["results"]) == {"model.keras", "mask_classifier_float32.tflite", "mask_classifier_int8.tflite"}
    assert report["agreement_with_first"]["mask_classifier_float32.tflite"] >= 0.98
    assert report["agreement_with_first"]["mask_classifier_int8.tflite"] >= 0.85
    assert "| mask_classifier_int8.tflite |" in (work / "report" / "evaluation.md").read_text()
    assert cv2.imread(str(work / "report" / "confusion.png")) is not None
    assert cv2.imread(str(work / "report" / "reliability.png")) is not None
    assert 0.0 <= report["results"]["mask_classifier_int8.tflite"]["reliability"]["ece"] <= 1.0


def test_the_runtime_runs_the_produced_model_with_its_card(built):
    classifier = MaskClassifier(built["tflite"]["int8"])
    crop = cv2.imread(str(next((built["work"] / "prepared" / "crops" / "no_mask").glob("*.jpg"))))
    probabilities = classifier.classify([crop])
    assert probabilities.shape == (1, 3) and abs(float(probabilities.sum()) - 1) < 1e-4
    assert (
        classifier.mask_threshold
        == json.loads(built["tflite"]["int8"].with_suffix(".json").read_text())["decision"]["mask_threshold"]
    )


def test_a_model_the_bias_correction_cannot_read_is_a_setup_error_naming_the_file_and_the_way_out(
    built, tmp_path, caplog
):
    import keras

    pixels = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(pixels))
    flat = tmp_path / "flat.keras"
    keras.Model(pixels, keras.layers.Dense(3)(features)).save(flat)
    prepared = str(built["work"] / "prepared")
    out = tmp_path / "out"
    assert convert_main(["quantize", str(flat), prepared, str(out), "--variants", "int8", "--samples", "6"]) == 2
    assert f"{flat}: cannot bias-correct" in caplog.text and "--no-bias-correction" in caplog.text
    assert "only 6 calibration crops" in caplog.text, "few calibration crops are warned about first"
    assert not (out / "mask_classifier_int8.tflite").exists()


def test_prepare_runs_yunet_at_the_input_size_and_threshold_it_is_given_and_records_them(
    dataset, tmp_path, yunet_model
):
    """The shipped model's crops were made at YuNet 320 / 0.6 (the defaults of the day): the flags rebuild them."""
    common = [str(dataset), "--detector", str(yunet_model), "--limit", "6"]
    assert convert_main(["prepare", *common, str(tmp_path / "default")]) == 0
    assert (
        convert_main(["prepare", *common, str(tmp_path / "old"), "--input-size", "320", "--score-threshold", "0.6"])
        == 0
    )
    reports = {name: json.loads((tmp_path / name / "prepare_report.json").read_text()) for name in ("default", "old")}
    assert [(r["prepared_with"]["input_size"], r["prepared_with"]["score_threshold"]) for r in reports.values()] == [
        (416, 0.5),
        (320, 0.6),
    ]
    default_scores = {row.file: row.face_score for row in read_manifest(tmp_path / "default")}
    old_scores = {row.file: row.face_score for row in read_manifest(tmp_path / "old")}
    assert default_scores.keys() & old_scores.keys(), "the same photos give crops either way"
    assert any(default_scores[f] != old_scores[f] for f in default_scores.keys() & old_scores.keys())
    assert convert_main(["prepare", *common, str(tmp_path / "bad"), "--score-threshold", "1.5"]) == 2


def test_a_missing_dataset_a_single_class_and_an_empty_class_are_named(tmp_path):
    with pytest.raises(DatasetError, match="dataset directory not found"):
        class_folders(tmp_path / "nope")
    (tmp_path / "with_mask").mkdir()
    (tmp_path / "with_mask" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"1 class folder\(s\) \['mask'\]; need at least 2"):
        class_folders(tmp_path)
    (tmp_path / "without_mask").mkdir()
    with pytest.raises(DatasetError, match=r"class folder .*without_mask is empty"):
        class_folders(tmp_path)
    assert convert_main(["prepare", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2


# Keras warns once per layer while it tries the mismatched file: the refusal is what is tested.
@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_weights_of_another_shape_are_refused_clearly(imagenet_weights):
    settings = TrainSettings(alpha=0.35, size=96, weights=str(imagenet_weights))
    with pytest.raises(WeightsError, match=r"does not fit MobileNetV2\(alpha=0.35"):
        build_base(settings)
    with pytest.raises(WeightsError, match="weights file not found"):
        build_base(TrainSettings(weights="/nonexistent.h5"))


def test_evaluate_door_scores_the_built_three_class_models_on_real_scenes(built, tmp_path, yunet_model):
    shared = need_shared("data/scenes-ilc2021/dev")
    scenes = tmp_path / "scenes"
    for xml in sorted((shared / "annotations").glob("*.xml"))[::60][:6]:
        for path in (xml, shared / "images" / f"{xml.stem}.jpg"):
            (scenes / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, scenes / path.parent.name / path.name)
    int8, float32 = built["tflite"]["int8"], built["tflite"]["float32"]
    out = tmp_path / "door"
    argv = ["evaluate-door", str(scenes), str(out), "--model", str(float32), "--model", str(int8)]
    assert convert_main([*argv, "--detector", str(yunet_model)]) == 0
    report = json.loads((out / "door_evaluation.json").read_text())
    assert set(report["models"]) == {float32.name, int8.name}
    for model in report["models"].values():
        assert set(model["buckets"]["all"]["per_class"]) == {"mask", "no_mask", "mask_incorrect"}
        assert 0.0 <= model["buckets"]["all"]["door_accuracy"]["rate"] <= 1.0


def test_fast_first_pairs_two_built_models_and_evaluate_door_reports_the_pair_and_the_model_alone(
    built, tmp_path, yunet_model
):
    models = tmp_path / "models"
    models.mkdir()
    for variant in ("int8", "float32"):
        for suffix in (".tflite", ".json"):
            shutil.copy(built["tflite"][variant].with_suffix(suffix), models)
    main, fast = models / built["tflite"]["int8"].name, models / built["tflite"]["float32"].name
    prepared = built["work"] / "prepared"
    assert convert_main(["fast-first", str(main), str(fast), str(prepared)]) == 0
    card = json.loads(main.with_suffix(".json").read_text())["decision"]["fast_model"]
    assert card["file"] == fast.name and card["sha256"] == sha256_file(fast)
    assert 0.8 <= card["min_score"] <= 0.99 and card["val"][0]["main_alone"] == 1.0
    assert convert_main(["fast-first", str(main), str(built["tflite"]["float32"]), str(prepared)]) == 2  # not beside

    shared = need_shared("data/scenes-ilc2021/dev")
    scenes = tmp_path / "scenes"
    for xml in sorted((shared / "annotations").glob("*.xml"))[:2]:
        for path in (xml, shared / "images" / f"{xml.stem}.jpg"):
            (scenes / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, scenes / path.parent.name / path.name)
    out = tmp_path / "door"
    argv = ["evaluate-door", str(scenes), str(out), "--model", str(main), "--detector", str(yunet_model)]
    assert convert_main(argv) == 0
    report = json.loads((out / "door_evaluation.json").read_text())["models"]
    paired = f"{main.name} + {fast.name} >= {card['min_score']:g}"
    assert list(report) == [main.name, paired]
    assert "fast_model" not in report[main.name]
    assert report[paired]["fast_model"]["min_score"] == card["min_score"]
    answered = report[paired]["fast_model"]["answered_by_fast"]
    assert answered["of"] > 0 and 0 <= answered["n"] <= answered["of"]


class SessionEnded(Exception):
    """Stands in for a session that ends in the middle of fine-tuning."""


def test_an_interrupted_training_run_resumes_where_it_stopped(built, imagenet_weights, tmp_path, monkeypatch, caplog):
    import keras

    import convert.training.train as training

    prepared, out = built["work"] / "prepared", tmp_path / "trained"
    settings = TrainSettings(
        weights=str(imagenet_weights), copies=1, head_epochs=2, finetune_epochs=3, average_from=1, seed=7
    )

    class EndAfterOneEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise SessionEnded

    with_backups = training._callbacks

    def ending_in_finetune(patience, backup=None, *averaging):
        callbacks = with_backups(patience, backup, *averaging)
        return [*callbacks, EndAfterOneEpoch()] if backup is not None and backup.name == "finetune" else callbacks

    monkeypatch.setattr(training, "_callbacks", ending_in_finetune)
    with pytest.raises(SessionEnded):
        train(prepared, out, settings)
    (kept,) = (out / training.RESUME_DIR).iterdir()
    assert (kept / "train_activations.npz").is_file() and (kept / "backup" / "finetune").is_dir()
    assert [p.name for p in (kept / "finetune_weights").iterdir()] == ["epoch_001.npz"]
    assert not (out / "model.keras").exists()

    monkeypatch.setattr(training, "_callbacks", with_backups)
    caplog.set_level("INFO", logger="convert.training.train")
    report = train(prepared, out, settings)
    assert f"reusing {kept / 'train_activations.npz'}" in caplog.text
    assert [row["phase"] for row in report["history"]].count("finetune") == 2, "epochs 2 and 3, not 1 again"
    assert "the mean of 3 epochs (epoch_001 to epoch_003)" in caplog.text, "epoch 1 from before the interruption"
    assert (out / "model.keras").is_file() and not (out / training.RESUME_DIR).exists()

    other = TrainSettings(**{**settings.__dict__, "finetune_epochs": 2})
    assert training.resume_dir(out, prepared, other) != kept, "other settings never pick up this run's files"


def test_fine_tuning_keeps_the_mean_of_the_weights_after_each_epoch_from_average_from(tmp_path):
    import keras

    import convert.training.train as training

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    after_each_epoch = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            after_each_epoch.append(self.model.get_weights())

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)), rng.normal(size=(64, 2))
    saver = training.epoch_weights_saver(tmp_path, first_epoch=2)
    model.fit(x, y, epochs=4, batch_size=8, callbacks=[saver, Record()], verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_002.npz", "epoch_003.npz", "epoch_004.npz"]
    averaged = training.mean_weights(tmp_path)
    assert len(averaged) == len(after_each_epoch[0]) == 4
    for i, weights in enumerate(averaged):
        np.testing.assert_allclose(weights, np.mean([epoch[i] for epoch in after_each_epoch[1:]], axis=0), rtol=1e-6)
        assert not np.allclose(weights, after_each_epoch[-1][i]), "the mean, not the last epoch"
    with pytest.raises(FileNotFoundError, match="no epoch weights"):
        training.mean_weights(tmp_path / "empty")


def test_averaging_from_after_the_last_fine_tune_epoch_is_refused_before_any_work(tmp_path, imagenet_weights):
    from convert.training.train import TrainSettingsError

    settings = TrainSettings(weights=str(imagenet_weights), finetune_epochs=2, average_from=3)
    with pytest.raises(TrainSettingsError, match="--average-from 3 comes after the last fine-tune epoch"):
        train(tmp_path / "no-such-prepared-set", tmp_path / "out", settings)
    assert not (tmp_path / "out").exists()


def test_quantized_kernel_rounds_each_output_channel_to_127_steps_of_its_own_scale():
    from convert.quantization.bias_correction import quantized_kernel

    rng = np.random.default_rng(3)
    conv = rng.normal(size=(3, 3, 8, 5)).astype(np.float32) * np.array([0.01, 0.1, 1, 10, 100], np.float32)
    depthwise = rng.normal(size=(3, 3, 6, 1)).astype(np.float32)
    for kernel, channel_axis in ((conv, 3), (depthwise, 2)):
        rounded = quantized_kernel(kernel)
        other_axes = tuple(a for a in range(4) if a != channel_axis)
        scale = np.abs(kernel).max(axis=other_axes, keepdims=True) / 127
        steps = rounded / scale
        assert np.allclose(steps, np.round(steps), atol=1e-3) and np.abs(steps).max() <= 127 + 1e-3
        assert (np.abs(rounded - kernel) <= scale / 2 + 1e-6).all()


def small_backbone_model():
    """The shape `maskgate-convert train` builds, small: pixels, normalise, a nested backbone of a convolution and a
    depthwise convolution each with its BatchNormalization, pooling, two Dense layers; random weights and statistics."""
    import keras

    rng = np.random.default_rng(5)
    inner = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(6, 3, use_bias=False, name="conv")(inner)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, use_bias=False, name="depthwise")(x)
    x = keras.layers.BatchNormalization(name="depthwise_bn")(x)
    backbone = keras.Model(inner, keras.layers.ReLU(6.0)(x), name="backbone")
    pixels = keras.Input((12, 12, 3))
    x = backbone(keras.layers.Rescaling(1 / 127.5, offset=-1)(pixels))
    x = keras.layers.Dense(5, activation="relu", name="fc")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(pixels, keras.layers.Dense(3, name="logits")(x))
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(size=channels).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2, size=channels).astype(np.float32))
    return model, backbone


def test_bias_correction_cancels_the_mean_error_of_int8_weights_and_leaves_the_float_model_alone():
    """With every kernel rounded as int8 stores it, the corrected model's first BatchNormalization gives the float
    model's mean per channel on the calibration images, and its logits are on average nearer the float ones than
    those of the uncorrected rounded model; the float weights are back after the block."""
    import keras

    from convert.quantization.bias_correction import corrected_for_int8, quantized_kernel

    model, backbone = small_backbone_model()
    # Bright pixels: normalised inputs with a mean well away from 0, so the rounding's mean error is well above
    # float32 noise (zero-mean inputs average it out to about 1e-5, within reach of the noise).
    images = np.random.default_rng(6).uniform(128, 255, size=(24, 12, 12, 3)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    probe = keras.Model(backbone.input, backbone.get_layer("conv_bn").output)
    normalised = images / 127.5 - 1

    def rounded_copy() -> keras.Model:
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        for layer in [*copy.get_layer("backbone").layers, *copy.layers]:
            if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D | keras.layers.Dense):
                layer.kernel.assign(quantized_kernel(layer.kernel.numpy()))
        return copy

    float_logits = model.predict(images, verbose=0)
    uncorrected = rounded_copy()
    with corrected_for_int8(model, images) as layers:
        corrected = rounded_copy()
    assert layers == 4
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    corrected_probe = keras.Model(
        corrected.get_layer("backbone").input, corrected.get_layer("backbone").get_layer("conv_bn").output
    )
    uncorrected_probe = keras.Model(
        uncorrected.get_layer("backbone").input, uncorrected.get_layer("backbone").get_layer("conv_bn").output
    )
    channel_means = {
        name: p.predict(normalised, verbose=0).mean(axis=(0, 1, 2))
        for name, p in (("float", probe), ("corrected", corrected_probe), ("uncorrected", uncorrected_probe))
    }
    error_left = np.abs(channel_means["corrected"] - channel_means["float"]).max()
    assert error_left < np.abs(channel_means["uncorrected"] - channel_means["float"]).max() / 10

    def mean_error(copy) -> float:
        return float(np.abs((copy.predict(images, verbose=0) - float_logits).mean(axis=0)).sum())

    assert mean_error(corrected) < mean_error(uncorrected) / 2, (mean_error(corrected), mean_error(uncorrected))
