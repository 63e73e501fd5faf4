"""The "door day" scenario: a minute of a door that is empty most of the time, generated and reproducible.

Long empty stretches with fresh sensor noise in every frame, a slow light ramp and two auto-exposure
steps, a passing shadow, then people arriving alone and in small groups, some lingering (standing still,
as a person waiting for the door does). Faces are photos from a class-per-folder face dataset
(../shared/data/facemask) pasted like `edge.bench.frames` pastes them; each person's pasted rectangle per
frame is the ground truth that decisions are matched against. The same seed and photos give the same
frames byte for byte (`FrameSet.digest`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.bench.frames import HEIGHT, WIDTH, FrameSet, background, encode, face_files, paste, pick_faces

FPS = 30
FRAMES = 1800
"""One simulated minute at 30 FPS."""
NOISE_SIGMA = 4.0


@dataclass(frozen=True)
class Visit:
    """One person: in view from `arrive` for `stay` frames; walks in for `walk` frames, then stands still."""

    arrive: int
    stay: int
    x: float
    """Where the face stops, as a fraction of the frame width."""
    walk: int = 20
    side: float = 130.0


VISITS = (
    Visit(450, 120, 0.55),  # alone, lingers 4 s
    Visit(870, 60, 0.25, side=110),  # a group of three, a few frames apart
    Visit(876, 75, 0.52, side=110),
    Visit(884, 90, 0.78, side=110),
    Visit(1200, 40, 0.45, walk=30),  # alone, walks through
    Visit(1380, 45, 0.35),  # a pair; the second waits 8 s
    Visit(1383, 240, 0.68),
)
LIGHT_RAMP = (120, 300, 20.0)
"""Frames [start, end) over which the light rises by this many grey levels."""
EXPOSURE_STEPS = ((300, -15.0), (1700, 12.0))
SHADOW = (360, 405)
"""Frames of a shadow passing across the empty door."""


@dataclass
class DoorDay:
    frame_set: FrameSet
    people: list[dict[str, object]]
    """Per person: id, photo, label folder, first frame, last frame."""
    boxes: list[dict[int, tuple[float, float, float, float]]] = field(default_factory=list)
    """Per frame: person id -> pasted rectangle (x1, y1, x2, y2)."""

    def empty(self, frame: int) -> bool:
        return not self.boxes[frame]


def light_at(frame: int) -> float:
    start, end, rise = LIGHT_RAMP
    level = rise * min(max(frame - start, 0), end - start) / (end - start)
    return level + sum(step for at, step in EXPOSURE_STEPS if frame >= at)


def shadow_at(frame: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
    """A soft dark blob crossing the frame left to right (darkens up to 45%), or None outside SHADOW."""
    start, end = SHADOW
    if not start <= frame < end:
        return None
    cx = -100 + (WIDTH + 200) * (frame - start) / (end - start)
    blob = np.exp(-(((cols - cx) / 110.0) ** 2) - ((rows - HEIGHT * 0.6) / 180.0) ** 2)
    return (1.0 - 0.45 * blob).astype(np.float32)


def position(visit: Visit, step: int, rng_offset: tuple[float, float]) -> tuple[float, float, float]:
    """Centre and side of the face `step` frames after arrival: walking in from the side, then standing."""
    end_x, end_y = visit.x * WIDTH, 0.42 * HEIGHT + rng_offset[1]
    start_x = end_x + (120 if visit.x < 0.5 else -120) + rng_offset[0]
    t = min(step / visit.walk, 1.0)
    side = visit.side * (0.8 + 0.2 * t)
    sway = 0.0 if t < 1.0 else np.sin(step / 9.0)  # a standing person sways a pixel
    return start_x + (end_x - start_x) * t + sway, end_y, side


def build(faces_dir: Path, seed: int = 0, frames: int = FRAMES, visits: tuple[Visit, ...] = VISITS) -> DoorDay:
    files = face_files(faces_dir)
    rng = np.random.default_rng(seed)
    base = background(rng).astype(np.float32)
    photos = pick_faces(files, len(visits), rng)
    offsets = [(float(rng.uniform(-20, 20)), float(rng.uniform(-30, 30))) for _ in visits]
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    encoded, pasted, boxes = [], [], []
    for n in range(frames):
        image = base + light_at(n)
        if (shade := shadow_at(n, rows, cols)) is not None:
            image *= shade[..., None]
        image += rng.standard_normal(image.shape, dtype=np.float32) * NOISE_SIGMA
        canvas = np.clip(image, 0, 255).astype(np.uint8)
        here: dict[int, tuple[float, float, float, float]] = {}
        for person, (visit, (_, photo), offset) in enumerate(zip(visits, photos, offsets, strict=True)):
            if visit.arrive <= n < visit.arrive + visit.stay:
                cx, cy, side = position(visit, n - visit.arrive, offset)
                paste(canvas, photo, cx, cy, side)
                h, w = photo.shape[:2]
                scale = side / max(h, w)
                here[person] = (cx - w * scale / 2, cy - h * scale / 2, cx + w * scale / 2, cy + h * scale / 2)
        encoded.append(encode(canvas))
        pasted.append(len(here))
        boxes.append(here)
    people = [
        {
            "person": i,
            "photo": f"{p.parent.name}/{p.name}",
            "folder": p.parent.name,
            "arrive": v.arrive,
            "leave": v.arrive + v.stay - 1,
        }
        for i, (v, (p, _)) in enumerate(zip(visits, photos, strict=True))
    ]
    description = {
        "kind": "door-day",
        "size": [WIDTH, HEIGHT],
        "seed": seed,
        "frames": frames,
        "fps": FPS,
        "empty_frames": sum(1 for b in boxes if not b),
        "people": len(visits),
        "light_ramp": list(LIGHT_RAMP),
        "exposure_steps": [list(s) for s in EXPOSURE_STEPS],
        "shadow": list(SHADOW),
        "noise_sigma": NOISE_SIGMA,
        "faces_dir": str(faces_dir),
    }
    frame_set = FrameSet(encoded, pasted, description)
    frame_set.description["sha256"] = frame_set.digest
    return DoorDay(frame_set, people, boxes)


def inside(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def frames_to_decision(
    day: DoorDay, decided: list[tuple[int, tuple[float, float, float, float], str]]
) -> list[dict[str, object]]:
    """Per person, the frames from their first frame to the first decision whose box centre lies on their
    pasted photo in that frame (None: missed). `decided` holds (frame, box, label) of each decision."""
    results = []
    for person in day.people:
        pid, first = int(person["person"]), int(person["arrive"])  # type: ignore[call-overload]
        hit = None
        for frame, box, label in sorted(decided, key=lambda d: d[0]):
            truth = day.boxes[frame].get(pid) if frame < len(day.boxes) else None
            if truth is not None and inside(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), truth):
                hit = (frame - first, label)
                break
        results.append(
            {
                **person,
                "frames_to_decision": None if hit is None else hit[0],
                "label": None if hit is None else hit[1],
            }
        )
    return results
