"""What the door page costs the frame loop: FPS without the [web] output, with it and no page open, and
with a page open (a client polling the picture and the state as page.js does), side by side in one run.

The arms take turns round by round on the same frames (the shared clip, held in memory), so drift on a
shared machine hits all three alike; the ratios to the first arm are the result. Also the import cost of
waitress against the standard library's http.server, each in a fresh interpreter.

Usage (needs ../shared and `pip install -e '.[web]'`):
    python benchmarks/web_cost.py --rounds 5 --frames 300 --markdown benchmarks/results/web_cost.md
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2

from edge.app import build_classifier, build_detector, build_gate, build_tracker
from edge.bench.shared_dir import shared_path
from edge.config import Config
from edge.pipeline import Pipeline
from edge.vision.types import Frame

log = logging.getLogger("web_cost")
VIDEO = "data/video/parking-lot.mp4"


def load_frames(count: int) -> list[Frame]:
    path = shared_path(VIDEO)
    if path is None:
        sys.exit(f"needs ../shared/{VIDEO} (set MASKGATE_SHARED)")
    capture = cv2.VideoCapture(str(path))
    images = []
    while (read := capture.read())[0]:
        images.append(read[1])
    return [Frame(str(i), float(i), images[i % len(images)]) for i in range(count)]


class Viewer:
    """Polls /frame.jpg every 0.5 s and /state.json every second, as an open page does."""

    def __init__(self, port: int) -> None:
        self.port, self.stop, self.pictures = port, threading.Event(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _get(self, path: str) -> bytes:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", path)
        body = connection.getresponse().read()
        connection.close()
        return body

    def _run(self) -> None:
        tick = 0
        while not self.stop.wait(0.5):
            if self._get("/frame.jpg").startswith(b"\xff\xd8"):
                self.pictures += 1
            if tick % 2 == 0:
                self._get("/state.json")
            tick += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def run_arm(config: Config, frames: list[Frame], arm: str, parts: tuple) -> dict[str, float]:
    from edge.web.page import build_page

    detector, classifier = parts
    outputs, viewer = [], None
    if arm != "web off":
        page = build_page(config)
        outputs.append(page)
        if arm == "page open":
            viewer = Viewer(page.server.port)
            while page.pictures_taken == 0:  # the first poll opens the gate
                Pipeline(detector, classifier, build_tracker(config), outputs).run(frames[:5])
                time.sleep(0.05)
    pipeline = Pipeline(detector, classifier, build_tracker(config), outputs, gate=build_gate(config))
    begin = time.perf_counter()
    stats = pipeline.run(frames)
    seconds = time.perf_counter() - begin
    taken = getattr(outputs[0], "pictures_taken", 0) if outputs else 0
    if viewer:
        viewer.close()
    pipeline.close()
    outputs_ms = 1000 * statistics.mean(stats.stage_seconds["outputs"])
    return {"fps": stats.frames / seconds, "outputs_ms": outputs_ms, "pictures": taken}


def encode_ms(config: Config, frames: list[Frame], parts: tuple) -> dict[str, float]:
    """Drawing and JPEG-encoding one picture for the page (the HTTP thread's work per picture), median ms,
    plain and in aim mode, on frames with their real tracked faces."""
    from edge.web.page import JPEG_QUALITY, build_page
    from edge.web.view import render_view

    detector, classifier = parts
    page = build_page(config)
    page.server.close()
    pipeline = Pipeline(detector, classifier, build_tracker(config))
    samples: dict[str, list[float]] = {"picture": [], "picture, aim mode": []}
    for frame in frames[:120]:
        faces, _ = pipeline.process(frame)
        for key, aim in (("picture", False), ("picture, aim mode", True)):
            begin = time.perf_counter()
            image = render_view(frame.image, faces, page.view, 20.0, aim=aim)
            cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            samples[key].append(time.perf_counter() - begin)
    return {key: round(1000 * statistics.median(values), 2) for key, values in samples.items()}


def import_ms(module: str, runs: int = 5) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(runs)]
    return 1000 * statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--thumbnails", action="store_true", help="web.thumbnails on: the page arms also keep each decision's face"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    config = Config()
    config.web.enabled, config.web.port, config.web.thumbnails = True, 0, args.thumbnails
    frames = load_frames(args.frames)
    parts = (build_detector(config), build_classifier(config))
    arms = ("web off", "page closed", "page open")
    results: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}
    run_arm(config, frames[:30], "web off", parts)  # warm-up
    for round_ in range(args.rounds):
        for arm in arms[round_ % 3 :] + arms[: round_ % 3]:  # rotate the order
            results[arm].append(run_arm(config, frames, arm, parts))
            print(f"round {round_ + 1} {arm}: {results[arm][-1]['fps']:.1f} FPS", file=sys.stderr)

    base = statistics.median(r["fps"] for r in results["web off"])
    rows = []
    for arm in arms:
        fps = statistics.median(r["fps"] for r in results[arm])
        rows.append(
            {
                "arm": arm,
                "fps_median": round(fps, 2),
                "ratio_to_web_off": round(fps / base, 3),
                "outputs_ms_mean": round(statistics.median(r["outputs_ms"] for r in results[arm]), 3),
                "pictures_per_run": statistics.median(r["pictures"] for r in results[arm]),
            }
        )
    imports = {"waitress.server": import_ms("waitress.server"), "http.server": import_ms("http.server")}
    encode = encode_ms(config, frames, parts)
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "frames_per_run": args.frames,
        "rounds": args.rounds,
        "thumbnails": args.thumbnails,
        "arms": rows,
        "import_ms_median_of_5": {k: round(v, 1) for k, v in imports.items()},
        "draw_and_encode_ms_median": encode,
        "command": "python " + " ".join(sys.argv),
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Door page cost (benchmarks/web_cost.py)",
        "",
        f"{report['machine']}; {args.frames} frames of the shared clip per run, {args.rounds} rounds, median; "
        f"web.thumbnails {'on' if args.thumbnails else 'off'}.",
        f"Command: `{report['command']}`",
        "",
        "| arm | FPS | ratio to web off | outputs stage ms/frame | pictures taken per run |",
        "|---|---|---|---|---|",
        *(
            f"| {r['arm']} | {r['fps_median']} | {r['ratio_to_web_off']} | {r['outputs_ms_mean']} | "
            f"{r['pictures_per_run']} |"
            for r in rows
        ),
        "",
        "| import (fresh interpreter, median of 5) | ms |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in report["import_ms_median_of_5"].items()),
        "",
        "| the page thread's work per picture (draw + JPEG, median of 120 frames) | ms |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in encode.items()),
        "",
    ]
    text = "\n".join(lines)
    if args.markdown:
        args.markdown.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
