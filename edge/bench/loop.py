"""`maskgate bench`: end-to-end FPS and per-stage latency of the real frame loop on a fixed frame set.

It runs edge.pipeline.Pipeline as `maskgate run` builds it (same detector, classifier, tracker) with
one output that draws the annotated frame as the screen and recorder do, so the numbers are those
of the door loop. The detector's and the classifier's model calls are timed on their own to show
how much of a frame is spent inside the models. Needs only the runtime's dependencies; the grid,
the seeds' TensorFlow baseline and the charts live in benchmarks/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.config import DOWNSCALES, YUNET_ENGINES
from edge.errors import SetupError, UsageError, os_errors_as, third_party_imports
from edge.registry import DETECTORS, TFLITE_RUNTIMES

if TYPE_CHECKING:
    from edge.bench.frames import FrameSet
    from edge.config import Config
    from edge.vision.stats import LoopStats
    from edge.vision.types import Frame

log = logging.getLogger(__name__)

SCHEMA = 1
STAGE_NAMES = {
    "source": "capture",
    "gate": "gate",
    "detect": "detect",
    "track": "track",
    "crop": "crop",
    "classify": "classify",
    "decide": "decide",
    "outputs": "draw",
}
"""LoopStats stage -> name in the report. "capture" is the loop's wait for the next frame (with the JPEG
decode when frames are decoded in the loop); the output stage draws."""
DECODE_PLACES = {"thread": "in a capture thread", "loop": "in the loop's capture stage", "raw": "none: raw frames"}
"""Where the JPEG decode happens for each way frames reach the loop (edge.bench.frames.DELIVERIES)."""
PERCENTILES = (50, 95, 99)
LIBRARIES = (
    "numpy",
    "opencv-python-headless",
    "opencv-python",
    "onnxruntime",
    "ai-edge-litert",
    "tflite-runtime",
    "tensorflow-cpu",
)


class BenchError(SetupError):
    pass


class InvokeTimer:
    """Seconds spent in the models' own calls (TFLite invoke, OpenCV DNN forward/detect), per model."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def time_method(self, owner: object, method: str, key: str) -> None:
        """Replace owner.<method> on this instance by a timed call recorded under key."""
        setattr(owner, method, self._timed(getattr(owner, method), key))

    def wrap(self, owner: object, attribute: str, method: str, key: str) -> None:
        """Replace owner.<attribute> by a proxy whose <method> is timed under key; everything else passes through.
        For objects whose methods cannot be replaced, such as OpenCV's networks."""
        target = getattr(owner, attribute)
        setattr(owner, attribute, _TimedProxy(target, method, self._timed(getattr(target, method), key)))

    def _timed(self, call: Callable[..., Any], key: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            begin = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - begin
                self.calls[key] += 1

        return timed


class _TimedProxy:
    def __init__(self, target: Any, method: str, timed: Callable[..., Any]) -> None:
        self._target = target
        setattr(self, method, timed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def instrument(part: object, key: str, timer: InvokeTimer) -> None:
    """Time the part's model call: every detector and the classifier have `run_model`, the network's own call
    (YuNet's is the whole detection: blob, forward, decoding, NMS; the others the bare run)."""
    timer.time_method(part, "run_model", key)


def _draw_output() -> Any:
    from edge.outputs import Output
    from edge.outputs.annotate import annotate

    class DrawOutput(Output):
        """Draws every frame like the screen and the recorder do, and keeps only the last drawing."""

        name = "draw"

        def __init__(self) -> None:
            self.last = None

        def on_frame(self, frame, faces, stats) -> None:  # type: ignore[no-untyped-def]
            self.last = annotate(frame.image, faces, stats.fps)

    return DrawOutput()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ms_summary(seconds: list[float]) -> dict[str, float]:
    import numpy as np

    values = np.asarray(seconds, dtype=float) * 1000
    points = np.percentile(values, PERCENTILES) if len(values) else [0.0] * len(PERCENTILES)
    summary = {"mean": float(values.mean()) if len(values) else 0.0}
    summary.update({f"p{p}": float(v) for p, v in zip(PERCENTILES, points, strict=True)})
    return {k: round(v, 4) for k, v in summary.items()}


def _version(distribution: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, object]:
    """The machine, OS, Python and library versions a result belongs to."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    board = None
    with contextlib.suppress(OSError):
        board = Path("/proc/device-tree/model").read_bytes().rstrip(b"\0").decode(errors="replace")
    libraries = {name: v for name in LIBRARIES if (v := _version(name))}
    return {
        "hostname": platform.node(),
        "board": board,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": libraries,
    }


def stage_report(stats: LoopStats) -> dict[str, dict[str, float]]:
    """Latency summary of every stage the loop ran, under its report name."""
    return {
        name: ms_summary(list(samples))
        for stage, name in STAGE_NAMES.items()
        if (samples := stats.stage_seconds[stage])
    }


def _config_report(config: Config, detector: Any, classifier: Any) -> dict[str, object]:
    import cv2

    from edge.modelfiles.tflite import interpreter_class

    card = classifier.card.raw or {}
    return {
        "detector": config.detector.type,
        "detector_input": detector.input_label,
        "detector_downscale": config.detector.downscale,
        "detector_engine": detector.engine,
        "classifier": classifier.model_path.name,
        "classifier_path": str(classifier.model_path),
        "classifier_variant": card.get("variant", "?"),
        "classifier_alpha": card.get("training", {}).get("settings", {}).get("alpha"),
        "classifier_input": classifier.input_size,
        "classifier_fast": classifier.fast_first,
        "classifier_bytes": classifier.model_path.stat().st_size,
        "backend": interpreter_class(config.classifier.backend)[0],
        "threads": config.classifier.num_threads,
        "detector_threads": config.detector.num_threads,
        "opencv_threads": cv2.getNumThreads(),
        "batch": config.classifier.batch,
        "recheck_every": config.tracker.recheck_every,
        "gate": config.gate.enabled,
    }


def fast_calls(timer: InvokeTimer) -> dict[str, float]:
    """The fast model's share of the classification (fast-first pairs only)."""
    calls = timer.calls.get("classify_fast", 0)
    if not calls:
        return {}
    return {
        "classify_fast_ms_per_call": round(1000 * timer.seconds["classify_fast"] / calls, 4),
        "classify_fast_calls": calls,
    }


def check_counts(frame_set: FrameSet, frames: int, warmup: int | None) -> int:
    """The warm-up frame count to use; refuses counts that are negative or would measure only empty frames."""
    warmup = len(frame_set) if warmup is None else warmup
    if frames < 1 or warmup < 0:
        raise UsageError(f"bench: --frames must be >= 1 and --warmup >= 0, got {frames} and {warmup}")
    if frame_set.faces_in(frames, warmup) == 0:
        needed = frame_set.frames_to_first_face(warmup)
        raise UsageError(
            f"bench: --frames {frames} after --warmup {warmup} would measure only frames without a face (an empty "
            f"door scene); the detector and classifier would not be measured: use --frames {needed} or more"
        )
    return warmup


def measure(
    run_loop: Callable[[Iterable[Frame]], LoopStats],
    timer: InvokeTimer,
    frame_set: FrameSet,
    frames: int,
    warmup: int | None,
    delivery: str,
) -> dict[str, object]:
    """Run a frame loop over warm-up frames, then over `frames` measured ones, and report it.

    `run_loop` processes the frames it is given and returns their LoopStats (fresh for each call); `timer`
    times its model calls. The default warm-up is one pass over the set, so every code path has run once.
    `delivery` is how frames reach the loop (edge.bench.frames.DELIVERIES).
    """
    warmup = check_counts(frame_set, frames, warmup)
    if warmup:
        run_loop(frame_set.frames(warmup, delivery=delivery))
    timer.reset()
    feed = frame_set.frames(frames, start=warmup, delivery=delivery)
    cpu_before, wall_before = cpu_seconds(), time.perf_counter()
    stats = run_loop(feed)
    wall = time.perf_counter() - wall_before
    cpu = cpu_seconds() - cpu_before
    if stats.frames == 0:
        raise BenchError(
            f"bench: none of the {frames} measured frames was processed ({stats.frame_errors} failed, "
            f"{stats.skipped_frames} skipped); the log above says why"
        )
    if stats.faces == 0:
        log.warning("bench: the measured frames held no face the detector found: this measures an empty door")
    frame_total = sum(stats.frame_seconds)
    invoke_total = sum(timer.seconds.values())
    decode_outside_loop = sum(feed.decode_seconds) if delivery == "thread" else 0.0
    return {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "frame_set": {**frame_set.description, "delivery": delivery},
        "warmup_frames": warmup,
        "frames": stats.frames,
        "frame_errors": stats.frame_errors,
        "faces_per_frame": round(stats.faces / stats.frames, 3),
        "pasted_faces": frame_set.faces_in(frames, warmup),
        "fps": round(stats.frames / wall, 3),
        "cpu_percent": round(100 * cpu / wall, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "frame_ms": ms_summary(list(stats.frame_seconds)),
        "stages_ms": stage_report(stats),
        "decode_ms": ms_summary(feed.decode_seconds),
        "invoke": {
            "detect_ms_per_frame": round(1000 * timer.seconds["detect"] / stats.frames, 4),
            "classify_ms_per_frame": round(1000 * timer.seconds["classify"] / stats.frames, 4),
            "classify_ms_per_call": round(1000 * timer.seconds["classify"] / max(timer.calls["classify"], 1), 4),
            "classify_calls": timer.calls["classify"],
            "detect_calls": timer.calls["detect"],
            "share": round(invoke_total / frame_total, 4),
            "share_counting_decode": round(invoke_total / (frame_total + decode_outside_loop), 4),
            **fast_calls(timer),
        },
    }


def run(
    config: Config, frame_set: FrameSet, frames: int = 120, warmup: int | None = None, delivery: str = "thread"
) -> dict[str, object]:
    """Benchmark the door loop built from config on frame_set (see `measure`)."""
    from edge.app import build_classifier, build_detector, build_pipeline
    from edge.vision.stats import LoopStats

    check_counts(frame_set, frames, warmup)
    detector, classifier = build_detector(config), build_classifier(config)
    timer = InvokeTimer()
    instrument(detector, "detect", timer)
    for part, model in classifier.parts():
        instrument(model, "classify_fast" if part == "fast classifier" else "classify", timer)
    pipeline = build_pipeline(config, detector, classifier, [_draw_output()])

    def run_loop(feed: Iterable[Frame]) -> LoopStats:
        pipeline.stats = LoopStats(gate=pipeline.gate)
        return pipeline.run(feed)

    try:
        report = measure(run_loop, timer, frame_set, frames, warmup, delivery)
    finally:
        pipeline.close()
    return {"tool": "maskgate bench", "config": _config_report(config, detector, classifier), **report}


def load_frame_set(args: argparse.Namespace) -> FrameSet:
    """--frames-dir, else frames built from --faces-dir or ../shared/data/facemask ($MASKGATE_SHARED), else the
    packaged demo clip. A path given that does not exist is a SourceError naming it, as in `run` and `classify`."""
    from edge.bench import frames as bench_frames
    from edge.bench.shared_dir import shared_path
    from edge.sources import no_such_path

    if args.frames_dir:
        folder = Path(args.frames_dir).expanduser()
        if not folder.is_dir():
            raise (
                no_such_path("bench --frames-dir", folder)
                if not folder.exists()
                else bench_frames.FrameSetError(f"bench --frames-dir {str(folder)!r} is not a folder")
            )
        return bench_frames.from_folder(folder)
    if args.faces_dir:
        faces_dir = Path(args.faces_dir).expanduser()
        if not faces_dir.is_dir():
            raise no_such_path("bench --faces-dir", faces_dir)
        return bench_frames.build(faces_dir, seed=args.seed)
    faces_dir = shared_path("data/facemask")
    if faces_dir is None:
        log.warning(
            "no face photos in ../shared/data/facemask (set MASKGATE_SHARED, or pass --faces-dir or --frames-dir): "
            "timing the packaged demo clip, whose drawn faces make figures to compare machines, not doors"
        )
        return bench_frames.from_demo_clip()
    return bench_frames.build(faces_dir, seed=args.seed)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=120, help="measured frames (the set is cycled; default 120)")
    parser.add_argument("--warmup", type=int, help="frames run before measuring (default: one pass over the set)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated frame set (default 0)")
    parser.add_argument("--faces-dir", help="face photos in with_mask/ and without_mask/ (default ../shared)")
    parser.add_argument("--frames-dir", help="use this folder of images as the frame set instead of generating one")
    parser.add_argument("--save-frames", metavar="DIR", help="also write the frame set as JPEG files to DIR")
    parser.add_argument(
        "--delivery",
        choices=tuple(DECODE_PLACES),
        default="thread",
        help="how frames reach the loop: decoded by a capture thread like a USB camera (default), "
        "decoded in the loop like a video file, or as arrays like picamera2",
    )
    parser.add_argument("--detector", choices=DETECTORS, help="override detector.type")
    parser.add_argument("--input-size", type=int, help="override detector.input_size")
    parser.add_argument("--downscale", choices=DOWNSCALES, help="override detector.downscale (yunet)")
    parser.add_argument("--engine", choices=YUNET_ENGINES, help="override detector.engine (yunet)")
    parser.add_argument("--classifier", help="override classifier.model (a .tflite with its .json card)")
    parser.add_argument("--threads", type=int, help="override classifier.num_threads and detector.num_threads")
    parser.add_argument("--backend", choices=("auto", *TFLITE_RUNTIMES))
    parser.add_argument("--batch", action="store_true", help="set classifier.batch: one invoke per frame")
    parser.add_argument("--recheck-every", type=int, help="override tracker.recheck_every")
    parser.add_argument("--no-gate", action="store_true", help="set gate.enabled = false: detect in every frame")
    parser.add_argument(
        "--no-fast-first", action="store_true", help="set classifier.fast_first = false: the model labels every face"
    )
    parser.add_argument("--json", metavar="PATH", help="write the report as JSON to PATH ('-' for stdout)")
    parser.add_argument(
        "--scenario",
        choices=("busy", "door-day"),
        default="busy",
        help="busy: the fixed frame set (default); door-day: a generated minute of a mostly empty door, run by "
        "MaskGate with and without the change gate and by the seeds' pipeline in interleaved rounds",
    )
    parser.add_argument("--rounds", type=int, default=3, help="door-day: interleaved rounds (default 3)")
    parser.add_argument("--no-seeds", action="store_true", help="door-day: leave out the seeds' pipeline")


def apply_overrides(config: Config, args: argparse.Namespace) -> None:
    from edge import config as cfg

    for flag, key in (
        ("detector", "detector.type"),
        ("input_size", "detector.input_size"),
        ("downscale", "detector.downscale"),
        ("engine", "detector.engine"),
        ("classifier", "classifier.model"),
        ("threads", "classifier.num_threads"),
        ("threads", "detector.num_threads"),
        ("backend", "classifier.backend"),
        ("recheck_every", "tracker.recheck_every"),
    ):
        if (value := getattr(args, flag)) is not None:
            cfg.override(config, key, value)
    if args.batch:
        cfg.override(config, "classifier.batch", True)
    if args.no_gate:
        cfg.override(config, "gate.enabled", False)
    if args.no_fast_first:
        cfg.override(config, "classifier.fast_first", False)


def summary_lines(report: dict[str, Any]) -> list[str]:
    c = report["config"]
    lines = [
        f"{c['detector']} {c['detector_input']} + {c['classifier']}"
        + (f" (fast first: {c['classifier_fast']})" if c.get("classifier_fast") else "")
        + f" ({c['backend']}, {c['threads']} thread(s)): "
        f"{report['fps']:.1f} FPS over {report['frames']} frames, {report['faces_per_frame']} faces/frame, "
        f"CPU {report['cpu_percent']:.0f}%, peak RSS {report['peak_rss_mb']:.0f} MB",
        f"{'stage':<10}{'mean':>9}{'p50':>9}{'p95':>9}{'p99':>9}  (ms)",
    ]
    rows = {**report["stages_ms"], "frame": report["frame_ms"]}
    lines += [
        f"{name:<10}" + "".join(f"{row[k]:>9.2f}" for k in ("mean", "p50", "p95", "p99")) for name, row in rows.items()
    ]
    where = DECODE_PLACES[report["frame_set"]["delivery"]]
    lines.append(f"JPEG decode: {report['decode_ms']['mean']:.2f} ms/frame ({where})")
    invoke = report["invoke"]
    lines.append(
        f"model calls: detect {invoke['detect_ms_per_frame']:.2f} ms/frame, "
        f"classify {invoke['classify_ms_per_call']:.2f} ms/face; {100 * invoke['share']:.0f}% of the frame time, "
        f"{100 * invoke['share_counting_decode']:.0f}% counting the decode"
    )
    if invoke.get("classify_fast_calls"):
        lines.append(
            f"fast-first: the fast model labelled {invoke['classify_fast_calls']} faces "
            f"({invoke['classify_fast_ms_per_call']:.2f} ms/face), {invoke['classify_calls']} of them went on to "
            "the main model"
        )
    return lines


def run_command(args: argparse.Namespace) -> int:
    """`maskgate bench` on a frame set (edge.bench.command picks it)."""
    config = args.loaded_config
    apply_overrides(config, args)
    with third_party_imports("maskgate bench"):
        frame_set = load_frame_set(args)
        if args.save_frames:
            with os_errors_as(UsageError, f"--save-frames {args.save_frames}"):
                saved = frame_set.save(Path(args.save_frames).expanduser())
            log.info("wrote %d frames to %s", len(saved), args.save_frames)
        report = run(config, frame_set, frames=args.frames, warmup=args.warmup, delivery=args.delivery)
    text = json.dumps(report, indent=2)
    if args.json == "-":
        print(text)
        return 0
    if args.json:
        with os_errors_as(UsageError, f"--json {args.json}"):
            Path(args.json).expanduser().write_text(text + "\n", encoding="utf-8")
        log.info("wrote %s", args.json)
    print("\n".join(summary_lines(report)))
    return 0
