"""The change gate: a static empty door skips the detector; arrivals and label changes are not delayed."""

import cv2
import numpy as np
import pytest

from edge.app import build_gate
from edge.config import Config, DetectorConfig, GateConfig, TrackerConfig
from edge.detectors import create_detector
from edge.pipeline import Pipeline
from edge.vision.classifier import MaskClassifier
from edge.vision.gate import ChangeGate, changed_cells, thumbnail
from edge.vision.tracker import Tracker
from edge.vision.types import Frame
from tests.test_pipeline import held_out_photos

RNG_SEED = 13


def door(rng: np.random.Generator, light: float = 0.0) -> np.ndarray:
    """A textured static door scene with sensor noise (sigma 4) and a brightness offset."""
    base = np.zeros((480, 640, 3), np.float32)
    base[:, :320] = (90, 110, 120)
    base[:, 320:] = (150, 140, 130)
    base[200:480, 260:380] = (60, 60, 70)  # the door
    noisy = base + light + rng.normal(0, 4, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def with_face(scene: np.ndarray, photo: np.ndarray, x: int, y: int) -> np.ndarray:
    out = scene.copy()
    h, w = photo.shape[:2]
    out[y : y + h, x : x + w] = photo
    return out


def face_photo(facemask_dir, label: str) -> np.ndarray:
    path = next(p for p, lab in held_out_photos(facemask_dir, 5) if lab == label)
    photo = cv2.imread(str(path))
    scale = 200 / max(photo.shape[:2])
    return cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


class CountingDetector:
    def __init__(self, detector) -> None:
        self.detector, self.calls = detector, 0

    def detect(self, image):
        self.calls += 1
        return self.detector.detect(image)


@pytest.fixture
def parts(model_env, default_classifier):
    return CountingDetector(create_detector(DetectorConfig(), [model_env])), MaskClassifier(default_classifier)


def gated(recheck_every: int = 5) -> ChangeGate:
    return ChangeGate(GateConfig(), recheck_every)


def run(parts, frames: list[np.ndarray], gate: ChangeGate | None):
    detector, classifier = parts
    detector.calls = 0
    pipeline = Pipeline(detector, classifier, Tracker(TrackerConfig(recheck_every=5)), gate=gate)
    seen, decided = [], []
    for n, image in enumerate(frames):
        tracked, decisions = pipeline.process(Frame(str(n), n / 30, image))
        seen.append(len(tracked))
        decided += [(n, d.label) for d in decisions]
    return seen, decided, detector.calls


def test_sensor_noise_an_exposure_step_and_a_slow_ramp_are_not_changes():
    rng = np.random.default_rng(RNG_SEED)
    reference = thumbnail(door(rng), 40)
    for light in (0.5, 3.0, 25.0, -30.0):  # slow ramp steps and auto-exposure steps
        assert changed_cells(thumbnail(door(rng, light), 40), reference, 12.0) == 0, light


def test_a_face_in_the_frame_is_a_change(facemask_dir):
    rng = np.random.default_rng(RNG_SEED)
    empty = door(rng)
    arrived = with_face(door(rng), face_photo(facemask_dir, "no_mask"), 420, 20)
    assert changed_cells(thumbnail(arrived, 40), thumbnail(empty, 40), 12.0) >= GateConfig().min_changed_cells


def test_a_static_empty_door_with_noise_and_a_light_ramp_skips_the_detector(parts):
    rng = np.random.default_rng(RNG_SEED)
    frames = [door(rng, light=n * 0.2) for n in range(120)]  # 24 grey levels over 4 s
    gate = gated()
    seen, decided, calls = run(parts, frames, gate)
    assert seen == [0] * 120 and decided == []
    assert calls <= 120 // GateConfig().empty_check_every + 2, calls
    assert gate.skipped >= 110
    _, _, ungated_calls = run(parts, frames, None)
    assert ungated_calls == 120


def test_a_person_walking_in_is_detected_on_the_first_frame_and_decided_no_later(parts, facemask_dir):
    rng = np.random.default_rng(RNG_SEED)
    photo = face_photo(facemask_dir, "no_mask")
    frames = [door(rng) for _ in range(40)]
    frames += [with_face(door(rng), photo, 420 - 4 * n, 60 + n) for n in range(30)]  # walks in at frame 40
    gate_seen, gate_decided, _ = run(parts, frames, gated())
    plain_seen, plain_decided, _ = run(parts, frames, None)
    assert plain_seen.index(1) == 40, "the ungated loop sees the face where it was pasted"
    assert gate_seen.index(1) == 40
    assert plain_decided and gate_decided[0][0] <= plain_decided[0][0]
    assert gate_decided[0][1] == plain_decided[0][1]


def test_a_decided_person_who_takes_the_mask_off_is_redecided_as_quickly_as_without_the_gate(parts, facemask_dir):
    rng = np.random.default_rng(RNG_SEED)
    masked, bare = face_photo(facemask_dir, "mask"), face_photo(facemask_dir, "no_mask")
    frames = [with_face(door(rng), masked, 220, 80) for _ in range(40)]
    frames += [with_face(door(rng), bare, 220, 80) for _ in range(30)]  # the mask comes off at frame 40
    gate = gated()
    _, gate_decided, gate_calls = run(parts, frames, gate)
    _, plain_decided, plain_calls = run(parts, frames, None)
    assert [label for _, label in plain_decided] == ["mask", "no_mask"], "the photos are what the model says"
    assert [label for _, label in gate_decided] == ["mask", "no_mask"]
    assert gate_decided[1][0] <= plain_decided[1][0]
    assert gate.skipped > 0 and gate_calls < plain_calls, "while the masked face stood still the detector rested"


def test_gate_off_builds_no_gate_and_image_folders_never_gate():
    config = Config()
    assert build_gate(config) is not None
    assert build_gate(config, per_frame=True) is None
    config.gate.enabled = False
    assert build_gate(config) is None


def test_gate_off_gives_the_same_events_as_the_ungated_loop(parts, facemask_dir):
    rng = np.random.default_rng(RNG_SEED)
    photo = face_photo(facemask_dir, "mask")
    frames = [door(rng) for _ in range(10)] + [with_face(door(rng), photo, 200, 60) for _ in range(15)]
    config = Config()
    config.gate.enabled = False
    assert run(parts, frames, build_gate(config)) == run(parts, frames, None)
