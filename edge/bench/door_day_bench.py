"""`maskgate bench --scenario door-day`: CPU while the door is empty and busy, and frames to decision per person.

Three loops see the same generated door day (edge.bench.door_day) in interleaved rounds (every loop once per
round, the order rotated, so a slow spell of this shared machine hits all alike): MaskGate with the change
gate, MaskGate with the gate off, and the seeds' pipeline (benchmarks/baseline.py, in a child process, as it
needs TensorFlow; only from a checkout with TensorFlow installed). No drawing: the service runs headless.

CPU is the process's own CPU time per frame (getrusage, every thread: detector and classifier pools included),
less the JPEG decode of that frame (timed with the decoding thread's CPU clock), so it is the loop's work
per frame whatever else the machine runs. Utilisation is that CPU at the camera's 30 FPS, 100% = one core.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from edge.bench.frames import decode

if TYPE_CHECKING:
    from edge.bench.door_day import DoorDay
    from edge.config import Config

log = logging.getLogger(__name__)

LOOPS = ("gated", "ungated", "seeds")
WARMUP_FRAMES = range(880, 940)
"""A stretch of the day with a group in view, run once before measuring so every code path has run."""
WARMUP_FILE = "warmup.json"
"""Written beside the saved frames: the numbers of the frames the seeds' child warms up on."""


def warmup_frames(day: DoorDay) -> list[int]:
    """WARMUP_FRAMES where they hold people, else the day's first 60 frames with people."""
    if all(n < len(day.boxes) and not day.empty(n) for n in WARMUP_FRAMES):
        return list(WARMUP_FRAMES)
    return [n for n in range(len(day.boxes)) if not day.empty(n)][:60]


Decided = tuple[int, tuple[float, float, float, float], str]


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_frames(encoded: list[bytes], process: Callable[[int, np.ndarray], list[Decided]]) -> dict[str, Any]:
    """Run `process(number, image)` on every frame; per frame the loop's CPU ms (without the decode) and the
    decode's, and every decision (frame, box, label) it returned."""
    cpu_ms, decode_ms, decided = [], [], []
    wall = time.perf_counter()
    for number, data in enumerate(encoded):
        before = process_cpu()
        decode_begin = time.thread_time()
        image = decode(data)
        decoding = time.thread_time() - decode_begin
        decided += process(number, image)
        cpu_ms.append(1000 * (process_cpu() - before - decoding))
        decode_ms.append(1000 * decoding)
    return {
        "seconds": time.perf_counter() - wall,
        "cpu_ms": [round(v, 3) for v in cpu_ms],
        "decode_ms": [round(v, 3) for v in decode_ms],
        "decided": decided,
    }


def maskgate_loop(config: Config, gated: bool) -> Callable[[list[bytes]], dict[str, Any]]:
    """A runner of MaskGate's loop (as `maskgate run` builds it, without outputs) over encoded frames."""
    from edge.app import build_classifier, build_detector, build_pipeline
    from edge.vision.types import Frame

    detector, classifier = build_detector(config), build_classifier(config)
    loop_config = replace(config, gate=replace(config.gate, enabled=gated))

    def run(encoded: list[bytes]) -> dict[str, Any]:
        pipeline = build_pipeline(loop_config, detector, classifier, [])

        def process(number: int, image: np.ndarray) -> list[Decided]:
            _, decisions = pipeline.process(Frame(str(number), number / 30, image))
            return [(number, tuple(float(v) for v in d.box), d.label) for d in decisions]  # type: ignore[misc]

        result = time_frames(encoded, process)
        result["detector_runs"] = len(encoded) - (pipeline.gate.skipped if pipeline.gate else 0)
        return result

    return run


def seeds_command(frames_dir: Path, out: Path) -> tuple[list[str] | None, str]:
    """The child process that runs the seeds' loop, or None and why it cannot run here."""
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "baseline.py"
    if not script.is_file():
        return None, "benchmarks/baseline.py is not here (run from a checkout)"
    if importlib.util.find_spec("tensorflow") is None:
        return None, "TensorFlow is not installed (pip install '.[convert]')"
    return [sys.executable, str(script), "--door-day", str(frames_dir), "--json", str(out)], ""


