"""The frame loop: source -> detect -> crop -> classify -> track and vote -> outputs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.health.fault_log import FaultLog
from edge.vision.crop import EmptyCropError, crop_face
from edge.vision.stats import LoopStats
from edge.vision.tracker import Tracker
from edge.vision.types import Decision, Frame, Place, TrackedFace
from edge.vision.zone import WHOLE_FRAME, DoorZone

if TYPE_CHECKING:
    from edge.detectors import FaceDetector
    from edge.outputs import Output
    from edge.vision.classifier import FastFirstClassifier, MaskClassifier
    from edge.vision.gate import ChangeGate

log = logging.getLogger(__name__)


class BadFrameError(ValueError):
    pass


class TooManyErrorsError(RuntimeError):
    pass


def as_bgr(image: object) -> np.ndarray:
    """The frame as HxWx3 uint8 BGR; grey and BGRA frames are converted, anything else is refused."""
    if not isinstance(image, np.ndarray):
        raise BadFrameError(f"frame is a {type(image).__name__}, not an image array")
    if image.dtype != np.uint8:
        raise BadFrameError(f"frame dtype {image.dtype} is not uint8")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 2:
        raise BadFrameError(f"frame shape {image.shape} is not HxWx3")
    return image


class Pipeline:
    def __init__(
        self,
        detector: FaceDetector,
        classifier: MaskClassifier | FastFirstClassifier,
        tracker: Tracker,
        outputs: Iterable[Output] = (),
        max_consecutive_errors: int = 100,
        gate: ChangeGate | None = None,
        zone: DoorZone | None = None,
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.tracker = tracker
        self.outputs = list(outputs)
        self.stats = LoopStats()
        self.fault_log = FaultLog()
        self.max_consecutive_errors = max_consecutive_errors
        self.gate = gate
        self.zone = zone or WHOLE_FRAME
        self.stats.gate = gate
        self._carried: list[TrackedFace] = []

    def process(self, frame: Frame) -> tuple[list[TrackedFace], list[Decision]]:
        """Detect and track the faces of one frame, classifying those whose track asks for a label."""
        stats, tracker = self.stats, self.tracker
        image = as_bgr(frame.image)
        if self.gate is not None:
            with stats.stage("gate"):
                detect = self.gate.should_detect(image, tracker.tracks)
                if not detect:
                    self.gate.carried(tracker.tracks)
                    return self._carried, []
                self.gate.detected()
        with stats.stage("detect"):
            faces = self.detector.detect(image)
        with stats.stage("track"):
            matched = tracker.match(faces, image)
            height, width = image.shape[:2]
            places = [self.zone.place(face, width, height) for face in faces]
        with stats.stage("crop"):
            kept: list[int] = []  # indexes of the faces that stay: all but those whose crop is empty
            labelled: list[int] = []  # positions in `kept` of the faces the classifier sees
            crops = []
            for index, (face, track, place) in enumerate(zip(faces, matched, places, strict=True)):
                if place is Place.DOOR and tracker.needs_label(track):
                    try:
                        crops.append(crop_face(image, face.box, self.classifier.card.crop))
                    except EmptyCropError as exc:
                        log.debug("frame %s: %s", frame.id, exc)
                        continue
                    labelled.append(len(kept))
                kept.append(index)
        with stats.stage("classify"):
            probabilities = self.classifier.classify(crops)
        with stats.stage("decide"):
            labels: list[str | None] = [None] * len(kept)
            scores: list[float | None] = [None] * len(kept)
            for row, position in enumerate(labelled):
                labels[position], scores[position] = self.classifier.label_of(probabilities[row])
            tracked, decisions = tracker.update(
                frame.id,
                frame.timestamp,
                [faces[i] for i in kept],
                labels,
                scores,
                [matched[i] for i in kept],
                [places[i] for i in kept],
            )
        self._carried = tracked
        return tracked, decisions

    def _emit(self, frame: Frame, tracked: list[TrackedFace], decisions: list[Decision]) -> None:
        with self.stats.stage("outputs"):
            for decision in decisions:
                self.stats.decisions.add(decision.label)
                for output in self.outputs:
                    self._guarded(output, "on_decision", decision)
            for output in self.outputs:
                if output.wants_frames:
                    self._guarded(output, "on_frame", frame, tracked, self.stats)

    def _guarded(self, output: Output, method: str, *args: object) -> None:
        what = f"output {output.name} {method}"
        try:
            did = getattr(output, method)(*args)
        except Exception as exc:
            self.stats.output_failures[output.name] += 1
            self.fault_log.failed(what, exc)
        else:
            if did is not False:  # False: nothing was tried (no snapshot due), so nothing is known to work again
                self.fault_log.worked(what)

    def run(
        self, frames: Iterable[Frame], stop: threading.Event | None = None, max_frames: int | None = None
    ) -> LoopStats:
        """Process frames until the source ends, `stop` is set or max_frames are done.

        A frame that fails is logged and skipped; only max_consecutive_errors failures in a row end the loop.
        """
        stop = stop or threading.Event()
        consecutive_errors = 0
        iterator = iter(frames)
        self.stats.source = frames
        while not stop.is_set() and (max_frames is None or self.stats.frames < max_frames):
            begin = time.perf_counter()
            with self.stats.stage("source"):
                frame = next(iterator, None)
            if frame is None:
                break
            try:
                tracked, decisions = self.process(frame)
            except BadFrameError as exc:
                self.stats.skipped_frames += 1
                log.warning("skipping frame %s: %s", frame.id, exc)
                continue
            except Exception:
                self.stats.frame_errors += 1
                consecutive_errors += 1
                log.exception("frame %s failed (%d in a row)", frame.id, consecutive_errors)
                if consecutive_errors >= self.max_consecutive_errors:
                    raise TooManyErrorsError(f"{consecutive_errors} frames in a row failed; giving up") from None
                continue
            consecutive_errors = 0
            self._emit(frame, tracked, decisions)
            self.stats.frame_done(time.perf_counter() - begin, len(tracked))
        return self.stats

    def close(self) -> None:
        for output in self.outputs:
            self._guarded(output, "close")
