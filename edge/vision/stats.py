"""Counters and per-stage timings of the frame loop, read by status lines, metrics and benchmarks."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

STAGES = ("source", "gate", "detect", "track", "crop", "classify", "decide", "outputs")
WINDOW = 2000
"""Recent samples kept per stage for percentiles."""
STALLED_AFTER_S = 2.0
"""No frame done for this long (or five of the recent frames' mean time, when that is longer): the loop is
stalled, waiting on a camera that gives nothing or stuck in a stage."""


class DecisionCounts:
    """Confirmed decisions by label, the one count that the summary, the status line, the metrics endpoint and
    MQTT's counts topic all read. The frame loop adds; other threads (systemd status, Prometheus scrapes, the
    MQTT sender) read copies, so a label seen for the first time cannot change the dict under a reader."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, label: str) -> None:
        with self._lock:
            self._counts[label] += 1

    def snapshot(self) -> dict[str, int]:
        """A copy, labels in the order they were first decided."""
        with self._lock:
            return dict(self._counts)


@dataclass
class LoopStats:
    started: float = field(default_factory=time.monotonic)
    frames: int = 0
    faces: int = 0
    frame_errors: int = 0
    skipped_frames: int = 0
    decisions: DecisionCounts = field(default_factory=DecisionCounts)
    output_failures: Counter = field(default_factory=Counter)
    """Failed output calls by output name: for the event log and snapshots, writes dropped (disk full...)."""
    last_frame_at: float | None = None
    stage_seconds: dict[str, deque] = field(default_factory=lambda: {s: deque(maxlen=WINDOW) for s in STAGES})
    stage_totals: Counter = field(default_factory=Counter)
    frame_seconds: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    source: object | None = field(default=None, repr=False)
    """The frame source; a live one counts camera reconnects and dropped frames (LatestFrameSource)."""
    gate: object | None = field(default=None, repr=False)
    """The pipeline's ChangeGate, None when the gate is off; it counts frames carried without detection."""
    thermal: object | None = field(default=None, repr=False)
    """A ThermalMonitor (edge.health.thermal) when the loop runs on a device: CPU temperature and throttling."""

    def thermal_state(self):  # type: ignore[no-untyped-def]
        """The latest edge.health.thermal.ThermalState, or None without a monitor."""
        return self.thermal.current() if self.thermal is not None else None  # type: ignore[attr-defined]

    @property
    def gate_skipped_frames(self) -> int:
        return getattr(self.gate, "skipped", 0)

    @property
    def gate_skipping(self) -> bool:
        return bool(getattr(self.gate, "skipping", False))

    @property
    def camera_reconnects(self) -> int:
        return getattr(self.source, "reconnects", 0)

    @property
    def camera_dropped_frames(self) -> int:
        """Frames the camera delivered while the loop was busy, replaced by newer ones."""
        return getattr(self.source, "dropped", 0)

    @property
    def skipped_files(self) -> int:
        """Image files a file source skipped: unreadable, not an image, or over the pixel budget."""
        return getattr(self.source, "skipped", 0)

    @contextmanager
    def stage(self, name: str):
        begin = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - begin
            self.stage_seconds[name].append(elapsed)
            self.stage_totals[name] += elapsed

    def frame_done(self, seconds: float, faces: int) -> None:
        self.frames += 1
        self.faces += faces
        self.frame_seconds.append(seconds)
        self.last_frame_at = time.monotonic()

    @property
    def fps(self) -> float:
        """Frames per second over the recent window of processed frames."""
        total = sum(self.frame_seconds)
        return len(self.frame_seconds) / total if total > 0 else 0.0

    def stalled_for(self, now: float | None = None) -> float | None:
        """Seconds since the last frame was done when that is long enough to call the loop stalled, else None
        (also before the first frame: starting is not stalling)."""
        if self.last_frame_at is None:
            return None
        idle = (time.monotonic() if now is None else now) - self.last_frame_at
        window = self.frame_seconds
        mean = sum(window) / len(window) if window else 0.0
        return idle if idle > max(STALLED_AFTER_S, 5 * mean) else None

    def live_fps(self, now: float | None = None) -> float:
        """`fps`, but 0 while stalled: the window keeps the rate of the frames before the stall, which a viewer
        must not read as a live camera."""
        return 0.0 if self.stalled_for(now) is not None else self.fps

    def percentiles(self, stage: str, points: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
        samples = self.stage_seconds[stage]
        if not samples:
            return {f"p{int(p)}": 0.0 for p in points}
        values = np.percentile(np.fromiter(samples, float), points)
        return {f"p{int(p)}": float(v) * 1000 for p, v in zip(points, values, strict=True)}

    def summary(self) -> dict[str, object]:
        per_frame = {s: 1000 * self.stage_totals[s] / self.frames for s in STAGES} if self.frames else {}
        return {
            "frames": self.frames,
            "faces": self.faces,
            "frame_errors": self.frame_errors,
            "skipped_frames": self.skipped_frames,
            "skipped_files": self.skipped_files,
            "camera_reconnects": self.camera_reconnects,
            "camera_dropped_frames": self.camera_dropped_frames,
            "gate_skipped_frames": self.gate_skipped_frames,
            "decisions": self.decisions.snapshot(),
            "output_failures": dict(self.output_failures),
            "fps": round(self.fps, 2),
            "mean_ms_per_frame": {k: round(v, 2) for k, v in per_frame.items()},
        }

    def status_line(self) -> str:
        labels = ", ".join(f"{k} {v}" for k, v in sorted(self.decisions.snapshot().items())) or "no decisions"
        line = f"{self.fps:.1f} FPS, {self.frames} frames, {self.faces} faces, {labels}"
        if self.gate is not None:
            state = "skipping" if self.gate_skipping else "detecting"
            line += f", gate {state} ({self.gate_skipped_frames} frames skipped)"
        thermal = self.thermal_state()
        if thermal is not None and (thermal.temperature_c is not None or thermal.throttled is not None):
            line += f", {thermal.describe()}"
        return line
