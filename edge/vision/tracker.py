"""IoU tracking across frames and a per-track k-of-n vote that turns per-frame labels into decisions.

A track whose decision is made and whose latest label agrees with it needs the classifier only every
`recheck_every` frames; a face that is new, undecided or in doubt is classified in every frame.

One decision per person: when the frame is given, each face carries an appearance signature (hue-saturation
histograms of the face with its surroundings, and of the inner face alone) and continues a track only if it
looks like that track's person by both.
Across an empty spot (the track was missed for a frame or more: one person left, maybe another stepped in) it
must look alike by `return_face_min`; while seen frame after frame, by the looser `same_face_min`, so a head
that turns keeps its track. Measured with YuNet boxes on 63 real faces of ../shared (histogram intersection,
1 = same): the same face shifted, scaled, mirrored, squashed to 0.7 width or 15% darker/brighter scored 0.71 at
the lowest (5th percentile 0.85); two different people 0.41 median, 0.75 at the 95th percentile (for the
surroundings' histogram; the inner face's was added for queues of people before one background, measured by
`maskgate-convert evaluate-approach`'s photo queue).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.vision.labels import DEFAULT_POLICY, UNSURE, LabelPolicy
from edge.vision.types import Box, Decision, Face, Place, TrackedFace

if TYPE_CHECKING:
    from edge.config import TrackerConfig


def iou_matrix(a: list[Box], b: list[Box]) -> np.ndarray:
    if not a or not b:
        return np.zeros((len(a), len(b)))
    boxes_a, boxes_b = np.asarray(a, dtype=np.float64)[:, None], np.asarray(b, dtype=np.float64)[None]
    x1, y1 = np.maximum(boxes_a[..., 0], boxes_b[..., 0]), np.maximum(boxes_a[..., 1], boxes_b[..., 1])
    x2, y2 = np.minimum(boxes_a[..., 2], boxes_b[..., 2]), np.minimum(boxes_a[..., 3], boxes_b[..., 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (boxes_a[..., 2] - boxes_a[..., 0]) * (boxes_a[..., 3] - boxes_a[..., 1])
    area_b = (boxes_b[..., 2] - boxes_b[..., 0]) * (boxes_b[..., 3] - boxes_b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


SIGNATURE_BINS = (12, 6)
SIGNATURE_PATCH = 32
SIGNATURE_BLEND = 0.3
"""Weight of the newest frame in a track's running signature: it follows a slow turn of the head."""


