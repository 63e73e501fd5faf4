import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import DetectorConfig, EventsConfig, TrackerConfig
from edge.detectors import create_detector
from edge.outputs.events import EventLog
from edge.pipeline import Pipeline, TooManyErrorsError
from edge.sources.files import ImageFilesSource
from edge.vision.classifier import MaskClassifier
from edge.vision.tracker import Tracker
from edge.vision.types import Frame

HELD_OUT = Path(__file__).resolve().parent.parent / "edge" / "models" / "test_split.txt"


def held_out_photos(facemask_dir: Path, per_class: int) -> list[tuple[Path, str]]:
    """Photos of the default model's held-out test split (never trained on), per_class of each label."""
    rows = [line.split(",") for line in HELD_OUT.read_text().split()]
    picked = []
    for folder, label in (("with_mask", "mask"), ("without_mask", "no_mask")):
        prefix = f"facemask/{folder}/"
        files = [
            facemask_dir / name.removeprefix("facemask/")
            for name, lab in rows
            if lab == label and name.startswith(prefix)
        ]
        picked += [(f, label) for f in files[:per_class]]
    return picked


@pytest.fixture
def pipeline_parts(model_env, default_classifier):
    detector = create_detector(DetectorConfig(), [model_env])
    return detector, MaskClassifier(default_classifier)


def test_end_to_end_on_held_out_photos_through_yunet_and_the_int8_model(pipeline_parts, facemask_dir, tmp_path):
    photos = held_out_photos(facemask_dir, 25)
    truth = {path.name: label for path, label in photos}
    events = tmp_path / "events.jsonl"
    event_log = EventLog(str(events), EventsConfig())
    pipeline = Pipeline(*pipeline_parts, Tracker(TrackerConfig(), per_frame=True), [event_log])
    stats = pipeline.run(ImageFilesSource([p for p, _ in photos]))
    pipeline.close()
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert stats.frames == len(photos) == 50
    assert set(lines[0]) >= {"frame", "time", "track", "box", "label", "score"}
    largest = {}
    for event in lines:
        x1, _, x2, _ = event["box"]
        if event["frame"] not in largest or (x2 - x1) > largest[event["frame"]][0]:
            largest[event["frame"]] = (x2 - x1, event["label"])
    decided = {frame: label for frame, (_, label) in largest.items()}
    assert len(decided) >= 0.9 * len(photos), "YuNet should find a face in nearly every photo"
    correct = sum(decided[frame] == truth[frame] for frame in decided)
    assert correct / len(decided) >= 0.95, f"{correct}/{len(decided)} correct"


def test_bad_frames_are_skipped_and_the_loop_goes_on(pipeline_parts, facemask_dir):
    good = cv2.imread(str(sorted((facemask_dir / "without_mask").glob("*.jpg"))[0]))
    frames = [
        Frame("float", 0.0, good.astype(np.float32)),
        Frame("five-channels", 0.0, np.zeros((48, 64, 5), np.uint8)),
        Frame("none", 0.0, None),
        Frame("empty", 0.0, np.zeros((0, 0, 3), np.uint8)),
        Frame("grey", 0.0, cv2.cvtColor(good, cv2.COLOR_BGR2GRAY)),
        Frame("bgra", 0.0, cv2.cvtColor(good, cv2.COLOR_BGR2BGRA)),
        Frame("blank", 0.0, np.zeros((480, 640, 3), np.uint8)),
        Frame("good", 0.0, good),
    ]
    pipeline = Pipeline(*pipeline_parts, Tracker(TrackerConfig(), per_frame=True))
    stats = pipeline.run(frames)
    assert stats.skipped_frames == 4
    assert stats.frames == 4
    assert stats.faces == 3, "grey, BGRA and the good frame have one face each; the blank frame none"


class FailingOn:
    """Wraps the real detector; raises on chosen frames, as a driver or model fault would."""

    def __init__(self, detector, failing: int) -> None:
        self.detector, self.failing, self.calls = detector, failing, 0

    def detect(self, image):
        self.calls += 1
        if self.calls <= self.failing:
            raise RuntimeError("simulated fault")
        return self.detector.detect(image)


