import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import need_shared

from edge.config import DetectorConfig
from edge.detectors import create_detector
from edge.detectors.ultraface import prior_boxes
from edge.detectors.yunet import merge
from edge.errors import BackendUnavailableError
from edge.vision.types import Face


def photo(facemask_dir: Path, label: str, index: int = 0) -> np.ndarray:
    files = sorted((facemask_dir / label).glob("*.jpg"))
    return cv2.imread(str(files[index]))


def scene(facemask_dir: Path) -> np.ndarray:
    """A 640x480 frame with one unmasked face photo in the middle and one cut by the right border."""
    canvas = np.full((480, 640, 3), 90, np.uint8)
    face = cv2.resize(photo(facemask_dir, "without_mask", 3), (200, 200))
    canvas[140:340, 200:400] = face
    canvas[140:340, 540:640] = face[:, :100]
    return canvas


@pytest.mark.parametrize("kind", ["yunet", "res10", "ultraface"])
def test_each_detector_finds_the_face_in_a_real_photo_and_nothing_in_a_blank_frame(kind, model_env, facemask_dir):
    detector = create_detector(DetectorConfig(type=kind, input_size=320 if kind == "yunet" else 300), [model_env])
    faces = detector.detect(scene(facemask_dir))
    assert faces, f"{kind} found no face"
    best = max(faces, key=lambda f: f.score)
    x1, y1, x2, y2 = best.box
    assert 180 < (x1 + x2) / 2 < 420 and 120 < (y1 + y2) / 2 < 360
    for face in faces:
        assert 0 <= face.box[0] < face.box[2] <= 640 and 0 <= face.box[1] < face.box[3] <= 480
    assert detector.detect(np.full((480, 640, 3), 90, np.uint8)) == []
    assert detector.engine == {"yunet": "onnxruntime", "res10": "opencv"}.get(kind, "ai-edge-litert")


def test_yunet_returns_five_landmarks_in_frame_pixels(model_env, facemask_dir):
    detector = create_detector(DetectorConfig(), [model_env])
    face = max(detector.detect(scene(facemask_dir)), key=lambda f: f.score)
    assert face.landmarks is not None and len(face.landmarks) == 5
    x1, y1, x2, y2 = face.box
    assert all(x1 - 5 <= x <= x2 + 5 and y1 - 5 <= y <= y2 + 5 for x, y in face.landmarks)


def test_max_faces_keeps_the_best_scores(model_env, facemask_dir):
    face = cv2.resize(photo(facemask_dir, "without_mask", 3), (80, 80))
    crowd = np.full((480, 640, 3), 90, np.uint8)
    for row in range(5):
        for col in range(7):
            crowd[row * 95 : row * 95 + 80, col * 90 : col * 90 + 80] = face
    many = create_detector(DetectorConfig(max_faces=100, input_size=640), [model_env]).detect(crowd)
    capped = create_detector(DetectorConfig(max_faces=4, input_size=640), [model_env]).detect(crowd)
    assert len(many) >= 20
    assert len(capped) == 4
    assert min(f.score for f in capped) >= sorted((f.score for f in many), reverse=True)[3] - 1e-6


def test_ultraface_priors_match_the_network_output_count():
    assert prior_boxes(320, 240).shape == (4420, 4)


@pytest.mark.parametrize("kind", ["yunet", "res10", "ultraface"])
def test_num_threads_sets_the_detectors_threads_and_it_still_finds_the_face(kind, model_env, facemask_dir):
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(2)
        config = DetectorConfig(type=kind, input_size=320 if kind == "yunet" else 300, num_threads=1)
        detector = create_detector(config, [model_env])
        assert cv2.getNumThreads() == (2 if kind == "ultraface" else 1), "only OpenCV detectors use OpenCV's pool"
        assert detector.detect(scene(facemask_dir)), f"{kind} with one thread found no face"
    finally:
        cv2.setNumThreads(before)


def test_res10_on_an_opencv_without_caffe_is_a_doctor_failure_naming_the_fix(monkeypatch, tmp_path: Path) -> None:
    """OpenCV 5 dropped readNetFromCaffe (the package pins <5): res10 refuses to build and says what to install, so
    `doctor`'s face detector check reports it where res10 is configured and nowhere else."""
    from edge.checkup import check_models
    from edge.config import Config, ModelsConfig
    from edge.modelfiles.find import RES10_FILES

    for name in RES10_FILES:
        (tmp_path / name).write_bytes(b"")
    monkeypatch.delattr(cv2.dnn, "readNetFromCaffe")
    config = Config(detector=DetectorConfig(type="res10"), models=ModelsConfig(dir=str(tmp_path)))
    [detector_check, *_] = check_models(config)
    assert detector_check.name == "face detector" and detector_check.ok is False
    assert "cannot read Caffe models (dropped in 5.0)" in detector_check.detail
    assert "opencv-python-headless<5" in detector_check.detail


