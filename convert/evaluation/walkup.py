"""Clips of people walking up to the door, made from annotated stills, for `maskgate-convert evaluate-approach`.

Walk-up clip (one per annotated scene): a 640x480 camera frames the scene (fitted whole, the rest of the frame
the scene's mean colour) and the scene grows as it would for a walker coming closer at a steady pace: a face's
width is proportional to 1/distance, so with the distance falling linearly from 1/START_SCALE to 1 the scale
is 1 / (1/START_SCALE - (1/START_SCALE - 1) t). Unlike a linear zoom it grows slowly far away and fast near
the door, as a face in a real approach does; everybody in the scene comes closer at once (a dolly through the
scene), which is what a still photo allows. Then empty frames (the fill colour alone), so the tracks end.

Queue clip: people step one after another into the same spot in front of one fixed synthetic door
(edge.bench.frames.background), each growing on the same 1/distance schedule, then gone through the door;
the next after a gap. Half of them (seeded) walk up from afar, the others step in from the side close already,
where the face of the person before them was. The people are context crops of annotated faces of the dev scenes
(judging data, never trained on) that hold no other annotated face, so every person has a hand-made label,
mask_incorrect included.

Every frame goes through a JPEG encode and decode (quality 85, as a camera's MJPG stream) and carries the
annotated boxes transformed to it; timestamps are frame numbers at FPS. No randomness but a seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge.bench.frames import HEIGHT, WIDTH, background
from edge.vision.labels import MASK, MASK_INCORRECT, NO_MASK
from edge.vision.types import Box

FPS = 15
APPROACH_FRAMES = 24
START_SCALE = 0.7
EMPTY_FRAMES = 8
JPEG_QUALITY = 85

QUEUE_PATTERN = (MASK, MASK, MASK, NO_MASK, MASK, MASK_INCORRECT, NO_MASK, NO_MASK, MASK, MASK)
"""Labels of the queue's people in order, repeated: masked after masked, bare after masked, bare after bare,
masked after bare, a wrong mask after masked and bare after a wrong mask."""
QUEUE_GAPS = (3, 5, 8, 12, 20, 30)
"""Empty frames between two people (0.2-2 s at 15 FPS), drawn with the seeded generator."""
QUEUE_APPROACH = (18, 26)
"""Frames a queued person is in view (1.2-1.7 s), drawn per person."""
QUEUE_FACE_WIDTH = (52.0, 130.0)
"""A queued person's face width on entering and at the door (about 4 m and 1.6 m away)."""
QUEUE_STEP_IN_WIDTH = 110.0
"""The face width of a person who steps into the spot from the side, close already (drawn for half the people):
their face overlaps the last box of the person before, so only the tracker's appearance check parts them."""
QUEUE_MIN_FACE = 80.0
"""Faces of the dev scenes at least this wide serve as queued people (not blown up much at the door)."""
CONTEXT = (0.6, 0.5, 1.0)
"""The person crop around a face box: this many face widths at each side, face heights above and below."""


def walk_scales(frames: int, start: float) -> list[float]:
    """The scale of each of `frames` frames for a walker at a steady pace, from `start` to 1 (1/distance)."""
    if frames == 1:
        return [1.0]
    far = 1 / start
    return [1 / (far - (far - 1) * i / (frames - 1)) for i in range(frames)]


