import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edge.cli import main

SHARED_YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"


@pytest.fixture
def photos(facemask_dir, tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for label in ("with_mask", "without_mask"):
        for path in sorted((facemask_dir / label).glob("*.jpg"))[:3]:
            (folder / f"{label}_{path.name}").write_bytes(path.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    return folder


def test_run_on_a_folder_writes_one_event_per_decision_and_annotated_frames(model_env, photos, tmp_path, capsys):
    events, record = tmp_path / "events.jsonl", tmp_path / "annotated"
    code = main(["run", "--source", str(photos), "--display", "none", "--record", str(record), "--events", str(events)])
    assert code == 0
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert {e["frame"] for e in lines} <= {p.name for p in photos.iterdir()}
    assert len({e["frame"] for e in lines}) >= 5
    for event in lines:
        assert set(event) == {"event", "frame", "time", "track", "box", "label", "score"}
        assert event["event"] == "decided"
        assert event["label"] in ("mask", "no_mask") and 0.5 <= event["score"] <= 1.0
        assert len(event["box"]) == 4 and all(isinstance(v, int) for v in event["box"])
    written = sorted(p.name for p in record.iterdir())
    assert len(written) == 6 and "broken.jpg" not in written
    assert cv2.imread(str(record / written[0])) is not None


def test_run_events_to_stdout(model_env, photos, capsys):
    assert main(["run", "--source", str(photos), "--events", "-"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines and all("label" in e for e in lines)


def test_run_on_a_single_image_and_on_a_missing_source(model_env, photos, tmp_path, capsys):
    image = next(p for p in sorted(photos.iterdir()) if p.name != "broken.jpg")
    assert main(["run", "--source", str(image), "--events", "-"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["frame"] == image.name
    assert main(["run", "--source", str(tmp_path / "nowhere")]) == 2


def test_classify_prints_one_json_line_per_image(default_classifier, facemask_dir, tmp_path, capsys):
    files = sorted((facemask_dir / "without_mask").glob("*.jpg"))[:2]
    folder = tmp_path / "crops"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(files[0].read_bytes())
    code = main(["classify", str(files[1]), str(folder)])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [Path(r["file"]).name for r in rows] == [files[1].name, "a.jpg"]
    assert all(set(r) == {"file", "label", "score"} and r["label"] in ("mask", "no_mask") for r in rows)


def test_classify_reports_unreadable_images_and_fails(default_classifier, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    assert main(["classify", str(bad)]) == 2  # as `run` on it: nothing readable is a setup problem
    assert capsys.readouterr().out == ""


def test_models_lists_files_and_where_they_were_found(model_env, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert str(model_env) in out
    assert "face_detection_yunet_2026may.onnx  (in use)" in out
    assert "mask_classifier_int8.tflite  (in use)" in out


def test_models_fails_when_the_detector_in_use_is_missing(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MASKGATE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert main(["models"]) == 0, "YuNet ships in the package"
    assert "face_detection_yunet_2026may.onnx  (in use)" in capsys.readouterr().out
    config = tmp_path / "ultraface.toml"
    config.write_text('[detector]\ntype = "ultraface"\n')
    assert main(["models", "--config", str(config)]) == 1
    assert "Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB" in capsys.readouterr().out


def test_models_fetch_from_a_local_file_verifies_the_sha256(yunet_model, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert main(["models", "fetch", "--url", yunet_model.as_uri()]) == 2, "the pinned 2023mar hash must not match"
    assert not (tmp_path / "xdg" / "maskgate" / "models" / "face_detection_yunet_2023mar.onnx").exists()
    assert main(["models", "fetch", "--url", yunet_model.as_uri(), "--sha256", SHARED_YUNET_SHA256]) == 0
    assert (tmp_path / "xdg" / "maskgate" / "models" / yunet_model.name).is_file()


def test_doctor_reports_each_check_and_fails_on_a_missing_camera(model_env, capsys, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[source]\nuri = "/dev/video9"\n')
    assert main(["doctor", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "[ok  ] tflite runtime: ai-edge-litert" in out
    assert "[ok  ] face detector" in out and "[ok  ] classifier" in out
    assert "[FAIL] camera: /dev/video9 does not exist" in out and "fix:" in out


def test_doctor_passes_with_a_folder_source(model_env, photos, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    config = tmp_path / "c.toml"
    config.write_text(f'[source]\nuri = "{photos}"\n')
    assert main(["doctor", "--config", str(config)]) == 0, capsys.readouterr().out


def test_a_bad_config_exits_2_naming_the_key(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[tracker]\nvote_windw = 3\n")
    assert main(["run", "--source", "0", "--config", str(config)]) == 2
    assert "tracker.vote_windw: unknown key" in capsys.readouterr().err


def test_the_console_script_is_installed_and_answers():
    result = subprocess.run(
        [Path(sys.executable).parent / "maskgate", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("run", "classify", "models", "doctor"):
        assert command in result.stdout
