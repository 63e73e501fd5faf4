"""Shared fixtures. Files from ../shared are read in place through edge.bench.shared_dir; a test that needs
one skips when it is absent, except under CI=true, where a missing file fails the test. The same holds for a
missing module, program or root (`need_module`, `need_tool`, `need_root`): under CI=true nothing may skip
(the session fails listing its skips), except what this kind of machine cannot do at all (`machine_cannot`).
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

from edge.bench.shared_dir import shared_path

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MACHINE_CANNOT = "this machine cannot: "
"""Prefix of the one kind of skip allowed under CI=true: a capability no install step can add (loop devices,
binfmt_misc in a container)."""
_skipped: list[str] = []


def missing(message: str) -> NoReturn:
    """Skip with the reason, or fail under CI=true, where every part the tests need must be there."""
    if IN_CI:
        pytest.fail(message + " - required under CI=true", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def machine_cannot(reason: str) -> NoReturn:
    """Skip, even under CI=true, for what this kind of machine cannot do at all; say so loudly."""
    pytest.skip(MACHINE_CANNOT + reason, allow_module_level=True)


def need_module(name: str, install: str) -> ModuleType:
    """The imported module, or skip (fail under CI=true) naming how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        problem = str(exc)
    missing(f"needs the {name} module ({problem}): {install}")


def need_root(reason: str) -> None:
    if os.geteuid() != 0:
        missing(f"needs root: {reason}")


def _record_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if MACHINE_CANNOT not in reason:
            _skipped.append(f"{report.nodeid}: {reason}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _record_skip(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _record_skip(report)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if IN_CI and _skipped:
        terminalreporter.section(f"CI=true: {len(_skipped)} skip(s) hide a missing part", red=True)
        for line in _skipped:
            terminalreporter.line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI=true a skip fails the run: a missing module, program, file or root must not pass as green."""
    if IN_CI and _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
        missing(f"needs ../shared/{relative} (set MASKGATE_SHARED to the shared directory)")
    return path


def need_tool(name: str) -> str:
    """An executable on PATH, or skip (fail under CI=true)."""
    import shutil

    found = shutil.which(name)
    if found is None:
        missing(f"needs the `{name}` program (.ci/run installs it)")
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