def test_one_failing_frame_does_not_end_the_loop_but_a_run_of_them_does(pipeline_parts):
    detector, classifier = pipeline_parts
    blank = [Frame(str(i), 0.0, np.zeros((48, 64, 3), np.uint8)) for i in range(5)]
    pipeline = Pipeline(FailingOn(detector, 2), classifier, Tracker(TrackerConfig()))
    stats = pipeline.run(blank)
    assert (stats.frame_errors, stats.frames) == (2, 3)
    with pytest.raises(TooManyErrorsError, match="3 frames in a row failed"):
        Pipeline(FailingOn(detector, 10), classifier, Tracker(TrackerConfig()), max_consecutive_errors=3).run(blank)


def test_hundreds_of_faces_are_capped_at_max_faces(model_env, default_classifier, facemask_dir):
    face = cv2.resize(cv2.imread(str(sorted((facemask_dir / "without_mask").glob("*.jpg"))[3])), (64, 64))
    crowd = np.tile(face, (15, 20, 1))
    detector = create_detector(DetectorConfig(input_size=1280, max_faces=40, min_face_size=10), [model_env])
    pipeline = Pipeline(detector, MaskClassifier(default_classifier), Tracker(TrackerConfig()))
    stats = pipeline.run([Frame("crowd", 0.0, crowd)])
    assert stats.frames == 1 and stats.faces == 40


def test_events_are_on_disk_as_soon_as_they_are_decided(pipeline_parts, facemask_dir, tmp_path):
    events = tmp_path / "events.jsonl"
    photos = sorted((facemask_dir / "without_mask").glob("*.jpg"))[:2]
    event_log = EventLog(str(events), EventsConfig())
    pipeline = Pipeline(*pipeline_parts, Tracker(TrackerConfig(), per_frame=True), [event_log])
    pipeline.run(ImageFilesSource(photos))
    assert len(events.read_text().splitlines()) >= 2, "lines must be flushed before close()"
    pipeline.close()


class CountingClassifier:
    """The real classifier, counting the crops it is given."""

    def __init__(self, classifier: MaskClassifier) -> None:
        self.classifier, self.crops = classifier, 0

    def classify(self, crops):
        self.crops += len(crops)
        return self.classifier.classify(crops)

    def __getattr__(self, name):
        return getattr(self.classifier, name)


@pytest.mark.parametrize(("recheck_every", "classified"), [(1, 20), (5, 6)])
def test_a_face_at_the_door_is_reclassified_every_recheck_every_frames(
    pipeline_parts, facemask_dir, recheck_every, classified
):
    detector, classifier = pipeline_parts
    photo_path = next(path for path, label in held_out_photos(facemask_dir, 5) if label == "no_mask")
    photo = cv2.imread(str(photo_path))
    scale = 220 / max(photo.shape[:2])
    photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[100 : 100 + photo.shape[0], 200 : 200 + photo.shape[1]] = photo
    counting = CountingClassifier(classifier)
    pipeline = Pipeline(detector, counting, Tracker(TrackerConfig(recheck_every=recheck_every)))
    stats = pipeline.run(Frame(str(n), n / 30, canvas) for n in range(20))
    assert stats.faces == 20
    assert counting.crops == classified  # frames 0-2 decide; then frames 7, 12 and 17 recheck
    assert stats.decisions.snapshot() == {"no_mask": 1}


def test_decision_counts_are_one_place_read_as_copies() -> None:
    """The summary, the status line, metrics and MQTT read LoopStats.decisions; each reader gets its own copy,
    so the loop adding a label never seen before cannot change a dict under another thread's feet."""
    from edge.vision.stats import LoopStats

    stats = LoopStats()
    stats.decisions.add("mask")
    before = stats.decisions.snapshot()
    stats.decisions.add("mask_incorrect")
    before["mask"] = 99
    assert stats.decisions.snapshot() == {"mask": 1, "mask_incorrect": 1}
    assert stats.summary()["decisions"] == {"mask": 1, "mask_incorrect": 1}
    assert "mask 1, mask_incorrect 1" in stats.status_line()
