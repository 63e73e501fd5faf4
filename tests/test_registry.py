"""The backend tables (edge.registry, edge.sources.SOURCES, edge.app.OUTPUTS): every entry resolves, the
config offers exactly what they hold, and a new backend is one module plus one table line."""

from __future__ import annotations

import importlib.util
import json
import typing
from pathlib import Path

import cv2
import numpy as np
import pytest

from convert.evaluation.door_eval import detector_files
from edge import app, registry, sources
from edge.bench.loop import InvokeTimer, instrument
from edge.cli import build_parser, main
from edge.config import ClassifierConfig, Config, DetectorConfig, ScreenConfig, from_dict
from edge.config.docs import markdown_reference
from edge.detectors import create_detector
from edge.errors import BackendUnavailableError
from edge.health.doctor import check_camera
from edge.outputs import Output

FAKE_DETECTOR = """
from edge.modelfiles import find as model_files
from edge.vision.types import Face


class FakeDetector:
    input_label = "any size"

    @classmethod
    def find_model_files(cls, explicit, dirs):
        return (model_files.find_file(explicit, dirs, "fake_faces.bin", "fake face detector", "make one"),)

    @classmethod
    def from_config(cls, config, dirs):
        (path,) = cls.find_model_files(config.model, dirs)
        return cls(path, config)

    def __init__(self, path, config):
        self.config = config

    def detect(self, frame):
        height, width = frame.shape[:2]
        return [Face(self.run_model(width, height), 0.99)]

    def run_model(self, width, height):
        return (width / 4, height / 4, 3 * width / 4, 3 * height / 4)
"""


def choices(section: type, key: str) -> tuple[str, ...]:
    return typing.get_args(typing.get_type_hints(section)[key])


def test_the_config_offers_exactly_what_the_tables_hold() -> None:
    assert choices(DetectorConfig, "type") == tuple(registry.DETECTORS)
    assert choices(ClassifierConfig, "backend") == ("auto", *registry.TFLITE_RUNTIMES)
    assert choices(ScreenConfig, "backend") == tuple(registry.SCREEN_BACKENDS)


@pytest.mark.parametrize("name", list(registry.DETECTORS))
def test_every_detector_resolves_and_exposes_its_model_files_and_model_call(name: str) -> None:
    detector = registry.load(registry.DETECTORS, name, "detector.type")
    for member in ("find_model_files", "from_config", "detect", "run_model"):
        assert callable(getattr(detector, member)), f"{name}: {member}"


def test_every_screen_backend_source_and_installed_runtime_resolves() -> None:
    for target in registry.SCREEN_BACKENDS.values():
        assert callable(registry.resolve(target).from_config)
    for kind in sources.SOURCES.values():
        assert callable(registry.resolve(kind.open))
        assert not kind.doctor_check or callable(registry.resolve(kind.doctor_check))
    for target in registry.TFLITE_RUNTIMES.values():
        if importlib.util.find_spec(target.split(".")[0]) is not None:
            assert registry.resolve(target).__name__ == "Interpreter"


def test_a_missing_package_is_a_setup_error_and_a_broken_module_of_ours_a_bug(monkeypatch) -> None:
    monkeypatch.setitem(registry.DETECTORS, "gone", "no_such_package.detector:Detector")
    with pytest.raises(BackendUnavailableError, match=r"detector.type = 'gone': no_such_package cannot be imported"):
        registry.load(registry.DETECTORS, "gone", "detector.type")
    monkeypatch.setitem(registry.DETECTORS, "ours", "edge.no_such_module:Detector")
    with pytest.raises(ModuleNotFoundError):
        registry.load(registry.DETECTORS, "ours", "detector.type")
    with pytest.raises(BackendUnavailableError, match="unknown value 'nope'"):
        registry.load(registry.DETECTORS, "nope", "detector.type")


SOURCE_EXAMPLES = [
    ("picamera2", "picamera2"),
    ("csi:1", "picamera2"),
    ("0", "camera"),
    ("/dev/video2", "camera"),
    ("rtsp://door/stream", "stream"),
    ("HTTP://x", "stream"),
]


