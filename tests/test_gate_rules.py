"""The change gate's re-check rules, frame by frame on a static scene: when the detector must run although
nothing moved (nobody in view, decided faces, faces in doubt, faces due for a label), and what counts as a change."""

from __future__ import annotations

from collections import deque

import numpy as np

from edge.config import GateConfig
from edge.vision.gate import ChangeGate, thumbnail
from edge.vision.labels import MASK, NO_MASK
from edge.vision.tracker import Track

CELL = 16
"""Pixels per thumbnail cell: a 160x160 frame with thumb_width 10 is 10x10 cells of 16x16 pixels."""


def still() -> np.ndarray:
    image = np.full((160, 160, 3), 100, np.uint8)
    image[:, 80:] = 140
    return image


def with_changed_cells(count: int, by: int = 60) -> np.ndarray:
    image = still()
    for cell in range(count):
        image[:CELL, cell * CELL : (cell + 1) * CELL] += by
    return image


def decided(label: str = MASK, **fields: int) -> Track:
    return Track(1, (0.0, 0.0, 10.0, 10.0), deque([(label, 0.9)], maxlen=5), decision=label, **fields)


def gate(**settings: object) -> ChangeGate:
    recheck_every = settings.pop("recheck_every", 1000)
    return ChangeGate(GateConfig(thumb_width=10, **settings), recheck_every=recheck_every)


def pattern(gate: ChangeGate, frames: int, tracks: list[Track], image: np.ndarray | None = None) -> str:
    """D for a frame the detector must see, c for one carried; after the first (always D) on `still()`.
    On a detected frame the tracks due for a label are labelled, as the tracker does."""
    out = []
    for _ in range(frames):
        if gate.should_detect(still() if image is None else image, tracks):
            gate.detected()
            for track in tracks:
                if track.unlabelled + 1 >= gate.recheck_every:
                    track.unlabelled = 0
            out.append("D")
        else:
            gate.carried(tracks)
            out.append("c")
    return "".join(out)


def test_an_empty_static_door_is_detected_every_empty_check_every_frames() -> None:
    assert pattern(gate(empty_check_every=4), 9, []) == "DcccDcccD"


def test_empty_check_every_one_detects_every_frame() -> None:
    assert pattern(gate(empty_check_every=1), 4, []) == "DDDD"


def test_decided_faces_are_detected_every_decided_every_frames() -> None:
    assert pattern(gate(decided_every=3, empty_check_every=100), 7, [decided()]) == "DccDccD"


def test_an_undecided_face_is_detected_every_frame() -> None:
    track = Track(1, (0.0, 0.0, 10.0, 10.0), deque([(MASK, 0.9)], maxlen=5))
    assert pattern(gate(decided_every=100), 4, [track]) == "DDDD"


def test_a_face_whose_latest_label_disagrees_with_its_decision_is_detected_every_frame() -> None:
    track = decided()
    track.votes.append((NO_MASK, 0.9))
    assert pattern(gate(decided_every=100), 4, [track]) == "DDDD"


def test_a_missed_face_is_detected_every_frame() -> None:
    assert pattern(gate(decided_every=100), 4, [decided(missed=1)]) == "DDDD"


def test_one_face_in_doubt_among_decided_ones_keeps_the_detector_running() -> None:
    undecided = Track(2, (20.0, 0.0, 30.0, 10.0), deque([(NO_MASK, 0.9)], maxlen=5))
    assert pattern(gate(decided_every=100), 3, [decided(), undecided]) == "DDD"
    assert pattern(gate(decided_every=100), 3, [undecided, decided()]) == "DDD"


def test_a_decided_face_is_detected_when_its_label_is_due() -> None:
    # recheck_every 3: two carried frames add two unlabelled frames; the third frame needs the classifier.
    assert pattern(gate(decided_every=100, recheck_every=3), 7, [decided()]) == "DccDccD"