def camera_frame(image: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """The frame as it arrives from a camera's MJPG stream: JPEG-encoded and decoded again."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not JPEG-encode a clip frame")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


@dataclass(frozen=True)
class ClipFrame:
    index: int
    image: np.ndarray
    boxes: tuple[Box | None, ...]
    """Each annotated face's box in this frame (in the order of the scene's faces), None where not in view."""

    @property
    def timestamp(self) -> float:
        return self.index / FPS


def scale_box(box: Box, sx: float, sy: float, left: float, top: float) -> Box:
    x1, y1, x2, y2 = box
    return (x1 * sx + left, y1 * sy + top, x2 * sx + left, y2 * sy + top)


def place(
    canvas: np.ndarray, picture: np.ndarray, scale: float, cx: float, cy: float
) -> tuple[float, float, float, float]:
    """Paste `picture` scaled by `scale` centred at (cx, cy), clipped to the canvas; returns the exact x and y
    scales and the left and top of the pasted picture (to move boxes with it)."""
    height, width = picture.shape[:2]
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(picture, (w, h), interpolation=interpolation)
    left, top = round(cx - w / 2), round(cy - h / 2)
    x1, y1, x2, y2 = max(left, 0), max(top, 0), min(left + w, canvas.shape[1]), min(top + h, canvas.shape[0])
    if x2 > x1 and y2 > y1:
        canvas[y1:y2, x1:x2] = resized[y1 - top : y2 - top, x1 - left : x2 - left]
    return w / width, h / height, float(left), float(top)


def in_view(box: Box) -> Box | None:
    """The part of a box inside the frame; None when less than half of it is (not a face the door can see)."""
    x1, y1, x2, y2 = max(box[0], 0), max(box[1], 0), min(box[2], WIDTH), min(box[3], HEIGHT)
    if x2 <= x1 or y2 <= y1 or (x2 - x1) * (y2 - y1) < 0.5 * (box[2] - box[0]) * (box[3] - box[1]):
        return None
    return (x1, y1, x2, y2)


def walkup_clip(
    scene: np.ndarray,
    boxes: Sequence[Box],
    approach: int = APPROACH_FRAMES,
    start: float = START_SCALE,
    empty: int = EMPTY_FRAMES,
) -> Iterator[ClipFrame]:
    """The walk-up clip of one annotated scene: `approach` frames coming closer, then `empty` empty frames."""
    height, width = scene.shape[:2]
    fit = min(WIDTH / width, HEIGHT / height)
    fill = np.array(cv2.mean(scene)[:3], dtype=np.float64).round().astype(np.uint8)
    blank = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    blank[:] = fill
    for index, scale in enumerate(walk_scales(approach, start)):
        canvas = blank.copy()
        sx, sy, left, top = place(canvas, scene, fit * scale, WIDTH / 2, HEIGHT / 2)
        moved = tuple(in_view(scale_box(box, sx, sy, left, top)) for box in boxes)
        yield ClipFrame(index, camera_frame(canvas), moved)
    empty_frame = camera_frame(blank)
    for index in range(approach, approach + empty):
        yield ClipFrame(index, empty_frame, tuple(None for _ in boxes))


# --- the queue ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    label: str
    crop: np.ndarray
    face: Box
    """The face's box inside the crop."""
    source: str
    """scene file and face number it was cut from."""


def crop_bounds(shape: tuple[int, ...], box: Box) -> tuple[int, int, int, int]:
    """The face with its surroundings (hair, shoulders), as CONTEXT says, inside a picture of this shape."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    side, above, below = CONTEXT
    cx1, cy1 = max(0, math.floor(x1 - side * w)), max(0, math.floor(y1 - above * h))
    return cx1, cy1, min(shape[1], math.ceil(x2 + side * w)), min(shape[0], math.ceil(y2 + below * h))


def alone(shape: tuple[int, ...], box: Box, others: Sequence[Box]) -> bool:
    """Whether the face's crop holds no part of another annotated face (a second person would be queued too)."""
    cx1, cy1, cx2, cy2 = crop_bounds(shape, box)
    return not any(o[0] < cx2 and o[2] > cx1 and o[1] < cy2 and o[3] > cy1 for o in others)


def person_crop(image: np.ndarray, box: Box, label: str, source: str) -> Person:
    """The face with its surroundings cut from a scene (crop_bounds)."""
    cx1, cy1, cx2, cy2 = crop_bounds(image.shape, box)
    x1, y1, x2, y2 = box
    return Person(label, image[cy1:cy2, cx1:cx2].copy(), (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1), source)


PHOTO_FACE_SHARE = 0.8
"""A tight face photo's face box: its middle 80% (the crops are cut around the face with a small margin)."""


def photo_person(photo: np.ndarray, label: str, source: str) -> Person:
    """A tight face photo as a queue person: the face is the photo's middle, with no surroundings of its own,
    so at a fixed door everyone stands before the same background."""
    height, width = photo.shape[:2]
    margin_x, margin_y = width * (1 - PHOTO_FACE_SHARE) / 2, height * (1 - PHOTO_FACE_SHARE) / 2
    return Person(label, photo, (margin_x, margin_y, width - margin_x, height - margin_y), source)


