"""The frame loop's own rules, with the detector and classifier scripted so each rule is seen alone: frames the
change gate skips carry the last faces, an empty crop does not shift the labels of the faces after it, and the
error streak that ends the loop counts failures in a row only."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from edge.config import GateConfig, TrackerConfig
from edge.pipeline import BadFrameError, Pipeline, TooManyErrorsError, as_bgr
from edge.vision.crop import DEFAULT_RULE, CropRule
from edge.vision.gate import ChangeGate
from edge.vision.labels import MASK, NO_MASK
from edge.vision.tracker import Tracker
from edge.vision.types import Face, Frame, Place
from edge.vision.zone import DoorZone

HEIGHT, WIDTH = 240, 320
LEFT, RIGHT = (20.0, 60.0, 100.0, 160.0), (200.0, 60.0, 280.0, 160.0)
OUTSIDE = (1000.0, 1000.0, 1080.0, 1100.0)
"""A box entirely outside the frame: its crop is empty (EmptyCropError)."""


def scene() -> np.ndarray:
    """Left half bright, right half dark: the brightness classifier tells the two faces apart by their crops."""
    image = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
    image[:, : WIDTH // 2] = 220
    return image


class ScriptedDetector:
    """Returns the given boxes for every frame; raises on the frame numbers (1-based calls) in `failing`."""

    def __init__(self, boxes: list[tuple[float, float, float, float]], failing: set[int] = frozenset()) -> None:
        self.boxes, self.failing, self.calls = boxes, failing, 0

    def detect(self, image: np.ndarray) -> list[Face]:
        self.calls += 1
        if self.calls in self.failing:
            raise RuntimeError("simulated detector fault")
        return [Face(box, 0.9) for box in self.boxes]


class BrightnessClassifier:
    """Labels a crop by what it shows (bright = mask, dark = no_mask), so a label given to the wrong face shows."""

    card = SimpleNamespace(crop=DEFAULT_RULE)  # the one ModelCard field the pipeline reads

    def __init__(self) -> None:
        self.seen = 0

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        self.seen += len(crops)
        return np.array([[float(crop.mean()) / 255.0] for crop in crops]).reshape(len(crops), 1)

    def label_of(self, probabilities: np.ndarray) -> tuple[str, float]:
        return (MASK, 0.9) if probabilities[0] > 0.5 else (NO_MASK, 0.9)


def frames(count: int) -> list[Frame]:
    image = scene()
    return [Frame(str(i), float(i), image) for i in range(count)]


def quick_tracker() -> Tracker:
    """Decides on one vote, so a face is decided in its first frame and the gate may carry the next ones."""
    return Tracker(TrackerConfig(vote_window=1, vote_min=1, recheck_every=50))


def test_frames_the_gate_skips_carry_the_last_faces() -> None:
    detector = ScriptedDetector([LEFT, RIGHT])
    gate = ChangeGate(GateConfig(decided_every=4), recheck_every=50)
    pipeline = Pipeline(detector, BrightnessClassifier(), quick_tracker(), gate=gate)
    first, decisions = pipeline.process(frames(1)[0])
    assert [(face.track, face.label) for face in first] == [(1, MASK), (2, NO_MASK)]
    assert len(decisions) == 2
    for frame in frames(3)[1:]:
        carried, new = pipeline.process(frame)
        assert gate.skipping, "a static decided scene must be carried"
        assert [(face.track, face.label, face.decision) for face in carried] == [(1, MASK, MASK), (2, NO_MASK, NO_MASK)]
        assert new == []
    assert detector.calls == 1


def test_the_run_loop_hands_carried_faces_to_the_outputs() -> None:
    class Recorder:
        name, wants_frames = "recorder", True

        def __init__(self) -> None:
            self.faces: list[int] = []

        def on_decision(self, decision) -> None:
            pass

        def on_frame(self, frame, tracked, stats) -> None:
            self.faces.append(len(tracked))

        def close(self) -> None:
            pass

    recorder = Recorder()
    gate = ChangeGate(GateConfig(decided_every=10), recheck_every=50)
    pipeline = Pipeline(ScriptedDetector([LEFT]), BrightnessClassifier(), quick_tracker(), [recorder], gate=gate)
    stats = pipeline.run(frames(5))
    assert gate.skipped == 4
    assert recorder.faces == [1, 1, 1, 1, 1], "the screen and the LEDs must not go blank on a carried frame"
    assert stats.frames == 5


@pytest.mark.parametrize("boxes", [[OUTSIDE, RIGHT, LEFT], [LEFT, OUTSIDE, RIGHT], [RIGHT, LEFT, OUTSIDE]])
def test_an_empty_crop_drops_its_face_without_shifting_the_labels_of_the_others(boxes) -> None:
    classifier = BrightnessClassifier()
    pipeline = Pipeline(ScriptedDetector(boxes), classifier, Tracker(TrackerConfig()))
    tracked, _ = pipeline.process(frames(1)[0])
    assert {face.face.box: face.label for face in tracked} == {LEFT: MASK, RIGHT: NO_MASK}
    assert classifier.seen == 2


def test_an_empty_crop_of_a_known_track_keeps_the_other_labels_in_place() -> None:
    detector = ScriptedDetector([LEFT, RIGHT])
    pipeline = Pipeline(detector, BrightnessClassifier(), Tracker(TrackerConfig()))
    pipeline.process(frames(1)[0])
    detector.boxes = [OUTSIDE, LEFT, RIGHT]
    tracked, _ = pipeline.process(frames(2)[1])
    assert [(face.face.box, face.track, face.label) for face in tracked] == [(LEFT, 1, MASK), (RIGHT, 2, NO_MASK)]


def test_scattered_failures_never_add_up_to_the_limit() -> None:
    # Two failures in every three frames, 60 frames: 40 failures in all, never more than 2 in a row.
    failing = {n for n in range(1, 61) if n % 3 != 0}
    pipeline = Pipeline(
        ScriptedDetector([LEFT], failing), BrightnessClassifier(), Tracker(TrackerConfig()), max_consecutive_errors=3
    )
    stats = pipeline.run(frames(60))
    assert (stats.frame_errors, stats.frames) == (40, 20)


def test_the_limit_counts_failures_in_a_row_after_a_good_frame() -> None:
    failing = {1, 2, 4, 5, 6}
    pipeline = Pipeline(
        ScriptedDetector([LEFT], failing), BrightnessClassifier(), Tracker(TrackerConfig()), max_consecutive_errors=3
    )
    with pytest.raises(TooManyErrorsError, match="3 frames in a row failed"):
        pipeline.run(frames(10))
    assert pipeline.stats.frames == 1
    assert pipeline.stats.frame_errors == 5


def test_a_face_not_due_for_a_label_leaves_the_labels_of_the_others_in_place() -> None:
    detector = ScriptedDetector([LEFT])
    classifier = BrightnessClassifier()
    pipeline = Pipeline(detector, classifier, quick_tracker())
    pipeline.process(frames(1)[0])
    detector.boxes = [LEFT, RIGHT]  # the decided left face is not classified again; the new right one is
    tracked, decisions = pipeline.process(frames(2)[1])
    assert classifier.seen == 2
    assert [(face.track, face.label) for face in tracked] == [(1, MASK), (2, NO_MASK)]
    assert [(d.track, d.label) for d in decisions] == [(2, NO_MASK)]


def test_a_failing_output_is_counted_and_logged_by_name_and_the_others_still_get_every_frame(caplog) -> None:
    class Output:
        wants_frames = True

        def __init__(self, name: str, failing: set[int] = frozenset()) -> None:
            self.name, self.failing, self.frames, self.decisions = name, failing, 0, 0

        def on_decision(self, decision) -> None:
            self.decisions += 1

        def on_frame(self, frame, tracked, stats) -> None:
            self.frames += 1
            assert (frame.id, stats) == (str(self.frames - 1), pipeline.stats), "each frame with the loop's stats"
            if self.frames in self.failing:
                raise RuntimeError(f"simulated fault in frame {self.frames}")

        def close(self) -> None:
            pass

    broken, fine = Output("broken", failing={2, 3, 4}), Output("fine")
    pipeline = Pipeline(ScriptedDetector([LEFT]), BrightnessClassifier(), quick_tracker(), [broken, fine])
    with caplog.at_level("WARNING", logger="edge.health.fault_log"):
        stats = pipeline.run(frames(6))
    assert (broken.frames, fine.frames, broken.decisions, fine.decisions) == (6, 6, 1, 1)
    assert dict(stats.output_failures) == {"broken": 3}
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("output broken on_frame failed: simulated fault in frame 2")
    assert messages[-1].startswith("output broken on_frame works again after 3 failures")
    assert not any("fine" in message for message in messages)


def test_the_loop_stops_after_max_frames_or_when_told_and_reports_its_source_counters() -> None:
    class Source(list):
        reconnects, dropped, skipped = 2, 7, 1  # what a camera source counts (edge.sources)

    pipeline = Pipeline(ScriptedDetector([LEFT]), BrightnessClassifier(), quick_tracker())
    stats = pipeline.run(Source(frames(10)), max_frames=3)
    assert stats.frames == 3
    assert (stats.camera_reconnects, stats.camera_dropped_frames, stats.skipped_files) == (2, 7, 1)
    stop = threading.Event()
    stop.set()
    assert Pipeline(ScriptedDetector([LEFT]), BrightnessClassifier(), quick_tracker()).run(frames(5), stop).frames == 0


class ReturningOutput:
    """on_frame raises on frame 2, then returns what `answers` holds for frames 3 and on (a snapshot output
    answers False when no snapshot was due: nothing was tried, so nothing is known to work again)."""

    name, wants_frames = "snapshots", True

    def __init__(self, answers: list[object]) -> None:
        self.answers, self.frames = answers, 0

    def on_decision(self, decision) -> None:
        pass

    def on_frame(self, frame, tracked, stats) -> object:
        self.frames += 1
        if self.frames == 2:
            raise OSError("simulated disk full")
        return self.answers[self.frames - 3] if self.frames >= 3 else None

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("answers", "works_again"), [([False, False], False), ([False, True], True), ([None], True)])
def test_an_output_that_tried_nothing_is_not_said_to_work_again(caplog, answers: list, works_again: bool) -> None:
    output = ReturningOutput(answers)
    pipeline = Pipeline(ScriptedDetector([LEFT]), BrightnessClassifier(), quick_tracker(), [output])
    with caplog.at_level("WARNING", logger="edge.health.fault_log"):
        pipeline.run(frames(2 + len(answers)))
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("output snapshots on_frame failed: simulated disk full")
    assert any("works again" in message for message in messages) is works_again, messages


def test_each_frame_s_time_is_measured_from_its_start() -> None:
    pipeline = Pipeline(ScriptedDetector([LEFT]), BrightnessClassifier(), quick_tracker())
    before = time.perf_counter()
    stats = pipeline.run(frames(3))
    elapsed = time.perf_counter() - before
    assert len(stats.frame_seconds) == 3
    assert all(0.0 < seconds <= elapsed for seconds in stats.frame_seconds), (list(stats.frame_seconds), elapsed)
    assert sum(stats.frame_seconds) <= elapsed


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ([[0, 0], [0, 0]], "frame is a list, not an image array"),
        (np.zeros((4, 4, 3), np.float32), "frame dtype float32 is not uint8"),
        (np.zeros((4, 4, 5), np.uint8), r"frame shape \(4, 4, 5\) is not HxWx3"),
    ],
)
def test_a_frame_that_is_no_image_is_refused_with_what_it_is(image: object, message: str) -> None:
    with pytest.raises(BadFrameError, match=message):
        as_bgr(image)


def test_the_gate_sees_the_tracks_and_the_loop_reports_when_it_skips() -> None:
    """Decided faces in view: the gate's decided_every rule applies (not the empty-door one)."""
    detector = ScriptedDetector([LEFT, RIGHT])
    gate = ChangeGate(GateConfig(decided_every=2, empty_check_every=1000), recheck_every=50)
    pipeline = Pipeline(detector, BrightnessClassifier(), quick_tracker(), gate=gate)
    skipping = []
    for frame in frames(5):
        pipeline.process(frame)
        skipping.append(pipeline.stats.gate_skipping)
    assert detector.calls == 3
    assert skipping == [False, True, False, True, False]