def appearance(image: np.ndarray, box: Box) -> np.ndarray:
    """Two hue-saturation histograms (each sums to 1), one row each: the face box widened by a quarter and
    extended down to the collar (hair, skin, mask and clothes colours), and the inner face alone (skin, eyes,
    mask). At a fixed door everybody stands before the same background, which the first row shares; the second
    tells two masked people apart. Cheap (two 32x32 patches) and unchanged by a turn of the head."""
    x1, y1, x2, y2 = (round(v) for v in box)
    width, height = x2 - x1, y2 - y1
    context = (max(0, x1 - width // 4), max(0, y1 - height // 4), x2 + width // 4, y2 + height // 2)
    inner = (x1 + width // 10, y1 + height // 20, x2 - width // 10, y2 - height // 20)
    return np.stack([_histogram(image, context), _histogram(image, inner)])


def _histogram(image: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1 = max(0, region[0]), max(0, region[1])
    x2, y2 = min(image.shape[1], region[2]), min(image.shape[0], region[3])
    if x2 - x1 < 2 or y2 - y1 < 2:
        return np.full(SIGNATURE_BINS[0] * SIGNATURE_BINS[1], 1 / (SIGNATURE_BINS[0] * SIGNATURE_BINS[1]), np.float32)
    patch = cv2.resize(image[y1:y2, x1:x2], (SIGNATURE_PATCH, SIGNATURE_PATCH), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
    histogram = cv2.calcHist([hsv], [0, 1], None, list(SIGNATURE_BINS), [0, 180, 0, 256]).ravel()
    return histogram / max(float(histogram.sum()), 1.0)


def likeness(a: np.ndarray, b: np.ndarray) -> float:
    """Histogram intersection, the lower of the surroundings' and the face's: 1 for the same colours, 0 for
    none in common."""
    return float(np.minimum(a, b).sum(axis=-1).min())


@dataclass
class Track:
    id: int
    box: Box
    votes: deque[tuple[str, float]]
    missed: int = 0
    unlabelled: int = 0
    """Frames since the classifier last labelled this track."""
    decision: str | None = None
    signature: np.ndarray | None = None

    def vote(self) -> tuple[str, int, float] | None:
        """The leading label of the window (UNSURE votes never lead), its count and its mean score."""
        counts = Counter(label for label, _ in self.votes if label != UNSURE)
        if not counts:
            return None
        label, count = counts.most_common(1)[0]
        return label, count, float(np.mean([score for lab, score in self.votes if lab == label]))


class Tracker:
    """Greedy IoU matching (best pairs first); a track is decided by vote_min of its last vote_window labels, once.
    A decided track's label changes only when a label of another door state (the label policy's) holds
    change_min of the window: a `corrected` decision naming the label it replaces.

    With `per_frame=True` (image folders) every face is a new track decided at once.
    The pipeline asks `match`, then `needs_label` per face, classifies only those faces and passes
    None as the label of the others to `update` (faces away from the door are never labelled).
    """

    def __init__(self, config: TrackerConfig, per_frame: bool = False, policy: LabelPolicy = DEFAULT_POLICY) -> None:
        self.policy = policy
        """A correction is made only to a label the door treats otherwise (another door state)."""
        self.iou_threshold = config.iou_threshold
        self.vote_window, self.vote_min = (1, 1) if per_frame else (config.vote_window, config.vote_min)
        self.max_missed = 0 if per_frame else config.max_missed
        self.per_frame = per_frame
        self.recheck_every = config.recheck_every
        self.change_min = 1 if per_frame else config.change_min
        self.same_face_min, self.return_face_min = config.same_face_min, config.return_face_min
        self.tracks: list[Track] = []
        self._next_id = 1
        self._signatures: dict[int, np.ndarray] = {}
        """Signatures of the faces of the frame being matched, by id() of the Face: read by update."""

    def match(self, faces: list[Face], image: np.ndarray | None = None) -> list[Track | None]:
        """The existing track each face continues, None for a face that starts a new one.

        With the frame's image, a face continues a track only if it also looks like it (see the module doc)."""
        if self.per_frame:
            self.tracks = []
            return [None] * len(faces)
        overlaps = iou_matrix([t.box for t in self.tracks], [f.box for f in faces])
        compare = image is not None and (self.same_face_min > 0 or self.return_face_min > 0)
        self._signatures = {id(f): appearance(image, f.box) for f in faces} if compare else {}
        for t, track in enumerate(self.tracks):
            if track.signature is None or not self._signatures:
                continue
            needed = self.return_face_min if track.missed > 0 else self.same_face_min
            for f, face in enumerate(faces):
                if overlaps[t, f] and likeness(track.signature, self._signatures[id(face)]) < needed:
                    overlaps[t, f] = 0.0
        matches: dict[int, Track] = {}
        used_tracks: set[int] = set()
        for flat in np.argsort(-overlaps, axis=None):
            t, f = np.unravel_index(flat, overlaps.shape)
            if overlaps[t, f] < self.iou_threshold:
                break
            if t in used_tracks or f in matches:
                continue
            used_tracks.add(int(t))
            matches[int(f)] = self.tracks[int(t)]
        return [matches.get(index) for index in range(len(faces))]

    def needs_label(self, track: Track | None) -> bool:
        """Whether this frame's face of the track must go through the classifier."""
        if track is None or track.decision is None or not track.votes or track.votes[-1][0] != track.decision:
            return True
        return track.unlabelled + 1 >= self.recheck_every

    def update(
        self,
        frame_id: str,
        timestamp: float,
        faces: list[Face],
        labels: Sequence[str | None],
        scores: Sequence[float | None],
        matched: list[Track | None] | None = None,
        places: Sequence[Place] | None = None,
    ) -> tuple[list[TrackedFace], list[Decision]]:
        """Feed one frame's faces and labels; returns them tracked, and any first or corrected decisions.

        `matched` is what `match` returned for these faces (matched here when omitted). A None label means
        the face was not classified in this frame; its track keeps its votes and its last label. `places` says
        where each face is (edge.vision.zone); a face at the door that starts a track needs a label.
        """
        if matched is None:
            matched = self.match(faces)
        if places is None:
            places = [Place.DOOR] * len(faces)
        for track in self.tracks:
            track.missed += 1
        tracked, decisions = [], []
        for face, track, label, score, place in zip(faces, matched, labels, scores, places, strict=True):
            if track is None:
                if label is None and place is Place.DOOR:
                    raise ValueError(f"frame {frame_id}: a new face at the door needs a label")
                track = Track(self._next_id, face.box, deque(maxlen=self.vote_window))
                self._next_id += 1
                self.tracks.append(track)
            track.box, track.missed = face.box, 0
            if (seen := self._signatures.get(id(face))) is not None:
                old = track.signature
                track.signature = seen if old is None else old * (1 - SIGNATURE_BLEND) + seen * SIGNATURE_BLEND
            if label is None:
                track.unlabelled += 1
                label, score = track.votes[-1] if track.votes and place is Place.DOOR else ("", 0.0)
            else:
                track.unlabelled, score = 0, float(score)  # type: ignore[arg-type]
                track.votes.append((label, score))
                if (decision := self._decide(track, frame_id, timestamp, face)) is not None:
                    decisions.append(decision)
            tracked.append(TrackedFace(face, track.id, label, score, track.decision, place))
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return tracked, decisions

    def _decide(self, track: Track, frame_id: str, timestamp: float, face: Face) -> Decision | None:
        """The track's first decision once a label has vote_min votes; a correction once a label of another door
        state has change_min (a bare face read again as a mask under the nose stays decided: the door does the
        same for both); else None."""
        result = track.vote()
        if result is None:
            return None
        label, count, score = result
        if track.decision is not None and self.policy.state(label) is self.policy.state(track.decision):
            return None
        if count < (self.vote_min if track.decision is None else self.change_min):
            return None
        previous, track.decision = track.decision, label
        return Decision(frame_id, timestamp, track.id, face.box, label, score, previous)
