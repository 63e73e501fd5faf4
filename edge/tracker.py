"""IoU tracking across frames and a per-track k-of-n vote that turns per-frame labels into decisions.

A track whose decision is made and whose latest label agrees with it needs the classifier only every
`recheck_every` frames; a face that is new, undecided or in doubt is classified in every frame.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge.labels import UNSURE
from edge.types import Box, Decision, Face, TrackedFace

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


@dataclass
class Track:
    id: int
    box: Box
    votes: deque[tuple[str, float]]
    missed: int = 0
    unlabelled: int = 0
    """Frames since the classifier last labelled this track."""
    decision: str | None = None

    def vote(self, vote_min: int) -> tuple[str, float] | None:
        """The label with at least vote_min of the window's votes, and its mean score; UNSURE votes never win."""
        counts = Counter(label for label, _ in self.votes if label != UNSURE)
        if not counts:
            return None
        label, count = counts.most_common(1)[0]
        if count < vote_min:
            return None
        return label, float(np.mean([score for lab, score in self.votes if lab == label]))


class Tracker:
    """Greedy IoU matching (best pairs first); a track is confirmed by vote_min of its last vote_window labels.

    With `per_frame=True` (image folders) every face is a new track decided at once.
    The pipeline asks `match`, then `needs_label` per face, classifies only those faces and passes
    None as the label of the others to `update`.
    """

    def __init__(self, config: TrackerConfig, per_frame: bool = False) -> None:
        self.iou_threshold = config.iou_threshold
        self.vote_window, self.vote_min = (1, 1) if per_frame else (config.vote_window, config.vote_min)
        self.max_missed = 0 if per_frame else config.max_missed
        self.per_frame = per_frame
        self.recheck_every = config.recheck_every
        self.tracks: list[Track] = []
        self._next_id = 1

    def match(self, faces: list[Face]) -> list[Track | None]:
        """The existing track each face continues, None for a face that starts a new one."""
        if self.per_frame:
            self.tracks = []
            return [None] * len(faces)
        overlaps = iou_matrix([t.box for t in self.tracks], [f.box for f in faces])
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
        if track is None or track.decision is None or track.votes[-1][0] != track.decision:
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
    ) -> tuple[list[TrackedFace], list[Decision]]:
        """Feed one frame's faces and labels; returns them tracked, and any new or changed decisions.

        `matched` is what `match` returned for these faces (matched here when omitted). A None label means
        the face was not classified in this frame; its track keeps its votes and its last label.
        """
        if matched is None:
            matched = self.match(faces)
        for track in self.tracks:
            track.missed += 1
        tracked, decisions = [], []
        for face, track, label, score in zip(faces, matched, labels, scores, strict=True):
            if track is None:
                if label is None:
                    raise ValueError(f"frame {frame_id}: a new face needs a label")
                track = Track(self._next_id, face.box, deque(maxlen=self.vote_window))
                self._next_id += 1
                self.tracks.append(track)
            track.box, track.missed = face.box, 0
            if label is None:
                track.unlabelled += 1
                label, score = track.votes[-1]
            else:
                track.unlabelled, score = 0, float(score)  # type: ignore[arg-type]
                track.votes.append((label, score))
                result = track.vote(self.vote_min)
                if result is not None and result[0] != track.decision:
                    track.decision = result[0]
                    decisions.append(Decision(frame_id, timestamp, track.id, face.box, *result))
            tracked.append(TrackedFace(face, track.id, label, score, track.decision))
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return tracked, decisions
