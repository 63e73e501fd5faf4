"""Markdown tables and a PNG chart from the grid's JSON (benchmarks/grid.py); also usable on its own:

python benchmarks/report.py benchmarks/results/x86_64-2core/grid.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.bench.loop import DECODE_PLACES  # noqa: E402

STAGES = ("capture", "detect", "track", "crop", "classify", "decide", "draw")
GROUP_TITLES = {
    "default": "default",
    "backend": "runtime backend x threads",
    "variant": "classifier variant x threads",
    "detector": "detector",
    "options": "options",
}


def _fmt(value: object, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else str(value)


def _fps(fps: float, runs: list[float] | None) -> str:
    """FPS of the median run, with the range over the runs when there were several."""
    return f"{fps:.1f} ({min(runs):.0f}-{max(runs):.0f})" if runs and len(runs) > 1 else f"{fps:.1f}"


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list[object]], align: str = "") -> list[str]:
    align = align or "l" * len(header)
    rule = ["---:" if a == "r" else "---" for a in align]
    return [_row(header), _row(rule), *(_row(r) for r in rows)]


def headline(doc: dict) -> list[str]:
    cmp, baseline = doc.get("comparison") or {}, doc.get("baseline") or {}
    default_cell = next((c for c in doc["cells"] if c["group"] == "default"), {})
    default = default_cell.get("report")
    if not cmp or default is None:
        reason = baseline.get("skipped") or baseline.get("error") or "the default cell did not run"
        return [f"No baseline comparison: {reason}.", ""]
    rows = [
        [
            "end-to-end FPS (median run)",
            _fps(default["fps"], default_cell.get("fps_runs")),
            _fps(baseline["fps"], baseline.get("fps_runs")),
            f"**{cmp['ratio']:.1f}x**",
        ],
        *(
            [
                f"frame latency {p} (ms)",
                _fmt(default["frame_ms"][p]),
                _fmt(baseline["frame_ms"][p]),
                f"{baseline['frame_ms'][p] / default['frame_ms'][p]:.1f}x",
            ]
            for p in ("p50", "p95", "p99")
        ),
        ["faces found per frame", _fmt(default["faces_per_frame"], 2), _fmt(baseline["faces_per_frame"], 2), ""],
        [
            "share of frame time in model calls",
            f"{100 * default['invoke']['share']:.0f}%",
            f"{100 * baseline['invoke']['share']:.0f}%",
            "",
        ],
        [
            "the same, counting the capture thread's JPEG decode as frame time",
            f"{100 * default['invoke']['share_counting_decode']:.0f}%",
            f"{100 * baseline['invoke']['share_counting_decode']:.0f}%",
            "",
        ],
        [
            f"JPEG decode per frame, mean ms ({DECODE_PLACES[default['frame_set']['delivery']]})",
            _fmt(default["decode_ms"]["mean"], 2),
            _fmt(baseline["decode_ms"]["mean"], 2),
            "",
        ],
        ["CPU utilisation (100% = one core)", f"{default['cpu_percent']:.0f}%", f"{baseline['cpu_percent']:.0f}%", ""],
        [
            "CPU taken by other processes (worst run)",
            f"{default_cell.get('other_cpu_percent_max', 0):.0f}%",
            f"{baseline.get('other_cpu_percent_max', 0):.0f}%",
            "",
        ],
        [
            "peak RSS of the benchmark process (MB)",
            _fmt(default["peak_rss_mb"], 0),
            _fmt(baseline["peak_rss_mb"], 0),
            "",
        ],
    ]
    c, b = default["config"], baseline["config"]
    header = [
        "",
        f"MaskGate: {c['detector']} {c['detector_input']} + {c['classifier']}, {c['backend']} {c['threads']} threads",
        f"seeds: {b['detector']} + {b['classifier']}",
        "MaskGate / seeds",
    ]
    return [*_table(header, rows, "lrrr"), ""]


def stage_table(doc: dict) -> list[str]:
    default = next((c.get("report") for c in doc["cells"] if c["group"] == "default"), None)
    baseline = doc.get("baseline") or {}
    if default is None:
        return []
    columns = [("MaskGate", default)] + ([("seeds", baseline)] if "stages_ms" in baseline else [])
    header = ["stage (ms)"] + [f"{name} {p}" for name, _ in columns for p in ("p50", "p95", "p99")]
    rows = []
    for stage in [*STAGES, "frame"]:
        row: list[object] = [stage]
        for _, rep in columns:
            values = rep["frame_ms"] if stage == "frame" else rep["stages_ms"].get(stage)
            row += [_fmt(values[p], 2) if values else "-" for p in ("p50", "p95", "p99")]
        rows.append(row)
    return [*_table(header, rows, "l" + "r" * (len(header) - 1)), ""]


def grid_table(doc: dict) -> list[str]:
    baseline_fps = (doc.get("baseline") or {}).get("fps")
    header = [
        "group",
        "configuration",
        "threads",
        "FPS",
        "x seeds",
        "frame p50",
        "p95",
        "p99",
        "detect p50",
        "classify ms/face",
        "model share",
        "CPU %",
        "RSS MB",
        "faces/frame",
        "other CPU %",
    ]
    rows = []
    for cell in doc["cells"]:
        rep = cell.get("report")
        if rep is None:
            rows.append(
                [
                    cell["group"],
                    cell["label"],
                    cell["threads"],
                    "-",
                    "-",
                    *["-"] * 9,
                    cell.get("skipped") or cell.get("error", ""),
                ]
            )
            continue
        c = rep["config"]
        what = (
            cell["label"]
            if cell["group"] != "default"
            else f"{c['detector']} {c['detector_input']} + {c['classifier']}"
        )
        if cell["group"] in ("backend", "default"):
            what += f" ({c['backend']})" if cell["group"] == "default" else f" ({c['classifier_variant']})"
        rows.append(
            [
                GROUP_TITLES.get(cell["group"], cell["group"]),
                what,
                c["threads"],
                _fps(rep["fps"], cell.get("fps_runs")),
                f"{rep['fps'] / baseline_fps:.1f}x" if baseline_fps else "-",
                _fmt(rep["frame_ms"]["p50"]),
                _fmt(rep["frame_ms"]["p95"]),
                _fmt(rep["frame_ms"]["p99"]),
                _fmt(rep["stages_ms"]["detect"]["p50"]),
                _fmt(rep["invoke"]["classify_ms_per_call"]),
                f"{100 * rep['invoke']['share']:.0f}%",
                f"{rep['cpu_percent']:.0f}",
                _fmt(rep["peak_rss_mb"], 0),
                _fmt(rep["faces_per_frame"], 2),
                _fmt(cell.get("other_cpu_percent_max", "-"), 0),
            ]
        )
    return [*_table(header, rows, "lllrrrrrrrrrrrr"), ""]


def markdown(doc: dict) -> str:
    machine = doc["machine"]
    fs = doc["frame_set"]
    libraries = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items())
    lines = [
        f"Measured {doc['created']} on {machine.get('board') or machine['cpu']} ({machine['cpu_count']} cores, "
        f"{machine['os']}, Python {machine['python']}; {libraries}).",
        f"Frame set: {fs['frames']} generated 640x480 frames (seed {fs['seed']}, scenes with {fs['scenes']} faces, "
        f"sha256 {fs['sha256'][:12]}); {doc['settings']['warmup']} warm-up and {doc['settings']['frames']} measured "
        f"frames per run, {doc['settings'].get('repeat', 1)} run(s) per cell (the median by FPS is shown, the range "
        "in brackets). Latencies in ms.",
        "",
        f"Command: `{doc['command']}`",
        "",
        *headline(doc),
        *stage_table(doc),
        *grid_table(doc),
    ]
    memory = doc.get("memory") or {}
    if "peak_rss_mb" in memory:
        lines.append(
            f"Peak RSS of `maskgate run --display none` on the default models over the {memory['frames']} frames: "
            f"**{memory['peak_rss_mb']:.0f} MB**."
        )
    elif memory:
        lines.append(f"Peak RSS of `maskgate run`: not measured ({memory.get('error')}).")
    return "\n".join(lines) + "\n"


def chart(doc: dict, path: Path) -> None:
    """FPS of every cell against the seeds' baseline, and the mean time per stage of the default and the seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in doc["cells"] if "report" in c]
    labels = [f"{c['label']} | {c['threads']}t" for c in cells]
    fps = [c["report"]["fps"] for c in cells]
    colours = [f"C{list(GROUP_TITLES).index(c['group']) if c['group'] in GROUP_TITLES else 5}" for c in cells]
    baseline = doc.get("baseline") or {}
    if "fps" in baseline:
        labels.append("seeds' pipeline (res10 + Keras predict)")
        fps.append(baseline["fps"])
        colours.append("grey")
    figure, (bars, stages) = plt.subplots(
        1, 2, figsize=(15, max(4.0, 0.32 * len(labels) + 1.5)), gridspec_kw={"width_ratios": [3, 2]}
    )
    positions = range(len(labels))
    bars.barh(positions, fps, color=colours)
    bars.set_yticks(list(positions), labels, fontsize=7)
    bars.invert_yaxis()
    bars.set_xlabel("end-to-end frames per second (higher is better)")
    for y, value in zip(positions, fps, strict=True):
        bars.text(value, y, f" {value:.1f}", va="center", fontsize=7)
    bars.set_title(f"{doc['machine'].get('board') or doc['machine']['cpu']}", fontsize=9)

    default = next((c["report"] for c in cells if c["group"] == "default"), None)
    runs = [("MaskGate default", default)] + ([("seeds", baseline)] if "stages_ms" in baseline else [])
    runs = [(name, rep) for name, rep in runs if rep]
    left = [0.0] * len(runs)
    for index, stage in enumerate(STAGES):
        widths = [rep["stages_ms"].get(stage, {}).get("mean", 0.0) for _, rep in runs]
        stages.barh(range(len(runs)), widths, left=left, color=f"C{index}", label=stage)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    stages.set_yticks(range(len(runs)), [name for name, _ in runs])
    stages.set_xlabel("mean ms per frame by stage")
    stages.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python benchmarks/report.py GRID_JSON\n")
        return 2
    source = Path(argv[0])
    doc = json.loads(source.read_text(encoding="utf-8"))
    source.with_suffix(".md").write_text(markdown(doc), encoding="utf-8")
    chart(doc, source.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
