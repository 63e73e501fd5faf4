"""A custom output: count decisions per label and write each one to a CSV file.

    python examples/count_labels_output.py PHOTO_OR_FOLDER decisions.csv

An output subclasses `edge.outputs.Output`; `Pipeline.run` calls `on_decision` for every confirmed
decision (and `on_frame` for every frame, skipped here with `wants_frames = False`), then `close`.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

from edge import app, config
from edge.outputs import Output
from edge.pipeline import Pipeline
from edge.sources import open_source
from edge.vision.types import Decision


class CsvCounter(Output):
    name = "csv-counter"
    wants_frames = False

    def __init__(self, path: Path) -> None:
        self.counts: Counter[str] = Counter()
        self.file = path.open("w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(["frame", "track", "label", "score"])

    def on_decision(self, decision: Decision) -> None:
        self.counts[decision.label] += 1
        self.writer.writerow([decision.frame, decision.track, decision.label, f"{decision.score:.4f}"])

    def close(self) -> None:
        self.file.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", help="an image, a folder of images or a video file")
    parser.add_argument("csv", type=Path, help="where to write the decisions")
    args = parser.parse_args()

    settings = config.load(None)
    source = open_source(args.photos, settings.source)
    counter = CsvCounter(args.csv)
    tracker = app.build_tracker(settings, per_frame=source.per_frame_decisions)
    pipeline = Pipeline(app.build_detector(settings), app.build_classifier(settings), tracker, [counter])
    try:
        pipeline.run(source)
    finally:
        source.close()
        pipeline.close()
    for label, count in sorted(counter.counts.items()):
        print(f"{label}\t{count}")


if __name__ == "__main__":
    main()
