"""The seeds' pipeline, timed on the same frames as `maskgate bench`: the baseline MaskGate is compared with.

This is the frame loop of the classic Keras mask detectors (chandrikadeb7/Face-Mask-Detection
`detect_mask_video.py` and its many copies): res10 SSD through cv2.dnn with blobFromImage mean
subtraction, then for every face above 0.5 a 224x224 RGB crop, preprocess_input, and the float Keras
MobileNetV2 + head called with model.predict once per frame, then boxes and labels drawn with OpenCV.
Two deliberate differences, both in the baseline's favour: frames are not first resized to 400 px
wide (both pipelines get the same 640x480 frames), and predict runs with verbose=0 (the seeds print
a progress bar per frame). Weights do not change speed; the ImageNet backbone weights are loaded when
../shared has them.

Needs TensorFlow (pip install '.[convert]'). Usage:
    python benchmarks/baseline.py --frames 120 --warmup 10 --json baseline.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from edge.bench import frames as bench_frames
from edge.bench import loop as bench
from edge.bench.shared_dir import shared_path
from edge.vision.stats import LoopStats
from edge.vision.types import Frame

log = logging.getLogger("baseline")

RES10_MEAN = (104.0, 177.0, 123.0)
RES10_SIZE = (300, 300)
CONFIDENCE = 0.5
CROP_SIZE = 224


def build_mask_net(weights: Path | None):
    """MobileNetV2 (no top) + AveragePooling2D 7x7, Flatten, Dense 128 relu, Dropout 0.5, Dense 2 softmax."""
    import keras
    from keras import layers

    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(CROP_SIZE, CROP_SIZE, 3))
    if weights is not None:
        base.load_weights(str(weights))
    head = layers.AveragePooling2D(pool_size=(7, 7))(base.output)
    head = layers.Flatten()(head)
    head = layers.Dense(128, activation="relu")(head)
    head = layers.Dropout(0.5)(head)
    head = layers.Dense(2, activation="softmax")(head)
    return keras.Model(inputs=base.input, outputs=head)


class SeedsPipeline:
    """The seeds' loop; stages are timed with edge.vision.stats.LoopStats under MaskGate's stage names."""

    def __init__(self, prototxt: Path, caffemodel: Path, weights: Path | None, timer: bench.InvokeTimer) -> None:
        from keras.applications.mobilenet_v2 import preprocess_input

        self.face_net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
        self.mask_net = build_mask_net(weights)
        self.preprocess_input = preprocess_input
        timer.wrap(self, "face_net", "forward", "detect")
        timer.wrap(self, "mask_net", "predict", "classify")
        self.stats = LoopStats()

    def detect_and_predict_mask(self, frame: np.ndarray) -> tuple[list, np.ndarray | list]:
        stats = self.stats
        height, width = frame.shape[:2]
        with stats.stage("detect"):
            blob = cv2.dnn.blobFromImage(frame, 1.0, RES10_SIZE, RES10_MEAN)
            self.face_net.setInput(blob)
            detections = self.face_net.forward()
        with stats.stage("crop"):
            faces, locs = [], []
            for i in range(detections.shape[2]):
                confidence = detections[0, 0, i, 2]
                if confidence > CONFIDENCE:
                    box = detections[0, 0, i, 3:7] * np.array([width, height, width, height])
                    start_x, start_y, end_x, end_y = box.astype("int")
                    start_x, start_y = max(0, start_x), max(0, start_y)
                    end_x, end_y = min(width - 1, end_x), min(height - 1, end_y)
                    face = frame[start_y:end_y, start_x:end_x]
                    if face.size == 0:  # the seeds crash here; a benchmark must not
                        continue
                    face = cv2.cvtColor(face, cv2.COLOR_BGR2RGB)
                    face = cv2.resize(face, (CROP_SIZE, CROP_SIZE))
                    face = self.preprocess_input(face.astype("float32"))
                    faces.append(face)
                    locs.append((start_x, start_y, end_x, end_y))
        preds: np.ndarray | list = []
        with stats.stage("classify"):
            if faces:
                batch = np.array(faces, dtype="float32")
                preds = self.mask_net.predict(batch, batch_size=32, verbose=0)
        return locs, preds

    def process(self, frame: np.ndarray) -> int:
        locs, preds = self.detect_and_predict_mask(frame)
        self.last_locs = locs
        with self.stats.stage("decide"):
            labels = []
            for pred in preds:
                mask, without_mask = pred
                label = "Mask" if mask > without_mask else "No Mask"
                colour = (0, 255, 0) if label == "Mask" else (0, 0, 255)
                labels.append((f"{label}: {max(mask, without_mask) * 100:.2f}%", colour))
        with self.stats.stage("outputs"):
            for (start_x, start_y, end_x, end_y), (text, colour) in zip(locs, labels, strict=True):
                cv2.putText(frame, text, (start_x, start_y - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 2)
                cv2.rectangle(frame, (start_x, start_y), (end_x, end_y), colour, 2)
        return len(locs)

    def run(self, frames: Iterable[Frame]) -> LoopStats:
        """Process every frame, timed like edge.pipeline.Pipeline.run times its frames."""
        self.stats = stats = LoopStats()
        iterator = iter(frames)
        while True:
            begin = time.perf_counter()
            with stats.stage("source"):
                frame = next(iterator, None)
                if frame is not None and not frame.image.flags.writeable:
                    frame.image = frame.image.copy()  # the seeds draw on the frame; raw frames are shared, read-only
            if frame is None:
                return stats
            faces = self.process(frame.image)
            stats.frame_done(time.perf_counter() - begin, faces)


def seeds_pipeline(timer: bench.InvokeTimer) -> tuple[SeedsPipeline, Path | None]:
    """The seeds' pipeline on the res10 and ImageNet files in ../shared, and the weights file it used (None: random)."""
    prototxt, caffemodel = (
        shared_path("models/res10/deploy.prototxt"),
        shared_path("models/res10/res10_300x300_ssd_iter_140000.caffemodel"),
    )
    if prototxt is None or caffemodel is None:
        raise SystemExit("baseline: needs ../shared/models/res10/ (deploy.prototxt and the .caffemodel)")
    weights = shared_path("models/imagenet/mobilenet_v2_1.0_224_imagenet_no_top.weights.h5")
    return SeedsPipeline(prototxt, caffemodel, weights, timer), weights


