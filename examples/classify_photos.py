"""The MaskGate pipeline from Python: decide mask / no_mask / mask_incorrect for a photo or a folder.

    python examples/classify_photos.py PHOTO_OR_FOLDER [--config maskgate.toml]

Model files are found as `maskgate run` finds them (`maskgate models` lists them). Prints one line per
decision: frame (file name), label, score and face box. The detector is built for stills as `maskgate run` builds
it for an image or folder source, so the scores are `run`'s. (`maskgate classify` scores differ on purpose: it
takes a face crop whole, without the detector's box and margin.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge import app, config
from edge.pipeline import Pipeline
from edge.sources import open_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", help="an image file or a folder of images")
    parser.add_argument("--config", type=Path, help="TOML config (defaults are built in)")
    args = parser.parse_args()

    settings = config.load(args.config)
    source = open_source(args.photos, settings.source)
    # A folder is a set of unrelated photos: each file gets its own decision, no vote across files.
    tracker = app.build_tracker(settings, per_frame=source.per_frame_decisions)
    detector = app.build_detector(settings, stills=source.per_frame_decisions)
    pipeline = Pipeline(detector, app.build_classifier(settings), tracker)
    try:
        for frame in source:
            _, decisions = pipeline.process(frame)
            for decision in decisions:
                box = ",".join(str(round(v)) for v in decision.box)
                print(f"{frame.id}\t{decision.label}\t{decision.score:.3f}\t{box}")
    finally:
        source.close()
        pipeline.close()


if __name__ == "__main__":
    main()