def test_faces_outside_the_door_zone_are_tracked_but_never_classified() -> None:
    classifier = BrightnessClassifier()
    zone = DoorZone(left=0.0, top=0.0, right=0.5, bottom=1.0)  # the left half of the frame: LEFT is in, RIGHT out
    pipeline = Pipeline(ScriptedDetector([LEFT, RIGHT]), classifier, quick_tracker(), zone=zone)
    tracked, decisions = pipeline.process(frames(1)[0])
    assert classifier.seen == 1
    assert [(face.track, face.label, face.place) for face in tracked] == [(1, MASK, Place.DOOR), (2, "", Place.OUTSIDE)]
    assert [d.track for d in decisions] == [1]


def test_another_face_on_the_same_spot_starts_a_new_track() -> None:
    """The tracker compares looks with the frame's image: another face where the first one was is a new person."""
    pipeline = Pipeline(ScriptedDetector([LEFT]), BrightnessClassifier(), quick_tracker())
    bright = np.full((HEIGHT, WIDTH, 3), (60, 230, 230), np.uint8)  # a light yellow face and scene
    dark = np.full((HEIGHT, WIDTH, 3), (120, 20, 20), np.uint8)  # a dark blue one
    first, _ = pipeline.process(Frame("1", 1.0, bright))
    second, decisions = pipeline.process(Frame("2", 2.0, dark))
    assert [(face.track, face.label) for face in first] == [(1, MASK)]
    assert [(face.track, face.label) for face in second] == [(2, NO_MASK)]
    assert [(d.track, d.label) for d in decisions] == [(2, NO_MASK)]


