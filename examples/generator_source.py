"""A custom camera source: frames from a Python generator, fed to the pipeline.

    python examples/generator_source.py PHOTO [--frames 12]

A source is any iterable of `edge.vision.types.Frame` (id, timestamp, BGR image). This one "films" one
photo for a number of frames, as if a person stood still at the door, so the tracker's k-of-n vote
confirms one decision for the face instead of one per frame as for a folder of photos.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

import cv2
import numpy as np

from edge import app, config
from edge.pipeline import Pipeline
from edge.vision.types import Frame


def still_camera(image: np.ndarray, frames: int) -> Iterator[Frame]:
    start = time.time()
    for number in range(frames):
        yield Frame(id=str(number), timestamp=start + number / 15, image=image.copy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo")
    parser.add_argument("--frames", type=int, default=12)
    args = parser.parse_args()
    image = cv2.imread(args.photo)
    if image is None:
        raise SystemExit(f"cannot read an image from {args.photo}")

    settings = config.load(None)
    pipeline = Pipeline(app.build_detector(settings), app.build_classifier(settings), app.build_tracker(settings))
    for frame in still_camera(image, args.frames):
        tracked, decisions = pipeline.process(frame)
        for decision in decisions:
            print(f"frame {frame.id}: track {decision.track} decided {decision.label} ({decision.score:.3f})")
    print(f"{args.frames} frames, faces in the last one: {len(tracked)}")
    pipeline.close()


if __name__ == "__main__":
    main()