def on_door_grey(photo: np.ndarray, face_width: float = QUEUE_STEP_IN_WIDTH) -> np.ndarray:
    """The photo scaled so its face is `face_width` wide, in the middle of a grey 640x480 frame: how the photo
    queue shows it to the detector."""
    scale = face_width / (photo.shape[1] * PHOTO_FACE_SHARE)
    scaled = cv2.resize(
        photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    frame = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    height, width = min(scaled.shape[0], HEIGHT), min(scaled.shape[1], WIDTH)
    top, left = (HEIGHT - height) // 2, (WIDTH - width) // 2
    frame[top : top + height, left : left + width] = scaled[:height, :width]
    return frame


@dataclass(frozen=True)
class QueueVisit:
    person: Person
    first: int
    """Frame number the person enters."""
    frames: int
    entry_width: float = QUEUE_FACE_WIDTH[0]
    """Face width on entering: QUEUE_FACE_WIDTH[0] walks up from afar, QUEUE_STEP_IN_WIDTH steps in close."""

    @property
    def steps_in(self) -> bool:
        return self.entry_width == QUEUE_STEP_IN_WIDTH

    @property
    def last(self) -> int:
        return self.first + self.frames - 1


PHOTO_QUEUE_PATTERN = (MASK, MASK, MASK, NO_MASK, MASK, NO_MASK, NO_MASK, MASK, MASK, MASK)
"""The photo queue's label order (its collection has no worn-wrong class): masked after masked most of all."""
PHOTO_QUEUE_GAPS = (2, 3, 5, 8, 12, 15)
"""Frames between one face photo leaving and the next stepping in (0.13-1 s at 15 FPS)."""


def plan_queue(
    pool: dict[str, list[Person]],
    people: int,
    rng: np.random.Generator,
    lead_in: int = 5,
    pattern: Sequence[str] = QUEUE_PATTERN,
    gaps: Sequence[int] = QUEUE_GAPS,
    step_in_share: float = 0.5,
) -> list[QueueVisit]:
    """`people` visits in `pattern`'s label order, each a different person of that label while the pool
    lasts, with seeded approach lengths and gaps; `step_in_share` of them step in close, the others walk up."""
    order = {label: [int(i) for i in rng.permutation(len(pool[label]))] for label in pool}
    used = dict.fromkeys(pool, 0)
    visits, frame = [], lead_in
    for number in range(people):
        label = pattern[number % len(pattern)]
        if not pool.get(label):
            raise ValueError(f"the queue needs {label} faces and there are none")
        person = pool[label][order[label][used[label] % len(pool[label])]]
        used[label] += 1
        frames = int(rng.integers(QUEUE_APPROACH[0], QUEUE_APPROACH[1] + 1))
        entry = QUEUE_STEP_IN_WIDTH if rng.random() < step_in_share else QUEUE_FACE_WIDTH[0]
        visits.append(QueueVisit(person, frame, frames, entry))
        frame += frames + int(rng.choice(gaps))
    return visits


def queue_clip(visits: Sequence[QueueVisit], rng: np.random.Generator, tail: int = EMPTY_FRAMES) -> Iterator[ClipFrame]:
    """The queue's frames: the background with the visiting person, if any, pasted at the door's spot so that
    the face is centred at (cx, cy) with its width growing on the walk schedule. `boxes` has one entry per
    visit (the face box while that person is in view)."""
    door = background(rng)
    cx, cy = WIDTH / 2, HEIGHT * 0.42
    end = (visits[-1].last + 1 if visits else 0) + tail
    current = 0
    for index in range(end):
        canvas = door.copy()
        boxes: list[Box | None] = [None] * len(visits)
        while current < len(visits) - 1 and index > visits[current].last:
            current += 1
        visit = visits[current] if visits else None
        if visit is not None and visit.first <= index <= visit.last:
            step = index - visit.first
            at_door = QUEUE_FACE_WIDTH[1]
            width = at_door * walk_scales(visit.frames, visit.entry_width / at_door)[step]
            person = visit.person
            fx1, fy1, fx2, fy2 = person.face
            scale = width / (fx2 - fx1)
            crop_cx = (person.crop.shape[1] / 2 - (fx1 + fx2) / 2) * scale + cx
            crop_cy = (person.crop.shape[0] / 2 - (fy1 + fy2) / 2) * scale + cy
            sx, sy, left, top = place(canvas, person.crop, scale, crop_cx, crop_cy)
            boxes[current] = in_view(scale_box(person.face, sx, sy, left, top))
        yield ClipFrame(index, camera_frame(canvas), tuple(boxes))
