"""`maskgate doctor`'s checks: what the runtime needs on this machine, and how to fix what is wrong (edge.checkup
runs them with the models built as `maskgate run` builds them)."""

from __future__ import annotations

import glob
import importlib
import importlib.metadata
import os
import platform
import sys
import warnings
from dataclasses import dataclass
from typing import Any

from edge.config import Config, ConfigError


@dataclass
class Check:
    name: str
    ok: bool | None
    """True passed, False failed (exit status 1), None a warning that does not stop `maskgate run`."""
    detail: str
    fix: str = ""

    def render(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "warn"}[self.ok]
        return f"[{mark}] {self.name}: {self.detail}" + (f"\n        fix: {self.fix}" if self.fix else "")


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def check_config(path: str | None, problem: ConfigError | None) -> list[Check]:
    """The config file and flags pass every rule, or each problem under its key (edge.cli loaded them)."""
    where = path or "built-in defaults"
    if problem is None:
        return [Check("config", True, f"{where}: every setting passes")]
    checks = [Check("config", False, f"{where}: {p}") for p in problem.problems]
    return [*checks, Check("config", None, "the checks below use the built-in defaults", "fix the config file")]


def check_python() -> Check:
    return Check("python", True, f"{platform.python_version()} on {platform.machine()} ({platform.system()})")


def check_runtime(config: Config) -> Check:
    from edge.modelfiles.tflite import ModelLoadError, interpreter_class

    try:
        name, _ = interpreter_class(config.classifier.backend)
    except ModelLoadError as exc:
        return Check("tflite runtime", False, str(exc), "pip install ai-edge-litert")
    return Check("tflite runtime", True, f"{name} {_version(name)}")


def check_opencv() -> list[Check]:
    try:
        import cv2
    except ImportError as exc:
        return [Check("opencv", False, str(exc), "pip install 'opencv-python-headless>=4.11,<5'")]
    checks = [
        Check(
            "opencv",
            hasattr(cv2, "FaceDetectorYN"),
            f"{cv2.__version__}",
            "" if hasattr(cv2, "FaceDetectorYN") else "OpenCV >= 4.8 is needed for YuNet",
        )
    ]
    gui = "GUI:" in cv2.getBuildInformation() and "NONE" not in cv2.getBuildInformation().split("GUI:")[1][:40]
    checks.append(
        Check(
            "opencv window",
            True if gui else None,
            "window display available" if gui else "headless build: --display window unavailable",
            "" if gui else "for a screen at the door on a desktop Pi: sudo apt install python3-opencv",
        )
    )
    return checks


def check_self_test(detector: Any, detector_type: str, classifier: Any) -> list[Check]:
    """The known-answer self-test `maskgate run` does at start, with what it costs."""
    from edge.health.self_test import cpu_description, run_self_test, runtime_description

    checks = []
    for result in run_self_test(detector, detector_type, classifier):
        detail = f"{result.detail} ({1000 * result.seconds:.0f} ms)"
        fix = ""
        if result.ok is False:
            detail += f"; runtime {runtime_description()}, CPU {cpu_description()}"
            fix = "maskgate run refuses to start: try another ai-edge-litert release, or report these numbers"
        checks.append(Check(f"self-test {result.part}", result.ok, detail, fix))
    return checks


def check_camera(config: Config) -> Check:
    from edge.registry import resolve
    from edge.sources import SOURCES, SourceError, describe

    uri = config.source.uri
    try:
        kind = describe(uri)
    except SourceError as exc:
        return Check("camera", False, str(exc), "set source.uri or --source")
    if SOURCES[kind].doctor_check:
        return resolve(SOURCES[kind].doctor_check)(uri)
    return Check("camera", True, f"source {uri!r} is a {kind}")


def check_picamera2(uri: str) -> Check:
    try:
        import picamera2  # noqa: F401
    except ImportError:
        return Check(
            "camera",
            False,
            "picamera2 is not importable",
            "sudo apt install python3-picamera2 and use a venv made with --system-site-packages",
        )
    from edge.sources import picamera_formats

    stream = picamera_formats.describe(picamera_formats.STREAM_FORMAT)
    return Check("camera", True, f"picamera2 importable; {stream}")


