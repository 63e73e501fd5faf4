"""`evaluate-approach`: walk-up and queue clips (their geometry), decision matching, and a small run of the
command over real dev scenes, a queue and the parking-lot video through the real YuNet and shipped classifier."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from conftest import need_shared

from convert.cli import main as convert_main
from convert.evaluation import walkup
from convert.evaluation.approach_eval import (
    DoorLoop,
    clip_frames,
    judge_scene,
    match_box,
    queue_pool,
    queue_report,
)
from convert.evaluation.door_eval import load_config, load_images, read_scenes
from edge.vision.labels import DEFAULT_POLICY, MASK, MASK_INCORRECT, NO_MASK

SCENES = "data/scenes-ilc2021/dev"


def test_walk_scales_grow_as_one_over_a_steadily_shrinking_distance():
    scales = walkup.walk_scales(24, 0.7)
    assert scales[0] == pytest.approx(0.7) and scales[-1] == pytest.approx(1.0)
    distances = 1 / np.asarray(scales)
    assert np.allclose(np.diff(distances), distances[1] - distances[0])  # steady pace
    assert np.all(np.diff(np.diff(scales)) > 0)  # faster growth near the door


def test_a_walkup_clip_moves_the_annotated_boxes_with_the_picture():
    scene = np.full((300, 400, 3), 200, np.uint8)
    box = (100.0, 50.0, 160.0, 130.0)
    scene[50:130, 100:160] = (0, 0, 255)
    frames = list(walkup.walkup_clip(scene, [box], approach=6, empty=3))
    assert [f.index for f in frames] == list(range(9))
    assert all(f.image.shape == (walkup.HEIGHT, walkup.WIDTH, 3) for f in frames)
    for frame in frames[:6]:
        x1, y1, x2, y2 = (round(v) for v in frame.boxes[0])
        inside = frame.image[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].reshape(-1, 3).mean(axis=0)
        assert inside[2] > 200 and inside[:2].max() < 60, "the red patch sits in the moved box"
        outside = frame.image[y2 + 3 : y2 + 6, x1:x2].reshape(-1, 3).mean(axis=0)
        assert outside[2] < 230 and outside[0] > 150, "and not around it"
    widths = [f.boxes[0][2] - f.boxes[0][0] for f in frames[:6]]
    assert widths[-1] == pytest.approx(60 * min(walkup.WIDTH / 400, walkup.HEIGHT / 300), abs=1)
    assert widths == sorted(widths) and widths[0] == pytest.approx(0.7 * widths[-1], abs=1)
    assert all(f.boxes == (None,) for f in frames[6:])
    assert np.ptp(frames[-1].image.reshape(-1, 3).astype(int), axis=0).max() < 10, "empty frames hold no picture"


def test_matching_takes_the_best_iou_then_a_face_holding_the_centre():
    faces = [(0.0, 0.0, 50.0, 50.0), None, (100.0, 100.0, 200.0, 200.0)]
    assert match_box((2.0, 1.0, 52.0, 49.0), faces) == (0, "iou")
    assert match_box((120.0, 120.0, 150.0, 150.0), faces) == (2, "centre")  # IoU 0.09, centre inside
    assert match_box((300.0, 300.0, 340.0, 340.0), faces) == (None, "none")
    assert match_box((0.0, 0.0, 50.0, 50.0), [None, None]) == (None, "none")


def coloured_pool():
    pool = {}
    for label, colour in ((MASK, (200, 120, 40)), (NO_MASK, (40, 120, 200))):
        crop = np.full((160, 120, 3), colour, np.uint8)
        pool[label] = [walkup.Person(label, crop, (30.0, 30.0, 90.0, 100.0), f"{label}#0")]
    return pool


def test_the_queue_follows_its_label_order_one_person_at_a_time_with_gaps_and_is_reproducible():
    def clip(seed):
        rng = np.random.default_rng(seed)
        visits = walkup.plan_queue(coloured_pool(), 4, rng)
        return visits, list(walkup.queue_clip(visits, rng, tail=5))

    visits, frames = clip(7)
    assert [v.person.label for v in visits] == [MASK, MASK, MASK, NO_MASK]
    for before, after in itertools.pairwise(visits):
        assert after.first - before.last - 1 in walkup.QUEUE_GAPS
    for frame in frames:
        present = [i for i, box in enumerate(frame.boxes) if box is not None]
        expected = [i for i, v in enumerate(visits) if v.first <= frame.index <= v.last]
        assert present == expected
    widths = [frames[i].boxes[0][2] - frames[i].boxes[0][0] for i in range(visits[0].first, visits[0].last + 1)]
    assert widths[0] == pytest.approx(walkup.QUEUE_FACE_WIDTH[0], abs=1.5)
    assert widths[-1] == pytest.approx(walkup.QUEUE_FACE_WIDTH[1], abs=1.5)
    assert {v.steps_in for v in visits} <= {True, False}
    for visit in visits:
        entering = frames[visit.first].boxes[visits.index(visit)]
        assert entering[2] - entering[0] == pytest.approx(visit.entry_width, abs=1.5)
    digest = hashlib.sha256(b"".join(f.image.tobytes() for f in frames)).hexdigest()
    assert digest == hashlib.sha256(b"".join(f.image.tobytes() for f in clip(7)[1])).hexdigest()


def test_a_queued_person_is_cut_only_where_no_other_annotated_face_shares_the_crop():
    face = (100.0, 100.0, 150.0, 160.0)  # crop 70-180 x 70-220
    assert walkup.alone((400, 400, 3), face, [(200.0, 100.0, 240.0, 150.0), (100.0, 230.0, 140.0, 270.0)])
    assert not walkup.alone((400, 400, 3), face, [(170.0, 100.0, 210.0, 150.0)])
    assert not walkup.alone((400, 400, 3), face, [(100.0, 200.0, 140.0, 240.0)])


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    need_shared(SCENES)
    video = need_shared("data/video/parking-lot.mp4")
    out = tmp_path_factory.mktemp("approach")
    argv = ["evaluate-approach", str(need_shared(SCENES)), str(out), "--limit", "4", "--queue", "4"]
    assert convert_main([*argv, "--video", str(video)]) == 0
    return json.loads((out / "approach.json").read_text()), (out / "approach.md").read_text()


def test_every_decision_of_the_walkups_is_matched_to_a_face_or_counted_on_none(small_run):
    report, markdown = small_run
    walk = report["walkup"]
    decisions = walk["decisions"]
    matched = sum(decisions["by_width_at_decision"].values())
    assert decisions["all"] == matched + decisions["on_no_annotated_face"]
    assert decisions["all"] > 0
    everyone = walk["people"]["all"]
    assert everyone["people"] == sum(walk["people"][size]["people"] for size in ("<32", "32-79", "80+"))
    assert everyone["decided"]["n"] <= everyone["found"]["n"], "nobody is decided whom the detector never found"
    assert report["timing"]["frame_errors"] == 0
    assert "| 80+ |" in markdown and "## Queue" in markdown and "Why few" in markdown


def test_the_queue_gives_each_person_a_decision_and_the_bare_one_is_stopped(small_run):
    queue = small_run[0]["queue"]
    persons = queue["persons"]
    assert [p["label"] for p in persons] == [MASK, MASK, MASK, NO_MASK]
    assert persons[3]["decisions"], "a bare face stepping up after three masked people gets a decision"
    assert not DEFAULT_POLICY.lets_in(persons[3]["decisions"][0])
    assert queue["exactly_one"]["of"] == 4 and queue["none"]["n"] + queue["two_or_more"]["n"] <= 4


def test_the_video_counts_what_the_loop_saw(small_run):
    video = small_run[0]["video"]
    assert video["frames"] == 300
    assert video["faces_detected"] == sum(video["faces_detected_by_width"].values()) > 0
    assert 1 <= video["tracks"] <= video["faces_detected"]
    assert len(video["decisions"]) == sum(video["decisions_by_label"].values())


def test_a_walkup_clip_gives_the_same_decisions_twice_timed_by_its_frames():
    scene_set = read_scenes(need_shared(SCENES))
    scene_set.scenes = scene_set.scenes[3:4]  # one face, a mask being put on, 140 px wide at the door
    [(scene, image)] = list(load_images(scene_set))
    loop = DoorLoop(load_config())

    def decisions():
        clip = walkup.walkup_clip(image, [t.box for t in scene.truths], approach=12)
        return [d.as_event() for d in loop.run(clip_frames(clip, [])).decisions]

    first = decisions()
    assert first and first == decisions()
    assert all(d["time"] == round(int(d["frame"]) / walkup.FPS, 3) for d in first)
    outcome = judge_scene(scene, image, loop)
    assert [p.label for p in outcome.people] == [MASK_INCORRECT] and outcome.people[0].size == "80+"


def test_the_queue_sees_one_track_serve_two_people_only_when_the_appearance_check_is_off():
    scene_set = read_scenes(need_shared(SCENES))
    pool = queue_pool(load_images(scene_set))
    first, second = pool[MASK][0], pool[MASK][1]
    frames = 20
    visits = [
        walkup.QueueVisit(first, 2, frames, walkup.QUEUE_STEP_IN_WIDTH),
        walkup.QueueVisit(second, 2 + frames + 3, frames, walkup.QUEUE_STEP_IN_WIDTH),
    ]
    blind = load_config()
    blind.tracker.same_face_min = blind.tracker.return_face_min = 0.0
    shared = queue_report(visits, np.random.default_rng(1), DoorLoop(blind))
    assert shared["tracks_serving_several_people"] == 1
    assert [len(p["decisions"]) for p in shared["persons"]][1] == 0, "the second person inherits the decision"
    apart = queue_report(visits, np.random.default_rng(1), DoorLoop(load_config()))
    assert apart["tracks_serving_several_people"] == 0
    assert all(p["decisions"] for p in apart["persons"])


def test_evaluate_approach_needs_no_tensorflow(tmp_path):
    scenes = need_shared(SCENES)
    code = textwrap.dedent(
        f"""
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                    raise ImportError(name + " is blocked")
                return None

        sys.meta_path.insert(0, Block())
        from convert.cli import main
        sys.exit(main(["evaluate-approach", {str(scenes)!r}, {str(tmp_path)!r}, "--limit", "1", "--queue", "0",
                       "--video", ""]))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "approach.md").is_file()


