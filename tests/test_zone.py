"""The door zone: faces too small or outside the region are tracked but never classified or decided."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import DetectorConfig, TrackerConfig, ZoneConfig, from_dict
from edge.detectors import create_detector
from edge.pipeline import Pipeline
from edge.vision.classifier import MaskClassifier
from edge.vision.tracker import Tracker
from edge.vision.types import Face, Frame, Place
from edge.vision.zone import DoorZone


def test_a_face_is_at_the_door_when_wide_enough_and_centred_in_the_region():
    zone = DoorZone(min_face=48, left=0.25, right=0.75)
    assert zone.place(Face((300, 200, 360, 260), 0.9), 640, 480) is Place.DOOR
    assert zone.place(Face((300, 200, 347, 247), 0.9), 640, 480) is Place.FAR, "47 px is below 48"
    assert zone.place(Face((20, 200, 120, 300), 0.9), 640, 480) is Place.OUTSIDE, "centre at x=70 is left of 160"
    assert zone.region(640, 480) == (160, 0, 480, 480)


def test_the_zone_config_is_checked_across_keys():
    with pytest.raises(Exception, match=r"zone\.right"):
        from_dict({"zone": {"left": 0.6, "right": 0.4}})
    with pytest.raises(Exception, match=r"tracker\.change_min"):
        from_dict({"tracker": {"vote_min": 3, "change_min": 2}})
    assert from_dict({"zone": {"min_face": 80}}).zone == ZoneConfig(min_face=80)


class CountingClassifier:
    """The real classifier, counting the crops it is given."""

    def __init__(self, classifier: MaskClassifier) -> None:
        self.inner, self.crops = classifier, 0
        self.card = classifier.card

    def classify(self, crops):
        self.crops += len(crops)
        return self.inner.classify(crops)

    def label_of(self, probabilities):
        return self.inner.label_of(probabilities)


@pytest.fixture
def parts(model_env, default_classifier):
    return create_detector(DetectorConfig(), [model_env]), CountingClassifier(MaskClassifier(default_classifier))


def door_frame(face_photo: np.ndarray, width: int) -> np.ndarray:
    """A 640x480 grey frame with the photo scaled to `width` pixels in its middle."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    scaled = cv2.resize(face_photo, (width, round(face_photo.shape[0] * width / face_photo.shape[1])))
    top, left = (480 - scaled.shape[0]) // 2, (640 - scaled.shape[1]) // 2
    frame[top : top + scaled.shape[0], left : left + scaled.shape[1]] = scaled
    return frame


def test_a_far_face_is_tracked_grey_never_classified_then_decided_once_it_comes_close(parts, facemask_dir: Path):
    detector, classifier = parts
    photo = cv2.imread(str(sorted((facemask_dir / "without_mask").glob("*.jpg"))[3]))
    pipeline = Pipeline(detector, classifier, Tracker(TrackerConfig()), zone=DoorZone(min_face=100))
    far = [pipeline.process(Frame(str(i), i / 15, door_frame(photo, 90))) for i in range(4)]
    assert all(len(tracked) == 1 for tracked, _ in far), "the far face is found and tracked in every frame"
    assert {(t.place, t.label, t.decision) for tracked, _ in far for t in tracked} == {(Place.FAR, "", None)}
    assert classifier.crops == 0 and not any(decisions for _, decisions in far)
    near = [pipeline.process(Frame(str(4 + i), (4 + i) / 15, door_frame(photo, 200))) for i in range(4)]
    assert all(t.place is Place.DOOR for tracked, _ in near for t in tracked)
    decisions = [d for _, ds in near for d in ds]
    assert len(decisions) == 1 and decisions[0].label == "no_mask" and decisions[0].previous is None
    assert classifier.crops >= 3


def test_every_zone_setting_reaches_the_door_zone():
    config = from_dict({"zone": {"min_face": 60, "left": 0.1, "top": 0.2, "right": 0.7, "bottom": 0.9}}).zone
    assert DoorZone.from_config(config) == DoorZone(min_face=60, left=0.1, top=0.2, right=0.7, bottom=0.9)
    assert DoorZone.from_config(config).region(1000, 500) == (100, 100, 700, 450)


def test_a_face_on_the_edge_of_the_region_or_exactly_min_face_wide_is_at_the_door():
    zone = DoorZone(min_face=40, left=0.25, top=0.25, right=0.75, bottom=0.75)  # 400x400 frame: 100..300
    for cx, cy in ((100, 200), (300, 200), (200, 100), (200, 300)):
        assert zone.place(Face((cx - 20, cy - 20, cx + 20, cy + 20), 0.9), 400, 400) is Place.DOOR, (cx, cy)
    for cx, cy in ((99, 200), (301, 200), (200, 99), (200, 301)):
        assert zone.place(Face((cx - 20, cy - 20, cx + 20, cy + 20), 0.9), 400, 400) is Place.OUTSIDE, (cx, cy)
    assert zone.place(Face((180, 180, 219, 219), 0.9), 400, 400) is Place.FAR, "39 px wide"


def test_outside_the_region_wins_over_too_small_and_the_whole_frame_keeps_every_box():
    zone = DoorZone(min_face=100, left=0.5)
    assert zone.place(Face((0, 0, 20, 20), 0.9), 400, 400) is Place.OUTSIDE
    assert DoorZone(min_face=10).whole_frame and not zone.whole_frame
    # a box that runs off the frame still counts when the zone is the whole frame (a face half out of the picture)
    assert DoorZone().place(Face((-50, -50, 30, 30), 0.9), 400, 400) is Place.DOOR
    assert DoorZone(top=0.1).place(Face((-50, -50, 30, 30), 0.9), 400, 400) is Place.OUTSIDE
