"""Smoke test of `maskgate bench` and the grid's report rendering: structure and sanity, no timings asserted."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
from conftest import need_shared

from edge import bench_frames
from edge.bench import STAGE_NAMES
from edge.cli import main

REPO = Path(__file__).resolve().parent.parent
COUNTS = ("frames", "frame_errors", "warmup_frames", "classify_calls", "schema", "threads", "classifier_input")


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
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MASKGATE_MODEL_DIR", str(shared_models))
        patch.setenv("XDG_DATA_HOME", str(out.parent / "xdg"))
        # 5 warm-up frames, then one full pass over the 60-frame set: every scene (0, 1 and several faces)
        status = main(["bench", "--warmup", "5", "--frames", "60", "--threads", "1", "--json", str(out)])
    assert status == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_frame_set_is_reproducible_and_has_empty_single_and_group_frames(facemask: Path) -> None:
    first, second = bench_frames.build(facemask, seed=0), bench_frames.build(facemask, seed=0)
    assert first.digest == second.digest
    assert bench_frames.build(facemask, seed=1).digest != first.digest
    assert {0, 1}.issubset(first.pasted_faces) and max(first.pasted_faces) >= 3
    frame = next(first.frames(1))
    assert frame.image.shape == (bench_frames.HEIGHT, bench_frames.WIDTH, 3)


def test_report_has_every_stage_and_only_positive_figures(bench_report: dict) -> None:
    assert set(bench_report["stages_ms"]) == set(STAGE_NAMES.values())
    for stage in bench_report["stages_ms"].values():
        assert set(stage) == {"mean", "p50", "p95", "p99"}
        assert stage["p50"] <= stage["p95"] <= stage["p99"]
    assert bench_report["frames"] == 60 and bench_report["frame_errors"] == 0
    assert bench_report["faces_per_frame"] > 0
    assert 0 < bench_report["invoke"]["share"] <= 1
    for key in ("fps", "cpu_percent", "peak_rss_mb", "frame_ms", "stages_ms", "invoke"):
        figures = numbers(bench_report[key], key)
        assert figures, key
        bad = [(path, value) for path, value in figures if not (math.isfinite(value) and value > 0)]
        assert not bad, f"figures that are not positive numbers: {bad}"
    machine = bench_report["machine"]
    assert machine["python"] and machine["cpu_count"] >= 1 and "numpy" in machine["libraries"]
    assert bench_report["config"]["backend"] == "ai-edge-litert" and bench_report["config"]["threads"] == 1
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


def test_missing_frames_folder_is_a_clear_error(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no-such-frames"
    assert main(["bench", "--frames-dir", str(missing), "--frames", "1"]) == 2
    assert f"--frames-dir {missing} is not a folder" in capfd.readouterr().err
