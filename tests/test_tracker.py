import pytest

from edge.config import ConfigError, TrackerConfig, from_dict
from edge.vision.labels import LabelPolicy
from edge.vision.tracker import Tracker, iou_matrix
from edge.vision.types import Face


def face(x: float, y: float = 10, size: float = 50) -> Face:
    return Face((x, y, x + size, y + size), 0.9)


def feed(tracker: Tracker, frames: list[list[tuple[Face, str]]]):
    tracked, decisions = [], []
    for number, faces in enumerate(frames):
        t, d = tracker.update(
            str(number), float(number), [f for f, _ in faces], [lab for _, lab in faces], [0.9] * len(faces)
        )
        tracked.append(t)
        decisions += d
    return tracked, decisions


def test_iou_of_identical_disjoint_and_half_overlapping_boxes():
    overlaps = iou_matrix([(0, 0, 10, 10)], [(0, 0, 10, 10), (20, 20, 30, 30), (5, 0, 15, 10)])
    assert overlaps[0, 0] == 1.0 and overlaps[0, 1] == 0.0
    assert abs(overlaps[0, 2] - 1 / 3) < 1e-9


def test_a_moving_face_keeps_its_track():
    tracked, _ = feed(Tracker(TrackerConfig()), [[(face(10 + 5 * i), "mask")] for i in range(6)])
    assert {t[0].track for t in tracked} == {1}


def test_two_faces_keep_separate_tracks_and_decisions():
    frames = [[(face(0), "mask"), (face(200), "no_mask")] for _ in range(3)]
    tracked, decisions = feed(Tracker(TrackerConfig(vote_window=3, vote_min=3)), frames)
    assert [t.track for t in tracked[-1]] == [1, 2]
    assert sorted((d.track, d.label) for d in decisions) == [(1, "mask"), (2, "no_mask")]


def test_k_of_n_vote_confirms_once_and_a_single_bad_frame_never_alerts():
    labels = ["mask", "no_mask", "mask", "mask", "mask", "no_mask", "mask"]
    tracked, decisions = feed(Tracker(TrackerConfig(vote_window=5, vote_min=3)), [[(face(10), lab)] for lab in labels])
    assert [(d.frame, d.label) for d in decisions] == [("3", "mask")]
    assert [t[0].decision for t in tracked] == [None, None, None, "mask", "mask", "mask", "mask"]


def test_flicker_without_a_majority_stays_undecided():
    labels = ["mask", "no_mask"] * 4
    _, decisions = feed(Tracker(TrackerConfig(vote_window=5, vote_min=4)), [[(face(10), lab)] for lab in labels])
    assert decisions == []


def test_a_changed_mind_is_a_correction_naming_the_label_it_replaces():
    labels = ["no_mask"] * 3 + ["mask"] * 3
    config = TrackerConfig(vote_window=3, vote_min=3, change_min=3)
    _, decisions = feed(Tracker(config), [[(face(10), lab)] for lab in labels])
    assert [(d.label, d.previous) for d in decisions] == [("no_mask", None), ("mask", "no_mask")]
    assert {d.track for d in decisions} == {1}
    assert [d.as_event()["event"] for d in decisions] == ["decided", "corrected"]
    assert decisions[1].as_event()["previous"] == "no_mask"


def test_a_decision_holds_until_another_label_has_change_min_votes():
    """vote_min (3 of 5) decides; overturning it takes change_min (5 of 5): a 4-of-5 majority is not enough."""
    labels = ["no_mask"] * 3 + ["mask"] * 4 + ["no_mask"] + ["mask"] * 4 + ["mask"]
    config = TrackerConfig(vote_window=5, vote_min=3, change_min=5)
    tracked, decisions = feed(Tracker(config), [[(face(10), lab)] for lab in labels])
    assert [(d.frame, d.label, d.previous) for d in decisions] == [("2", "no_mask", None), ("12", "mask", "no_mask")]
    assert [t[0].decision for t in tracked][2:12] == ["no_mask"] * 10


def test_a_track_lost_for_longer_than_max_missed_starts_again():
    frames = [[(face(10), "mask")], [], [], [(face(10), "mask")]]
    tracked, _ = feed(Tracker(TrackerConfig(max_missed=1)), frames)
    assert tracked[0][0].track == 1 and tracked[3][0].track == 2