@pytest.mark.parametrize(("uri", "kind"), SOURCE_EXAMPLES)
def test_source_kinds_match_without_opening_anything(uri: str, kind: str) -> None:
    assert sources.describe(uri) == kind


def test_a_new_detector_is_one_module_and_one_table_line(monkeypatch, tmp_path: Path, capsys) -> None:
    (tmp_path / "fake_detector.py").write_text(FAKE_DETECTOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.DETECTORS, "fake", "fake_detector:FakeDetector")  # the one table line
    models = tmp_path / "models"
    models.mkdir()
    (models / "fake_faces.bin").write_bytes(b"weights")
    monkeypatch.setenv("MASKGATE_MODEL_DIR", str(models))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    config_file = tmp_path / "fake.toml"
    # a grey square is no sure mask: a near-zero mask threshold lets the run decide it either way
    config_file.write_text('[detector]\ntype = "fake"\n[classifier]\nmask_threshold = 0.01\n')

    config = from_dict({"detector": {"type": "fake"}})
    assert "'fake'" in next(row for row in markdown_reference().splitlines() if "`detector.type`" in row)
    assert build_parser().parse_args(["bench", "--detector", "fake"]).detector == "fake"

    assert main(["models", "--config", str(config_file)]) == 0
    assert f"detector fake: {models / 'fake_faces.bin'}  (in use)" in capsys.readouterr().out

    assert detector_files(config) == [models / "fake_faces.bin"], "maskgate-convert's door reports name its files"

    detector = create_detector(config.detector, [models])
    timer = InvokeTimer()
    instrument(detector, "detect", timer)
    assert detector.detect(np.zeros((40, 80, 3), np.uint8))[0].box == (20, 10, 60, 30)
    assert timer.calls["detect"] == 1 and timer.seconds["detect"] > 0

    image = tmp_path / "door.png"
    cv2.imwrite(str(image), np.full((120, 160, 3), 128, np.uint8))
    assert main(["run", "--config", str(config_file), "--source", str(image), "--events", "-"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [event["box"] for event in events] == [[40, 30, 120, 90]]


def test_a_new_source_kind_is_matched_opened_and_checked_by_doctor(monkeypatch, tmp_path: Path) -> None:
    (tmp_path / "fake_source.py").write_text(
        "from edge.health.doctor import Check\n"
        "def open_fake(uri, config):\n    return ('opened', uri)\n"
        "def check_fake(uri):\n    return Check('camera', True, f'fake camera {uri}')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = sources.SourceKind(lambda uri: uri.startswith("fake:"), "fake_source:open_fake", "fake_source:check_fake")
    monkeypatch.setattr(sources, "SOURCES", {"fake": entry, **sources.SOURCES})
    assert sources.open_source("fake:door", Config().source) == ("opened", "fake:door")
    config = Config()
    config.source.uri = "fake:door"
    assert check_camera(config).detail == "fake camera fake:door"


def test_outputs_are_built_in_table_order_each_seeing_those_before_it(monkeypatch) -> None:
    assert app.build_outputs(Config()) == [], "every output is off by default"

    class Recorded(Output):
        def __init__(self, name: str, before: dict[str, Output]) -> None:
            self.name, self.before = name, dict(before)

    monkeypatch.setattr(
        "edge.outputs.mqtt.build_publisher", lambda config, labels, policy: Recorded("mqtt", {}), raising=True
    )
    monkeypatch.setattr(
        "edge.outputs.metrics.build_metrics",
        lambda config, publisher, policy: Recorded("metrics", {"publisher": publisher}),
    )
    monkeypatch.setitem(app.OUTPUTS, "fake", app.OutputPlug(lambda c: True, lambda c, p, b: Recorded("fake", b)))
    config = from_dict({"mqtt": {"broker": "mqtt://127.0.0.1"}, "metrics": {"port": 9108}})
    outputs = app.build_outputs(config)
    assert [o.name for o in outputs] == ["mqtt", "metrics", "fake"]
    assert outputs[1].before["publisher"] is outputs[0], "metrics reads the MQTT publisher's state"
    assert set(outputs[2].before) == {"mqtt", "metrics"}
