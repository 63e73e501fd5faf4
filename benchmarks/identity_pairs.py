"""Same-person and different-person face pairs scored by the tracker's appearance signature: the hue-saturation
histogram of the face with its surroundings (what the tracker compared until 2026-12-07) and the lower of that
and the inner face's histogram (what it compares now, edge.vision.tracker.likeness).

Pairs, with YuNet (edge's detector) finding the face and its landmarks in each picture:
- stills, per set of ../shared: the same photo against a copy under door-like changes (scale 0.6-1.0, rotation
  up to 8 degrees, shift up to 5%, brightness 0.75-1.25, blur half the time, JPEG quality 40-90) = same person;
  two different photos of the set = different people. Sets: masked-people (real masked photos), MaskedFace-Net
  with_mask (synthetic masks on real FFHQ faces), faces-ages (bare UTKFace faces).
- video/parking-lot.mp4 (real masked people walking): faces linked frame to frame by position into tracks;
  the same track 3-30 frames apart = same person (a queue's gap at 15 FPS), two faces in one frame = different.

A pair is a false merge when different people score at or above the threshold (tracker.return_face_min, the
likeness a face needs to continue a track whose spot was empty), a false split when the same person scores below
it. The still sets' different people come from different photos (other backgrounds), which flatters the
surroundings' histogram: at a door both stand before the same wall (evaluate-approach's photo queue measures that).

A face-recognition embedding was looked for and measured too (2026-12-07, not shipped; see the closing note of
issue 27): no PyPI or Debian package ships weights that TFLite, onnxruntime or OpenCV load without a download.

    MASKGATE_SHARED=../shared python benchmarks/identity_pairs.py \
        --out benchmarks/results/x86_64-2core/identity_pairs.md
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.bench.shared_dir import shared_path  # noqa: E402
from edge.config import DetectorConfig, TrackerConfig  # noqa: E402
from edge.detectors import create_detector  # noqa: E402
from edge.vision.tracker import appearance, likeness  # noqa: E402
from edge.vision.types import Face  # noqa: E402

STILL_SETS = {
    "masked, real (masked-people)": "data/masked-people/with_mask",
    "masked, synthetic (MaskedFace-Net)": "data/maskedface-net/with_mask",
    "bare (faces-ages)": "data/faces-ages/without_mask",
}
VIDEO = "data/video/parking-lot.mp4"
QUEUE_GAP = (3, 30)
"""Frames between two sightings of one person compared in the video (0.2-2 s at 15 FPS)."""


def door_change(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), rng.uniform(-8, 8), rng.uniform(0.6, 1.0))
    matrix[:, 2] += rng.uniform(-0.05, 0.05, 2) * (width, height)
    out = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    out = np.clip(out.astype(np.float32) * rng.uniform(0.75, 1.25), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    _, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 91))])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


class Scorers:
    """The face's appearance signature, and the time it took."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.count = 0

    def signatures(self, image: np.ndarray, face: Face) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        signature = appearance(image, face.box)
        self.seconds += time.perf_counter() - start
        self.count += 1
        return {name: signature for name in COMPARE}


def surroundings_only(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.minimum(a[0], b[0]).sum())


COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "surroundings (before)": surroundings_only,
    "surroundings and inner face (now)": likeness,
}


def largest_face(detector, image: np.ndarray) -> Face | None:
    faces = [f for f in detector.detect(image) if f.landmarks is not None]
    return max(faces, key=lambda f: f.width) if faces else None


def still_pairs(detector, scorers: Scorers, folder: Path, count: int, rng: np.random.Generator):
    same: dict[str, list[float]] = {name: [] for name in COMPARE}
    different: dict[str, list[float]] = {name: [] for name in COMPARE}
    originals = []
    files = sorted(glob.glob(str(folder / "*.jpg")))
    rng.shuffle(files)
    for file in files:
        image = cv2.imread(file, cv2.IMREAD_COLOR)
        face = largest_face(detector, image) if image is not None else None
        if face is None:
            continue
        changed = door_change(image, rng)
        changed_face = largest_face(detector, changed)
        if changed_face is None:
            continue
        first, second = scorers.signatures(image, face), scorers.signatures(changed, changed_face)
        for name, compare in COMPARE.items():
            same[name].append(compare(first[name], second[name]))
        originals.append(first)
        if len(originals) >= count:
            break
    for i, a in enumerate(originals):
        for b in originals[i + 1 :]:
            for name, compare in COMPARE.items():
                different[name].append(compare(a[name], b[name]))
    return same, different


