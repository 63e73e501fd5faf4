"""The error contract (edge.errors): a setup problem exits 2 with one line naming it and the fix, a bug exits 1
with its traceback, success exits 0; and the commands that diagnose a broken OpenCV run without it."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main
from edge.errors import SetupError

SETUP_ERRORS = [
    ("edge.config", "ConfigError"),
    ("edge.modelfiles.find", "ModelNotFoundError"),
    ("edge.modelfiles.tflite", "ModelLoadError"),
    ("edge.vision.model_card", "ModelCardError"),
    ("edge.sources", "SourceError"),
    ("edge.modelfiles.fetch", "FetchError"),
    ("edge.bench.frames", "FrameSetError"),
    ("edge.outputs.alerts", "AlertsError"),
    ("edge.outputs.video", "DisplayUnavailableError"),
    ("convert.data.dataset", "DatasetError"),
    ("convert.training.train", "WeightsError"),
    ("convert.evaluation.door_eval", "DoorEvalError"),
]


def maskgate(
    *args: str, code: str = "", pythonpath: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`maskgate ARGS` in a fresh interpreter, after running `code` (to plant a bug)."""
    script = code + f"\nimport sys\nfrom edge.cli import main\nsys.exit(main({list(args)!r}))\n"
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "GPIOZERO_PIN_FACTORY": "mock", **(env or {})}
    if pythonpath:
        environment["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=environment)


@pytest.mark.parametrize(("module", "name"), SETUP_ERRORS)
def test_every_setup_error_is_a_setup_error_where_it_always_was(module: str, name: str) -> None:
    assert issubclass(getattr(importlib.import_module(module), name), SetupError)


def test_success_exits_0() -> None:
    result = maskgate("config")
    assert result.returncode == 0, result.stderr
    assert "[detector]" in result.stdout


def test_a_setup_error_exits_2_naming_the_problem_and_the_fix(tmp_path: Path) -> None:
    models = {"MASKGATE_MODEL_DIR": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    config = tmp_path / "ultraface.toml"
    config.write_text('[detector]\ntype = "ultraface"\n')  # YuNet ships in the package; UltraFace does not
    result = maskgate("run", "--config", str(config), "--source", str(tmp_path), env=models)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "UltraFace detector not found" in result.stderr and "Fix: copy it from Linzaer" in result.stderr


@pytest.mark.parametrize("bug", ["{}['no such key']", "int('not a number')", "open('/nonexistent/file')"])
def test_a_bug_exits_1_with_its_traceback_even_a_value_or_os_error(bug: str) -> None:
    plant = f"import edge.config.docs\nedge.config.docs.default_toml = lambda: {bug}\n"
    result = maskgate("config", code=plant)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr


def test_a_config_path_that_is_a_directory_exits_2_naming_it(tmp_path: Path, capsys) -> None:
    assert main(["config", "--config", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"config file {tmp_path} is a directory" in err and "fix:" in err


def test_an_unreadable_config_file_exits_2_naming_it(tmp_path: Path, monkeypatch, capsys) -> None:
    config = tmp_path / "maskgate.toml"
    config.write_text("")

    import os

    opened = os.open

    def refuse(path, *args, **kwargs) -> int:
        if Path(path) == config:
            raise PermissionError(13, "Permission denied", str(path))
        return opened(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)  # tests run as root here, where chmod 000 does not refuse
    assert main(["doctor", "--config", str(config)]) == 2
    assert f"config file {config}: Permission denied" in capsys.readouterr().err


def test_an_output_that_cannot_open_its_file_exits_2_naming_the_output(model_env, tmp_path: Path, capsys) -> None:
    image = tmp_path / "frame.png"
    image.write_bytes((Path(__file__).parent.parent / "edge" / "models" / "confusion.png").read_bytes())
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["run", "--source", str(image), "--events", str(blocker / "events.jsonl")]) == 2
    assert "output events: cannot open event log" in capsys.readouterr().err


@pytest.fixture(scope="module")
def broken_opencv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PYTHONPATH whose cv2 fails to import as a broken OpenCV install does (missing libGL)."""
    root = tmp_path_factory.mktemp("broken-opencv")
    (root / "cv2").mkdir()
    (root / "cv2" / "__init__.py").write_text(
        'raise ImportError("libGL.so.1: cannot open shared object file: No such file or directory", name="cv2")\n'
    )
    return root


def test_config_and_alerts_off_work_without_opencv(broken_opencv: Path, tmp_path: Path) -> None:
    assert maskgate("config", pythonpath=broken_opencv).returncode == 0
    config = tmp_path / "c.toml"
    config.write_text('[alerts]\ngreen_led = 17\npin_factory = "mock"\n')
    result = maskgate("alerts-off", "--config", str(config), pythonpath=broken_opencv)
    assert result.returncode == 0, result.stderr


def test_doctor_reports_a_broken_opencv_instead_of_crashing(broken_opencv: Path) -> None:
    result = maskgate("doctor", pythonpath=broken_opencv)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "[FAIL] opencv: libGL.so.1" in result.stdout
    assert "[FAIL] face detector: detector.type = 'yunet': cv2 cannot be imported" in result.stdout


def test_run_without_opencv_is_a_setup_error(broken_opencv: Path, tmp_path: Path) -> None:
    result = maskgate("run", "--source", str(tmp_path), pythonpath=broken_opencv)
    assert result.returncode == 2
    assert "cv2 cannot be imported" in result.stderr and "fix: pip install" in result.stderr


def test_a_url_that_is_not_one_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["models", "fetch", "--url", "not-a-url", "--sha256", "0" * 64, "--dest", str(tmp_path)]) == 2
    assert "cannot download not-a-url: unknown url type" in capsys.readouterr().err


def test_config_check_and_doctor_show_every_setting_problem_without_opencv(broken_opencv: Path, tmp_path: Path) -> None:
    config = tmp_path / "maskgate.toml"
    config.write_text("[service]\nmax_frame_age = nan\n[alerts]\nred_led = 5\nbuzzer = 5\n")
    checked = maskgate("config", "--check", str(config), pythonpath=broken_opencv)
    assert checked.returncode == 2, checked.stderr
    assert "service.max_frame_age: nan is not a number" in checked.stdout
    assert "alerts.buzzer: BCM 5 is already used by alerts.red_led" in checked.stdout
    doctor = maskgate("doctor", "--config", str(config), pythonpath=broken_opencv)
    assert doctor.returncode == 1, doctor.stderr
    assert f"[FAIL] config: {config}: service.max_frame_age: nan is not a number" in doctor.stdout
    assert f"[FAIL] config: {config}: alerts.buzzer: BCM 5" in doctor.stdout
    assert "[FAIL] opencv: libGL.so.1" in doctor.stdout  # and the machine is still checked
    run = maskgate("run", "--config", str(config), pythonpath=broken_opencv)
    assert run.returncode == 2 and "2 problems: service.max_frame_age" in run.stderr


def test_doctor_says_the_config_passes(tmp_path: Path, capsys) -> None:
    config = tmp_path / "maskgate.toml"
    config.write_text("[tracker]\nvote_min = 2\n")
    main(["doctor", "--config", str(config)])
    assert f"[ok  ] config: {config}: every setting passes" in capsys.readouterr().out