def summarise(day: DoorDay, result: dict[str, Any]) -> dict[str, Any]:
    from edge.bench.door_day import FPS, frames_to_decision

    cpu, decode_ms = np.asarray(result["cpu_ms"]), np.asarray(result["decode_ms"])
    empty = np.array([day.empty(n) for n in range(len(cpu))])
    people = frames_to_decision(day, [(f, tuple(b), lab) for f, b, lab in result["decided"]])
    found = [p["frames_to_decision"] for p in people if p["frames_to_decision"] is not None]
    per_frame = {"empty": float(cpu[empty].mean()), "busy": float(cpu[~empty].mean()), "all": float(cpu.mean())}
    decode_mean = float(decode_ms.mean())
    return {
        "cpu_ms_per_frame": {k: round(v, 3) for k, v in per_frame.items()},
        "decode_ms_per_frame": round(decode_mean, 3),
        "empty_cpu_over_decode": round(per_frame["empty"] / decode_mean, 2),
        "utilisation_percent_at_30fps": {k: round(v * FPS / 10, 1) for k, v in per_frame.items()},
        "cpu_seconds_per_hour": {
            "empty": round(per_frame["empty"] * FPS * 3.6, 1),
            "busy": round(per_frame["busy"] * FPS * 3.6, 1),
            "this_day": round(per_frame["all"] * FPS * 3.6, 1),
        },
        "max_fps": round(len(cpu) / result["seconds"], 1),
        "detector_runs": result.get("detector_runs", len(cpu)),
        "people": people,
        "frames_to_decision": [p["frames_to_decision"] for p in people],
        "missed": sum(1 for p in people if p["frames_to_decision"] is None),
        "frames_to_decision_mean": round(statistics.mean(found), 2) if found else None,
    }


