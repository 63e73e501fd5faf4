"""The label policy: one rule turns classifier labels into the door's OK / warn / not OK."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import TrackerConfig
from edge.vision.labels import DEFAULT_POLICY, MASK, MASK_INCORRECT, NO_MASK, UNSURE, DoorState, LabelPolicy
from edge.vision.tracker import Tracker
from edge.vision.types import Face


def test_only_a_mask_lets_a_person_in_by_default() -> None:
    assert DEFAULT_POLICY.state(MASK) is DoorState.OK
    assert DEFAULT_POLICY.state(NO_MASK) is DoorState.NOT_OK
    assert DEFAULT_POLICY.state(MASK_INCORRECT) is DoorState.NOT_OK
    assert DEFAULT_POLICY.state("a_class_added_later") is DoorState.NOT_OK, "new classes are not OK unless configured"
    assert DEFAULT_POLICY.is_alarm(MASK_INCORRECT) and not DEFAULT_POLICY.lets_in(MASK_INCORRECT)


def test_a_site_may_treat_a_wrong_mask_as_a_warning() -> None:
    policy = LabelPolicy.from_config("warn")
    assert policy.state(MASK_INCORRECT) is DoorState.WARN
    assert policy.lets_in(MASK_INCORRECT) and not policy.is_alarm(MASK_INCORRECT)
    assert policy.door_state([MASK, MASK_INCORRECT]) is DoorState.WARN
    assert policy.door_state([MASK_INCORRECT, NO_MASK]) is DoorState.NOT_OK


@pytest.mark.parametrize(
    ("decided", "worst"),
    [
        ([], None),
        ([None], None),
        ([MASK], MASK),
        ([MASK, MASK_INCORRECT], MASK_INCORRECT),
        ([MASK_INCORRECT, NO_MASK], NO_MASK),
    ],
)
def test_the_worst_confirmed_label_decides_the_door(decided: list, worst: str | None) -> None:
    assert DEFAULT_POLICY.worst_label(decided) == worst


def test_by_default_a_wrong_mask_is_not_ok() -> None:
    policy = LabelPolicy.from_config("not_ok")
    assert policy.state(MASK_INCORRECT) is DoorState.NOT_OK
    assert policy.door_state([MASK, MASK_INCORRECT]) is DoorState.NOT_OK


def test_severity_not_the_name_picks_the_worst_label() -> None:
    """A class a later model adds whose name sorts before "mask" still decides the door."""
    assert DEFAULT_POLICY.worst_label([MASK, "face_shield"]) == "face_shield"
    assert DEFAULT_POLICY.door_state(["face_shield", MASK]) is DoorState.NOT_OK
    warn = LabelPolicy.from_config("warn")
    assert warn.worst_label([MASK_INCORRECT, "bare"]) == "bare"


def test_unsure_votes_never_become_a_decision() -> None:
    tracker = Tracker(TrackerConfig(vote_window=5, vote_min=3))
    face = Face((10, 10, 60, 60), 0.9)
    decisions = []
    for label in (UNSURE, UNSURE, UNSURE, UNSURE):
        decisions += tracker.update("f", 0.0, [face], [label], [0.6])[1]
    assert decisions == [] and tracker.tracks[0].decision is None, "an unsure face stays undecided"
    for label in (MASK, MASK, UNSURE, MASK):
        decisions += tracker.update("f", 0.0, [face], [label], [0.99])[1]
    assert [d.label for d in decisions] == [MASK], "surer frames decide it"


def test_the_classifier_calls_a_weak_mask_unsure(packaged_classifier) -> None:
    classifier = packaged_classifier(mask_threshold=0.9)
    index = classifier.labels.index(MASK)
    weak, strong = np.full(len(classifier.labels), 0.05, np.float32), np.zeros(len(classifier.labels), np.float32)
    weak[index], strong[index] = 0.8, 0.95
    assert classifier.label_of(weak) == (UNSURE, pytest.approx(0.8))
    assert classifier.label_of(strong) == (MASK, pytest.approx(0.95))
    bare = np.zeros(len(classifier.labels), np.float32)
    bare[classifier.labels.index(NO_MASK)] = 0.6
    assert classifier.label_of(bare)[0] == NO_MASK, "the threshold holds back masks only"


@pytest.fixture
def packaged_classifier():
    from edge.modelfiles.find import DEFAULT_CLASSIFIER, packaged_model_dir
    from edge.vision.classifier import MaskClassifier

    return lambda **kwargs: MaskClassifier(packaged_model_dir() / DEFAULT_CLASSIFIER, **kwargs)
