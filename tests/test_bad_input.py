"""One behaviour for bad input across the commands that read pictures: run, classify, bench (doctor reports it).

missing path -> exit 2 naming it; folder without images -> exit 2 naming it; nothing readable -> exit 2 after a
warning per file naming its reason; a scene given to classify -> a warning and one line per face. Real models
(the packaged YuNet and classifier), real files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge.cli import main
from edge.health.self_test import FRAME_FILE, REFERENCE_DIR
from edge.sources import DEMO_CLIP

COMMANDS = {
    "run": ["run", "--source"],
    "classify": ["classify"],
    "bench": ["bench", "--frames", "2", "--warmup", "0", "--frames-dir"],
}


@pytest.fixture(autouse=True)
def packaged_models_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The packaged models, whatever the machine has in its user model folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MASKGATE_MODEL_DIR", raising=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_path_exits_2_naming_it(command: str, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no-such-photos"
    assert main([*COMMANDS[command], str(missing)]) == 2
    assert f"'{missing}': no such file or folder" in capfd.readouterr().err


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_without_images_exits_2_naming_it(command: str, tmp_path: Path, capfd) -> None:
    (tmp_path / "notes.txt").write_text("not a picture")
    assert main([*COMMANDS[command], str(tmp_path)]) == 2
    assert f"folder {tmp_path} has no image files" in capfd.readouterr().err


@pytest.mark.parametrize("command", COMMANDS)
def test_nothing_readable_exits_2_after_naming_each_file(command: str, tmp_path: Path, capfd) -> None:
    fake = tmp_path / "holiday.jpg"
    fake.write_text("a text file renamed .jpg")
    assert main([*COMMANDS[command], str(tmp_path)]) == 2
    err = capfd.readouterr().err
    assert f"skipping {fake}: not a readable image" in err
    assert f"none of the 1 image file(s) of {tmp_path} could be read" in err
    assert "done:" not in err


@pytest.mark.parametrize("command", ["run", "classify"])
def test_an_unreadable_file_among_good_ones_is_skipped_with_a_warning(command: str, tmp_path: Path, capfd) -> None:
    shutil.copy(REFERENCE_DIR / "mask_cloth.png", tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 truncated")
    assert main([*COMMANDS[command], str(tmp_path)]) == 0
    captured = capfd.readouterr()
    assert f"skipping {tmp_path / 'b.jpg'}" in captured.err
    assert "mask" in captured.out


def test_classify_takes_a_scene_face_by_face_with_a_warning(capfd: pytest.CaptureFixture) -> None:
    scene = REFERENCE_DIR / FRAME_FILE
    assert main(["classify", str(scene)]) == 0
    captured = capfd.readouterr()
    assert "is a scene with 2 face(s), not a face crop" in captured.err
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["face"] for r in rows] == [0, 1]
    # the two reference faces: a cloth mask on the left, a mask under the chin on the right
    by_x = sorted(rows, key=lambda r: r["box"][0])
    assert [r["label"] for r in by_x] == ["mask", "mask_incorrect"]


def test_classify_takes_a_crop_whole(capfd: pytest.CaptureFixture) -> None:
    assert main(["classify", str(REFERENCE_DIR / "mask_chin.png")]) == 0
    rows = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert len(rows) == 1 and set(rows[0]) == {"file", "label", "score"} and rows[0]["label"] == "mask_incorrect"


def test_doctor_reports_a_missing_source_with_the_same_reason(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no-such-photos"
    config = tmp_path / "maskgate.toml"
    config.write_text(f'[source]\nuri = "{missing}"\n')
    assert main(["doctor", "--config", str(config)]) == 1  # doctor reports every problem: exit 1, as always
    assert f"'{missing}': no such file or folder" in capfd.readouterr().out


def test_the_demo_runs_offline_and_prints_one_line_per_person(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    assert DEMO_CLIP.stat().st_size < 1_000_000
    record = tmp_path / "demo"
    assert main(["run", "--source", "demo", "--record", str(record)]) == 0
    out = capfd.readouterr().out.splitlines()
    assert out[0] == "3 people in view:"
    people = [line.split() for line in out[1:4]]
    assert [p[2] for p in people] == ["mask", "no_mask", "mask_incorrect"]
    assert [" ".join(p[3:5]) for p in people] == ["door OK", "door NOT", "door NOT"]
    assert out[4] == f"annotated frames: {record}"
    assert len(list(record.glob("*.jpg"))) == 58
