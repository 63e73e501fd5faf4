"""What the door zone saves on a busy scene with people far away: the shared car-park video (faces 20-65 px)
through the loop `maskgate run` builds, with the zone as shipped (zone.min_face = 48) and without it
(zone.min_face = 0, every face classified, as before the zone), side by side in one run.

The arms take turns round by round on the same frames (held in memory, decoded once), so drift on a shared
machine hits both alike; the ratio of the two is the result. Also counted: faces classified per frame.

Usage (needs ../shared):
    python benchmarks/zone_cost.py --rounds 5 --markdown benchmarks/results/zone_cost.md
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2

from edge.app import build_classifier, build_detector, build_pipeline
from edge.bench.shared_dir import shared_path
from edge.config import Config
from edge.vision.types import Frame

log = logging.getLogger("zone_cost")
VIDEO = "data/video/parking-lot.mp4"
ARMS = {"zone (min_face 48)": 48, "no zone (min_face 0)": 0}


def load_frames() -> list[Frame]:
    path = shared_path(VIDEO)
    if path is None:
        sys.exit(f"needs ../shared/{VIDEO} (set MASKGATE_SHARED)")
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(Frame(str(len(frames)), len(frames) / 15, read[1]))
    return frames


class CountingClassifier:
    """The built classifier, counting the faces it is given."""

    def __init__(self, inner) -> None:
        self.inner, self.faces = inner, 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def classify(self, crops):
        self.faces += len(crops)
        return self.inner.classify(crops)


def run_arm(config: Config, detector, classifier: CountingClassifier, frames: list[Frame]) -> dict[str, float]:
    pipeline = build_pipeline(config, detector, classifier, [])
    before = classifier.faces
    begin = time.perf_counter()
    stats = pipeline.run(frames)
    seconds = time.perf_counter() - begin
    pipeline.close()
    return {"fps": stats.frames / seconds, "classified_per_frame": (classifier.faces - before) / stats.frames}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default="")
    parser.add_argument("--markdown", default="")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    frames = load_frames()
    configs = {}
    for name, min_face in ARMS.items():
        configs[name] = Config()
        configs[name].zone.min_face = min_face
    detector, classifier = build_detector(Config()), CountingClassifier(build_classifier(Config()))
    run_arm(configs[next(iter(ARMS))], detector, classifier, frames[:30])  # warm-up
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in ARMS}
    for _ in range(args.rounds):
        for name, config in configs.items():
            rounds[name].append(run_arm(config, detector, classifier, frames))
    base = next(iter(ARMS))
    ratios = [z["fps"] / n["fps"] for z, n in zip(rounds[base], rounds[list(ARMS)[1]], strict=True)]
    report = {
        "video": VIDEO,
        "frames": len(frames),
        "rounds": rounds,
        "fps_ratio_zone_over_no_zone": {
            "per_round": [round(r, 3) for r in ratios],
            "median": statistics.median(ratios),
        },
        "machine": {"python": platform.python_version(), "machine": platform.machine()},
    }
    lines = [
        f"# The door zone's cost on a busy far scene ({VIDEO}, {len(frames)} frames, {args.rounds} rounds)",
        "",
        "| arm | FPS (median of rounds) | faces classified per frame |",
        "|---|---:|---:|",
        *(
            f"| {name} | {statistics.median(r['fps'] for r in runs):.1f} | "
            f"{statistics.median(r['classified_per_frame'] for r in runs):.2f} |"
            for name, runs in rounds.items()
        ),
        "",
        f"FPS ratio, zone over no zone, per round: {', '.join(f'{r:.2f}x' for r in ratios)} "
        f"(median {statistics.median(ratios):.2f}x).",
    ]
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