def small_face_frame(facemask_dir: Path) -> np.ndarray:
    """A 1280x960 frame with one 40 px face: 10 px once the frame is fitted into 320."""
    canvas = np.full((960, 1280, 3), 90, np.uint8)
    canvas[400:440, 600:640] = cv2.resize(photo(facemask_dir, "without_mask", 3), (40, 40))
    return canvas


def count_passes(detector) -> list[tuple[int, int]]:
    """Record the image size of every network call the detector makes."""
    sizes: list[tuple[int, int]] = []
    run_model = detector.run_model

    def counted(image, *args):
        sizes.append((image.shape[1], image.shape[0]))
        return run_model(image, *args)

    detector.run_model = counted
    return sizes


def test_yunet_second_look_finds_a_small_face_the_downscaled_pass_misses(model_env, facemask_dir):
    frame = small_face_frame(facemask_dir)
    assert create_detector(DetectorConfig(input_size=320, second_look_size=0), [model_env]).detect(frame) == []
    detector = create_detector(DetectorConfig(input_size=320, second_look_size=1280), [model_env])
    passes = count_passes(detector)
    faces = detector.detect(frame)
    assert passes == [(320, 240), (1280, 960)]
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].box
    assert abs(x1 - 600) < 8 and abs(y1 - 400) < 8 and abs(x2 - 640) < 8 and abs(y2 - 440) < 8
    assert faces[0].score >= DetectorConfig().second_look_score
    assert detector.input_label == "320 + 1280"


def test_yunet_second_look_size_is_capped_by_the_frame_and_skipped_when_it_adds_nothing(model_env, facemask_dir):
    detector = create_detector(DetectorConfig(input_size=320, second_look_size=4000), [model_env])
    passes = count_passes(detector)
    detector.detect(small_face_frame(facemask_dir))
    assert passes == [(320, 240), (1280, 960)], "never upscaled beyond the frame"
    passes.clear()
    detector.detect(np.full((240, 320, 3), 90, np.uint8))
    assert passes == [(320, 240)], "a frame no larger than input_size is already seen whole"


def test_yunet_second_look_reports_a_face_both_passes_find_once(model_env, facemask_dir):
    frame = scene(facemask_dir)
    one = create_detector(DetectorConfig(input_size=320, second_look_size=0), [model_env]).detect(frame)
    two = create_detector(DetectorConfig(input_size=320, second_look_size=640), [model_env]).detect(frame)
    middle = [f for f in two if 180 < (f.box[0] + f.box[2]) / 2 < 420]
    assert len(middle) == 1 and middle[0].landmarks is not None
    assert len(two) == len(one)
    assert middle[0].score >= max(f.score for f in one if 180 < (f.box[0] + f.box[2]) / 2 < 420) - 1e-6


def test_yunet_second_look_faces_need_their_own_score(model_env, facemask_dir):
    frame = small_face_frame(facemask_dir)
    score = create_detector(DetectorConfig(input_size=320, second_look_size=1280), [model_env]).detect(frame)[0].score
    strict = DetectorConfig(input_size=320, second_look_size=1280, second_look_score=min(1.0, score + 0.01))
    assert create_detector(strict, [model_env]).detect(frame) == []


def test_merge_keeps_the_higher_score_of_overlapping_faces_and_both_of_apart_ones():
    low = Face((0.0, 0.0, 40.0, 40.0), 0.6)
    high = Face((2.0, 2.0, 42.0, 42.0), 0.9)
    apart = Face((100.0, 100.0, 140.0, 140.0), 0.55)
    merged = merge([low, apart, high], 0.3)
    assert sorted(merged, key=lambda f: f.score) == [apart, high]
    assert merge([low], 0.3) == [low]


def test_stills_get_the_second_look_and_a_live_source_does_not(model_env, tmp_path) -> None:
    from edge.app import build_detector
    from edge.config import from_dict
    from edge.sources import is_stills

    image = tmp_path / "door.jpg"
    image.write_bytes(b"")
    assert is_stills(str(tmp_path)) and is_stills(str(image))
    assert not is_stills("0") and not is_stills("/dev/video0") and not is_stills("rtsp://door/stream")
    config = from_dict({})
    assert build_detector(config).input_label == "416"
    assert build_detector(config, stills=True).input_label == "416 + 1280"
    assert build_detector(from_dict({"detector": {"stills_second_look_size": 0}}), stills=True).input_label == "416"
    larger_live = from_dict({"detector": {"second_look_size": 1600}})
    assert build_detector(larger_live, stills=True).input_label == "416 + 1600"