def test_an_empty_frame_after_a_walkup_is_the_fill_colour_through_jpeg():
    scene = np.zeros((100, 100, 3), np.uint8)
    scene[:, :50] = 255
    frames = list(walkup.walkup_clip(scene, [], approach=2, empty=1))
    assert abs(int(frames[-1].image.mean()) - int(cv2.mean(scene)[0])) <= 2


def test_a_masked_face_photo_stepping_into_the_spot_of_another_gets_its_own_decision():
    """The issue's queue: tight face photos before one door background, the second masked person two frames after
    the first. The surroundings' colours are the same for both; the face's own colours tell them apart."""
    photos = need_shared("data/crops-wild/with_mask")
    first, second = (
        walkup.photo_person(cv2.imread(str(photos / name)), MASK, name)
        for name in ("train_027527_1.jpg", "train_019445_1.jpg")
    )
    visits = [
        walkup.QueueVisit(first, 2, 24, walkup.QUEUE_STEP_IN_WIDTH),
        walkup.QueueVisit(second, 2 + 24 + 2, 18, walkup.QUEUE_STEP_IN_WIDTH),
    ]
    report = queue_report(visits, np.random.default_rng(0), DoorLoop(load_config()))
    assert report["tracks_serving_several_people"] == 0
    assert [p["decisions"] for p in report["persons"]] == [[MASK], [MASK]]
