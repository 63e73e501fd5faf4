"""The door page as an output: it keeps what the page shows (a picture now and then, recent decisions, the
loop's counters) and hands it to the HTTP thread (edge.web.server), which renders and encodes.

The frame loop's cost: one `FrameGate.due()` per frame (a clock read under a lock) while no page is open;
while one is, a copy of the frame at most web.max_fps times a second. Drawing and JPEG encoding happen
in the HTTP thread, when a page asks for a picture. With web.thumbnails on, each decision also costs the loop
one small crop shrunk and encoded as JPEG (kept in memory for the last web.decisions decisions only).
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge import __version__
from edge.outputs import Output
from edge.vision.labels import DEFAULT_POLICY, LabelPolicy
from edge.vision.stats import STAGES
from edge.web.frame_gate import FrameGate

if TYPE_CHECKING:
    import numpy as np

    from edge.config import Config
    from edge.vision.stats import LoopStats
    from edge.vision.types import Decision, Frame, TrackedFace
    from edge.web.view import ViewSettings

log = logging.getLogger(__name__)

JPEG_QUALITY = 75
DAYS = 7
"""Days of decision counts the page lists (today first); older days are forgotten."""


@dataclass(frozen=True)
class Picture:
    seq: int
    frame: str
    timestamp: float
    image: np.ndarray
    faces: list[TrackedFace]
    fps: float
    taken_at: float
    """time.monotonic() when the frame loop handed it over: its age tells the page whether it is still live."""


class DoorPage(Output):
    """Holds the page's data; `serve()` (edge.web.server) starts the HTTP thread over it."""

    name = "web"

    def __init__(
        self,
        view: ViewSettings,
        gate: FrameGate,
        decisions: int,
        models: dict[str, Any],
        policy: LabelPolicy = DEFAULT_POLICY,
        thumbnails: bool = False,
    ) -> None:
        self.view, self.gate, self.policy, self.models = view, gate, policy, models
        self.thumbnails = thumbnails and decisions > 0
        self._lock = threading.Lock()
        self._picture: Picture | None = None
        self._seq = 0
        self._encoded: dict[bool, tuple[int, bytes]] = {}
        self._decisions: deque[tuple[int, dict[str, Any]]] = deque(maxlen=decisions) if decisions else deque(maxlen=0)
        self._numbered = 0
        self._thumbs: dict[int, bytes] = {}
        """Decision number -> its face as JPEG, for the decisions still listed only."""
        self._unframed: list[tuple[int, Decision]] = []
        """Decisions waiting for their frame: the loop hands a frame's decisions over before the frame itself."""
        self._days: dict[str, dict[str, int]] = {}
        self._stats: LoopStats | None = None
        self._started = time.time()
        self.pictures_taken = 0
        self.server: Any = None

    # frame loop side: as little as possible
    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
        self._stats = stats
        if self._unframed:
            self._keep_thumbnails(frame)
        if not self.gate.due():
            return
        fps = stats.fps if stats.frame_seconds else 0.0
        image, taken_at = frame.image.copy(), time.monotonic()
        with self._lock:
            self._seq += 1
            self._picture = Picture(self._seq, frame.id, frame.timestamp, image, list(faces), fps, taken_at)
            self.pictures_taken += 1

    def on_decision(self, decision: Decision) -> None:
        entry = {"time": round(decision.time, 3), "track": decision.track, "label": decision.label}
        entry |= {"score": round(decision.score, 3), "state": self.policy.state(decision.label).value}
        if decision.previous is not None:
            entry["previous"] = decision.previous
        day = time.strftime("%Y-%m-%d", time.localtime(decision.time))
        with self._lock:
            self._numbered += 1
            number = self._numbered
            self._decisions.appendleft((number, entry))
            counts = self._days.setdefault(day, {})
            counts[decision.label] = counts.get(decision.label, 0) + 1
            for old in sorted(self._days)[:-DAYS]:
                del self._days[old]
        if self.thumbnails:
            self._unframed.append((number, decision))

    def _keep_thumbnails(self, frame: Frame) -> None:
        """The faces of the decisions made on this frame, cut from it; a decision whose frame this is not (its
        frame never reached the page) goes without."""
        from edge.web.view import face_thumbnail

        unframed, self._unframed = self._unframed, []
        thumbs = {n: face_thumbnail(frame.image, d.box) for n, d in unframed if d.frame == frame.id}
        with self._lock:
            self._thumbs.update({n: jpeg for n, jpeg in thumbs.items() if jpeg is not None})
            oldest_listed = self._numbered - (self._decisions.maxlen or 0)
            for n in [n for n in self._thumbs if n <= oldest_listed]:
                del self._thumbs[n]

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    # HTTP thread side
    def jpeg(self, aim: bool) -> tuple[bytes, int, float] | None:
        """The newest picture drawn and encoded (cached until a newer one arrives), its number and its age in
        seconds; None before the first."""
        import cv2

        from edge.web.view import render_view

        self.gate.viewer_seen()
        with self._lock:
            picture = self._picture
            cached = self._encoded.get(aim)
        if picture is None:
            return None
        age = round(time.monotonic() - picture.taken_at, 2)
        if cached and cached[0] == picture.seq:
            return cached[1], picture.seq, age
        image = render_view(picture.image, picture.faces, self.view, picture.fps, aim=aim)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError("OpenCV could not encode the door page's picture as JPEG")
        encoded = data.tobytes()
        with self._lock:
            self._encoded[aim] = (picture.seq, encoded)
        return encoded, picture.seq, age

    def thumbnail(self, number: int) -> bytes | None:
        """The face of decision `number` as JPEG; None when thumbnails are off or it is no longer listed."""
        with self._lock:
            return self._thumbs.get(number)

    def state(self) -> dict[str, Any]:
        """Everything the page lists, as JSON-ready data."""
        stats = self._stats
        with self._lock:
            decisions = [
                entry | {"thumb": f"/thumb/{n}.jpg"} if n in self._thumbs else entry for n, entry in self._decisions
            ]
            picture = self._picture
            days = [{"day": day, "counts": dict(self._days[day])} for day in sorted(self._days, reverse=True)]
        now = time.monotonic()
        last = stats.last_frame_at if stats else None
        latest_label = self.policy.worst_label(f.decision for f in picture.faces) if picture else None
        return {
            "version": __version__,
            "uptime_s": round(time.time() - self._started),
            "door": {
                "label": latest_label,
                "state": self.policy.state(latest_label).value if latest_label else None,
                "text": self.view.texts.for_faces(latest_label, picture.faces if picture else []),
            },
            "decisions": decisions,
            "days": days,
            "counts": {
                "decisions": stats.decisions.snapshot() if stats else {},
                "frames": stats.frames if stats else 0,
                "faces": stats.faces if stats else 0,
                "frame_errors": stats.frame_errors if stats else 0,
                "skipped_frames": stats.skipped_frames if stats else 0,
            },
            "fps": round(_read(lambda: stats.live_fps(now), 0.0), 2) if stats else 0.0,
            "stage_ms": _stage_ms(stats) if stats else {},
            "camera": {
                "last_frame_age_s": round(now - last, 2) if last is not None else None,
                "stalled_s": _rounded(_read(lambda: stats.stalled_for(now), None)) if stats else None,
                "reconnects": stats.camera_reconnects if stats else 0,
                "dropped_frames": stats.camera_dropped_frames if stats else 0,
            },
            "gate": {
                "on": bool(stats and stats.gate is not None),
                "skipping": bool(stats and stats.gate_skipping),
                "skipped_frames": stats.gate_skipped_frames if stats else 0,
            },
            "models": self.models,
            "picture": (
                {"seq": picture.seq, "frame": picture.frame, "age_s": round(now - picture.taken_at, 2)}
                if picture
                else None
            ),
            "max_fps": self.gate.max_fps,
            "aim": {"min_face_size": self.view.min_face_size, "small_face_size": self.view.small_face_size},
        }