def test_live_frames_are_shrunk_bilinear_and_stills_by_area(model_env, facemask_dir) -> None:
    from edge.app import build_detector
    from edge.config import from_dict
    from edge.health.self_test import iou

    config = from_dict({})
    frame = scene(facemask_dir)
    seen = {}
    for stills in (False, True):
        detector = build_detector(config, stills=stills)
        model_input = []
        run_model = detector.run_model
        detector.run_model = lambda image, net=None, seen_by=model_input, run=run_model: (
            seen_by.append(image) or run(image, net)
        )
        faces = detector.detect(frame)
        seen[stills] = (model_input[0], max(faces, key=lambda f: f.score).box)
    live_input, live_box = seen[False]
    stills_input, stills_box = seen[True]
    assert np.array_equal(live_input, cv2.resize(frame, (416, 312), interpolation=cv2.INTER_LINEAR))
    assert np.array_equal(stills_input, cv2.resize(frame, (416, 312), interpolation=cv2.INTER_AREA))
    assert not np.array_equal(live_input, stills_input)
    assert iou(live_box, stills_box) > 0.9
    area_live = from_dict({"detector": {"downscale": "area"}})
    assert build_detector(area_live).config.downscale == "area"


def test_stills_without_a_face_are_looked_at_again_inside_a_border(model_env) -> None:
    """Tight face crops (crops-wild: many under 100 px, cut at the face's edge) show YuNet no head outline; the
    retry inside a black border, enlarged to the input size, finds faces in some the plain look misses."""
    from edge.app import build_detector
    from edge.config import from_dict

    crops = sorted(need_shared("data/crops-wild/with_mask").glob("*.jpg"))[:60]
    plain = build_detector(from_dict({"detector": {"stills_retry_border": 0.0}}), stills=True)
    retry = build_detector(from_dict({}), stills=True)
    assert not build_detector(from_dict({})).config.retry_border, "a live source does not retry"
    found_plain = found_retry = 0
    for path in crops:
        image = cv2.imread(str(path))
        found_plain += bool(plain.detect(image))
        faces = retry.detect(image)
        found_retry += bool(faces)
        height, width = image.shape[:2]
        for face in faces:
            x1, y1, x2, y2 = face.box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, path.name
    assert found_plain < found_retry <= len(crops)


def test_a_face_crop_the_border_retry_misses_is_taken_at_a_lower_score_only_when_the_face_fills_it(model_env) -> None:
    """A masked face cut at its edges often scores 0.3-0.5: in a picture that is nothing but that face it is
    taken, the same face as a small part of a larger picture is not; pictures where a face was found before
    keep exactly those faces."""
    from edge.app import build_detector
    from edge.config import from_dict
    from edge.detectors.yunet import FACE_CROP_FILL

    crops = sorted(need_shared("data/crops-wild/with_mask").glob("*.jpg"))[:200]
    without = build_detector(from_dict({"detector": {"retry_score": 0.5}}), stills=True)
    detector = build_detector(from_dict({}), stills=True)
    threshold, floor = detector.config.score_threshold, detector.config.retry_score
    assert floor < threshold
    rescued = []
    for path in crops:
        image = cv2.imread(str(path))
        before, after = without.detect(image), detector.detect(image)
        if before:
            assert [f.box for f in after] == [f.box for f in before], path.name
            continue
        if after:
            (face,) = after
            assert floor <= face.score < threshold, path.name
            assert face.width >= FACE_CROP_FILL * min(image.shape[:2]), path.name
            rescued.append(image)
    assert len(rescued) >= 2, "the lower-score look finds faces in crops-wild crops the border retry misses"
    for image in rescued:
        height, width = image.shape[:2]
        canvas = np.full((height * 3, width * 3, 3), 127, np.uint8)
        canvas[height : 2 * height, width : 2 * width] = image
        assert all(face.score >= threshold for face in detector.detect(canvas)), "a small face is no face crop"
    assert not build_detector(from_dict({})).config.retry_border, "a live source neither retries nor rescues"