def test_per_frame_mode_decides_every_face_at_once():
    _, decisions = feed(Tracker(TrackerConfig(), per_frame=True), [[(face(10), "mask")], [(face(10), "no_mask")]])
    assert [(d.track, d.label) for d in decisions] == [(1, "mask"), (2, "no_mask")]


def run_door(tracker: Tracker, truth: list[str]):
    """One face standing still; `truth[n]` is what the classifier would say in frame n, asked only when needed."""
    labelled_frames, decisions = [], []
    for number, label in enumerate(truth):
        faces = [face(10)]
        matched = tracker.match(faces)
        wanted = tracker.needs_label(matched[0])
        if wanted:
            labelled_frames.append(number)
        _, new = tracker.update(
            str(number), float(number), faces, [label if wanted else None], [0.9 if wanted else None], matched
        )
        decisions += new
    return labelled_frames, decisions


def test_a_decided_face_is_classified_only_every_recheck_every_frames():
    labelled, decisions = run_door(Tracker(TrackerConfig(vote_window=5, vote_min=3, recheck_every=5)), ["mask"] * 20)
    assert labelled == [0, 1, 2, 7, 12, 17]
    assert [(d.frame, d.label) for d in decisions] == [("2", "mask")]


def test_recheck_every_1_classifies_every_frame():
    labelled, _ = run_door(Tracker(TrackerConfig(recheck_every=1)), ["mask"] * 8)
    assert labelled == list(range(8))


def test_a_mask_taken_off_after_the_decision_is_corrected_within_a_recheck_and_a_full_window():
    truth = ["mask"] * 10 + ["no_mask"] * 10
    labelled, decisions = run_door(Tracker(TrackerConfig(vote_window=5, vote_min=3, recheck_every=5)), truth)
    assert [(d.frame, d.label, d.previous) for d in decisions] == [("2", "mask", None), ("16", "no_mask", "mask")]
    assert labelled == [0, 1, 2, 7, 12, 13, 14, 15, 16]


def test_one_doubtful_recheck_is_followed_up_and_a_fluke_changes_nothing():
    truth = ["mask"] * 7 + ["no_mask"] + ["mask"] * 12
    labelled, decisions = run_door(Tracker(TrackerConfig(vote_window=5, vote_min=3, recheck_every=5)), truth)
    assert [d.label for d in decisions] == ["mask"]
    assert labelled == [0, 1, 2, 7, 8, 13, 18]


def test_a_skipped_face_keeps_its_last_label_and_a_new_face_must_be_labelled():
    tracker = Tracker(TrackerConfig(vote_window=1, vote_min=1, recheck_every=3))
    tracker.update("0", 0.0, [face(10)], ["no_mask"], [0.8])
    tracked, decisions = tracker.update("1", 1.0, [face(12)], [None], [None])
    assert (tracked[0].label, tracked[0].score, tracked[0].decision, decisions) == ("no_mask", 0.8, "no_mask", [])
    with pytest.raises(ValueError, match="new face at the door needs a label"):
        tracker.update("2", 2.0, [face(400)], [None], [None])
    with pytest.raises(ConfigError, match=r"tracker\.recheck_every: 0 is out of range"):
        from_dict({"tracker": {"recheck_every": 0}})


def test_a_label_the_door_treats_alike_corrects_nothing_and_another_state_does():
    """no_mask read again as mask_incorrect: both keep the door shut, so the person keeps one decision; with the
    site letting wrong masks in with a warning (policy warn) the same votes are a correction."""
    labels = ["no_mask"] * 3 + ["mask_incorrect"] * 6
    config = TrackerConfig(vote_window=5, vote_min=3, change_min=5)
    _, strict = feed(Tracker(config), [[(face(10), lab)] for lab in labels])
    assert [(d.label, d.previous) for d in strict] == [("no_mask", None)]
    _, warn = feed(Tracker(config, policy=LabelPolicy.from_config("warn")), [[(face(10), lab)] for lab in labels])
    assert [(d.label, d.previous) for d in warn] == [("no_mask", None), ("mask_incorrect", "no_mask")]
