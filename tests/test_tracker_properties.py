"""Properties of the tracker and its vote over random doors: random sequences of face boxes, labels, places and
(sometimes) frames, fed as the pipeline feeds them (match, needs_label, update). Whatever the sequence:

- one track per face per frame: no two faces of a frame share a track;
- a track is decided once; every later Decision of it is a correction: `previous` is its prior decision and the
  new label differs from it, in the door state the label policy gives it;
- no first decision from fewer than vote_min votes of the track's window, no correction from fewer than change_min;
- decisions only for faces at the door (labelled in that frame), never for UNSURE.

The boxes come from a small grid so that faces overlap each other and the tracks of earlier frames: the matching's
conflicts (two faces over one track, a face between two tracks) are the common case, not the rare one.
"""

from __future__ import annotations

import os
from collections import Counter, deque

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config import TrackerConfig, from_dict
from edge.vision.labels import DEFAULT_POLICY, MASK, MASK_INCORRECT, NO_MASK, UNSURE
from edge.vision.tracker import Tracker
from edge.vision.types import Box, Decision, Face, Place

settings.register_profile("tracker", max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# benchmarks/mutation.sh: the same examples for every mutant, so a mutant's verdict does not depend on the draw
settings.register_profile("mutation", parent=settings.get_profile("tracker"), derandomize=True, database=None)
PROFILE = "mutation" if os.environ.get("MASKGATE_MUTATION") else "tracker"

HEIGHT, WIDTH = 240, 320
COLOURS = [(30, 30, 200), (200, 60, 20), (40, 180, 40), (200, 200, 200)]
LABELS = [MASK, NO_MASK, MASK_INCORRECT, UNSURE]


def tracker_config(window: int, k: int, extra: int, iou: float, missed: int, recheck: int, same: float, back: float):
    """A config as the project accepts it (from_dict checks vote_min <= change_min <= vote_window)."""
    k = min(k, window)
    values = {"vote_window": window, "vote_min": k, "change_min": min(k + extra, window), "iou_threshold": iou}
    values |= {"max_missed": missed, "recheck_every": recheck, "same_face_min": same, "return_face_min": back}
    return from_dict({"tracker": values}).tracker


configs = st.builds(
    tracker_config,
    window=st.integers(1, 6),
    k=st.integers(1, 6),
    extra=st.integers(0, 3),
    iou=st.sampled_from([0.05, 0.3, 0.6]),
    missed=st.integers(0, 3),
    recheck=st.integers(1, 4),
    same=st.sampled_from([0.0, 0.5]),
    back=st.sampled_from([0.0, 0.7]),
)
faces = st.tuples(
    st.sampled_from([20, 30, 40, 90, 150, 200]),  # x: neighbours overlap, far ones do not
    st.sampled_from([40, 50]),  # y
    st.sampled_from([40, 60]),  # size
    st.sampled_from(LABELS),  # what the classifier would say if asked
    st.sampled_from(list(Place)),
    st.sampled_from(range(len(COLOURS))),  # who it is, when the frame is given
)
frames = st.lists(st.lists(faces, max_size=4), min_size=1, max_size=14)


def picture(drawn: list[tuple]) -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    for x, y, size, _, _, colour in drawn:
        image[max(0, y - 10) : y + size + 20, max(0, x - 10) : x + size + 10] = COLOURS[colour]
    return image


def run(config: TrackerConfig, sequence: list[list[tuple]], with_places: bool, with_images: bool) -> None:
    tracker = Tracker(config)
    votes: dict[int, deque[str]] = {}  # each track's window as this test fed it
    decided: dict[int, str] = {}  # each track's decision so far, from the Decisions alone
    for number, drawn in enumerate(sequence):
        boxes: list[Box] = [(float(x), float(y), float(x + size), float(y + size)) for x, y, size, *_ in drawn]
        faces_of_frame = [Face(box, 0.9) for box in boxes]
        places = [place for *_, place, _ in drawn] if with_places else [Place.DOOR] * len(drawn)
        matched = tracker.match(faces_of_frame, picture(drawn) if with_images else None)

        continued = [id(track) for track in matched if track is not None]
        assert len(continued) == len(set(continued)), "two faces of one frame continue the same track"

        labels: list[str | None] = [
            label if place is Place.DOOR and tracker.needs_label(track) else None
            for (*_, label, _, _), track, place in zip(drawn, matched, places, strict=True)
        ]
        scores = [None if label is None else 0.8 for label in labels]
        tracked, decisions = tracker.update(
            str(number), float(number), faces_of_frame, labels, scores, matched, places if with_places else None
        )

        ids = [face.track for face in tracked]
        assert len(ids) == len(set(ids)), f"frame {number}: faces share a track: {ids}"
        for face, track in zip(tracked, matched, strict=True):
            if track is not None:
                assert face.track == track.id, "a matched face must keep the track it matched"
        for face, label in zip(tracked, labels, strict=True):
            if label is not None:
                votes.setdefault(face.track, deque(maxlen=config.vote_window)).append(label)

        labelled_at_door = {face.track for face, label in zip(tracked, labels, strict=True) if label is not None}
        assert len({d.track for d in decisions}) == len(decisions), "a track decided twice in one frame"
        for decision in decisions:
            check_decision(decision, config, votes, decided, labelled_at_door, places, tracked)
            decided[decision.track] = decision.label
        for face in tracked:
            assert face.decision == decided.get(face.track), "a face must carry its track's decision"


def check_decision(
    decision: Decision,
    config: TrackerConfig,
    votes: dict[int, deque[str]],
    decided: dict[int, str],
    labelled_at_door: set[int],
    places: list[Place],
    tracked: list,
) -> None:
    assert decision.track in labelled_at_door, "a decision for a face that was not labelled at the door"
    place = next(p for face, p in zip(tracked, places, strict=True) if face.track == decision.track)
    assert place is Place.DOOR
    assert decision.label != UNSURE
    count = Counter(votes[decision.track])[decision.label]
    if decision.track not in decided:
        assert decision.previous is None, "a first decision must not claim to correct anything"
        assert count >= config.vote_min, f"decided {decision.label} from {count} < vote_min {config.vote_min}"
    else:
        assert decision.previous == decided[decision.track], "a correction must name the decision it replaces"
        assert decision.label != decision.previous, "a correction to the same label"
        assert DEFAULT_POLICY.state(decision.label) is not DEFAULT_POLICY.state(decision.previous), (
            "a correction between labels the door treats alike"
        )
        assert count >= config.change_min, f"corrected from {count} < change_min {config.change_min} votes"


@settings(settings.get_profile(PROFILE))
@given(config=configs, sequence=frames, with_places=st.booleans(), with_images=st.booleans())
def test_tracker_invariants_hold_for_random_doors(
    config: TrackerConfig, sequence: list[list[tuple]], with_places: bool, with_images: bool
) -> None:
    run(config, sequence, with_places, with_images)


@settings(settings.get_profile(PROFILE))
@given(config=configs, label=st.sampled_from([MASK, NO_MASK]), other=st.sampled_from([MASK_INCORRECT, NO_MASK]))
def test_one_person_standing_still_is_decided_once_and_corrected_only_by_change_min_votes(
    config: TrackerConfig, label: str, other: str
) -> None:
    """The properties above are not vacuous: a steady face is decided, and a steady change to a label of another
    door state corrects it, each from enough votes of the window."""
    if other == label:
        other = MASK
    tracker = Tracker(config)
    face = [Face((40.0, 40.0, 100.0, 100.0), 0.9)]
    decisions: list[Decision] = []
    given_labels: list[str] = []
    for number in range(4 * config.vote_window * config.recheck_every + 20):
        truth = label if number < 2 * config.vote_window * config.recheck_every + 10 else other
        matched = tracker.match(face)
        wanted = tracker.needs_label(matched[0])
        if wanted:
            given_labels.append(truth)
        _, new = tracker.update(str(number), float(number), face, [truth if wanted else None], [0.8], matched)
        for decision in new:
            decisions.append(decision)
            window = given_labels[-config.vote_window :]
            needed = config.vote_min if decision.previous is None else config.change_min
            assert window.count(decision.label) >= needed, "decided from fewer votes than the vote needs"
    if DEFAULT_POLICY.state(other) is DEFAULT_POLICY.state(label):  # the door does the same for both: no correction
        assert [(d.label, d.previous, d.track) for d in decisions] == [(label, None, 1)]
    else:
        assert [(d.label, d.previous, d.track) for d in decisions] == [(label, None, 1), (other, label, 1)]
