"""The benchmark's frame set: reproducible 640x480 door scenes with 0, 1 and several faces.

Each scene is `SCENE_FRAMES` consecutive frames on a seeded synthetic background; its faces are
photos from a class-per-folder face dataset (../shared/data/facemask), pasted at seeded positions and
sizes and moving a few pixels per frame while growing, like people walking up to the door. So the
tracker sees continuous tracks and the detector and classifier see real faces. The same seed and
dataset give the same frames byte for byte; `digest` lets two runs check that.

Frames are kept JPEG-encoded. `FrameFeed` delivers them in one of three ways (DELIVERIES):
- "thread" (default): a capture thread decodes ahead into a two-frame queue, as the live source's
  reader thread decodes a USB camera's MJPEG stream while the loop works (and as the seeds' threaded
  VideoStream does); unlike a camera it never drops a frame, so every run sees every frame.
- "loop": decoded inside the loop, as `maskgate run` reads a video file or an image folder.
- "raw": decoded once beforehand and handed over as arrays, as picamera2 hands over BGR frames.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.errors import SetupError
from edge.sources import DEMO_CLIP, IMAGE_SUFFIXES, image_files, none_readable
from edge.vision.types import Frame

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 640, 480
SCENE_FRAMES = 10
SCENE_FACES = (0, 1, 3, 1, 4, 0)
"""Faces per scene: empty door, one person, a group, ...; 60 frames, 1.5 faces per frame on average."""
FACE_SIDE = (90, 170)
"""Range of the pasted photo's longer side at the start of a scene, in pixels."""
JPEG_QUALITY = 90
CLASS_FOLDERS = ("with_mask", "without_mask")
DELIVERIES = ("thread", "loop", "raw")
QUEUE_FRAMES = 2


class FrameSetError(SetupError, ValueError):
    pass


