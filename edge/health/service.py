"""Talking to systemd: READY=1 once frames flow, WATCHDOG=1 only while they keep flowing, STATUS= for
`systemctl status`.

The sd_notify protocol is a few lines (one datagram to the unix socket in $NOTIFY_SOCKET, documented as
stable for reimplementation in sd_notify(3)), so it is written here instead of depending on a library:
the pure-Python `sdnotify` package is unmaintained, and `systemd-python` needs libsystemd headers and a
compiler on the Pi.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import ServiceConfig
    from edge.vision.stats import LoopStats

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages; does nothing when not started by systemd (no $NOTIFY_SOCKET)."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None
        self._socket: socket.socket | None = None
        self._warned = False
        if self.address and not self.address.startswith(("/", "@")):
            log.warning("NOTIFY_SOCKET %r is neither a path nor an abstract socket; not notifying", self.address)
            self.address = None

    @classmethod
    def from_environment(cls) -> Notifier:
        return cls(os.environ.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, message: str) -> bool:
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(message.encode("utf-8"), target)
            return True
        except OSError as exc:
            if not self._warned:
                log.warning("cannot notify systemd at %s: %s", self.address, exc)
                self._warned = True
            return False

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_seconds() -> float | None:
    """WatchdogSec= of the unit, when systemd asked this process (not a parent or child) for pings."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        seconds = int(usec) / 1e6
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a number of microseconds", usec)
        return None
    return seconds if seconds > 0 else None


class ServiceMonitor:
    """A daemon thread that reads the loop's stats and keeps systemd informed.

    Before the first frame (models loading, camera opening) the watchdog is pinged unconditionally:
    start-up is bounded by TimeoutStartSec instead. After READY=1 a ping is sent only if a frame was
    processed within `max_frame_age` seconds, so a stalled camera or a hung loop lets the watchdog fire.
    """

    def __init__(
        self,
        notifier: Notifier,
        watchdog: float | None,
        max_frame_age: float,
        status_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.watchdog = watchdog
        self.max_frame_age = max_frame_age or (watchdog / 2 if watchdog else 0.0)
        self.ping_interval = watchdog / 4 if watchdog else None
        self.status_interval = status_interval
        self.stats: LoopStats | None = None
        self.ready = False
        self.phase = "starting: loading models"
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_ping = self._last_status = float("-inf")
        self._stalled = False

    @classmethod
    def from_environment(cls, config: ServiceConfig) -> ServiceMonitor:
        watchdog = watchdog_seconds() if config.watchdog else None
        return cls(Notifier.from_environment(), watchdog, config.max_frame_age, config.status_interval)

    def start(self) -> None:
        if not self.notifier.enabled:
            return
        if self.watchdog:
            log.info(
                "systemd watchdog %.1f s: pinging every %.1f s while a frame came within %.1f s",
                self.watchdog,
                self.ping_interval,
                self.max_frame_age,
            )
        self._thread = threading.Thread(target=self._run, name="systemd notify", daemon=True)
        self._thread.start()

    def attach(self, stats: LoopStats, what: str) -> None:
        """The loop is built: from now on its stats decide READY, pings and status."""
        self.stats = stats
        self.phase = f"starting: waiting for the first frame from {what}"

    def stopping(self) -> None:
        self.notifier.notify("STOPPING=1\nSTATUS=stopping")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.notifier.close()

    def _run(self) -> None:
        tick = min(0.5, self.ping_interval / 2) if self.ping_interval else 0.5
        while True:
            try:
                self.tick()
            except Exception:  # the notifier thread must outlive any surprise
                log.exception("systemd notification failed")
            if self._stop.wait(tick):
                return

    def frame_age(self) -> float | None:
        last = self.stats.last_frame_at if self.stats is not None else None
        return None if last is None else self._clock() - last

    def stalled(self) -> bool:
        age = self.frame_age()
        return self.ready and age is not None and age > self.max_frame_age > 0

    def status_text(self) -> str:
        if not self.ready or self.stats is None:
            return self.phase
        line = self.stats.status_line()
        if self.stalled():
            return f"stalled: no frame for {self.frame_age():.0f} s, watchdog pings paused; {line}"
        return line

    def tick(self) -> None:
        """One round: READY on the first frame, a ping if due and deserved, STATUS if due."""
        now = self._clock()
        messages = []
        age = self.frame_age()
        if not self.ready and age is not None:
            self.ready = True
            messages.append("READY=1")
            self._last_status = float("-inf")
            log.info("first frame processed: ready")
        stalled = self.stalled()
        if stalled != self._stalled:
            self._stalled = stalled
            self._last_status = float("-inf")
            if stalled:
                log.warning("no frame for %.1f s: watchdog pings paused", age)
            else:
                log.info("frames flow again: watchdog pings resumed")
        if self.ping_interval and now - self._last_ping >= self.ping_interval and not stalled:
            messages.append("WATCHDOG=1")
            self._last_ping = now
        if now - self._last_status >= self.status_interval:
            messages.append(f"STATUS={self.status_text()}")
            self._last_status = now
        if messages:
            self.notifier.notify("\n".join(messages))