def test_the_classifier_gets_crops_by_its_own_crop_rule() -> None:
    class SmallCrops(BrightnessClassifier):
        card = SimpleNamespace(crop=CropRule(size=32, margin=0.0))

        def classify(self, crops: list[np.ndarray]) -> np.ndarray:
            self.shapes = [crop.shape for crop in crops]
            return super().classify(crops)

    classifier = SmallCrops()
    Pipeline(ScriptedDetector([LEFT]), classifier, quick_tracker()).process(frames(1)[0])
    assert classifier.shapes == [(32, 32, 3)]


def test_by_default_the_loop_ends_after_100_failed_frames_in_a_row() -> None:
    detector = ScriptedDetector([LEFT], failing=set(range(1, 1000)))
    with pytest.raises(TooManyErrorsError, match="100 frames in a row failed"):
        Pipeline(detector, BrightnessClassifier(), quick_tracker()).run(frames(200))
    assert detector.calls == 100


def test_a_frame_of_two_rows_is_an_image_and_one_row_is_not() -> None:
    assert as_bgr(np.zeros((2, 2, 3), np.uint8)).shape == (2, 2, 3)
    with pytest.raises(BadFrameError, match="not HxWx3"):
        as_bgr(np.zeros((1, 5, 3), np.uint8))