@dataclass
class FrameSet:
    """Frames as JPEG bytes, the faces pasted into each, and where they came from."""

    encoded: list[bytes]
    pasted_faces: list[int]
    description: dict[str, object] = field(default_factory=dict)
    _decoded: list[np.ndarray] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.encoded)

    @property
    def digest(self) -> str:
        sha = hashlib.sha256()
        for data in self.encoded:
            sha.update(data)
        return sha.hexdigest()

    def faces_in(self, count: int, start: int = 0) -> int | None:
        """Faces pasted into the `count` frames from number `start` on (cycling); None for a folder of frames."""
        if not self.pasted_faces:
            return None
        return sum(self.pasted_faces[(start + i) % len(self.pasted_faces)] for i in range(count))

    def frames_to_first_face(self, start: int = 0) -> int | None:
        """How many frames from number `start` on must be measured to include a face; None if unknown."""
        if not any(self.pasted_faces):
            return None
        return next(i + 1 for i in range(len(self.pasted_faces)) if self.pasted_faces[(start + i) % len(self)])

    def frames(self, count: int, start: int = 0, delivery: str = "thread") -> FrameFeed:
        """`count` frames from number `start` on, cycling through the set, delivered as `delivery` says."""
        return FrameFeed(self, count, start, delivery)

    def decoded(self) -> list[np.ndarray]:
        """Every frame decoded once, read-only: each is handed over again on every pass over the set."""
        if not self._decoded:
            self._decoded = [decode(data) for data in self.encoded]
            for image in self._decoded:
                image.flags.writeable = False
        return self._decoded

    def save(self, folder: Path) -> list[Path]:
        """Write the frames as numbered JPEG files (for `maskgate run --source FOLDER` or another machine)."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, data in enumerate(self.encoded):
            path = folder / f"frame_{index:04d}.jpg"
            path.write_bytes(data)
            paths.append(path)
        return paths


class FrameFeed:
    """An iterable of the set's frames; `decode_seconds` holds the JPEG decode time of each frame delivered."""

    def __init__(self, frame_set: FrameSet, count: int, start: int, delivery: str) -> None:
        if delivery not in DELIVERIES:
            raise FrameSetError(f"frame delivery {delivery!r} is not one of {', '.join(DELIVERIES)}")
        self.frame_set, self.numbers, self.delivery = frame_set, range(start, start + count), delivery
        self.decode_seconds: list[float] = []

    def _decode(self, number: int) -> Frame:
        begin = time.perf_counter()
        image = decode(self.frame_set.encoded[number % len(self.frame_set)])
        self.decode_seconds.append(time.perf_counter() - begin)
        return Frame(str(number), number / 30.0, image)

    def __iter__(self) -> Iterator[Frame]:
        if self.delivery == "raw":
            images = self.frame_set.decoded()
            return (Frame(str(n), n / 30.0, images[n % len(images)]) for n in self.numbers)
        if self.delivery == "loop":
            return (self._decode(n) for n in self.numbers)
        return self._decoded_ahead()

    def _decoded_ahead(self) -> Iterator[Frame]:
        ready: queue.Queue[Frame | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        stop = threading.Event()

        def hand_over(frame: Frame | None) -> bool:
            while not stop.is_set():
                try:
                    ready.put(frame, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        failures: list[Exception] = []

        def capture() -> None:
            try:
                for number in self.numbers:
                    if not hand_over(self._decode(number)):
                        return
            except Exception as exc:  # handed to the reader, which raises it
                failures.append(exc)
            finally:
                hand_over(None)

        thread = threading.Thread(target=capture, name="bench capture", daemon=True)
        thread.start()
        try:
            while (frame := ready.get()) is not None:
                yield frame
        finally:
            stop.set()
            thread.join()
        if failures:
            raise failures[0]


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def encode(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise FrameSetError("OpenCV could not JPEG-encode a benchmark frame")
    return buffer.tobytes()


def background(rng: np.random.Generator) -> np.ndarray:
    """A smooth colour field with a door frame and fine sensor noise: no faces, some structure."""
    coarse = rng.integers(60, 190, size=(6, 8, 1)) + rng.integers(-25, 25, size=(6, 8, 3))
    image = cv2.resize(coarse.astype(np.uint8), (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    left = int(rng.integers(120, 220))
    colour = tuple(int(v) for v in rng.integers(20, 90, size=3))
    cv2.rectangle(image, (left, 30), (WIDTH - left, HEIGHT), colour, 14)
    noise = rng.normal(0, 4, size=image.shape)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def face_files(faces_dir: Path) -> list[Path]:
    files = []
    for folder in CLASS_FOLDERS:
        if (faces_dir / folder).is_dir():
            files += sorted(p for p in (faces_dir / folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FrameSetError(f"face folder {faces_dir} has no images in {' or '.join(CLASS_FOLDERS)}/")
    return files


def pick_faces(files: list[Path], count: int, rng: np.random.Generator) -> list[tuple[Path, np.ndarray]]:
    """`count` roughly square, not tiny face photos, drawn with the seeded generator."""
    picked: list[tuple[Path, np.ndarray]] = []
    for _ in range(50 * count + 50):
        if len(picked) == count:
            return picked
        path = files[int(rng.integers(len(files)))]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        height, width = image.shape[:2]
        if min(height, width) >= 64 and 0.75 <= width / height <= 1.33:
            picked.append((path, image))
    raise FrameSetError(f"found only {len(picked)} usable face photos (roughly square, >= 64 px) among {len(files)}")


def paste(canvas: np.ndarray, photo: np.ndarray, cx: float, cy: float, side: float) -> None:
    """Paste the photo scaled so its longer side is `side`, centred at (cx, cy), clipped to the canvas."""
    height, width = photo.shape[:2]
    scale = side / max(height, width)
    resized = cv2.resize(photo, (max(2, round(width * scale)), max(2, round(height * scale))), cv2.INTER_AREA)
    h, w = resized.shape[:2]
    x1, y1 = round(cx - w / 2), round(cy - h / 2)
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x1 + w, WIDTH), min(y1 + h, HEIGHT)
    if cx2 > cx1 and cy2 > cy1:
        canvas[cy1:cy2, cx1:cx2] = resized[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]


def build(faces_dir: Path, seed: int = 0, scenes: tuple[int, ...] = SCENE_FACES) -> FrameSet:
    """The frame set for a seed: one scene per entry of `scenes` (its face count), SCENE_FRAMES frames each."""
    files = face_files(faces_dir)
    rng = np.random.default_rng(seed)
    encoded, pasted, used = [], [], []
    for faces in scenes:
        base = background(rng)
        people = pick_faces(files, faces, rng)
        used += [f"{p.parent.name}/{p.name}" for p, _ in people]
        slot = WIDTH / max(faces, 1)
        motion = []
        for i in range(faces):
            side = float(rng.uniform(*FACE_SIDE)) / (1 + 0.25 * (faces > 2))
            cx = slot * (i + 0.5) + float(rng.uniform(-0.15, 0.15)) * slot
            cy = float(rng.uniform(0.3, 0.55)) * HEIGHT
            motion.append(
                (cx, cy, side, float(rng.uniform(-3, 3)), float(rng.uniform(-1, 2)), float(rng.uniform(0, 3)))
            )
        for step in range(SCENE_FRAMES):
            canvas = base.copy()
            for (_, photo), (cx, cy, side, dx, dy, grow) in zip(people, motion, strict=True):
                paste(canvas, photo, cx + dx * step, cy + dy * step, side + grow * step)
            encoded.append(encode(canvas))
            pasted.append(faces)
    description = {
        "kind": "generated",
        "size": [WIDTH, HEIGHT],
        "seed": seed,
        "scenes": list(scenes),
        "frames_per_scene": SCENE_FRAMES,
        "frames": len(encoded),
        "pasted_faces_per_frame": round(sum(pasted) / len(pasted), 3),
        "faces_dir": str(faces_dir),
        "face_photos": used,
        "jpeg_quality": JPEG_QUALITY,
    }
    frame_set = FrameSet(encoded, pasted, description)
    frame_set.description["sha256"] = frame_set.digest
    return frame_set


def from_folder(folder: Path) -> FrameSet:
    """A frame set from any folder of images (sorted by name), letterboxed to 640x480: for boards without ../shared.
    An unreadable file is skipped with its reason, as `maskgate run` skips it; none readable is a SourceError."""
    files = image_files(folder)
    encoded = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            log.warning("skipping %s: not a readable image", path)
            continue
        if image.shape[:2] == (HEIGHT, WIDTH) and path.suffix.lower() in (".jpg", ".jpeg"):
            encoded.append(path.read_bytes())
        else:
            encoded.append(encode(letterbox(image)))
    if not encoded:
        raise none_readable(len(files), str(folder))
    frame_set = FrameSet(encoded, [], {"kind": "folder", "folder": str(folder), "frames": len(encoded)})
    frame_set.description["sha256"] = frame_set.digest
    return frame_set


def from_demo_clip(path: Path = DEMO_CLIP) -> FrameSet:
    """The packaged demo clip's frames (drawn people walking up to a door, 640x480): the frame set when neither
    ../shared nor a folder is at hand. Few faces, all drawn: its figures compare machines, not real doors."""
    capture = cv2.VideoCapture(str(path))
    encoded = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        encoded.append(encode(letterbox(image)))
    capture.release()
    if not encoded:
        raise FrameSetError(f"the demo clip {path} is missing or unreadable; reinstall maskgate")
    frame_set = FrameSet(encoded, [], {"kind": "demo clip", "file": path.name, "frames": len(encoded)})
    frame_set.description["sha256"] = frame_set.digest
    return frame_set


def letterbox(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    scale = min(WIDTH / width, HEIGHT / height)
    resized = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))), cv2.INTER_AREA)
    canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    top, left = (HEIGHT - resized.shape[0]) // 2, (WIDTH - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return canvas
