"""CPU temperature and throttling: a Pi 4 throttles at 80 °C and then slows everything, arrivals included.

The temperature comes from `/sys/class/thermal` (the zone named like the CPU's: `cpu-thermal` on a Pi,
`x86_pkg_temp` on a PC; else the first zone); throttling from `vcgencmd get_throttled` where it is
installed (Raspberry Pi OS), else from cpufreq (the current clock held under the maximum the governor allows
is reported, not called throttling). Both are read at most every `interval` seconds: vcgencmd is a process.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

THROTTLE_BITS = {
    0: "under-voltage",
    1: "arm frequency capped",
    2: "throttled",
    3: "soft temperature limit",
}
"""`vcgencmd get_throttled` bits that hold now; the same bit + 16 says it happened since boot."""
NOW_MASK = 0xF
SINCE_BOOT_SHIFT = 16
HOT_C = 80.0
"""A Pi 4's firmware starts throttling the ARM cores at 80 °C (85 °C hard)."""


@dataclass(frozen=True)
class ThermalState:
    temperature_c: float | None
    zone: str | None
    throttled: int | None
    """vcgencmd's bit field, None without vcgencmd."""
    freq_mhz: float | None = None
    max_freq_mhz: float | None = None

    @property
    def throttled_now(self) -> bool | None:
        return None if self.throttled is None else bool(self.throttled & NOW_MASK)

    @property
    def throttled_since_boot(self) -> bool | None:
        return None if self.throttled is None else bool(self.throttled & (NOW_MASK << SINCE_BOOT_SHIFT))

    def reasons(self, since_boot: bool = False) -> list[str]:
        if self.throttled is None:
            return []
        shift = SINCE_BOOT_SHIFT if since_boot else 0
        return [name for bit, name in THROTTLE_BITS.items() if self.throttled & (1 << (bit + shift))]

    def describe(self) -> str:
        parts = []
        if self.temperature_c is not None:
            parts.append(f"CPU {self.temperature_c:.1f} °C")
        if self.throttled is not None:
            now = self.reasons()
            parts.append(f"throttled ({', '.join(now)})" if now else "not throttled")
            if not now and (earlier := self.reasons(since_boot=True)):
                parts.append(f"since boot: {', '.join(earlier)}")
        if self.freq_mhz is not None and self.max_freq_mhz:
            parts.append(f"{self.freq_mhz:.0f}/{self.max_freq_mhz:.0f} MHz")
        return ", ".join(parts) or "no thermal sensor"


def _read_number(path: Path) -> float | None:
    try:
        return float(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def cpu_temperature(sys_root: Path = Path("/sys")) -> tuple[float | None, str | None]:
    """The CPU's temperature in °C and its zone's type, or (None, None) without a readable thermal zone."""
    zones = sorted((sys_root / "class" / "thermal").glob("thermal_zone*"), key=lambda p: p.name)
    readable = []
    for zone in zones:
        millidegrees = _read_number(zone / "temp")
        if millidegrees is None:
            continue
        try:
            kind = (zone / "type").read_text(encoding="utf-8").strip()
        except OSError:
            kind = zone.name
        readable.append((kind, millidegrees / 1000))
    for kind, celsius in readable:
        if "cpu" in kind.lower() or "pkg" in kind.lower() or "soc" in kind.lower():
            return celsius, kind
    return (readable[0][1], readable[0][0]) if readable else (None, None)


def cpu_frequency(sys_root: Path = Path("/sys")) -> tuple[float | None, float | None]:
    """cpu0's current clock and the highest the policy allows, in MHz (None where cpufreq is absent)."""
    folder = sys_root / "devices" / "system" / "cpu" / "cpu0" / "cpufreq"
    current, highest = _read_number(folder / "scaling_cur_freq"), _read_number(folder / "scaling_max_freq")
    return (None if current is None else current / 1000), (None if highest is None else highest / 1000)


def throttled_bits(vcgencmd: str | None) -> int | None:
    """`vcgencmd get_throttled` as a number ("throttled=0x50005" -> 0x50005); None if it is absent or fails."""
    if vcgencmd is None:
        return None
    try:
        done = subprocess.run([vcgencmd, "get_throttled"], capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("vcgencmd get_throttled: %s", exc)
        return None
    _, _, value = done.stdout.strip().partition("=")
    try:
        return int(value, 16) if done.returncode == 0 else None
    except ValueError:
        log.debug("vcgencmd get_throttled said %r", done.stdout)
        return None


def read(sys_root: Path = Path("/sys"), vcgencmd: str | None = None) -> ThermalState:
    celsius, zone = cpu_temperature(sys_root)
    current, highest = cpu_frequency(sys_root)
    return ThermalState(celsius, zone, throttled_bits(vcgencmd), current, highest)


class ThermalMonitor:
    """`current()`: the last ThermalState, read again when older than `interval` seconds."""

    def __init__(self, sys_root: Path = Path("/sys"), vcgencmd: str | None = "", interval: float = 5.0) -> None:
        self.sys_root = sys_root
        self.vcgencmd = shutil.which("vcgencmd") if vcgencmd == "" else vcgencmd
        self.interval = interval
        self._state: ThermalState | None = None
        self._read_at = float("-inf")

    def current(self) -> ThermalState:
        now = time.monotonic()
        if self._state is None or now - self._read_at >= self.interval:
            self._state, self._read_at = read(self.sys_root, self.vcgencmd), now
        return self._state
