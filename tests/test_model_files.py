from pathlib import Path

import numpy as np
import pytest

from edge.errors import ModelLoadError
from edge.modelfiles import find as model_files
from edge.modelfiles.fetch import YUNET_2023MAR, FetchError, PinnedFile, fetch, sha256_of
from edge.modelfiles.find import ModelNotFoundError, find_classifier, find_res10, find_yunet, model_dirs

SHARED_YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_search_order_is_config_then_env_then_user_then_system(monkeypatch, tmp_path):
    monkeypatch.setenv("MASKGATE_MODEL_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    dirs = model_dirs(str(tmp_path / "configured"))
    assert dirs == [
        tmp_path / "configured",
        tmp_path / "env",
        tmp_path / "xdg" / "maskgate" / "models",
        Path("/var/lib/maskgate/models"),
    ]


def test_newest_yunet_release_wins_and_float_before_int8(tmp_path):
    for name in (
        "face_detection_yunet_2023mar.onnx",
        "face_detection_yunet_2023mar_int8.onnx",
        "face_detection_yunet_2022dec.onnx",
    ):
        touch(tmp_path / "a" / name)
    touch(tmp_path / "b" / "yunet" / "face_detection_yunet_2026may.onnx")
    assert find_yunet("", [tmp_path / "a"]).name == "face_detection_yunet_2023mar.onnx"
    assert find_yunet("", [tmp_path / "b", tmp_path / "a"]).name == "face_detection_yunet_2026may.onnx"


def test_the_first_folder_with_a_yunet_wins_so_models_dir_pins_the_detector(tmp_path):
    """A later release in a folder further down (one planted in the service's home, say) cannot beat the folder
    models.dir names."""
    pinned = touch(tmp_path / "pinned" / "face_detection_yunet_2023mar.onnx")
    touch(tmp_path / "later" / "face_detection_yunet_2099dec.onnx")
    assert find_yunet("", [tmp_path / "pinned", tmp_path / "later"]) == pinned
    assert find_yunet("", [tmp_path / "empty", tmp_path / "later"]).name == "face_detection_yunet_2099dec.onnx"


def test_implicit_model_folders_this_user_can_write_are_not_searched(tmp_path, monkeypatch, caplog):
    """The service's home is its own state folder: models planted in its data folder must not decide the door
    at the next restart. Named in the config, the same folder is used."""
    import os

    monkeypatch.setattr(os, "geteuid", lambda: 4242)  # not root: what this process can write is its own
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MASKGATE_MODEL_DIR", raising=False)
    planted = model_files.user_model_dir()
    touch(planted / "face_detection_yunet_2099dec.onnx")
    touch(planted / model_files.DEFAULT_CLASSIFIER)
    dirs = model_dirs()
    assert planted not in dirs
    assert "are not used" in caplog.text and str(planted) in caplog.text
    assert find_yunet("", dirs).parent == model_files.packaged_model_dir()
    assert find_classifier("", dirs).parent == model_files.packaged_model_dir()
    skipped = [entry for entry in model_files.search_plan() if entry.path == planted]
    assert "models.dir" in skipped[0].skipped
    assert find_yunet("", model_dirs(str(planted))).parent == planted, "named in the config, it is the owner's"
    assert model_files.why_chosen(find_yunet("", model_dirs(str(planted))), "detector.model", "", str(planted)) == (
        f"the first model folder that has one: {planted} (models.dir in the config)"
    )


@pytest.mark.parametrize("loose", ["folder", "file"])
@pytest.mark.parametrize("bits", [0o020, 0o002])
def test_group_or_world_writable_model_files_and_folders_are_refused(tmp_path, loose, bits):
    folder = tmp_path / "models"
    model = touch(folder / model_files.DEFAULT_CLASSIFIER)
    loose_one = folder if loose == "folder" else model
    loose_one.chmod(loose_one.stat().st_mode | bits)
    with pytest.raises(ModelLoadError, match="may be written by") as caught:
        find_classifier("", [folder])
    assert str(loose_one) in str(caught.value) and f"chmod go-w {loose_one}" in str(caught.value)
    with pytest.raises(ModelLoadError, match="may be written by"):
        find_classifier(str(model), [])
    yunet = touch(folder / "face_detection_yunet_2023mar.onnx")
    yunet.chmod(yunet.stat().st_mode | (bits if loose == "file" else 0))
    with pytest.raises(ModelLoadError, match="may be written by"):
        find_yunet("", [folder])


def test_a_missing_model_lists_the_search_path_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(model_files, "packaged_model_dir", lambda: tmp_path / "no-package")
    with pytest.raises(ModelNotFoundError) as caught:
        find_yunet("", [tmp_path / "one", tmp_path / "two"])
    message = str(caught.value)
    assert str(tmp_path / "one") in message and str(tmp_path / "two") in message
    assert "maskgate models fetch" in message
    assert "--url file://" in message and "MASKGATE_MODEL_DIR" in message, "says what to do offline"
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        find_yunet(str(tmp_path / "nope.onnx"), [])
    with pytest.raises(ModelNotFoundError, match=r"deploy.prototxt"):
        find_res10("", [tmp_path])


def test_the_default_classifier_ships_in_the_package_and_a_model_dir_overrides_it(tmp_path):
    assert find_classifier("", [tmp_path]).parent == model_files.packaged_model_dir()
    mine = touch(tmp_path / model_files.DEFAULT_CLASSIFIER)
    assert find_classifier("", [tmp_path]) == mine


def test_fetch_verifies_the_pinned_sha256_and_keeps_nothing_on_mismatch(yunet_model, tmp_path):
    dest = tmp_path / "models"
    with pytest.raises(FetchError, match="does not match the pinned 8f2383e4"):
        fetch(YUNET_2023MAR, dest, url=yunet_model.as_uri())
    assert not dest.exists() or list(dest.iterdir()) == []
    pinned = PinnedFile(yunet_model.name, yunet_model.as_uri(), SHARED_YUNET_SHA256)
    got = fetch(pinned, dest)
    assert got == dest / yunet_model.name and sha256_of(got) == SHARED_YUNET_SHA256
    assert fetch(pinned, dest, url="file:///nonexistent/again") == got, "a verified file is not fetched again"


def test_fetch_of_an_unreachable_url_is_a_clear_error(tmp_path):
    with pytest.raises(FetchError, match="cannot download file:///nonexistent"):
        fetch(YUNET_2023MAR, tmp_path, url="file:///nonexistent/face_detection_yunet_2023mar.onnx")
    assert list(tmp_path.iterdir()) == []


def test_yunet_ships_in_the_package_verified_and_a_model_dir_copy_comes_first(tmp_path, monkeypatch):
    packaged = find_yunet("", [tmp_path / "empty"])
    assert packaged == model_files.packaged_model_dir() / model_files.PACKAGED_YUNET
    assert sha256_of(packaged) == model_files.PACKAGED_YUNET_SHA256
    assert (packaged.parent / "YUNET_LICENSE").read_text().startswith("MIT License")
    mine = touch(tmp_path / "face_detection_yunet_2023mar.onnx")
    assert find_yunet("", [tmp_path]) == mine

    damaged = tmp_path / "package"
    damaged.mkdir()
    (damaged / model_files.PACKAGED_YUNET).write_bytes(packaged.read_bytes()[:-1] + b"x")
    monkeypatch.setattr(model_files, "packaged_model_dir", lambda: damaged)
    with pytest.raises(ModelLoadError, match="not the pinned one"):
        find_yunet("", [tmp_path / "empty"])


def test_fetched_files_are_readable_by_the_service_user(yunet_model, tmp_path):
    import stat

    pinned = PinnedFile(yunet_model.name, yunet_model.as_uri(), sha256_of(yunet_model))
    got = fetch(pinned, tmp_path / "models")
    assert stat.S_IMODE(got.stat().st_mode) == 0o644


def test_a_failed_fetch_says_what_to_do_without_a_network(tmp_path):
    with pytest.raises(FetchError) as caught:
        fetch(YUNET_2023MAR, tmp_path, url="file:///nonexistent/face_detection_yunet_2023mar.onnx")
    assert "--url file://" in str(caught.value) and "MASKGATE_MODEL_DIR" in str(caught.value)


def test_a_yunet_named_as_a_pinned_release_must_be_that_release(yunet_model, tmp_path, caplog):
    import logging
    import shutil

    from edge.config import DetectorConfig
    from edge.detectors.yunet import YuNetDetector

    folder = tmp_path / "models"
    folder.mkdir()
    copy = folder / yunet_model.name  # face_detection_yunet_2026may.onnx, the packaged release
    shutil.copy(yunet_model, copy)
    assert YuNetDetector.from_config(DetectorConfig(), [folder]).detect(np.zeros((240, 320, 3), np.uint8)) == []
    copy.write_bytes(copy.read_bytes()[:-8] + bytes(8))  # damaged
    with pytest.raises(ModelLoadError, match=r"is pinned to ebafce4e3c11.*maskgate models fetch"):
        YuNetDetector.from_config(DetectorConfig(), [folder])
    copy.unlink()
    other = folder / "face_detection_yunet_2099jan.onnx"
    shutil.copy(yunet_model, other)
    caplog.set_level(logging.WARNING, logger="edge.modelfiles.find")
    assert YuNetDetector.from_config(DetectorConfig(), [folder]) is not None
    assert f"YuNet model {other} is not a release maskgate pins" in caplog.text


def test_doctor_shows_each_models_file_and_why_it_is_the_one(yunet_model, tmp_path, monkeypatch):
    import shutil

    from edge.checkup import check_models
    from edge.config import Config, ModelsConfig

    monkeypatch.delenv("MASKGATE_MODEL_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    pinned = tmp_path / "pinned"
    pinned.mkdir()
    shutil.copy(yunet_model, pinned / yunet_model.name)
    checks = {check.name: check for check in check_models(Config(models=ModelsConfig(dir=str(pinned))))}
    assert checks["face detector"].ok, checks["face detector"].detail
    assert (
        f"{pinned / yunet_model.name}: the first model folder that has one: {pinned} (models.dir in the config)"
        in checks["face detector"].detail
    )
    assert "the packaged default: no model folder before it has one" in checks["classifier"].detail