def test_carried_frames_count_as_unlabelled_for_every_track() -> None:
    tracks = [decided(), decided(NO_MASK)]
    gated = gate(decided_every=100)
    pattern(gated, 4, tracks)
    assert [track.unlabelled for track in tracks] == [3, 3]
    assert gated.skipped == 3 and gated.skipping


def test_detected_resets_the_count_since_the_last_detection() -> None:
    gated = gate(empty_check_every=3)
    assert pattern(gated, 2, []) == "Dc"
    gated.should_detect(with_changed_cells(5), [])
    gated.detected()
    assert not gated.skipping
    assert pattern(gated, 3, [], with_changed_cells(5)) == "ccD"


def test_min_changed_cells_is_the_first_count_that_is_a_change() -> None:
    for changed, expected in ((0, "c"), (1, "c"), (2, "D"), (3, "D")):
        gated = gate(min_changed_cells=2, decided_every=100)
        pattern(gated, 1, [decided()])
        assert pattern(gated, 1, [decided()], with_changed_cells(changed)) == expected, f"{changed} cells"


def test_a_cell_changes_only_beyond_cell_threshold() -> None:
    for by, expected in ((8, "c"), (20, "D")):
        gated = gate(min_changed_cells=1, cell_threshold=12.0, decided_every=100)
        pattern(gated, 1, [decided()])
        assert pattern(gated, 1, [decided()], with_changed_cells(1, by)) == expected, f"a cell {by} grey levels up"


def test_a_brightness_step_over_the_whole_frame_is_no_change() -> None:
    gated = gate(min_changed_cells=1, decided_every=100)
    pattern(gated, 1, [decided()])
    assert pattern(gated, 2, [decided()], still() + 40) == "cc"


def test_a_new_frame_size_is_detected() -> None:
    gated = gate(decided_every=100)
    pattern(gated, 1, [decided()])
    assert pattern(gated, 1, [decided()], np.full((320, 160, 3), 100, np.uint8)) == "D"


def test_a_cell_changed_by_exactly_cell_threshold_is_no_change() -> None:
    """One cell up and one down by the same step: the mean stays, each cell differs by exactly the step."""
    for by, expected in ((12, "c"), (13, "D")):
        gated = gate(min_changed_cells=1, cell_threshold=12.0, decided_every=100)
        pattern(gated, 1, [decided()])
        image = still()
        image[:CELL, :CELL] += by
        image[:CELL, CELL : 2 * CELL] -= by
        assert pattern(gated, 1, [decided()], image) == expected, f"two cells {by} grey levels apart"


def test_sensor_noise_on_a_still_scene_is_no_change() -> None:
    """The thumbnail averages each 16x16 block: per-pixel noise of a camera at the default settings is no
    change (a thumbnail that sampled pixels instead would see 100+ changed cells in every frame)."""
    rng = np.random.default_rng(0)

    def noisy() -> np.ndarray:
        return np.clip(120 + rng.normal(0, 16, (480, 640, 3)), 0, 255).astype(np.uint8)

    gated = ChangeGate(GateConfig(decided_every=100), recheck_every=1000)
    pattern(gated, 1, [decided()], noisy())
    assert "".join(pattern(gated, 1, [decided()], noisy()) for _ in range(3)) == "ccc"


def test_the_thumbnail_keeps_the_frame_aspect() -> None:
    assert thumbnail(np.zeros((480, 640, 3), np.uint8), 40).shape == (30, 40)
    assert thumbnail(np.zeros((640, 480, 3), np.uint8), 30).shape == (40, 30)


def test_by_default_a_decided_face_is_labelled_every_frame() -> None:
    """Without recheck_every the gate runs the detector whenever somebody is in view."""
    gated = ChangeGate(GateConfig(thumb_width=10, decided_every=100))
    assert pattern(gated, 4, [decided()]) == "DDDD"


def test_a_gate_that_saw_no_frame_is_not_skipping() -> None:
    """The door page and the metrics read `skipping` before the first frame."""
    assert ChangeGate(GateConfig()).skipping is False
