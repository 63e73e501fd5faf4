from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import DetectorConfig
from edge.detectors import create_detector
from edge.detectors.ultraface import prior_boxes


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
    from edge.config import Config, ModelsConfig
    from edge.doctor import check_models
    from edge.model_files import RES10_FILES

    for name in RES10_FILES:
        (tmp_path / name).write_bytes(b"")
    monkeypatch.delattr(cv2.dnn, "readNetFromCaffe")
    config = Config(detector=DetectorConfig(type="res10"), models=ModelsConfig(dir=str(tmp_path)))
    [detector_check, *_] = check_models(config)
    assert detector_check.name == "face detector" and detector_check.ok is False
    assert "cannot read Caffe models (dropped in 5.0)" in detector_check.detail
    assert "opencv-python-headless<5" in detector_check.detail
