"""The door-day scenario: reproducible frames with ground truth, and its benchmark's bookkeeping on a short day
run by the real loops (speed itself is the benchmark's business, not asserted here)."""

from __future__ import annotations

import numpy as np

from edge.bench import door_day
from edge.bench.door_day import Visit
from edge.bench.door_day_bench import markdown, run
from edge.bench.frames import decode
from edge.config import Config

SHORT = (Visit(30, 40, 0.5), Visit(100, 30, 0.3, side=110), Visit(103, 30, 0.7, side=110))
FOLDER_LABELS = {"with_mask": "mask", "without_mask": "no_mask"}


def test_the_day_is_reproducible_and_its_ground_truth_matches_the_pasted_faces(facemask_dir) -> None:
    day = door_day.build(facemask_dir, seed=3, frames=140, visits=SHORT)
    again = door_day.build(facemask_dir, seed=3, frames=140, visits=SHORT)
    assert day.frame_set.digest == again.frame_set.digest
    assert day.frame_set.digest != door_day.build(facemask_dir, seed=4, frames=140, visits=SHORT).frame_set.digest
    assert [n for n in range(140) if not day.empty(n)] == list(range(30, 70)) + list(range(100, 133))
    assert set(day.boxes[110]) == {1, 2} and day.frame_set.pasted_faces[110] == 2
    x1, y1, x2, y2 = (round(v) for v in day.boxes[50][0])
    empty, busy = decode(day.frame_set.encoded[20]), decode(day.frame_set.encoded[50])
    inside = np.abs(busy[y1 + 5 : y2 - 5, x1 + 5 : x2 - 5].astype(int) - empty[y1 + 5 : y2 - 5, x1 + 5 : x2 - 5])
    assert inside.mean() > 20, "the photo is where the ground truth says"
    assert np.abs(decode(day.frame_set.encoded[21]).astype(int) - empty).mean() > 1, "fresh noise every frame"


def test_light_and_shadow_change_the_empty_door() -> None:
    assert door_day.light_at(0) == 0 and door_day.light_at(299) > 19 and door_day.light_at(300) < 10
    rows, cols = np.mgrid[0:480, 0:640].astype(np.float32)
    assert door_day.shadow_at(0, rows, cols) is None
    assert door_day.shadow_at(380, rows, cols).min() < 0.6  # type: ignore[union-attr]


def test_a_short_day_gated_ungated_frames_to_decision_and_missed(facemask_dir, model_env) -> None:
    day = door_day.build(facemask_dir, seed=0, frames=150, visits=SHORT)
    report = run(Config(), day, rounds=1, seeds=False)
    gated, ungated = report["per_round"]["gated"][0], report["per_round"]["ungated"][0]
    assert report["not_run"] == {"seeds": "--no-seeds"}
    assert ungated["detector_runs"] == 150 and gated["detector_runs"] < 150
    assert gated["missed"] == ungated["missed"] == 0
    assert gated["frames_to_decision"] == ungated["frames_to_decision"]
    # Each person decided with the label of their photo's folder, within one vote window (5) of their first vote.
    assert [p["label"] for p in gated["people"]] == [p["label"] for p in ungated["people"]]
    assert [p["label"] for p in gated["people"]] == [FOLDER_LABELS[p["folder"]] for p in gated["people"]]
    assert all(0 <= f <= Config().tracker.vote_window + 1 for f in gated["frames_to_decision"])
    assert report["goals"][0]["decision_goal_met"]
    text = markdown(report)
    assert "| gated |" in text and "| seeds | not run: --no-seeds |" in text