def near(a: Face, b: Face) -> bool:
    """Whether b can be a's face a few frames later: centres within a face width, sizes within 1.5x."""
    ax, ay = (a.box[0] + a.box[2]) / 2, (a.box[1] + a.box[3]) / 2
    bx, by = (b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2
    return np.hypot(ax - bx, ay - by) < min(a.width, b.width) and 1 / 1.5 < a.width / b.width < 1.5


def video_tracks(detector, video: Path) -> list[list[tuple[int, np.ndarray, Face]]]:
    """Faces linked frame to frame (`near`, up to 4 frames missed), only where the link is the one candidate both
    ways, so no track can jump from one person to another."""
    capture = cv2.VideoCapture(str(video))
    tracks: list[list[tuple[int, np.ndarray, Face]]] = []
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        faces = [f for f in detector.detect(frame) if f.landmarks is not None]
        live = [t for t in tracks if index - t[-1][0] <= 5]
        links = np.array([[near(t[-1][2], f) for f in faces] for t in live], dtype=bool).reshape(len(live), len(faces))
        for f, face in enumerate(faces):
            candidates = np.flatnonzero(links[:, f])
            if len(candidates) == 1 and links[candidates[0]].sum() == 1:
                live[candidates[0]].append((index, frame, face))
            else:
                tracks.append([(index, frame, face)])
        index += 1
    return tracks


def video_pairs(detector, scorers: Scorers, video: Path):
    same: dict[str, list[float]] = {name: [] for name in COMPARE}
    different: dict[str, list[float]] = {name: [] for name in COMPARE}
    by_frame: dict[int, list[dict[str, np.ndarray]]] = {}
    for track in video_tracks(detector, video):
        signed = [(i, scorers.signatures(frame, face)) for i, frame, face in track]
        for i, signature in signed:
            by_frame.setdefault(i, []).append(signature)
        for k, (i, a) in enumerate(signed):
            for j, b in signed[k + 1 :]:
                if QUEUE_GAP[0] <= j - i <= QUEUE_GAP[1]:
                    for name, compare in COMPARE.items():
                        same[name].append(compare(a[name], b[name]))
    for signatures in by_frame.values():
        for k, a in enumerate(signatures):
            for b in signatures[k + 1 :]:
                for name, compare in COMPARE.items():
                    different[name].append(compare(a[name], b[name]))
    return same, different


def row(source: str, name: str, same: list[float], different: list[float], threshold: float) -> str:
    s, d = np.asarray(same), np.asarray(different)
    if not s.size or not d.size:
        return f"| {source} | {name} | {s.size} | {d.size} | - | - | - | - |"
    merge = float((d >= threshold).mean()) if d.size else float("nan")
    split = float((s < threshold).mean()) if s.size else float("nan")
    return (
        f"| {source} | {name} @ {threshold:.2f} | {s.size} | {d.size} | {100 * merge:.1f}% | {100 * split:.1f}% "
        f"| {np.percentile(s, 5):.2f} | {np.percentile(d, 95):.2f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=80, help="faces per still set")
    parser.add_argument("--threshold", type=float, default=TrackerConfig().return_face_min)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args(argv)

    yunet = shared_path("models/yunet")
    if yunet is None:
        parser.error("needs ../shared/models/yunet (set MASKGATE_SHARED)")
    stills = create_detector(DetectorConfig(retry_border=DetectorConfig().stills_retry_border), [yunet])
    frames = create_detector(DetectorConfig(input_size=640), [yunet])
    scorers = Scorers()
    rng = np.random.default_rng(args.seed)

    lines = [
        "| pairs | signature | same | different | false merge | false split | same p5 | different p95 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for source, relative in STILL_SETS.items():
        folder = shared_path(relative)
        if folder is None:
            print(f"skipped {source}: ../shared/{relative} missing", file=sys.stderr)
            continue
        same, different = still_pairs(stills, scorers, folder, args.faces, rng)
        lines += [row(source, name, same[name], different[name], args.threshold) for name in COMPARE]
    if (video := shared_path(VIDEO)) is not None:
        same, different = video_pairs(frames, scorers, video)
        source = f"masked, real video ({QUEUE_GAP[0]}-{QUEUE_GAP[1]} frames apart)"
        lines += [row(source, name, same[name], different[name], args.threshold) for name in COMPARE]
    lines += [
        "",
        f"Cost of a signature (both histograms) per face on this machine: "
        f"{1000 * scorers.seconds / scorers.count:.2f} ms; {scorers.count} faces.",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
