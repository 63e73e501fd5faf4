"""Smoke test of `maskgate bench` and the grid's report rendering: structure and sanity, no timings asserted."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import missing, need_shared

from edge.bench import frames as bench_frames
from edge.bench.loop import DECODE_PLACES, STAGE_NAMES
from edge.cli import main

REPO = Path(__file__).resolve().parent.parent
COUNTS = (
    "frames",
    "frame_errors",
    "warmup_frames",
    "classify_calls",
    "schema",
    "threads",
    "classifier_input",
    "recheck_every",
    "pasted_faces",
)


def numbers(tree: object, path: str = "") -> list[tuple[str, float]]:
    """Every (path, number) in a JSON tree, except counts and config values."""
    if isinstance(tree, dict):
        return [pair for key, value in tree.items() if key not in COUNTS for pair in numbers(value, f"{path}.{key}")]
    if isinstance(tree, bool):
        return []
    if isinstance(tree, int | float):
        return [(path, float(tree))]
    return []


@pytest.fixture(scope="module")
def facemask() -> Path:
    return need_shared("data/facemask")


@pytest.fixture(scope="module")
def bench_report(tmp_path_factory: pytest.TempPathFactory, facemask: Path) -> dict:
    shared_models = need_shared("models")
    out = tmp_path_factory.mktemp("bench") / "report.json"
    opencv_threads = cv2.getNumThreads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MASKGATE_MODEL_DIR", str(shared_models))
        patch.setenv("XDG_DATA_HOME", str(out.parent / "xdg"))
        # 5 warm-up frames, then one full pass over the 60-frame set: every scene (0, 1 and several faces)
        try:
            status = main(["bench", "--warmup", "5", "--frames", "60", "--threads", "1", "--json", str(out)])
        finally:
            cv2.setNumThreads(opencv_threads)
    assert status == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_frame_set_is_reproducible_and_has_empty_single_and_group_frames(facemask: Path) -> None:
    first, second = bench_frames.build(facemask, seed=0), bench_frames.build(facemask, seed=0)
    assert first.digest == second.digest
    assert bench_frames.build(facemask, seed=1).digest != first.digest
    assert {0, 1}.issubset(first.pasted_faces) and max(first.pasted_faces) >= 3
    frame = next(iter(first.frames(1)))
    assert frame.image.shape == (bench_frames.HEIGHT, bench_frames.WIDTH, 3)


def test_every_delivery_hands_over_the_same_frames_and_a_capture_thread_stops_with_its_reader(facemask: Path) -> None:
    frame_set = bench_frames.build(facemask, seed=0)
    assert set(DECODE_PLACES) == set(bench_frames.DELIVERIES), "maskgate bench --delivery offers every delivery"
    delivered = {d: list(frame_set.frames(8, start=55, delivery=d)) for d in bench_frames.DELIVERIES}
    ids = [frame.id for frame in delivered["loop"]]
    assert ids == [str(n) for n in range(55, 63)]
    for delivery, frames in delivered.items():
        assert [frame.id for frame in frames] == ids, delivery
        for frame, reference in zip(frames, delivered["loop"], strict=True):
            assert np.array_equal(frame.image, reference.image), delivery
    assert not delivered["raw"][0].image.flags.writeable, "raw frames are shared between passes"
    feed = frame_set.frames(1000, delivery="thread")
    frames = iter(feed)
    next(frames)
    frames.close()
    assert not any(thread.name == "bench capture" for thread in threading.enumerate())
    assert len(feed.decode_seconds) < 10, "the capture thread decodes at most a queue's worth ahead"
    with pytest.raises(bench_frames.FrameSetError, match="frame delivery 'camera' is not one of thread, loop, raw"):
        frame_set.frames(1, delivery="camera")


def test_a_capture_thread_that_fails_ends_the_feed_with_its_error(facemask: Path) -> None:
    frame_set = bench_frames.build(facemask, seed=0)
    broken = bench_frames.FrameSet([*frame_set.encoded[:3], None], [])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        list(broken.frames(4, delivery="thread"))


def test_report_has_every_stage_and_positive_figures_for_what_ran(bench_report: dict) -> None:
    assert set(bench_report["stages_ms"]) == set(STAGE_NAMES.values())
    for stage in bench_report["stages_ms"].values():
        assert set(stage) == {"mean", "p50", "p95", "p99"}
        assert stage["p50"] <= stage["p95"] <= stage["p99"]
    assert bench_report["frames"] == 60 and bench_report["frame_errors"] == 0
    assert bench_report["pasted_faces"] == 90, "a full pass over the set: 1.5 pasted faces per frame"
    assert bench_report["faces_per_frame"] > 0
    assert 0 < bench_report["invoke"]["share"] <= 1
    assert bench_report["frame_set"]["delivery"] == "thread"
    invoke = bench_report["invoke"]
    assert invoke["classify_calls"] + invoke.get("classify_fast_calls", 0) > 0
    unused = {"invoke.classify_ms_per_frame", "invoke.classify_ms_per_call"} if invoke["classify_calls"] == 0 else set()
    for key in ("fps", "cpu_percent", "peak_rss_mb", "frame_ms", "stages_ms", "decode_ms", "invoke"):
        figures = numbers(bench_report[key], key)
        assert figures, key
        bad = [(path, value) for path, value in figures if not (math.isfinite(value) and value > 0)]
        assert not [(path, value) for path, value in bad if path not in unused], f"figures that are not positive: {bad}"
        assert all(value == 0 for path, value in bad), "the main model's figures are 0 when it was never called"
    machine = bench_report["machine"]
    assert machine["python"] and machine["cpu_count"] >= 1 and "numpy" in machine["libraries"]
    assert bench_report["config"]["backend"] == "ai-edge-litert" and bench_report["config"]["threads"] == 1
    assert bench_report["config"]["opencv_threads"] == 1, "--threads covers the detector's OpenCV pool too"
    assert bench_report["frame_set"]["frames"] == 60 and len(bench_report["frame_set"]["sha256"]) == 64


def test_grid_report_renders_markdown_and_chart(bench_report: dict, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_report_module", REPO / "benchmarks" / "report.py")
    assert spec and spec.loader
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    baseline = {**bench_report, "fps": bench_report["fps"] / 10}
    doc = {
        "created": bench_report["created"],
        "command": "python benchmarks/grid.py",
        "machine": bench_report["machine"],
        "frame_set": bench_report["frame_set"],
        "settings": {"frames": 60, "warmup": 5},
        "cells": [
            {"group": "default", "label": "default", "threads": 1, "report": bench_report},
            {"group": "backend", "label": "tflite-runtime", "threads": 1, "skipped": "not installed"},
        ],
        "baseline": baseline,
        "comparison": {"ratio": 10.0},
        "memory": {"frames": 60, "peak_rss_mb": 90.0},
    }
    text = report.markdown(doc)
    assert "**10.0x**" in text and "| tflite-runtime |" in text and "not installed" in text
    assert "**90 MB**" in text
    png = tmp_path / "grid.png"
    report.chart(doc, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("warmup", "frames", "needed"), [("0", "10", 11), ("50", "20", 21)])
def test_frame_counts_that_would_measure_no_face_are_refused(
    facemask: Path, capfd: pytest.CaptureFixture, warmup: str, frames: str, needed: int
) -> None:
    frame_set = bench_frames.build(facemask, seed=0)
    assert frame_set.faces_in(int(frames), int(warmup)) == 0
    assert frame_set.faces_in(needed, int(warmup)) > 0 and frame_set.faces_in(needed - 1, int(warmup)) == 0
    assert main(["bench", "--warmup", warmup, "--frames", frames, "--faces-dir", str(facemask)]) == 2
    error = capfd.readouterr().err
    assert "would measure only frames without a face" in error and f"use --frames {needed} or more" in error


def test_a_run_in_which_every_frame_fails_is_a_clear_error(facemask: Path) -> None:
    from edge.bench.loop import BenchError, InvokeTimer, measure
    from edge.vision.stats import LoopStats

    def failing_loop(frames):
        stats = LoopStats()
        stats.frame_errors = sum(1 for _ in frames)
        return stats

    frame_set = bench_frames.build(facemask, seed=0)
    with pytest.raises(BenchError, match="none of the 20 measured frames was processed \\(20 failed, 0 skipped\\)"):
        measure(failing_loop, InvokeTimer(), frame_set, 20, 10, "loop")


def test_missing_frames_folder_is_a_clear_error(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no-such-frames"
    assert main(["bench", "--frames-dir", str(missing), "--frames", "1"]) == 2
    assert f"bench --frames-dir '{missing}': no such file or folder" in capfd.readouterr().err


def test_the_seeds_baseline_reports_like_maskgate_bench(tmp_path: Path, facemask: Path, bench_report: dict) -> None:
    if importlib.util.find_spec("tensorflow") is None:
        missing("the seeds' baseline needs TensorFlow (pip install '.[convert]')")
    need_shared("models/res10/res10_300x300_ssd_iter_140000.caffemodel")
    out = tmp_path / "baseline.json"
    command = [sys.executable, str(REPO / "benchmarks" / "baseline.py"), "--frames", "12", "--warmup", "10"]
    result = subprocess.run([*command, "--json", str(out)], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["frames"] == 12 and report["frame_set"]["sha256"] == bench_report["frame_set"]["sha256"]
    assert report["faces_per_frame"] > 0, "frames 10-21 hold one and then three faces"
    assert set(report["stages_ms"]) == set(STAGE_NAMES.values()) - {"track", "gate"}, "the seeds have no tracker"
    assert report["invoke"]["classify_calls"] > 0
    for key in ("fps", "cpu_percent", "peak_rss_mb", "frame_ms", "stages_ms", "decode_ms", "invoke"):
        bad = [(path, value) for path, value in numbers(report[key], key) if not (math.isfinite(value) and value > 0)]
        assert not bad, f"figures that are not positive numbers: {bad}"
