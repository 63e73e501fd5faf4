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
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from edge import bench, bench_frames
from edge.shared_dir import shared_path

log = logging.getLogger("baseline")

RES10_MEAN = (104.0, 177.0, 123.0)
RES10_SIZE = (300, 300)
CONFIDENCE = 0.5
CROP_SIZE = 224
STAGES = ("decode", "detect", "crop", "classify", "decide", "draw")


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


class StageTimer:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.invoke: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @contextmanager
    def stage(self, name: str):
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.samples[name].append(time.perf_counter() - begin)

    def model(self, name: str, call, *args, **kwargs):
        begin = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            self.invoke[name] += time.perf_counter() - begin
            self.calls[name] += 1


class SeedsPipeline:
    def __init__(self, prototxt: Path, caffemodel: Path, weights: Path | None) -> None:
        from keras.applications.mobilenet_v2 import preprocess_input

        self.face_net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
        self.mask_net = build_mask_net(weights)
        self.preprocess_input = preprocess_input
        self.timer = StageTimer()

    def detect_and_predict_mask(self, frame: np.ndarray) -> tuple[list, np.ndarray | list]:
        timer = self.timer
        height, width = frame.shape[:2]
        with timer.stage("detect"):
            blob = cv2.dnn.blobFromImage(frame, 1.0, RES10_SIZE, RES10_MEAN)
            self.face_net.setInput(blob)
            detections = timer.model("detect", self.face_net.forward)
        with timer.stage("crop"):
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
        with timer.stage("classify"):
            if faces:
                batch = np.array(faces, dtype="float32")
                preds = timer.model("classify", self.mask_net.predict, batch, batch_size=32, verbose=0)
        return locs, preds

    def process(self, frame: np.ndarray) -> int:
        locs, preds = self.detect_and_predict_mask(frame)
        with self.timer.stage("decide"):
            labels = []
            for pred in preds:
                mask, without_mask = pred
                label = "Mask" if mask > without_mask else "No Mask"
                colour = (0, 255, 0) if label == "Mask" else (0, 0, 255)
                labels.append((f"{label}: {max(mask, without_mask) * 100:.2f}%", colour))
        with self.timer.stage("draw"):
            for (start_x, start_y, end_x, end_y), (text, colour) in zip(locs, labels, strict=True):
                cv2.putText(frame, text, (start_x, start_y - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 2)
                cv2.rectangle(frame, (start_x, start_y), (end_x, end_y), colour, 2)
        return len(locs)


def run(frame_set: bench_frames.FrameSet, frames: int, warmup: int | None) -> dict[str, object]:
    import tensorflow as tf

    warmup = len(frame_set) if warmup is None else warmup
    prototxt, caffemodel = (
        shared_path("models/res10/deploy.prototxt"),
        shared_path("models/res10/res10_300x300_ssd_iter_140000.caffemodel"),
    )
    if prototxt is None or caffemodel is None:
        raise SystemExit("baseline: needs ../shared/models/res10/ (deploy.prototxt and the .caffemodel)")
    weights = shared_path("models/imagenet/mobilenet_v2_1.0_224_imagenet_no_top.weights.h5")
    pipeline = SeedsPipeline(prototxt, caffemodel, weights)

    def loop(count: int, start: int) -> tuple[int, int, float]:
        done = faces = 0
        frame_seconds = []
        for n in range(start, start + count):
            begin = time.perf_counter()
            with pipeline.timer.stage("decode"):
                image = bench_frames.decode(frame_set.encoded[n % len(frame_set)])
            faces += pipeline.process(image)
            frame_seconds.append(time.perf_counter() - begin)
            done += 1
        pipeline.timer.samples["frame"] = frame_seconds
        return done, faces, sum(frame_seconds)

    loop(warmup, 0)
    pipeline.timer = StageTimer()
    cpu_before, wall_before = bench.cpu_seconds(), time.perf_counter()
    done, faces, frame_total = loop(frames, warmup)
    wall = time.perf_counter() - wall_before
    cpu = bench.cpu_seconds() - cpu_before
    timer = pipeline.timer
    invoke_total = sum(timer.invoke.values())
    decode_total = sum(timer.samples["decode"])
    return {
        "schema": bench.SCHEMA,
        "tool": "benchmarks/baseline.py",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": bench.machine_info(),
        "config": {
            "detector": "res10 (cv2.dnn Caffe)",
            "detector_input": "300x300",
            "classifier": "Keras MobileNetV2 float32, model.predict per frame",
            "classifier_variant": "keras-float32",
            "classifier_input": CROP_SIZE,
            "backend": f"tensorflow {tf.__version__}",
            "threads": "TF default",
            "batch": True,
            "imagenet_weights": weights is not None,
        },
        "frame_set": {**frame_set.description, "raw": False},
        "warmup_frames": warmup,
        "frames": done,
        "frame_errors": 0,
        "faces_per_frame": round(faces / done, 3),
        "fps": round(done / wall, 3),
        "cpu_percent": round(100 * cpu / wall, 1),
        "peak_rss_mb": round(bench.peak_rss_mb(), 1),
        "frame_ms": bench.ms_summary(timer.samples["frame"]),
        "stages_ms": {name: bench.ms_summary(timer.samples[name]) for name in STAGES},
        "invoke": {
            "detect_ms_per_frame": round(1000 * timer.invoke["detect"] / done, 4),
            "classify_ms_per_frame": round(1000 * timer.invoke["classify"] / done, 4),
            "classify_ms_per_call": round(1000 * timer.invoke["classify"] / max(timer.calls["classify"], 1), 4),
            "classify_calls": timer.calls["classify"],
            "share": round(invoke_total / frame_total, 4),
            "share_after_decode": round(invoke_total / (frame_total - decode_total), 4),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--warmup", type=int, help="default: one pass over the frame set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faces-dir", help="face photos (default ../shared/data/facemask)")
    parser.add_argument("--json", metavar="PATH", help="write the report to PATH ('-' for stdout)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    faces_dir = Path(args.faces_dir) if args.faces_dir else shared_path("data/facemask")
    if faces_dir is None:
        raise SystemExit("baseline: needs ../shared/data/facemask or --faces-dir")
    report = run(bench_frames.build(faces_dir, seed=args.seed), args.frames, args.warmup)
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
