"""Detector cost per frame with and without YuNet's second look (detector.second_look_size), side by side.

Times `detect()` (both passes, box decoding, merge) of the default YuNet and of the same detector with a
second look, interleaved round by round on the same frames, so a busy machine slows both alike; reports
the median ms per frame of each and their ratio per round. Two frame sets: the `maskgate bench` set
(640x480, a Pi camera's default) and the photos of ../shared/data/scenes-ilc2021/dev (mostly 960 px).

    python benchmarks/second_look.py --second-look-size 1280 --rounds 7

Writes benchmarks/results/<machine>/second_look.json and .md (see --out).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.bench import frames as bench_frames  # noqa: E402
from edge.bench.shared_dir import shared_path  # noqa: E402
from edge.config import DetectorConfig  # noqa: E402
from edge.detectors import create_detector  # noqa: E402
from edge.modelfiles import find as model_files  # noqa: E402


def frame_sets(max_scenes: int) -> dict[str, list[np.ndarray]]:
    sets: dict[str, list[np.ndarray]] = {}
    faces = shared_path("data/facemask")
    if faces is not None:
        sets["bench 640x480"] = bench_frames.build(faces).decoded()
    scenes = shared_path("data/scenes-ilc2021/dev/images")
    if scenes is not None:
        images = [cv2.imread(str(p)) for p in sorted(scenes.iterdir())[:max_scenes]]
        sets["dev scenes"] = [i for i in images if i is not None]
    if not sets:
        raise SystemExit("no frames: ../shared/data/facemask and scenes-ilc2021/dev are both missing")
    return sets


def time_pass(detector, frames: list[np.ndarray]) -> float:
    begin = time.perf_counter()
    for frame in frames:
        detector.detect(frame)
    return 1000 * (time.perf_counter() - begin) / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--second-look-size", type=int, default=1280)
    parser.add_argument("--second-look-score", type=float, default=DetectorConfig().second_look_score)
    parser.add_argument("--threads", type=int, default=2, help="detector.num_threads of both")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--max-scenes", type=int, default=120, help="dev photos timed (default 120)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / f"{platform.machine()}-2core")
    args = parser.parse_args()
    dirs = model_files.model_dirs("")
    base = DetectorConfig(num_threads=args.threads)
    second = DetectorConfig(
        num_threads=args.threads, second_look_size=args.second_look_size, second_look_score=args.second_look_score
    )
    detectors = {"default": create_detector(base, dirs), "second look": create_detector(second, dirs)}
    results = {}
    for name, frames in frame_sets(args.max_scenes).items():
        for detector in detectors.values():
            time_pass(detector, frames[:10])
        rounds: dict[str, list[float]] = {label: [] for label in detectors}
        for index in range(args.rounds):
            order = list(detectors.items()) if index % 2 == 0 else list(detectors.items())[::-1]
            for label, detector in order:
                rounds[label].append(time_pass(detector, frames))
        ratios = [s / d for s, d in zip(rounds["second look"], rounds["default"], strict=True)]
        results[name] = {
            "frames": len(frames),
            "ms_per_frame_median": {label: round(statistics.median(v), 2) for label, v in rounds.items()},
            "ratio_median": round(statistics.median(ratios), 2),
            "ratio_range": [round(min(ratios), 2), round(max(ratios), 2)],
        }
    report = {
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "default": f"yunet {base.input_size} @ {base.score_threshold}",
        "second_look": f"+ up to {args.second_look_size} px @ {args.second_look_score}",
        "threads": args.threads,
        "rounds": args.rounds,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "second_look.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# YuNet second look: detector cost per frame ({report['machine']}, {args.threads} threads, "
        f"median of {args.rounds} interleaved rounds)",
        "",
        f"default = {report['default']}; second look = default {report['second_look']}",
        "",
        "| frames | n | default ms | second look ms | ratio (range) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        ms = r["ms_per_frame_median"]
        lo, hi = r["ratio_range"]
        lines.append(
            f"| {name} | {r['frames']} | {ms['default']} | {ms['second look']} | {r['ratio_median']} ({lo}-{hi}) |"
        )
    (args.out / "second_look.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