def run(frame_set: bench_frames.FrameSet, frames: int, warmup: int | None, delivery: str) -> dict[str, object]:
    import tensorflow as tf

    timer = bench.InvokeTimer()
    pipeline, weights = seeds_pipeline(timer)
    report = bench.measure(pipeline.run, timer, frame_set, frames, warmup, delivery)
    config = {
        "detector": "res10 (cv2.dnn Caffe)",
        "detector_input": "300x300",
        "classifier": "Keras MobileNetV2 float32, model.predict per frame",
        "classifier_variant": "keras-float32",
        "classifier_input": CROP_SIZE,
        "backend": f"tensorflow {tf.__version__}",
        "threads": "TF default",
        "batch": True,
        "imagenet_weights": weights is not None,
    }
    return {"tool": "benchmarks/baseline.py", "config": config, **report}


def door_day(frames_dir: Path, out: Path) -> None:
    """The seeds' loop over the saved door-day frames, timed per frame like edge.bench.door_day_bench times MaskGate's.
    The seeds have no vote: every labelled face counts as decided in that frame."""
    from edge.bench.door_day_bench import WARMUP_FILE, WARMUP_FRAMES, time_frames

    pipeline, _ = seeds_pipeline(bench.InvokeTimer())
    encoded = [path.read_bytes() for path in sorted(frames_dir.glob("*.jpg"))]

    def process(number: int, image: np.ndarray) -> list:
        pipeline.process(image)
        return [(number, [float(v) for v in box], "seen") for box in pipeline.last_locs]

    warm_file = frames_dir / WARMUP_FILE
    warm = json.loads(warm_file.read_text(encoding="utf-8")) if warm_file.is_file() else list(WARMUP_FRAMES)
    time_frames([encoded[n] for n in warm], process)
    result = time_frames(encoded, process)
    out.write_text(json.dumps(result) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--warmup", type=int, help="default: one pass over the frame set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faces-dir", help="face photos (default ../shared/data/facemask)")
    parser.add_argument("--delivery", choices=bench_frames.DELIVERIES, default="thread", help="as for maskgate bench")
    parser.add_argument("--json", metavar="PATH", help="write the report to PATH ('-' for stdout)")
    parser.add_argument("--door-day", type=Path, metavar="FRAMES_DIR", help="time the saved door-day frames instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.door_day:
        door_day(args.door_day, Path(args.json))
        return 0
    faces_dir = Path(args.faces_dir) if args.faces_dir else shared_path("data/facemask")
    if faces_dir is None:
        raise SystemExit("baseline: needs ../shared/data/facemask or --faces-dir")
    report = run(bench_frames.build(faces_dir, seed=args.seed), args.frames, args.warmup, args.delivery)
    text = json.dumps(report, indent=2)
    if args.json == "-":
        sys.stdout.write(text + "\n")
    elif args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    log.info(
        "baseline: %.2f FPS, %.2f faces/frame, invoke share %.2f",
        report["fps"],
        report["faces_per_frame"],
        report["invoke"]["share"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
