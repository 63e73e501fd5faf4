"""`maskgate-convert`: prepare -> train -> quantize -> evaluate."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge.errors import run_command

log = logging.getLogger("maskgate.convert")


def _prepare(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from convert.data.prepare import prepare
    from edge import config as cfg
    from edge.modelfiles.find import find_yunet, model_dirs
    from edge.vision.crop import CropRule

    flags = {"detector.input_size": args.input_size, "detector.score_threshold": args.score_threshold}
    config = cfg.load(None, flags)
    detector = Path(args.detector) if args.detector else find_yunet("", model_dirs())
    prepare(
        [Path(d) for d in args.dataset],
        Path(args.out),
        detector,
        rule=CropRule(size=args.size, margin=args.margin),
        detector_config=replace(config.detector, downscale="area"),
        seed=args.seed,
        val=args.val,
        test=args.test,
        limit_per_class=args.limit,
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from convert.training.train import TrainSettings, train

    settings = TrainSettings(
        alpha=args.alpha,
        size=args.size,
        weights=args.weights,
        seed=args.seed,
        copies=args.copies,
        head_epochs=args.head_epochs,
        finetune_epochs=args.finetune_epochs,
        average_from=args.average_from,
        scratch_epochs=args.scratch_epochs,
        limit=args.limit,
        teacher=args.teacher,
        exclude_source=args.exclude_source,
    )
    train(Path(args.prepared), Path(args.out), settings)
    return 0


def _quantize(args: argparse.Namespace) -> int:
    from convert.quantization.quantize import quantize

    quantize(
        Path(args.model),
        Path(args.prepared),
        Path(args.out),
        name=args.name,
        samples=args.samples,
        variants=tuple(args.variants.split(",")),
        max_bare_pass=args.max_bare_pass,
        bias_correction=not args.no_bias_correction,
    )
    return 0


def _reference_images(args: argparse.Namespace) -> int:
    from convert.data.reference_faces import write_reference_images
    from convert.quantization.self_test import record_detectors
    from edge.modelfiles.find import model_dirs

    write_reference_images()
    record_detectors(model_dirs(args.models_dir))
    return 0


def _demo_clip(args: argparse.Namespace) -> int:
    from convert.data.demo_clip import write_demo_clip

    print(write_demo_clip())
    return 0


def _self_test(args: argparse.Namespace) -> int:
    from convert.quantization.self_test import record_classifier

    for model in args.models:
        record_classifier(Path(model))
    return 0


def _fast_first(args: argparse.Namespace) -> int:
    from convert.training.fast_first import pair

    pair(Path(args.model), Path(args.fast_model), Path(args.prepared), split=args.split)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from convert.evaluation.evaluate import evaluate

    evaluate([Path(m) for m in args.models], Path(args.data), Path(args.out), split=args.split, source=args.source)
    return 0


def _evaluate_door(args: argparse.Namespace) -> int:
    from convert.evaluation.door_eval import evaluate_door, load_config

    config = load_config(args.config, args.detector, args.input_size, args.score_threshold, args.second_look_size)
    evaluate_door(Path(args.scenes), Path(args.out), [Path(m) for m in args.model], config)
    return 0


def _evaluate_approach(args: argparse.Namespace) -> int:
    from convert.evaluation.approach_eval import evaluate_approach
    from convert.evaluation.door_eval import load_config
    from edge.bench.shared_dir import shared_path

    config = load_config(args.config, args.detector)
    if args.model:
        config.classifier.model = args.model
    video = (
        shared_path("data/video/parking-lot.mp4") if args.video is None else Path(args.video) if args.video else None
    )
    photos = (
        shared_path("data/crops-wild")
        if args.photo_queue is None
        else Path(args.photo_queue)
        if args.photo_queue
        else None
    )
    evaluate_approach(Path(args.scenes), Path(args.out), config, args.limit, args.queue, video, args.seed, photos)
    return 0


def _evaluate_crops(args: argparse.Namespace) -> int:
    from convert.evaluation.crop_eval import evaluate_crops
    from convert.evaluation.door_eval import load_config

    config = load_config(args.config, args.detector)
    evaluate_crops(Path(args.folder), Path(args.out), [Path(m) for m in args.model], config)
    return 0


def _detector_sweep(args: argparse.Namespace) -> int:
    from convert.evaluation.door_eval import detector_sweep, load_config, parse_values

    sizes = parse_values(args.input_sizes, int, "--input-sizes")
    thresholds = parse_values(args.score_thresholds, float, "--score-thresholds")
    detector_sweep(Path(args.scenes), Path(args.out), load_config(args.config, args.detector), sizes, thresholds)
    return 0


def add_operating_point(p: argparse.ArgumentParser, default_from: str) -> None:
    """--input-size and --score-threshold: the detector's operating point over `default_from`'s settings."""
    from edge.config import DetectorConfig

    for key, kind in (("input_size", int), ("score_threshold", float)):
        default = getattr(DetectorConfig(), key)
        p.add_argument(
            f"--{key.replace('_', '-')}",
            type=kind,
            default=None,
            help=f"detector {key.replace('_', ' ')} (default: {default_from}'s detector.{key}, {default})",
        )


def build_parser() -> argparse.ArgumentParser:
    from convert.training.train import TrainSettings

    defaults = TrainSettings()
    parser = argparse.ArgumentParser(prog="maskgate-convert", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("prepare", help="detector crops of class-per-folder datasets, deduplicated and split")
    p.add_argument("dataset", nargs="+", help="one or more class-per-folder datasets (MANIFEST.csv boxes are used)")
    p.add_argument("out")
    p.add_argument("--detector", default="", help="YuNet .onnx (default: found in the model directories)")
    add_operating_point(p, "the runtime")
    p.add_argument("--size", type=int, default=224, help="side of the saved crops in pixels (default: 224)")
    p.add_argument(
        "--margin", type=float, default=0.2, help="share of the face box added around it, as the runtime crops (0.2)"
    )
    p.add_argument("--seed", type=int, default=1234, help="seed of the train/val/test split (default: 1234)")
    p.add_argument("--val", type=float, default=0.1, help="share of the photos in the validation split (0.1)")
    p.add_argument("--test", type=float, default=0.1, help="share of the photos in the test split (0.1)")
    p.add_argument("--limit", type=int, default=None, help="at most N photos per class (small test runs)")
    p.set_defaults(run=_prepare)

    p = commands.add_parser("train", help="fine-tune MobileNetV2 on prepared crops")
    p.add_argument("prepared")
    p.add_argument("out")
    p.add_argument(
        "--weights",
        default="",
        help="ImageNet weights .h5 (include_top=False), 'imagenet' to download, or empty to train from scratch",
    )
    p.add_argument("--alpha", type=float, default=defaults.alpha, help=f"MobileNetV2 width (default: {defaults.alpha})")
    p.add_argument("--size", type=int, default=defaults.size, help=f"input side in pixels (default: {defaults.size})")
    for setting, meaning in (
        ("seed", "seed of weights, shuffling and augmentation"),
        ("copies", "augmented copies of each crop cached"),
        ("head_epochs", "epochs of the head on the cached activations"),
        ("finetune_epochs", "epochs fine-tuning the last blocks (at most, with --average-from 0)"),
        (
            "average_from",
            "fine-tune: keep the mean of the weights after each epoch from this one on; 0 = the epoch of lowest "
            "validation loss, stopping early",
        ),
        ("scratch_epochs", "epochs without ImageNet weights: from scratch or distilled"),
    ):
        default = getattr(defaults, setting)
        p.add_argument(
            f"--{setting.replace('_', '-')}", type=int, default=default, help=f"{meaning} (default: {default})"
        )
    p.add_argument("--limit", type=int, default=None, help="at most N crops per split (small test runs)")
    p.add_argument("--teacher", default="", help="model.keras to distil from (small variants)")
    p.add_argument("--exclude-source", default="", help="leave this source (manifest column) out of training")
    p.set_defaults(run=_train)

    p = commands.add_parser("quantize", help="TFLite int8 (raw uint8 pixels in), float32, float16, dynamic-range")
    p.add_argument("model", help="model.keras from train")
    p.add_argument("prepared", help="prepared dir: representative data comes from its training crops")
    p.add_argument("out")
    p.add_argument("--name", default="mask_classifier", help="files are NAME_VARIANT.tflite (default: mask_classifier)")
    p.add_argument(
        "--samples", type=int, default=300, help="training crops that calibrate int8 and its bias correction (300)"
    )
    p.add_argument(
        "--variants",
        default="int8,float32,float16,dynamic",
        help="comma-separated (default: int8,float32,float16,dynamic)",
    )
    p.add_argument(
        "--max-bare-pass",
        type=float,
        default=0.02,
        help="mask threshold: share of the validation split's faces that are not properly masked allowed to pass",
    )
    p.add_argument(
        "--no-bias-correction",
        action="store_true",
        help="int8: convert the weights as they are (before 2026-11-29), without taking their rounding error's "
        "mean out of the biases",
    )
    p.set_defaults(run=_quantize)

    p = commands.add_parser(
        "reference-images", help="redraw the self-test's reference faces and record each detector's boxes on them"
    )
    p.add_argument("--models-dir", default="", help="where the detectors' model files are (else the usual search)")
    p.set_defaults(run=_reference_images)

    p = commands.add_parser("demo-clip", help="redraw the door clip `maskgate run --source demo` plays")
    p.set_defaults(run=_demo_clip)

    p = commands.add_parser("self-test", help="record a classifier's answers on the reference faces in its card")
    p.add_argument("models", nargs="+", help=".tflite files; their model cards get a self_test block")
    p.set_defaults(run=_self_test)

    p = commands.add_parser(
        "fast-first", help="pair a model with a smaller one that labels first; min_score chosen on validation crops"
    )
    p.add_argument("model", help="the main .tflite; its card gets decision.fast_model")
    p.add_argument("fast_model", help="the smaller .tflite beside it, same labels")
    p.add_argument("prepared", help="prepared dir whose manifest split chooses min_score")
    p.add_argument("--split", default="val", help="manifest split that chooses min_score (default: val)")
    p.set_defaults(run=_fast_first)

    p = commands.add_parser("evaluate", help="metrics of Keras and TFLite models side by side")
    p.add_argument("models", nargs="+", help=".keras and/or .tflite files (each .tflite with its card)")
    p.add_argument("data", help="prepared dir (uses its manifest split) or a class-per-folder dir of crops")
    p.add_argument("out")
    p.add_argument("--split", default="test", help="manifest split scored (default: test)")
    p.add_argument("--source", default="", help="score every crop of this source instead of a split")
    p.set_defaults(run=_evaluate)

    scenes_help = "scenes with Pascal VOC boxes: images/ + annotations/, or .jpg and .xml side by side"
    p = commands.add_parser("evaluate-door", help="the runtime pipeline over annotated scenes: what the door does")
    p.add_argument("scenes", metavar="SCENES_DIR", help=scenes_help)
    p.add_argument("out", metavar="OUT_DIR")
    p.add_argument("--model", action="append", required=True, help=".tflite with its card beside it; repeatable")
    p.add_argument("--detector", default="", help="face detector model file (default: config, model directories)")
    add_operating_point(p, "the config")
    p.add_argument(
        "--second-look-size",
        type=int,
        default=None,
        help="yunet's second, higher-resolution pass: its longest side, 0 = off (default: config, "
        "detector.stills_second_look_size, 1280: the scenes are stills)",
    )
    p.add_argument("--config", default=None, help="maskgate TOML config: detector, classifier and policy settings")
    p.set_defaults(run=_evaluate_door)

    p = commands.add_parser(
        "evaluate-approach", help="walk-up clips of annotated scenes, a queue and a video through the door loop"
    )
    p.add_argument("scenes", metavar="SCENES_DIR", help=scenes_help)
    p.add_argument("out", metavar="OUT_DIR")
    p.add_argument(
        "--model", default="", help=".tflite with its card beside it (default: config, then the shipped one)"
    )
    p.add_argument("--detector", default="", help="face detector model file (default: config, model directories)")
    p.add_argument("--config", default=None, help="maskgate TOML config: the door's live settings (default: defaults)")
    p.add_argument("--limit", type=int, default=None, help="only the first N scenes (sorted by name), for quick runs")
    p.add_argument("--queue", type=int, default=60, help="people in the queue clip, 0 = no queue (default: 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of the queue's people, gaps and door (default: 0)")
    p.add_argument(
        "--video",
        default=None,
        help="an unannotated video through the loop, '' = none (default: ../shared parking-lot)",
    )
    p.add_argument(
        "--photo-queue",
        default=None,
        help="class folders (with_mask, without_mask) of face photos queued at one spot, '' = none "
        "(default: ../shared crops-wild)",
    )
    p.set_defaults(run=_evaluate_approach)

    p = commands.add_parser(
        "evaluate-crops", help="face crops in class folders through the runtime: what `maskgate run` calls them"
    )
    p.add_argument("folder", metavar="CROPS_DIR", help="one folder per class (with_mask/, without_mask/, ...)")
    p.add_argument("out", metavar="OUT_DIR")
    p.add_argument("--model", action="append", required=True, help=".tflite with its card beside it; repeatable")
    p.add_argument("--detector", default="", help="face detector model file (default: config, model directories)")
    p.add_argument("--config", default=None, help="maskgate TOML config: detector, classifier and policy settings")
    p.set_defaults(run=_evaluate_crops)

    p = commands.add_parser("detector-sweep", help="detector recall, false faces and speed over settings")
    p.add_argument("scenes", metavar="SCENES_DIR", help=scenes_help)
    p.add_argument("out", metavar="OUT_DIR")
    p.add_argument("--input-sizes", default="320,416,480,640", help="comma-separated (default: 320,416,480,640)")
    p.add_argument("--score-thresholds", default="0.5,0.6,0.7,0.8", help="comma-separated (default: 0.5,0.6,0.7,0.8)")
    p.add_argument("--detector", default="", help="face detector model file (default: config, model directories)")
    p.add_argument("--config", default=None, help="maskgate TOML config: the detector's other settings")
    p.set_defaults(run=_detector_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return run_command(lambda: args.run(args), log)


if __name__ == "__main__":
    sys.exit(main())