def _read(get: Any, default: Any) -> Any:
    """A value computed over deques the frame loop appends to meanwhile: read again if it changed mid-way."""
    for _ in range(3):
        try:
            return get()
        except RuntimeError:
            continue
    return default


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _stage_ms(stats: LoopStats) -> dict[str, float]:
    """Median milliseconds per stage over the recent window."""
    out = {}
    for stage in STAGES:
        samples = sorted(_read(lambda stage=stage: list(stats.stage_seconds[stage]), []))
        if samples:
            out[stage] = round(samples[len(samples) // 2] * 1000, 2)
    return out


def model_summary(config: Config) -> dict[str, Any]:
    """Detector type and model files, classifier file, its sha256 prefix, labels, origin and fast-first partner
    (no interpreter)."""
    from edge.detectors import detector_class
    from edge.modelfiles import find as model_files
    from edge.modelfiles.find import classifier_path
    from edge.vision.model_card import ModelCard

    path = classifier_path(config)
    card = ModelCard.for_model(path)
    raw = card.raw or {}
    dirs = model_files.model_dirs(config.models.dir)
    weights = detector_class(config.detector.type).find_model_files(config.detector.model, dirs)[-1]
    return {
        "maskgate": __version__,
        "python": platform.python_version(),
        "detector": config.detector.type,
        "detector_model": weights.name,
        "detector_origin": model_files.origin(weights),
        "classifier": path.name,
        "classifier_origin": model_files.origin(path),
        "classifier_sha256": str(raw.get("model_sha256", ""))[:12],
        "classifier_version": str(raw.get("version", raw.get("name", ""))),
        "labels": list(card.labels),
        "crop_size": card.crop.size,
        "fast_first": (
            f"{card.fast_model.file} (keeps answers >= {card.fast_model.min_score:g})"
            if config.classifier.fast_first and card.fast_model
            else "off"
        ),
    }


def build_page(config: Config, policy: LabelPolicy = DEFAULT_POLICY) -> DoorPage:
    """The page and its HTTP thread, listening before the frame loop starts."""
    from edge.config.web_settings import allowed_hosts, read_hash
    from edge.outputs.screen.render import banner_texts
    from edge.vision.zone import DoorZone
    from edge.web.auth import LoginRateLimit, SessionStore
    from edge.web.server import serve
    from edge.web.view import ViewSettings

    web = config.web
    view = ViewSettings(
        width=web.width,
        mirror=config.screen.mirror,
        texts=banner_texts(config.screen),
        min_face_size=config.detector.min_face_size,
        small_face_size=config.zone.min_face,
        policy=policy,
        zone=DoorZone.from_config(config.zone),
    )
    page = DoorPage(
        view, FrameGate(max_fps=web.max_fps), web.decisions, model_summary(config), policy, thumbnails=web.thumbnails
    )
    page.server = serve(
        page,
        web.address,
        web.port,
        password_hash=read_hash(web),
        sessions=SessionStore(lifetime_s=web.session_minutes * 60.0),
        logins=LoginRateLimit(),
        trusted_proxy=web.trusted_proxy.strip(),
        allowed_hosts=allowed_hosts(web),
    )
    return page
