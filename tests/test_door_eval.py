"""The door validation report: matching, width buckets, the VOC reader, and `evaluate-door` end to end on real
scenes through the runtime pipeline."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import need_shared

from convert.cli import main as convert_main
from convert.evaluation.door_eval import (
    ALL,
    BUCKET_NAMES,
    MISSED,
    UNDECIDED,
    FaceResult,
    Tally,
    Truth,
    bucket_of,
    confusion,
    count_faces,
    door_scores,
    false_face_scores,
    load_images,
    match,
    near_annotated,
    read_scenes,
)
from edge.config import DetectorConfig
from edge.vision.labels import DEFAULT_POLICY, LabelPolicy

SCENES = 12


def voc(filename: str, objects: list[tuple[str, tuple[float, float, float, float]]], size=(200, 150)) -> str:
    boxes = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
        "</bndbox></object>"
        for name, (x1, y1, x2, y2) in objects
    )
    return (
        f"<annotation><filename>{filename}</filename><size><width>{size[0]}</width><height>{size[1]}</height>"
        f"</size>{boxes}</annotation>"
    )


def test_two_detections_on_one_face_match_once_and_the_other_is_a_false_face():
    face = (100.0, 100.0, 160.0, 170.0)
    close, loose = (102.0, 101.0, 161.0, 171.0), (110.0, 110.0, 175.0, 185.0)
    assert match([face], [loose, close]) == [1]
    tally = Tally()
    tally.add([Truth(face, "mask")], [loose, close], ["no_mask", "mask"], 0.01)
    assert tally.faces == [FaceResult("mask", "48-79", True, "mask")]
    assert tally.false_faces == {"no_mask": 1}
    assert tally.false_faces_near == {"no_mask": 1}, "the loose box is on the annotated face: no non-face"
    assert false_face_scores(tally, DEFAULT_POLICY)["alarms_near_annotated"] == 1


def test_the_face_rows_pair_each_annotated_face_with_its_detection_and_list_the_rest():
    face, missed = (100.0, 100.0, 160.0, 170.0), (300.0, 100.0, 340.0, 150.0)
    on_face, beside_missed, elsewhere = (
        (102.0, 101.0, 161.0, 171.0),
        (310.0, 80.0, 360.0, 150.0),
        (0.0, 0.0, 30.0, 30.0),
    )
    tally = Tally()
    tally.add(
        [Truth(face, "mask"), Truth(missed, "no_mask")],
        [elsewhere, on_face, beside_missed],
        ["no_mask", "mask", None],
        0.01,
        "scene.jpg",
        [0.9, 0.8, 0.6],
    )
    matched, miss, *unmatched = tally.rows
    assert (matched.annotated, matched.detection_box, matched.decision, matched.score) == ("mask", on_face, "mask", 0.8)
    assert matched.iou >= 0.4 and matched.width == 60 and matched.image == "scene.jpg"
    assert (miss.annotated, miss.detection_box, miss.decision, miss.score) == ("no_mask", None, "", None)
    assert 0.2 < miss.iou < 0.4, "the best overlap any detection reached: a face boxed another way"
    assert [(r.annotated, r.detection_box, r.decision) for r in unmatched] == [
        ("", elsewhere, "no_mask"),
        ("", beside_missed, UNDECIDED),
    ]
    assert unmatched[0].iou == 0.0 and unmatched[1].iou == miss.iou


def test_an_unmatched_detection_is_near_an_annotated_face_by_overlap_or_by_its_centre():
    face = (100.0, 100.0, 160.0, 200.0)  # a tall annotation: head and neck
    assert near_annotated([face], [(140.0, 100.0, 200.0, 200.0)]) == [True]  # IoU 0.2, centre outside
    assert near_annotated([face], [(0.0, 0.0, 300.0, 300.0)]) == [True]  # IoU 0.07, centre inside the annotation
    assert near_annotated([face], [(158.0, 100.0, 218.0, 200.0)]) == [False]  # IoU 0.02, centre outside
    assert near_annotated([], [(0.0, 0.0, 10.0, 10.0)]) == [False] and near_annotated([face], []) == []


def test_matching_takes_the_best_pairs_first_and_needs_iou_040():
    left, right = (0.0, 0.0, 50.0, 50.0), (30.0, 0.0, 80.0, 50.0)
    detection = (28.0, 0.0, 78.0, 50.0)  # overlaps both, the right one far more
    assert match([left, right], [detection]) == [None, 0]
    assert match([left], [(0.0, 0.0, 50.0, 19.0)]) == [None]  # IoU 0.38
    assert match([left], [(0.0, 0.0, 50.0, 21.0)]) == [0]  # IoU 0.42
    assert match([], [detection]) == [] and match([left], []) == [None]


def test_width_buckets_and_faces_under_32_px():
    assert [bucket_of(w) for w in (31.9, 32, 47.9, 48, 79.9, 80, 900)] == [
        None,
        "32-47",
        "32-47",
        "48-79",
        "48-79",
        "80+",
        "80+",
    ]
    tally = Tally()
    tally.add([Truth((10.0, 10.0, 30.0, 34.0), "no_mask")], [(11.0, 10.0, 31.0, 34.0)], ["no_mask"], 0.0)
    assert tally.false_faces == {}, "a detection on a face under 32 px is no false face"
    assert all(not classes for classes in count_faces(tally.faces).values()), "nor is the small face scored"


def test_door_numbers_by_hand():
    faces = [
        FaceResult("mask", "80+", True, "mask"),
        FaceResult("mask", "80+", True, None),  # undecided: below the mask threshold
        FaceResult("mask", "32-47", False),
        FaceResult("no_mask", "80+", True, "mask"),  # a bare face let in
        FaceResult("no_mask", "48-79", True, "no_mask"),
        FaceResult("mask_incorrect", "80+", True, "no_mask"),
        FaceResult("mask_incorrect", "80+", True, "mask_incorrect"),
        FaceResult("mask_incorrect", "48-79", True, "mask"),
        FaceResult("mask", None, True, "mask"),  # under 32 px: not counted
    ]
    table = count_faces(faces)
    assert {b: sum(c.annotated for c in table[b].values()) for b in BUCKET_NAMES} == {
        "32-47": 1,
        "48-79": 2,
        "80+": 5,
        ALL: 8,
    }
    scores = door_scores(table[ALL], DEFAULT_POLICY)
    assert scores["found"]["all"] == {"rate": 0.875, "n": 7, "of": 8}
    assert scores["bare_passed_as_mask"] == {"rate": 0.5, "n": 1, "of": 2}
    assert scores["wrong_masks_flagged"]["n"] == 2 and scores["wrong_masks_flagged"]["of"] == 3
    assert scores["wrong_masks_called_mask_incorrect"]["n"] == 1
    assert scores["masked_found_and_right"] == {"rate": 0.3333, "n": 1, "of": 3}
    assert scores["door_accuracy"] == {"rate": 0.5, "n": 4, "of": 8}
    assert scores["exact_accuracy_found"] == {"rate": 0.4286, "n": 3, "of": 7}
    assert scores["per_class"]["mask"]["undecided"] == {"rate": 0.5, "n": 1, "of": 2}
    assert scores["per_class"]["mask"]["right"] == {"rate": 0.5, "n": 1, "of": 2}
    rows = confusion(table[ALL], ("mask", "no_mask", "mask_incorrect"))
    assert rows["mask"] == {"mask": 1, "no_mask": 0, "mask_incorrect": 0, UNDECIDED: 1, MISSED: 1}
    assert {k: sum(r.values()) for k, r in rows.items()} == {"mask": 3, "no_mask": 2, "mask_incorrect": 3}
    warn = door_scores(table[ALL], LabelPolicy.from_config("warn"))
    assert warn["door_accuracy"]["n"] == 3, "with mask_incorrect a warning, a wrong mask called bare is wrong"
    assert warn["wrong_masks_flagged"]["n"] == 2, "a warning flags the wrong mask too"


def test_alarms_on_non_faces_count_decided_not_ok_detections():
    tally = Tally()
    tally.add(
        [], [(0.0, 0.0, 40.0, 40.0), (50.0, 0.0, 90.0, 40.0), (100.0, 0.0, 140.0, 40.0)], ["no_mask", None, "mask"], 0
    )
    tally.add([], [], [], 0)
    scores = false_face_scores(tally, DEFAULT_POLICY)
    assert (scores["count"], scores["per_image"], scores["alarms"], scores["alarms_per_image"]) == (3, 1.5, 1, 0.5)
    assert scores["by_decision"] == {"no_mask": 1, UNDECIDED: 1, "mask": 1}
    assert scores["alarms_near_annotated"] == 0, "no annotated face in these images"


def test_the_voc_reader_skips_and_counts_what_it_cannot_use(tmp_path: Path):
    image = np.full((150, 200, 3), 127, np.uint8)
    for stem in ("good", "renamed_image", "bad_xml", "empty_box", "orphan", "corrupt", "other_size"):
        cv2.imwrite(str(tmp_path / f"{stem}.jpg"), image)
    faces = [("with_mask", (10, 10, 60, 70)), ("Without_Mask", (90, 20, 140, 90))]
    (tmp_path / "good.xml").write_text(voc("good.jpg", faces))
    (tmp_path / "labelled.xml").write_text(voc("renamed_image.jpg", [("mask_weared_incorrect", (10, 10, 60, 70))]))
    (tmp_path / "bad_xml.xml").write_text("<annotation><object><name>with_mask</name>")
    (tmp_path / "empty_box.xml").write_text(voc("empty_box.jpg", [("with_mask", (60, 10, 10, 70))]))
    (tmp_path / "no_image_here.xml").write_text(voc("no_image_here.jpg", []))
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (tmp_path / "corrupt.xml").write_text(voc("corrupt.jpg", []))
    (tmp_path / "other_size.xml").write_text(voc("other_size.jpg", [], size=(400, 300)))

    scene_set = read_scenes(tmp_path)
    assert scene_set.layout == "flat"
    assert {s.name for s in scene_set.scenes} == {"good.jpg", "renamed_image.jpg", "corrupt.jpg", "other_size.jpg"}
    good = next(s for s in scene_set.scenes if s.name == "good.jpg")
    assert [t.label for t in good.truths] == ["mask", "no_mask"]
    assert next(s for s in scene_set.scenes if s.name == "renamed_image.jpg").truths[0].label == "mask_incorrect"
    loaded = [scene.name for scene, _ in load_images(scene_set)]
    assert sorted(loaded) == ["good.jpg", "renamed_image.jpg"] and scene_set.evaluated == 2
    assert scene_set.skipped == {
        "unreadable annotation": 2,
        "annotation without image": 1,
        "image without annotation": 3,
        "unreadable image": 1,
        "annotation made on another image size": 1,
    }
    assert scene_set.skipped_files["unreadable annotation"] == ["bad_xml.xml", "empty_box.xml"]
    assert scene_set.skipped_files["image without annotation"] == ["bad_xml.jpg", "empty_box.jpg", "orphan.jpg"]


@pytest.fixture(scope="module")
def dev_scenes(tmp_path_factory) -> Path:
    """A dozen real door scenes in images/ + annotations/, plus a corrupt image and a broken XML."""
    shared = need_shared("data/scenes-ilc2021/dev")
    root = tmp_path_factory.mktemp("door")
    (root / "images").mkdir()
    (root / "annotations").mkdir()
    for xml in sorted((shared / "annotations").glob("*.xml"))[::30][:SCENES]:
        shutil.copy(xml, root / "annotations" / xml.name)
        shutil.copy(shared / "images" / f"{xml.stem}.jpg", root / "images" / f"{xml.stem}.jpg")
    (root / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    (root / "annotations" / "broken.xml").write_text(voc("broken.jpg", [("with_mask", (1, 1, 50, 50))]))
    shutil.copy(sorted((shared / "images").glob("*.jpg"))[0], root / "images" / "halfway.jpg")
    (root / "annotations" / "halfway.xml").write_text("<annotation><object><name>with_mask")
    return root


def check_rate(score: dict) -> None:
    assert 0 <= score["n"] <= score["of"]
    assert score["rate"] is None if score["of"] == 0 else 0.0 <= score["rate"] <= 1.0


def test_evaluate_door_end_to_end_on_real_scenes(
    dev_scenes: Path, tmp_path: Path, yunet_model: Path, default_classifier
):
    out = tmp_path / "report"
    argv = [
        "evaluate-door",
        str(dev_scenes),
        str(out),
        "--model",
        str(default_classifier),
        "--detector",
        str(yunet_model),
    ]
    assert convert_main(argv) == 0
    for suffix in ("md", "json", "png"):
        assert (out / f"door_evaluation.{suffix}").stat().st_size > 0
    report = json.loads((out / "door_evaluation.json").read_text())
    assert report["scenes"]["evaluated"] == SCENES
    assert report["scenes"]["skipped"] == {
        "unreadable annotation": 1,
        "image without annotation": 1,
        "unreadable image": 1,
    }
    settings = report["settings"]
    assert settings["detector"]["files"][0]["file"] == yunet_model.name
    assert len(settings["detector"]["files"][0]["sha256"]) == 64
    default = DetectorConfig()
    assert (settings["detector"]["input_size"], settings["detector"]["score_threshold"]) == (
        default.input_size,
        default.score_threshold,
    )
    (name, model), *_ = report["models"].items()
    assert name == default_classifier.name and len(model["sha256"]) == 64 and "mask_threshold" in model
    annotated = {b: sum(c.values()) for b, c in report["annotated_faces"].items()}
    buckets = model["buckets"]
    assert (
        sum(buckets[b]["faces"] for b in BUCKET_NAMES[:-1])
        == buckets[ALL]["faces"]
        == sum(n for b, n in annotated.items() if b != "<32")
    )
    assert buckets[ALL]["faces"] > 0
    for bucket in BUCKET_NAMES:
        scores = buckets[bucket]
        for value in scores.values():
            if isinstance(value, dict) and "rate" in value:
                check_rate(value)
        for label, per_class in scores["per_class"].items():
            check_rate(per_class["found"])
            check_rate(per_class["right"])
            assert per_class["found"]["n"] <= per_class["annotated"]
            assert sum(model["confusion"][bucket][label].values()) == per_class["annotated"]
            if bucket != ALL:
                assert per_class["annotated"] <= buckets[ALL]["per_class"][label]["annotated"]
        assert scores["found"]["all"]["n"] <= scores["faces"]
    for label, per_class in buckets[ALL]["per_class"].items():
        assert per_class["annotated"] == sum(buckets[b]["per_class"][label]["annotated"] for b in BUCKET_NAMES[:-1])
    false = model["false_faces"]
    assert 0 <= false["alarms"] <= false["count"] and false["per_image"] == round(false["count"] / SCENES, 4)
    markdown = (out / "door_evaluation.md").read_text()
    assert "bare faces passed as mask" in markdown and default_classifier.name in markdown
    with (out / "door_faces.csv").open(newline="") as handle:
        every_row = list(csv.DictReader(handle))
    assert {r["model"] for r in every_row} == set(report["models"]), "a line per face for every model run"
    rows = [r for r in every_row if r["model"] == name]
    annotated_rows = [r for r in rows if r["annotated"]]
    assert len(annotated_rows) == sum(annotated.values()), "every annotated face, under 32 px too"
    scored = [r for r in annotated_rows if int(r["width"]) >= 32]
    assert sum(1 for r in scored if r["detection_box"]) == buckets[ALL]["found"]["all"]["n"]
    assert len(rows) - len(annotated_rows) >= false["count"], "every detection matching no annotated face"
    passed = buckets[ALL]["bare_passed_as_mask"]["n"]
    assert sum(1 for r in scored if r["annotated"] == "no_mask" and r["decision"] == "mask") == passed
    for row in rows:
        assert row["image"]
        assert (float(row["iou"]) >= 0.4) == bool(row["annotated"] and row["detection_box"]), row


def test_detector_sweep_reports_every_setting(dev_scenes: Path, tmp_path: Path, yunet_model: Path):
    out = tmp_path / "sweep"
    argv = ["detector-sweep", str(dev_scenes), str(out), "--detector", str(yunet_model)]
    assert convert_main([*argv, "--input-sizes", "320,416", "--score-thresholds", "0.6,0.9"]) == 0
    report = json.loads((out / "detector_sweep.json").read_text())
    settings = [(r["input_size"], r["score_threshold"]) for r in report["results"]]
    assert settings == [(320, 0.6), (320, 0.9), (416, 0.6), (416, 0.9)]
    low, high = report["results"][0], report["results"][1]
    assert high["found"][ALL]["all"]["n"] <= low["found"][ALL]["all"]["n"], "a higher threshold finds no more"
    assert high["false_faces"]["count"] <= low["false_faces"]["count"]
    assert all(r["ms_per_image"] > 0 for r in report["results"])
    assert "| 416 | 0.9 |" in (out / "detector_sweep.md").read_text()


def test_bad_inputs_end_the_commands_with_status_2(tmp_path: Path, dev_scenes: Path, yunet_model: Path):
    model = tmp_path / "no_card.tflite"
    model.write_bytes(b"not a model")
    base = ["evaluate-door", str(dev_scenes), str(tmp_path / "out"), "--detector", str(yunet_model)]
    assert convert_main([*base, "--model", str(model)]) == 2
    assert convert_main([*base, "--model", str(tmp_path / "missing.tflite")]) == 2
    assert convert_main(["evaluate-door", str(tmp_path / "nowhere"), str(tmp_path / "out"), "--model", "x"]) == 2
    assert convert_main(["detector-sweep", str(dev_scenes), str(tmp_path / "o"), "--input-sizes", "big"]) == 2
    assert convert_main(["evaluate-door", str(tmp_path), str(tmp_path / "out"), "--model", "x"]) == 2


def test_evaluate_door_second_look_flag_is_applied_and_reported(
    dev_scenes: Path, tmp_path: Path, yunet_model: Path, default_classifier
):
    found = {}
    for size in (0, 1280):
        out = tmp_path / f"second_look_{size}"
        argv = ["evaluate-door", str(dev_scenes), str(out), "--model", str(default_classifier)]
        assert convert_main([*argv, "--detector", str(yunet_model), "--second-look-size", str(size)]) == 0
        report = json.loads((out / "door_evaluation.json").read_text())
        assert report["settings"]["detector"]["second_look_size"] == size
        markdown = (out / "door_evaluation.md").read_text()
        assert ("second look at up to 1280 px" in markdown) == (size == 1280)
        alone, paired = report["models"].values()  # the default model alone and with its fast model
        assert alone["buckets"][ALL]["found"] == paired["buckets"][ALL]["found"]
        found[size] = alone["buckets"][ALL]["found"]["all"]["n"]
    assert found[1280] >= found[0], "the second look only adds faces on these scenes"
