"""Render the entrance screen for one real image through the real pipeline (detector, classifier, vote) to a PNG.

    MASKGATE_MODEL_DIR=../shared/models .venv/bin/python docs/render_entrance_screen.py \
        ../shared/data/facemask/without_mask/chandrikadeb7_1bee6f2399e1.jpg /tmp/entrance_screen.png
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import cv2

from edge import app
from edge.config import load
from edge.outputs.screen.render import banner_texts, render_screen
from edge.pipeline import Pipeline
from edge.vision.types import Frame

log = logging.getLogger("render_entrance_screen")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--config", type=Path, help="TOML config (detector, classifier, [screen] texts)")
    parser.add_argument("--size", default="1280x720", help="screen size WIDTHxHEIGHT")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load(args.config)
    width, height = (int(v) for v in args.size.lower().split("x"))
    image = cv2.imread(str(args.image))
    if image is None:
        raise SystemExit(f"cannot read image {args.image}")
    tracker = app.build_tracker(config, per_frame=True)
    pipeline = Pipeline(app.build_detector(config), app.build_classifier(config), tracker)
    faces, _ = pipeline.process(Frame(args.image.name, time.time(), image))
    for face in faces:
        log.info("face #%d %s %.3f at %s", face.track, face.decision, face.score, [round(v) for v in face.face.box])
    s = config.screen
    screen = render_screen(image, faces, width, height, banner_texts(s), s.mirror)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.output), screen, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SystemExit(f"cannot write {args.output}")
    log.info("wrote %s (%dx%d)", args.output, width, height)


if __name__ == "__main__":
    main()
