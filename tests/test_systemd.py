"""The real unit file, checked by the real systemd-analyze (verify with empty stderr; security exposure)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import missing, need_tool

from edge.config import load

SYSTEMD = Path(__file__).resolve().parent.parent / "systemd"
UNIT = SYSTEMD / "maskgate.service"
INSTALLED_BINARY = "/opt/maskgate/venv/bin/maskgate"
MAX_EXPOSURE = 2.0
"""systemd-analyze security --offline=true scores the unit 1.7 ("OK"); anything above 2.0 means hardening was lost."""


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    """The unit with the install path of the binary replaced by this checkout's: verify checks that the
    ExecStart= program exists, and everything else stays byte for byte the shipped unit."""
    binary = Path(sys.executable).with_name("maskgate")
    if not binary.exists():
        missing(f"needs the maskgate console script beside {sys.executable} (pip install -e .)")
    text = UNIT.read_text()
    assert text.count(INSTALLED_BINARY) == 2, "ExecStart= and ExecStopPost= run the installed maskgate"
    copy = tmp_path / "maskgate.service"
    copy.write_text(text.replace(INSTALLED_BINARY, str(binary)))
    return copy


def test_systemd_analyze_verify_is_silent(unit_copy: Path) -> None:
    analyze = need_tool("systemd-analyze")
    result = subprocess.run([analyze, "verify", str(unit_copy)], capture_output=True, text=True, timeout=120)
    assert result.stderr == ""
    assert result.returncode == 0


def test_verify_would_catch_a_broken_unit(unit_copy: Path) -> None:
    """The check above can fail: an unknown key and a missing program are reported on stderr."""
    analyze = need_tool("systemd-analyze")
    text = unit_copy.read_text().replace("WatchdogSec=", "WatchdogSecs=")
    unit_copy.write_text(text.replace(str(Path(sys.executable).with_name("maskgate")), "/nonexistent/maskgate"))
    result = subprocess.run([analyze, "verify", str(unit_copy)], capture_output=True, text=True, timeout=120)
    assert "WatchdogSecs" in result.stderr
    assert "/nonexistent/maskgate" in result.stderr


def test_security_exposure_at_most_the_threshold(unit_copy: Path) -> None:
    analyze = need_tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "security", "--offline=true", f"--threshold={int(MAX_EXPOSURE * 10)}", str(unit_copy)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"Overall exposure level for maskgate\.service: (\d+\.\d)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    exposure = float(match[1])
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}:\n{result.stdout}"
    assert result.returncode == 0, result.stdout[-2000:]


def test_the_unit_keeps_what_the_door_needs() -> None:
    settings = unit_settings()
    assert settings["Type"] == ["notify"]
    assert settings["User"] == ["maskgate"]
    assert set(settings["SupplementaryGroups"][0].split()) == {"video", "gpio"}
    assert float(settings["WatchdogSec"][0]) > 0
    assert settings["Restart"] == ["on-failure"]
    assert settings["StateDirectory"] == ["maskgate"] and settings["LogsDirectory"] == ["maskgate"]
    assert "/etc/maskgate/maskgate.toml" in settings["ExecStart"][0]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert settings[key] == ["yes"], key
    assert settings["ProtectSystem"] == ["strict"]
    # PrivateDevices= would hide /dev/video*, /dev/gpiochip* and /dev/dma_heap: they are allowed one by one.
    assert "PrivateDevices" not in settings
    allowed = {value.split()[0] for value in settings["DeviceAllow"]}
    assert {"char-video4linux", "char-gpiochip", "char-dma_heap", "char-media"} <= allowed


def test_the_installed_default_config_is_valid() -> None:
    config = load(SYSTEMD / "maskgate.toml")
    assert config.output.events.startswith("/var/lib/maskgate/"), "the event log lives in the state directory"
    assert config.events.snapshots is False, "snapshots stay off unless someone turns them on"
    assert config.service.watchdog
