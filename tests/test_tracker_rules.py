"""The tracker's identity rules through its public calls (match, needs_label, update): one track per face, the
IoU threshold, the appearance check with the frame's image, and how long a missed track lives."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.config import TrackerConfig
from edge.vision.labels import MASK, NO_MASK
from edge.vision.tracker import Tracker
from edge.vision.types import Box, Face, Place

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


def hsv_share(signature: np.ndarray, bgr: tuple[int, int, int]) -> float:
    from edge.vision.tracker import SIGNATURE_BINS

    hue, saturation, _ = (int(v) for v in cv2.cvtColor(np.uint8([[bgr]]), cv2.COLOR_BGR2HSV)[0, 0])
    return float(
        signature.reshape(SIGNATURE_BINS)[hue * SIGNATURE_BINS[0] // 180, saturation * SIGNATURE_BINS[1] // 256]
    )


def test_the_inner_face_ends_exactly_a_tenth_and_a_twentieth_inside_the_box() -> None:
    """A 100x100 face at (100, 100): the inner region is x 110..189, y 105..194. The one pixel line around it
    is red; the inner face must be grey alone."""
    from edge.vision.tracker import appearance

    grey = (128, 128, 128)
    image = np.full((400, 400, 3), (30, 30, 200), np.uint8)
    image[105:195, 110:190] = grey
    inner = appearance(image, (100.0, 100.0, 200.0, 200.0))[1]
    assert hsv_share(inner, grey) == 1.0


def test_the_frame_s_first_column_and_row_are_part_of_the_signature() -> None:
    """A face in the top left corner: its surroundings start at pixel 0; a red first column or row counts."""
    from edge.vision.tracker import appearance

    red = (30, 30, 200)
    for line in (np.s_[:, :1], np.s_[:1, :]):
        image = np.full((200, 200, 3), 128, np.uint8)
        image[line] = red
        context = appearance(image, (0.0, 0.0, 64.0, 64.0))[0]
        assert hsv_share(context, (128, 128, 128)) < 1.0, line  # the red line, averaged with grey, shows


def test_an_inner_face_of_two_rows_has_a_real_signature() -> None:
    """A face at the bottom edge with two rows of it in the frame: its colours, not the neutral signature."""
    from edge.vision.tracker import appearance

    red = (30, 30, 200)
    image = np.full((100, 100, 3), red, np.uint8)
    inner = appearance(image, (10.0, 98.0, 30.0, 117.0))[1]  # inner face: x 12..27, y 98..99
    assert hsv_share(inner, red) == 1.0


def test_a_fine_pattern_has_the_signature_of_its_mean_colour() -> None:
    """Each region is averaged down to 32x32 (not sampled): stripes of one red and two blue pixel columns over
    a 96 px inner face read as their mixed colour, as a camera's fine texture would."""
    from edge.vision.tracker import appearance

    box = (0.0, 0.0, 120.0, 106.0)  # inner face: x 12..107 (96 px), y 5..100 (96 px)
    red, blue = np.array([30, 30, 200]), np.array([200, 60, 20])
    image = np.zeros((120, 140, 3), np.uint8)
    for x in range(140):
        image[:, x] = red if (x - 12) % 3 == 0 else blue
    mixed = np.full_like(image, ((red + 2 * blue) / 3).round().astype(np.uint8))
    assert np.allclose(appearance(image, box)[1], appearance(mixed, box)[1], atol=0.05)


def test_overlap_of_boxes() -> None:
    from edge.vision.tracker import iou_matrix

    square = (0.0, 0.0, 10.0, 10.0)
    apart = [(20.0, 20.0, 30.0, 30.0), (20.0, 0.0, 30.0, 10.0), (0.0, 20.0, 10.0, 30.0)]
    touching = [(10.0, 0.0, 20.0, 10.0), (0.0, 10.0, 10.0, 20.0), (10.0, 10.0, 20.0, 20.0)]
    assert iou_matrix([square], apart + touching).tolist() == [[0.0] * 6]
    assert iou_matrix([square], [(5.0, 0.0, 15.0, 10.0)]).tolist() == [[50 / 150]]
    tiny = (0.0, 0.0, 0.5, 0.5)
    assert iou_matrix([tiny], [tiny]).tolist() == [[1.0]], "the same box overlaps itself fully, whatever its size"


def test_likeness_is_the_lower_of_the_surroundings_and_the_face() -> None:
    from edge.vision.tracker import likeness

    same_place = np.array([[0.5, 0.5], [1.0, 0.0]])
    other_face = np.array([[0.5, 0.5], [0.0, 1.0]])
    assert likeness(same_place, other_face) == 0.0
    assert likeness(same_place, same_place) == 1.0


def test_a_decision_s_score_is_the_mean_score_of_its_label_s_votes() -> None:
    tracker = Tracker(TrackerConfig(vote_window=5, vote_min=2))
    scores = [0.9, 0.2, 0.7]
    for frame, (label, score) in enumerate(zip([MASK, NO_MASK, MASK], scores, strict=True)):
        _, decisions = tracker.update(str(frame), float(frame), [Face(SPOT, 0.9)], [label], [score])
    assert [(d.label, round(d.score, 6)) for d in decisions] == [(MASK, 0.8)]


