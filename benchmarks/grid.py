"""The benchmark grid: `maskgate bench` over backends, threads, classifier variants and detectors, the
seeds' baseline on the same frames, and the peak memory of `maskgate run`, written as JSON, Markdown and PNG.

Every cell runs in its own process (so peak RSS and CPU time belong to that cell alone) and one after
another (so cells do not compete for the cores). Run it on an idle machine:

    python benchmarks/grid.py --variants-dir /work/models-out --legacy-python ~/.cache/maskgate/legacy-venv/bin/python

Writes benchmarks/results/<machine>/grid.json, grid.md and grid.png (see --out).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import report  # noqa: E402
from edge.bench import frames as bench_frames  # noqa: E402
from edge.bench import loop as bench  # noqa: E402
from edge.bench.shared_dir import shared_path  # noqa: E402
from edge.config import DetectorConfig  # noqa: E402
from edge.modelfiles.find import DEFAULT_CLASSIFIER, packaged_model_dir  # noqa: E402

log = logging.getLogger("grid")

YUNET_SIZES = (160, 240, 320, 416, 480, 640)
DEFAULT_YUNET_SIZE = DetectorConfig().input_size


def find_variants(variants_dir: Path) -> list[tuple[str, Path]]:
    """(label, model) for every .tflite with a card in the folder or one level down; label is `subfolder/variant`."""
    found = []
    for path in sorted([*variants_dir.glob("*.tflite"), *variants_dir.glob("*/*.tflite")]):
        card = path.with_suffix(".json")
        if not card.is_file():
            log.warning("skipping %s: no model card beside it", path)
            continue
        variant = json.loads(card.read_text(encoding="utf-8")).get("variant", path.stem)
        group = path.parent.name if path.parent != variants_dir else variants_dir.name
        found.append((f"{group}/{variant}", path))
    return found


def backend_python(backend: str, legacy_python: str | None) -> str | None:
    """The interpreter that runs a backend, or None when it is not installed anywhere we know."""
    module = {"ai-edge-litert": "ai_edge_litert", "tflite-runtime": "tflite_runtime", "tensorflow": "tensorflow"}
    if importlib.util.find_spec(module[backend]) is not None:
        return sys.executable
    if backend == "tflite-runtime" and legacy_python:
        return legacy_python
    return None


def plan(args: argparse.Namespace) -> list[dict[str, object]]:
    """The cells: each axis varied from the default configuration, threads 1..N crossed with backends and variants."""
    threads = range(1, args.max_threads + 1)
    default = {"classifier": str(args.classifier), "detector": "yunet", "input_size": DEFAULT_YUNET_SIZE}
    cells: list[dict[str, object]] = []

    def add(group: str, label: str, backend: str = "ai-edge-litert", n: int = args.max_threads, **options) -> None:
        cells.append({"group": group, "label": label, "backend": backend, "threads": n, **default, **options})

    add("default", f"default ({Path(args.classifier).stem})")
    for backend in ("ai-edge-litert", "tflite-runtime", "tensorflow"):
        for n in threads:
            add("backend", backend, backend, n)
    for label, model in find_variants(args.variants_dir) if args.variants_dir else []:
        for n in threads:
            add("variant", label, n=n, classifier=str(model))
    for size in YUNET_SIZES:
        add("detector", f"yunet {size}", input_size=size)
    add("detector", "res10 300", detector="res10", input_size=300)
    add("detector", "ultraface 320x240", detector="ultraface", input_size=320)
    add("options", "batch (one invoke per frame)", batch=True)
    add("options", "classify every face in every frame (recheck_every 1)", recheck_every=1)
    add("options", "JPEG decoded in the loop (a video file)", delivery="loop")
    add("options", "raw frames, no JPEG decode (picamera2)", delivery="raw")
    unique, seen = [], set()
    for cell in cells:
        key = tuple(
            str(cell.get(k))
            for k in (
                "classifier",
                "detector",
                "input_size",
                "backend",
                "threads",
                "batch",
                "delivery",
                "recheck_every",
            )
        )
        if key not in seen:
            seen.add(key)
            unique.append(cell)
    return unique


def bench_command(cell: dict[str, object], args: argparse.Namespace, json_path: Path) -> list[str]:
    command = ["-m", "edge", "bench", "--frames", str(args.frames), "--seed", str(args.seed), "--json", str(json_path)]
    if args.warmup is not None:
        command += ["--warmup", str(args.warmup)]
    command += ["--detector", str(cell["detector"]), "--input-size", str(cell["input_size"])]
    command += ["--classifier", str(cell["classifier"]), "--threads", str(cell["threads"])]
    command += ["--backend", str(cell["backend"])]
    command += ["--batch"] * bool(cell.get("batch")) + ["--delivery", str(cell.get("delivery", "thread"))]
    if cell.get("recheck_every") is not None:
        command += ["--recheck-every", str(cell["recheck_every"])]
    return command


def child_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    models = shared_path("models")
    if models is not None and "MASKGATE_MODEL_DIR" not in env:
        env["MASKGATE_MODEL_DIR"] = str(models)
    return env


def busy_seconds() -> float:
    """CPU seconds used by every process since boot, steal time included (/proc/stat; 0 where it is missing)."""
    try:
        fields = Path("/proc/stat").read_text(encoding="utf-8").split("\n", 1)[0].split()[1:9]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_json(python: str, command: list[str], json_path: Path, timeout: float) -> dict[str, object]:
    """Run one benchmark process and read its report, adding `other_cpu_percent`: the CPU other processes
    used meanwhile (100 = one core), which tells a clean measurement from one disturbed by other work."""
    busy_before, own_before, started = busy_seconds(), children_cpu_seconds(), time.monotonic()
    result = subprocess.run(
        [python, *command], env=child_env(), cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.monotonic() - started
    other = (busy_seconds() - busy_before) - (children_cpu_seconds() - own_before)
    if result.returncode != 0 or not json_path.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"exit status {result.returncode}: {' | '.join(tail)}")
    report = json.loads(json_path.read_text(encoding="utf-8"))
    report["other_cpu_percent"] = round(max(0.0, 100 * other / wall), 1)
    return report


def command_for(cell: dict[str, object], args: argparse.Namespace, json_path: Path) -> tuple[str | None, list[str]]:
    """The interpreter (None: backend not installed) and arguments of one run of a cell."""
    if cell["group"] == "baseline":
        python = sys.executable if importlib.util.find_spec("tensorflow") is not None else None
        command = [str(REPO / "benchmarks" / "baseline.py"), "--frames", str(args.frames), "--seed", str(args.seed)]
        command += ["--json", str(json_path)] + (["--warmup", str(args.warmup)] if args.warmup is not None else [])
        return python, command
    return backend_python(str(cell["backend"]), args.legacy_python), bench_command(cell, args, json_path)


def run_rounds(cells: list[dict[str, object]], args: argparse.Namespace, workdir: Path) -> list[dict[str, object]]:
    """Every cell once per round, `--repeat` rounds, so a slow spell of the machine hits all cells alike; each
    cell keeps its median run by FPS, the FPS of all runs and the most CPU that other processes took in a run."""
    runs: list[list[dict[str, object]]] = [[] for _ in cells]
    failed: dict[int, str] = {}
    for round_number in range(1, args.repeat + 1):
        for index, cell in enumerate(cells):
            if index in failed:
                continue
            json_path = workdir / f"run_{index}_{round_number}.json"
            python, command = command_for(cell, args, json_path)
            if python is None:
                failed[index] = f"skipped: {cell['backend']} is not installed (see benchmarks/legacy_venv.sh)"
                continue
            label = f"{cell['group']} {cell['label']}, {cell.get('threads', '-')} thread(s)"
            try:
                runs[index].append(run_json(python, command, json_path, args.timeout))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                failed[index] = f"error: {exc}"
                log.warning("round %d, %s: %s", round_number, label, failed[index])
                continue
            report = runs[index][-1]
            log.info(
                "round %d/%d, %s: %.1f FPS (other processes %.0f%% CPU)",
                round_number,
                args.repeat,
                label,
                report["fps"],
                report["other_cpu_percent"],
            )
    results = []
    for index, cell in enumerate(cells):
        if index in failed:
            kind, _, message = failed[index].partition(": ")
            results.append({**cell, kind.rstrip(":"): message})
            continue
        ordered = sorted(runs[index], key=lambda r: r["fps"])
        results.append(
            {
                **cell,
                "report": ordered[len(ordered) // 2],
                "fps_runs": [r["fps"] for r in runs[index]],
                "other_cpu_percent_max": max(r["other_cpu_percent"] for r in runs[index]),
            }
        )
    return results


def measure_run_memory(args: argparse.Namespace, frames_dir: Path, workdir: Path) -> dict[str, object]:
    """Peak RSS of `maskgate run --display none` on the default models over the saved frame set (wait4's rusage)."""
    config = workdir / "memory.toml"
    config.write_text(f'[classifier]\nmodel = "{args.classifier}"\n', encoding="utf-8")
    command = ["-m", "edge", "run", "--config", str(config), "--source", str(frames_dir), "--display", "none"]
    with open(workdir / "memory.log", "w", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            [sys.executable, *command], env=child_env(), cwd=REPO, stdout=log_file, stderr=log_file
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        return {"error": f"maskgate run exited with {process.returncode}; see {workdir / 'memory.log'}"}
    return {
        "command": "maskgate run --source FRAMES_DIR --display none  (default config; classifier "
        + args.classifier.name
        + ")",
        "frames": len(list(frames_dir.glob("*.jpg"))),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def comparison(cells: list[dict[str, object]], baseline: dict[str, object]) -> dict[str, object]:
    default = next((c["report"] for c in cells if c["group"] == "default" and "report" in c), None)
    if default is None or "fps" not in baseline:
        return {}
    return {
        "maskgate": "default cell: " + next(c["label"] for c in cells if c["group"] == "default"),
        "maskgate_fps": default["fps"],
        "baseline_fps": baseline["fps"],
        "ratio": round(default["fps"] / baseline["fps"], 2),
        "maskgate_faces_per_frame": default["faces_per_frame"],
        "baseline_faces_per_frame": baseline["faces_per_frame"],
        "invoke_share": default["invoke"]["share"],
        "invoke_share_counting_decode": default["invoke"]["share_counting_decode"],
        "baseline_invoke_share": baseline["invoke"]["share"],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    packaged = packaged_model_dir() / DEFAULT_CLASSIFIER
    parser.add_argument("--classifier", type=Path, default=packaged, help="the default classifier (the packaged int8)")
    parser.add_argument(
        "--variants-dir", type=Path, help="folder of classifier variants (.tflite + .json), or of folders"
    )
    parser.add_argument("--legacy-python", help="python of a venv with tflite-runtime (benchmarks/legacy_venv.sh)")
    parser.add_argument("--max-threads", type=int, default=os.cpu_count() or 1, help="threads 1..N (default: cores)")
    parser.add_argument("--frames", type=int, default=180, help="measured frames per cell (default 180)")
    parser.add_argument("--warmup", type=int, help="warm-up frames per cell (default: one pass over the frame set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell; the median by FPS is kept")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a cell is abandoned")
    parser.add_argument("--only", help="comma-separated groups to run (default, backend, variant, detector, options)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/results/<machine>)")
    args = parser.parse_args(argv)
    if not args.classifier.is_file():
        parser.error(f"--classifier {args.classifier} does not exist")
    if args.variants_dir and not args.variants_dir.is_dir():
        parser.error(f"--variants-dir {args.variants_dir} is not a folder")
    args.classifier = args.classifier.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = args.out or REPO / "benchmarks" / "results" / f"{platform.machine()}-{os.cpu_count()}core"
    out.mkdir(parents=True, exist_ok=True)
    faces_dir = shared_path("data/facemask")
    if faces_dir is None:
        raise SystemExit("grid: needs ../shared/data/facemask to build the frame set")
    frame_set = bench_frames.build(faces_dir, seed=args.seed)
    cells = plan(args)
    if args.only:
        cells = [c for c in cells if c["group"] in args.only.split(",")]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="maskgate-grid-") as tmp:
        workdir = Path(tmp)
        frames_dir = workdir / "frames"
        frame_set.save(frames_dir)
        baseline_cell = {"group": "baseline", "label": "seeds' pipeline", "backend": "tensorflow"}
        results = run_rounds([*cells, *([] if args.no_baseline else [baseline_cell])], args, workdir)
        baseline = {"skipped": "--no-baseline"} if args.no_baseline else results.pop()
        if "report" in baseline:
            baseline = {
                **baseline["report"],
                "fps_runs": baseline["fps_runs"],
                "other_cpu_percent_max": baseline["other_cpu_percent_max"],
            }
        log.info("baseline: %s", f"{baseline['fps']:.2f} FPS" if "fps" in baseline else baseline)
        memory = measure_run_memory(args, frames_dir, workdir)
        log.info("maskgate run: %s", memory)
    results_doc = {
        "schema": bench.SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": "python benchmarks/grid.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "duration_s": round(time.time() - started),
        "machine": bench.machine_info(),
        "frame_set": frame_set.description,
        "settings": {"frames": args.frames, "warmup": args.warmup or len(frame_set), "repeat": args.repeat},
        "cells": results,
        "baseline": baseline,
        "comparison": comparison(results, baseline),
        "memory": memory,
    }
    (out / "grid.json").write_text(json.dumps(results_doc, indent=2) + "\n", encoding="utf-8")
    (out / "grid.md").write_text(report.markdown(results_doc), encoding="utf-8")
    report.chart(results_doc, out / "grid.png")
    log.info("wrote %s, grid.md, grid.png", out / "grid.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