def test_look_framed_maps_boxes_and_landmarks_back_to_the_picture() -> None:
    from edge.detectors.common import look_framed

    picture = np.zeros((60, 80, 3), np.uint8)
    seen = []

    def detect(framed: np.ndarray) -> list[Face]:
        seen.append(framed.shape)
        return [Face((40.0, 40.0, 140.0, 120.0), 0.9, ((60.0, 60.0),) * 5)]

    (face,) = look_framed(detect, picture, 0.25, 240)
    assert seen == [(200, 240, 3)], "80x60 with a 20 px border is 120x100, enlarged 2x to a longer side of 240"
    assert face.box == (0.0, 0.0, 50.0, 40.0) and face.landmarks == ((10.0, 10.0),) * 5
    (face,) = look_framed(detect, picture, 0.25)
    assert seen[-1] == (100, 120, 3) and face.box == (20.0, 20.0, 120.0, 100.0)


def test_yunet_on_onnxruntime_finds_the_faces_opencv_finds_in_real_door_scenes(model_env):
    """The two engines at three input sizes on 40 real scenes: the same faces, boxes and landmarks within 0.01 px,
    scores within 1e-4."""
    scenes = sorted((need_shared("data/scenes-ilc2021/dev") / "images").iterdir())[:40]
    compared = 0
    for input_size in (320, 416, 640):
        config = DetectorConfig(input_size=input_size, score_threshold=0.3)
        on_onnxruntime = create_detector(replace(config, engine="onnxruntime"), [model_env])
        on_opencv = create_detector(replace(config, engine="opencv"), [model_env])
        for path in scenes:
            image = cv2.imread(str(path))
            expected = sorted(on_opencv.detect(image), key=lambda f: f.box)
            got = sorted(on_onnxruntime.detect(image), key=lambda f: f.box)
            assert len(got) == len(expected), f"{path.name} at {input_size}"
            for a, b in zip(got, expected, strict=True):
                assert np.allclose(a.box, b.box, atol=0.01) and abs(a.score - b.score) < 1e-4, path.name
                assert np.allclose(a.landmarks, b.landmarks, atol=0.01), path.name
            compared += len(got)
    assert compared > 100


def test_yunet_engine_onnxruntime_missing_names_the_key_and_the_fix(model_env, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(BackendUnavailableError, match=r'detector.engine = "onnxruntime".*engine = "opencv"'):
        create_detector(DetectorConfig(engine="onnxruntime"), [model_env])
    assert create_detector(DetectorConfig(engine="opencv"), [model_env]).detect(np.zeros((480, 640, 3), np.uint8)) == []


def test_a_yunet_file_with_a_fixed_input_size_runs_on_opencv_with_a_warning(model_env, facemask_dir, tmp_path, caplog):
    """The official 2023mar release takes only 640x640 in onnxruntime; the detector must still work with it."""
    import onnx

    model = onnx.load(str(model_env / "yunet" / "face_detection_yunet_2026may.onnx"))
    height, width = model.graph.input[0].type.tensor_type.shape.dim[2:]
    height.dim_value, width.dim_value = 640, 640
    fixed = tmp_path / "yunet_640x640.onnx"
    onnx.save(model, str(fixed))
    detector = create_detector(DetectorConfig(model=str(fixed), engine="onnxruntime"), [model_env])
    assert detector.engine == "opencv"
    assert "takes only 640x640 images in onnxruntime" in caplog.text and 'engine = "opencv"' in caplog.text
    assert detector.detect(scene(facemask_dir)), "the fallback found no face"
    assert create_detector(DetectorConfig(), [model_env]).engine == "onnxruntime"


def test_yunet_second_look_shares_the_first_looks_onnxruntime_session(model_env):
    """One copy of the network and its working memory for both looks (a second session cost 23 MB of peak RSS)."""
    detector = create_detector(DetectorConfig(input_size=320, second_look_size=1280), [model_env])
    assert detector.engine == "onnxruntime"
    assert detector._second.session is detector._first.session
    assert (detector._first.score_threshold, detector._second.score_threshold) == (0.5, 0.8)


def test_a_face_box_nested_in_a_better_one_is_the_same_head_and_is_dropped():
    from edge.detectors.common import clip_faces

    head = Face((100.0, 100.0, 260.0, 280.0), 0.9)
    inner = Face((140.0, 150.0, 220.0, 240.0), 0.7)  # all of it inside the head's box: IoU 0.25, under the NMS's 0.3
    holder = Face((80.0, 80.0, 300.0, 320.0), 0.6)  # holds the head's box
    neighbour = Face((240.0, 100.0, 400.0, 280.0), 0.8)  # overlaps the head by an eighth of its area: another person
    kept = clip_faces([inner, head, holder, neighbour], 640, 480, 20, 10)
    assert kept == [head, neighbour]
