"""Shared fixtures. Files from ../shared are read in place through edge.bench.shared_dir; a test that needs
one skips when it is absent, except under CI=true, where a missing file fails the test."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from edge.bench.shared_dir import shared_path

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def _drop_log_handlers_bound_to_a_tests_stderr():
    """`maskgate` commands run in-process install a root handler on the sys.stderr of the moment, which is
    pytest's capture of that one test; later log lines from background threads would hit a closed file."""
    root = logging.getLogger()
    before = set(root.handlers)
    yield
    for handler in root.handlers[:]:
        if type(handler) is logging.StreamHandler and handler not in before:
            root.removeHandler(handler)


def need_shared(relative: str) -> Path:
    """The shared file or folder, or skip (fail under CI=true) with the reason."""
    path = shared_path(relative)
    if path is None:
        message = f"needs ../shared/{relative} (set MASKGATE_SHARED to the shared directory)"
        if IN_CI:
            pytest.fail(message + " - required under CI=true")
        pytest.skip(message)
    return path


def need_tool(name: str) -> str:
    """An executable on PATH, or skip (fail under CI=true)."""
    import shutil

    found = shutil.which(name)
    if found is None:
        message = f"needs the `{name}` program (.ci/run installs it)"
        if IN_CI:
            pytest.fail(message + " - required under CI=true")
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def shared_models() -> Path:
    return need_shared("models")


@pytest.fixture(scope="session")
def yunet_model() -> Path:
    return need_shared("models/yunet/face_detection_yunet_2026may.onnx")


@pytest.fixture(scope="session")
def facemask_dir() -> Path:
    return need_shared("data/facemask")


@pytest.fixture(scope="session")
def imagenet_weights() -> Path:
    return need_shared("models/imagenet/mobilenet_v2_1.0_224_imagenet_no_top.weights.h5")


@pytest.fixture(scope="session")
def default_classifier() -> Path:
    from edge.modelfiles.find import DEFAULT_CLASSIFIER, packaged_model_dir

    path = packaged_model_dir() / DEFAULT_CLASSIFIER
    assert path.is_file(), f"the default classifier must ship in the package: {path}"
    return path


@pytest.fixture
def model_env(monkeypatch: pytest.MonkeyPatch, shared_models: Path, tmp_path: Path) -> Path:
    """MASKGATE_MODEL_DIR pointing at the shared third-party models; user dirs redirected into tmp."""
    monkeypatch.setenv("MASKGATE_MODEL_DIR", str(shared_models))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return shared_models