def split_person(red_share: float) -> np.ndarray:
    """A person at SPOT whose surroundings and face are red on the left `red_share` and blue on the right."""
    image = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    x1, y1, x2, y2 = (round(v) for v in SPOT)
    left, right = x1 - 40, x2 + 40
    image[y1 - 40 : y2 + 80, left:right] = RED_PERSON
    image[y1 - 40 : y2 + 80, round(left + (right - left) * red_share) : right] = BLUE_PERSON
    return image


def test_someone_who_only_partly_looks_like_the_person_who_left_is_a_new_person() -> None:
    """The track's running signature stays a histogram (it sums to 1): half red, then a third red in the
    empty spot (likeness 0.53, under return_face_min 0.7) is somebody else."""
    door = Door(return_face_min=0.7, same_face_min=0.5, max_missed=5)
    assert door.step([SPOT], split_person(0.5)) == [1]
    assert door.step([SPOT], split_person(0.5)) == [1]
    assert door.step([], split_person(0.5)) == []
    assert door.step([SPOT], split_person(0.3)) == [2]


def test_one_odd_frame_does_not_replace_what_the_person_looks_like() -> None:
    """Half red for three frames, one frame a third red (still the same face by same_face_min), one empty frame,
    then half red again: the running signature is still mostly the person's, so the track continues."""
    door = Door(return_face_min=0.7, same_face_min=0.4, max_missed=5)
    for _ in range(3):
        assert door.step([SPOT], split_person(0.5)) == [1]
    assert door.step([SPOT], split_person(0.3)) == [1]
    assert door.step([], split_person(0.5)) == []
    assert door.step([SPOT], split_person(0.5)) == [1]


def test_frames_with_and_without_the_image_mix() -> None:
    """A track started without the image is matched by overlap when the image comes, and the other way round."""
    door = Door()
    assert door.step([SPOT]) == [1]
    assert door.step([SPOT], person(RED_PERSON)) == [1]
    assert door.step([SPOT]) == [1]
    assert door.step([SPOT], person(RED_PERSON)) == [1]


def test_a_track_without_a_signature_does_not_stop_the_check_of_the_others() -> None:
    """Track 1 was seen only without the image (no signature); track 2 with it. Someone else in track 2's
    spot is still a new person."""
    other: Box = (400.0, 100.0, 500.0, 220.0)
    door = Door(max_missed=5)
    assert door.step([SPOT]) == [1]
    assert door.step([other], person(RED_PERSON, other)) == [2]
    assert door.step([other], person(BLUE_PERSON, other)) == [3]


def test_an_overlap_exactly_at_the_iou_threshold_continues_the_track() -> None:
    door = Door(iou_threshold=0.5)
    half: Box = (SPOT[0], SPOT[1], SPOT[2], (SPOT[1] + SPOT[3]) / 2)
    assert door.step([SPOT]) == [1]
    assert door.step([half]) == [1], "IoU 0.5: the threshold is the minimum overlap"


def test_a_conflict_does_not_end_the_matching_of_the_other_pairs() -> None:
    """Best pairs first: (track 1, a) 1.0, then (track 1, b) a conflict, then (track 2, c) must still pair."""
    other: Box = (400.0, 100.0, 500.0, 220.0)
    door = Door(iou_threshold=0.3)
    assert door.step([SPOT, other]) == [1, 2]
    assert door.step([SPOT, shifted(SPOT, 10), shifted(other, 40)]) == [1, 3, 2]


def test_faces_labels_and_scores_must_be_as_many() -> None:
    tracker = Tracker(TrackerConfig())
    with pytest.raises(ValueError):
        tracker.update("1", 1.0, [Face(SPOT, 0.9), Face((400.0, 100.0, 500.0, 220.0), 0.9)], [MASK], [0.9])


def test_a_face_away_from_the_door_shows_no_label_of_its_own() -> None:
    """A decided person who steps back out of the door zone keeps the decision but shows no per-frame label
    (score 0); a new face far away likewise."""
    tracker = Tracker(TrackerConfig(vote_window=1, vote_min=1))
    tracker.update("1", 1.0, [Face(SPOT, 0.9)], [MASK], [0.9])
    tracked, _ = tracker.update("2", 2.0, [Face(SPOT, 0.9)], [None], [None], places=[Place.FAR])
    assert [(t.track, t.label, t.score, t.decision) for t in tracked] == [(1, "", 0.0, MASK)]
    far: Box = (400.0, 100.0, 420.0, 120.0)
    tracked, _ = tracker.update("3", 3.0, [Face(far, 0.9)], [None], [None], places=[Place.FAR])
    assert [(t.track, t.label, t.score, t.decision) for t in tracked] == [(2, "", 0.0, None)]
