"""The tracker's identity rules through its public calls (match, needs_label, update): one track per face, the
IoU threshold, the appearance check with the frame's image, and how long a missed track lives."""

from __future__ import annotations

import cv2
import numpy as np

from edge.config import TrackerConfig
from edge.vision.labels import MASK, NO_MASK
from edge.vision.tracker import Tracker
from edge.vision.types import Box, Face

HEIGHT, WIDTH = 480, 640
SPOT: Box = (200.0, 100.0, 300.0, 220.0)


def person(colour: tuple[int, int, int], box: Box = SPOT) -> np.ndarray:
    """A grey frame with one person: the face box and the region around it (hair, collar) in one colour."""
    image = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    x1, y1, x2, y2 = (round(v) for v in box)
    image[max(0, y1 - 40) : y2 + 80, max(0, x1 - 40) : x2 + 40] = colour
    return image


RED_PERSON, BLUE_PERSON = (30, 30, 200), (200, 60, 20)  # BGR: the two look nothing alike


def shifted(box: Box, dx: float) -> Box:
    return (box[0] + dx, box[1], box[2] + dx, box[3])


class Door:
    """Feeds frames to a tracker as the pipeline does: match (with the image when given), then update."""

    def __init__(self, **settings: object) -> None:
        self.tracker = Tracker(TrackerConfig(**settings))
        self.frame = 0

    def step(self, boxes: list[Box], image: np.ndarray | None = None, label: str = MASK) -> list[int]:
        self.frame += 1
        faces = [Face(box, 0.9) for box in boxes]
        matched = self.tracker.match(faces, image)
        labels = [label if self.tracker.needs_label(track) else None for track in matched]
        tracked, _ = self.tracker.update(str(self.frame), float(self.frame), faces, labels, [0.9] * len(faces), matched)
        return [face.track for face in tracked]


def test_two_faces_over_one_track_do_not_both_continue_it() -> None:
    door = Door()
    assert door.step([SPOT]) == [1]
    # Both overlap the track well above the threshold; the closer one continues it, the other is someone new.
    tracks = door.step([shifted(SPOT, 10), SPOT])
    assert tracks == [2, 1]
    assert door.step([shifted(SPOT, 10), SPOT]) == [2, 1]


def test_match_gives_a_track_to_at_most_one_face() -> None:
    door = Door()
    door.step([SPOT])
    faces = [Face(shifted(SPOT, dx), 0.9) for dx in (-8, 0, 8)]
    matched = door.tracker.match(faces)
    assert [track.id if track else None for track in matched] == [None, 1, None]


def test_best_overlaps_are_paired_first() -> None:
    left, right = SPOT, shifted(SPOT, 70)  # two people close together: each face overlaps both tracks
    door = Door(iou_threshold=0.1)
    assert door.step([left, right]) == [1, 2]
    assert door.step([shifted(right, 5), shifted(left, 5)]) == [2, 1]


def test_a_face_continues_a_track_only_above_the_iou_threshold() -> None:
    door = Door(iou_threshold=0.5)
    door.step([SPOT])
    # 100 px wide: a 30 px shift gives IoU 70/130 = 0.54, a further 40 px from there IoU 60/140 = 0.43.
    assert door.step([shifted(SPOT, 30)]) == [1]
    assert door.step([shifted(SPOT, 70)]) == [2]


def test_a_face_with_no_overlap_never_continues_a_track() -> None:
    door = Door(iou_threshold=0.01)
    door.step([SPOT])
    assert door.step([shifted(SPOT, 150)]) == [2]


def test_a_missed_track_lives_exactly_max_missed_frames() -> None:
    for gap, expected in ((0, 1), (1, 1), (2, 1), (3, 2)):
        door = Door(max_missed=2)
        door.step([SPOT])
        for _ in range(gap):
            assert door.step([]) == []
        assert door.step([SPOT]) == [expected], f"after {gap} empty frames"


def test_with_max_missed_zero_a_track_ends_with_its_first_empty_frame() -> None:
    door = Door(max_missed=0)
    door.step([SPOT])
    assert door.step([SPOT]) == [1]
    door.step([])
    assert door.step([SPOT]) == [2]


def test_someone_else_in_the_empty_spot_starts_a_new_track() -> None:
    # same_face_min off: only the return check can tell the two people apart.
    door = Door(same_face_min=0.0, return_face_min=0.7)
    assert door.step([SPOT], person(RED_PERSON)) == [1]
    assert door.step([], person((128, 128, 128))) == []
    assert door.step([SPOT], person(BLUE_PERSON)) == [2], "a different person after an empty frame"