def check_v4l2(uri: str) -> Check:
    devices = sorted(glob.glob("/dev/video*"))
    device = f"/dev/video{uri}" if uri.isdigit() else uri
    if device not in devices:
        return Check(
            "camera",
            False,
            f"{device} does not exist (found: {', '.join(devices) or 'none'})",
            "plug in the USB camera, or set source.uri to one of the listed devices or 'picamera2'",
        )
    if not os.access(device, os.R_OK | os.W_OK):
        return Check("camera", False, f"no permission to open {device}", "add the user to the 'video' group")
    return Check("camera", True, f"{device} present")


BOARD_MODEL_FILE = "/sys/firmware/devicetree/base/model"
"""What /proc/device-tree/model links to: the board's name on a Raspberry Pi."""


FACTORY_LIBRARIES = {"LGPIOFactory": "lgpio", "RPiGPIOFactory": "RPi.GPIO", "PiGPIOFactory": "pigpio"}
"""The library each gpiozero pin factory drives, whose install source doctor shows."""


def check_board(model_file: str = BOARD_MODEL_FILE) -> Check:
    try:
        with open(model_file, "rb") as file:
            model = file.read().rstrip(b"\0").decode(errors="replace")
    except OSError:
        return Check("board", None, f"no board model in {model_file} (not a Raspberry Pi)")
    ok = True if model.startswith("Raspberry Pi") else None
    return Check("board", ok, model)


def package_source(module_file: str) -> str:
    """Where a module was installed from, by its path: apt puts packages into /usr/lib/python3/dist-packages."""
    if module_file.startswith("/usr/lib/python3/dist-packages/"):
        return "apt"
    if "site-packages" in module_file:
        return "pip"
    return "source checkout"


def library_source(name: str) -> str:
    """`name version from apt|pip`, or that it is not importable (without importing it twice)."""
    module = sys.modules.get(name)
    if module is None:
        try:
            module = importlib.import_module(name)
        except ImportError:
            return f"{name} not importable"
        except OSError as exc:  # lgpio creates files in the working directory as it loads
            return f"{name} failed to load ({exc}; is the working directory writable?)"
    return f"{name} {_version(name.replace('.', '-'))} from {package_source(getattr(module, '__file__', '') or '')}"


def check_gpio() -> Check:
    try:
        import gpiozero
        from gpiozero import Device
        from gpiozero.exc import BadPinFactory
    except ImportError as exc:
        return Check("gpio", False, str(exc), "pip install gpiozero")
    source = f"gpiozero {_version('gpiozero')} from {package_source(gpiozero.__file__)}"
    chosen = os.environ.get("GPIOZERO_PIN_FACTORY")
    how = f"named by GPIOZERO_PIN_FACTORY={chosen}" if chosen else "auto-detected"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gpiozero warns once per backend it falls back from
            Device.ensure_pin_factory()
    except BadPinFactory:
        return Check(
            "gpio",
            None,
            f"no usable pin factory (not a Raspberry Pi, or lgpio missing); {source}; {library_source('lgpio')}",
            "on a Pi: sudo apt install python3-lgpio; elsewhere GPIOZERO_PIN_FACTORY=mock for tests",
        )
    factory = Device.pin_factory
    backend = type(factory).__name__
    library = FACTORY_LIBRARIES.get(backend)
    if library:
        backend += f" ({library_source(library)})"
    factory.close()
    Device.pin_factory = None
    return Check("gpio", True, f"pin factory {backend}, {how}; {source}")


def check_thermal(sys_root: str = "/sys", vcgencmd: str | None = "") -> Check:
    """CPU temperature and throttling (edge.health.thermal): a warning when hot, throttled now or under-volted since
    boot. `vcgencmd` "" looks it up on PATH, None leaves it out."""
    from pathlib import Path

    from edge.health.thermal import HOT_C, ThermalMonitor

    state = ThermalMonitor(Path(sys_root), vcgencmd).current()
    if state.temperature_c is None and state.throttled is None:
        return Check("cpu temperature", None, f"no thermal zone in {sys_root}/class/thermal and no vcgencmd (a VM?)")
    hot = state.temperature_c is not None and state.temperature_c >= HOT_C
    undervolted = "under-voltage" in state.reasons(since_boot=True)
    if state.throttled_now or hot or undervolted:
        fix = "use the official power supply" if undervolted else "give the board a heatsink or a fan, and air"
        return Check("cpu temperature", None, state.describe(), fix)
    return Check("cpu temperature", True, state.describe())
