"""CPU temperature and throttling from a fake sysfs root and a stand-in `vcgencmd` program (a real process)."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
from conftest import need_module

from edge.config import TrackerConfig
from edge.health.doctor import check_thermal
from edge.health.thermal import ThermalMonitor, cpu_temperature, read
from edge.pipeline import Pipeline
from edge.vision.stats import LoopStats
from edge.vision.tracker import Tracker
from edge.vision.types import Frame


def fake_sys(root: Path, zones: dict[str, int], freq_khz: tuple[int, int] | None = (600000, 1500000)) -> Path:
    """A /sys with thermal zones (type -> millidegrees) and cpu0's cpufreq, as a Pi 4's kernel lays it out."""
    for number, (kind, millidegrees) in enumerate(zones.items()):
        zone = root / "class" / "thermal" / f"thermal_zone{number}"
        zone.mkdir(parents=True)
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(f"{millidegrees}\n")
    if freq_khz is not None:
        cpufreq = root / "devices" / "system" / "cpu" / "cpu0" / "cpufreq"
        cpufreq.mkdir(parents=True)
        (cpufreq / "scaling_cur_freq").write_text(f"{freq_khz[0]}\n")
        (cpufreq / "scaling_max_freq").write_text(f"{freq_khz[1]}\n")
    return root


def fake_vcgencmd(folder: Path, answer: str) -> str:
    """An executable that answers `get_throttled` as Raspberry Pi OS's vcgencmd does."""
    script = folder / "vcgencmd"
    script.write_text(f'#!/bin/sh\n[ "$1" = get_throttled ] || exit 1\necho "{answer}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_the_cpu_zone_is_preferred_and_read_in_degrees(tmp_path: Path) -> None:
    root = fake_sys(tmp_path / "sys", {"acpitz": 30000, "cpu-thermal": 61234})
    assert cpu_temperature(root) == (61.234, "cpu-thermal")
    other = fake_sys(tmp_path / "other", {"acpitz": 45500}, freq_khz=None)
    assert cpu_temperature(other) == (45.5, "acpitz")
    assert cpu_temperature(tmp_path / "none") == (None, None)


def test_vcgencmd_bits_say_what_throttles_now_and_since_boot(tmp_path: Path) -> None:
    root = fake_sys(tmp_path / "sys", {"cpu-thermal": 82000})
    state = read(root, fake_vcgencmd(tmp_path, "throttled=0x50005"))  # under-voltage and throttled, now and before
    assert state.throttled == 0x50005 and state.throttled_now and state.throttled_since_boot
    assert state.reasons() == ["under-voltage", "throttled"]
    assert state.describe() == "CPU 82.0 °C, throttled (under-voltage, throttled), 600/1500 MHz"
    calm = read(root, fake_vcgencmd(tmp_path, "throttled=0x20000"))  # capped once since boot, fine now
    assert calm.throttled_now is False and calm.throttled_since_boot is True
    assert "not throttled, since boot: arm frequency capped" in calm.describe()


def test_a_failing_or_missing_vcgencmd_is_unknown_not_an_error(tmp_path: Path) -> None:
    root = fake_sys(tmp_path / "sys", {"cpu-thermal": 50000})
    assert read(root, fake_vcgencmd(tmp_path, "garbage")).throttled is None
    assert read(root, str(tmp_path / "no-such-program")).throttled is None
    assert read(root, None).throttled is None


def test_doctor_warns_when_hot_throttled_or_without_a_sensor(tmp_path: Path) -> None:
    cool = fake_sys(tmp_path / "cool", {"cpu-thermal": 48000})
    check = check_thermal(str(cool), fake_vcgencmd(tmp_path, "throttled=0x0"))
    assert check.ok is True and check.detail.startswith("CPU 48.0 °C, not throttled")
    hot = fake_sys(tmp_path / "hot", {"cpu-thermal": 81000})
    warned = check_thermal(str(hot), None)
    assert warned.ok is None and "81.0 °C" in warned.detail and "heatsink" in warned.fix
    undervolted = check_thermal(str(cool), fake_vcgencmd(tmp_path, "throttled=0x10000"))
    assert undervolted.ok is None and "power supply" in undervolted.fix
    missing = check_thermal(str(tmp_path / "empty"), None)
    assert missing.ok is None and "no thermal zone" in missing.detail


class NoFaces:
    """Detector and classifier stand-ins: these tests are about the loop's reports, not the models."""

    def detect(self, image: np.ndarray) -> list:
        return []

    def classify(self, crops: list) -> np.ndarray:
        return np.zeros((0, 2), np.float32)


def test_status_line_shows_temperature_and_throttling(tmp_path: Path) -> None:
    root = fake_sys(tmp_path / "sys", {"cpu-thermal": 79500})
    pipeline = Pipeline(NoFaces(), NoFaces(), Tracker(TrackerConfig()))  # type: ignore[arg-type]
    pipeline.stats.thermal = ThermalMonitor(root, fake_vcgencmd(tmp_path, "throttled=0x0"))
    assert pipeline.run([Frame("1", 0.0, np.zeros((48, 64, 3), np.uint8))]).frames == 1
    assert pipeline.stats.status_line().endswith(", CPU 79.5 °C, not throttled, 600/1500 MHz")
    assert ", CPU" not in LoopStats().status_line(), "no monitor: no thermal part"


def test_readings_are_kept_for_the_interval(tmp_path: Path) -> None:
    root = fake_sys(tmp_path / "sys", {"cpu-thermal": 50000})
    monitor = ThermalMonitor(root, None, interval=3600)
    assert monitor.current().temperature_c == 50.0
    (root / "class" / "thermal" / "thermal_zone0" / "temp").write_text("70000\n")
    assert monitor.current().temperature_c == 50.0
    assert ThermalMonitor(root, None, interval=0).current().temperature_c == 70.0


def test_metrics_export_temperature_and_throttling(tmp_path: Path) -> None:
    need_module("prometheus_client", "pip install -e '.[metrics]'")
    from edge.config import MetricsConfig
    from edge.outputs.metrics import build_metrics
    from tests.test_metrics import _free_port, scrape

    root = fake_sys(tmp_path / "sys", {"cpu-thermal": 83000})
    endpoint = build_metrics(MetricsConfig(port=_free_port()))
    pipeline = Pipeline(NoFaces(), NoFaces(), Tracker(TrackerConfig()), [endpoint])  # type: ignore[arg-type]
    pipeline.stats.thermal = ThermalMonitor(root, fake_vcgencmd(tmp_path, "throttled=0x40004"))
    try:
        pipeline.run([Frame("1", 0.0, np.zeros((48, 64, 3), np.uint8))])
        metrics = scrape(endpoint.port)
    finally:
        pipeline.close()
    assert metrics[("maskgate_cpu_temperature_celsius", ())] == 83.0
    assert metrics[("maskgate_throttled", ())] == 1
    assert metrics[("maskgate_throttled_since_boot", ())] == 1