def test_the_same_person_back_in_the_empty_spot_keeps_the_track() -> None:
    door = Door(same_face_min=0.0, return_face_min=0.7)
    door.step([SPOT], person(RED_PERSON))
    door.step([], person((128, 128, 128)))
    assert door.step([shifted(SPOT, 5)], person(RED_PERSON, shifted(SPOT, 5))) == [1]


def test_a_face_seen_frame_after_frame_needs_only_same_face_min() -> None:
    # return_face_min must not apply while the track is seen in every frame: a change of look keeps the track.
    door = Door(same_face_min=0.0, return_face_min=0.7)
    door.step([SPOT], person(RED_PERSON))
    assert door.step([SPOT], person(BLUE_PERSON)) == [1]


def test_a_different_face_in_the_next_frame_starts_a_new_track_under_same_face_min() -> None:
    door = Door(same_face_min=0.5, return_face_min=0.0)
    door.step([SPOT], person(RED_PERSON))
    assert door.step([SPOT], person(BLUE_PERSON)) == [2]


def test_without_the_image_identity_is_by_overlap_alone() -> None:
    door = Door(same_face_min=0.5, return_face_min=0.7)
    door.step([SPOT])
    door.step([])
    assert door.step([SPOT]) == [1]


def test_a_new_person_in_the_spot_gets_a_vote_of_their_own() -> None:
    door = Door(same_face_min=0.0, return_face_min=0.7, vote_window=5, vote_min=3)
    for _ in range(3):
        door.step([SPOT], person(RED_PERSON), label=MASK)
    door.step([], person((128, 128, 128)))
    faces = [Face(SPOT, 0.9)]
    matched = door.tracker.match(faces, person(BLUE_PERSON))
    assert matched == [None]
    assert door.tracker.needs_label(matched[0])
    tracked, decisions = door.tracker.update("x", 9.0, faces, [NO_MASK], [0.9], matched)
    assert (tracked[0].track, tracked[0].decision, decisions) == (2, None, [])


def test_the_signature_sees_the_face_widened_by_a_quarter_and_down_to_the_collar_and_nothing_else() -> None:
    """A 100x100 face at (100, 100): the signature's first region is x 75..225, y 75..250. A 6 px strip of its own
    colour lines each edge of that region inside; everything outside is green, which must not count at all. The
    second region, the inner face (x 110..190, y 105..195), sees the grey face alone."""
    from edge.vision.tracker import SIGNATURE_BINS, appearance

    green, grey = (40, 180, 40), (128, 128, 128)
    image = np.full((400, 400, 3), green, np.uint8)
    image[75:250, 75:225] = grey
    strips = {"left": (200, 30, 30), "right": (30, 30, 200), "top": (30, 200, 200), "bottom": (200, 30, 200)}
    image[75:250, 75:81], image[75:250, 219:225] = strips["left"], strips["right"]
    image[75:81, 81:219], image[244:250, 81:219] = strips["top"], strips["bottom"]
    context, inner = appearance(image, (100.0, 100.0, 200.0, 200.0)).reshape(2, *SIGNATURE_BINS)

    def share(signature: np.ndarray, bgr: tuple[int, int, int]) -> float:
        hue, saturation, _ = (int(v) for v in cv2.cvtColor(np.uint8([[bgr]]), cv2.COLOR_BGR2HSV)[0, 0])
        return float(signature[hue * SIGNATURE_BINS[0] // 180, saturation * SIGNATURE_BINS[1] // 256])

    assert share(context, green) == 0.0, "colours outside the region leaked into the signature"
    for edge, colour in strips.items():
        assert share(context, colour) > 0.02, f"the {edge} edge of the region is missing"
        assert share(inner, colour) == 0.0, f"the inner face sees the {edge} strip outside the face"
    assert share(inner, grey) == 1.0
    assert abs(float(context.sum()) - 1.0) < 1e-6


def test_a_face_with_no_picture_left_to_see_has_a_neutral_signature() -> None:
    from edge.vision.tracker import SIGNATURE_BINS, appearance, likeness

    image = person(RED_PERSON)
    bins = SIGNATURE_BINS[0] * SIGNATURE_BINS[1]
    for box in ((700.0, 10.0, 760.0, 70.0), (10.0, 500.0, 70.0, 560.0), (100.0, 100.0, 101.0, 101.0)):
        neutral = appearance(image, box)  # off the frame to the right, below it, a 1 px box
        assert neutral.dtype == np.float32 and neutral.shape == (2, bins)
        assert np.allclose(neutral, 1 / bins), box
    # a 2x2 box widens to a region of 2 px at least: a real signature, not the neutral one
    assert not np.allclose(appearance(image, (300.0, 100.0, 302.0, 102.0))[0], 1 / bins)
    assert likeness(appearance(image, SPOT), appearance(image, SPOT)) > 0.999