def run(
    config: Config, day: DoorDay, rounds: int = 3, seeds: bool = True, workdir: Path | None = None
) -> dict[str, Any]:
    """Every loop once per round over the whole day; the per-round summaries and their medians."""
    encoded = day.frame_set.encoded
    loops: dict[str, Callable[[list[bytes]], dict[str, Any]]] = {
        "gated": maskgate_loop(config, gated=True),
        "ungated": maskgate_loop(config, gated=False),
    }
    warm = [encoded[n] for n in warmup_frames(day)]
    for name in loops:
        loops[name](warm)
    not_run: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="door-day-") as tmp:
        folder = workdir or Path(tmp)
        frames_dir = folder / "frames"
        day.frame_set.save(frames_dir)
        (frames_dir / WARMUP_FILE).write_text(json.dumps(warmup_frames(day)), encoding="utf-8")
        command, why = seeds_command(frames_dir, folder / "seeds.json") if seeds else (None, "--no-seeds")
        if command is None:
            not_run["seeds"] = why
        names = [n for n in LOOPS if n not in not_run]
        per_round: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for round_number in range(rounds):
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in order:
                if name == "seeds":
                    assert command is not None
                    subprocess.run(command, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
                    result = json.loads((folder / "seeds.json").read_text(encoding="utf-8"))
                else:
                    result = loops[name](encoded)
                summary = summarise(day, result)
                per_round[name].append(summary)
                log.info(
                    "round %d/%d, %s: empty %.2f ms/frame (decode %.2f), busy %.2f, missed %d",
                    round_number + 1,
                    rounds,
                    name,
                    summary["cpu_ms_per_frame"]["empty"],
                    summary["decode_ms_per_frame"],
                    summary["cpu_ms_per_frame"]["busy"],
                    summary["missed"],
                )
    from edge.bench.loop import machine_info

    return {
        "tool": "maskgate bench --scenario door-day",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "opencv_threads": cv2.getNumThreads(),
        "scenario": {**day.frame_set.description, "people": day.people},
        "gate": vars(config.gate),
        "rounds": rounds,
        "not_run": not_run,
        "per_round": per_round,
        "goals": goals(per_round),
    }


def goals(per_round: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Issue 13's goals for the day, per round: empty CPU <= 2x decode; nobody missed; no later decisions."""
    rows = []
    gated, ungated = per_round.get("gated", []), per_round.get("ungated", [])
    for number, (g, u) in enumerate(zip(gated, ungated, strict=False), 1):
        later = [
            p
            for p, (a, b) in enumerate(zip(g["frames_to_decision"], u["frames_to_decision"], strict=True))
            if a is None or (b is not None and a > b)
        ]
        rows.append(
            {
                "round": number,
                "empty_cpu_over_decode": g["empty_cpu_over_decode"],
                "empty_goal_met": g["empty_cpu_over_decode"] <= 2.0,
                "missed": g["missed"],
                "people_decided_later_than_gate_off": later,
                "decision_goal_met": g["missed"] == 0 and not later,
            }
        )
    return rows


def markdown(report: dict[str, Any]) -> str:
    per_round = report["per_round"]
    s = report["scenario"]
    lines = [
        f"Door day: {s['frames']} frames ({s['frames'] / s['fps']:.0f} s at {s['fps']} FPS), {s['empty_frames']} of "
        f"them empty, {len(s['people'])} people; seed {s['seed']}, sha256 {s['sha256'][:12]}…; "
        f"{report['rounds']} interleaved rounds, medians of the rounds.",
        "",
        "| loop | empty CPU ms/frame | busy CPU ms/frame | decode ms/frame | empty / decode | CPU empty @30 FPS | "
        "CPU busy @30 FPS | CPU s per empty hour | CPU s per busy hour | CPU s per hour of this day | "
        "detector runs | frames to decision per person | missed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def median(rows: list[dict[str, Any]], *keys: str) -> float:
        values = []
        for row in rows:
            value: Any = row
            for key in keys:
                value = value[key]
            values.append(value)
        return float(statistics.median(values))

    for name, rows in per_round.items():
        ftd = ", ".join("missed" if v is None else str(v) for v in rows[0]["frames_to_decision"])
        lines.append(
            f"| {name} | {median(rows, 'cpu_ms_per_frame', 'empty'):.2f}"
            f" | {median(rows, 'cpu_ms_per_frame', 'busy'):.2f}"
            f" | {median(rows, 'decode_ms_per_frame'):.2f} | {median(rows, 'empty_cpu_over_decode'):.2f}x"
            f" | {median(rows, 'utilisation_percent_at_30fps', 'empty'):.0f}%"
            f" | {median(rows, 'utilisation_percent_at_30fps', 'busy'):.0f}%"
            f" | {median(rows, 'cpu_seconds_per_hour', 'empty'):.0f}"
            f" | {median(rows, 'cpu_seconds_per_hour', 'busy'):.0f}"
            f" | {median(rows, 'cpu_seconds_per_hour', 'this_day'):.0f} | {rows[0]['detector_runs']} | {ftd}"
            f" | {rows[0]['missed']} |"
        )
    for name, why in report["not_run"].items():
        lines.append(f"| {name} | not run: {why} |")
    lines += ["", "Per round (empty CPU ms/frame, and its ratio to the decode):", ""]
    lines += ["| round | " + " | ".join(per_round) + " |", "|---|" + "---|" * len(per_round)]
    for number in range(report["rounds"]):
        cells = [
            f"{rows[number]['cpu_ms_per_frame']['empty']:.2f} ({rows[number]['empty_cpu_over_decode']:.2f}x)"
            for rows in per_round.values()
        ]
        lines.append(f"| {number + 1} | " + " | ".join(cells) + " |")
    lines += ["", "Goals per round (gated): empty CPU <= 2x decode; nobody missed or decided later than gate off:", ""]
    for goal in report["goals"]:
        lines.append(
            f"- round {goal['round']}: empty {goal['empty_cpu_over_decode']:.2f}x decode "
            f"({'met' if goal['empty_goal_met'] else 'MISSED'}); missed {goal['missed']}, decided later than gate "
            f"off: {goal['people_decided_later_than_gate_off'] or 'nobody'} "
            f"({'met' if goal['decision_goal_met'] else 'MISSED'})"
        )
    return "\n".join(lines)


def run_command(args: argparse.Namespace) -> int:
    """`maskgate bench --scenario door-day`."""
    from edge.bench import door_day
    from edge.bench.frames import FrameSetError
    from edge.bench.loop import apply_overrides
    from edge.bench.shared_dir import shared_path
    from edge.errors import UsageError, os_errors_as

    config = args.loaded_config
    apply_overrides(config, args)
    if args.rounds < 1:
        raise UsageError(f"bench: --rounds must be >= 1, got {args.rounds}")
    faces_dir = Path(args.faces_dir).expanduser() if args.faces_dir else shared_path("data/facemask")
    if faces_dir is None or not faces_dir.is_dir():
        raise FrameSetError(
            f"no face photos to build the door day from ({faces_dir or '../shared/data/facemask not found'}): "
            "pass --faces-dir with with_mask/ and without_mask/ folders"
        )
    day = door_day.build(faces_dir, seed=args.seed)
    if args.save_frames:
        with os_errors_as(UsageError, f"--save-frames {args.save_frames}"):
            day.frame_set.save(Path(args.save_frames).expanduser())
    report = run(config, day, rounds=args.rounds, seeds=not args.no_seeds)
    text = markdown(report)
    if args.json == "-":
        print(json.dumps(report, indent=2))
        return 0
    if args.json:
        with os_errors_as(UsageError, f"--json {args.json}"):
            Path(args.json).expanduser().write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(text)
    return 0
