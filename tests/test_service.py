"""sd_notify over real unix datagram sockets, and the monitor's READY / WATCHDOG / STATUS decisions."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config import ServiceConfig
from edge.health.service import Notifier, ServiceMonitor, watchdog_seconds
from edge.vision.stats import LoopStats


@pytest.fixture
def notify_socket() -> Iterator[tuple[str, socket.socket]]:
    """A bound datagram socket standing in for systemd's, at a path short enough for AF_UNIX."""
    directory = tempfile.mkdtemp(prefix="mg-", dir="/tmp")
    path = os.path.join(directory, "notify")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(5)
    yield path, server
    server.close()
    os.unlink(path)
    os.rmdir(directory)


def receive(server: socket.socket) -> list[str]:
    return server.recv(4096).decode().split("\n")


def pending(server: socket.socket) -> list[list[str]]:
    server.setblocking(False)
    try:
        found = []
        while True:
            try:
                found.append(server.recv(4096).decode().split("\n"))
            except BlockingIOError:
                return found
    finally:
        server.settimeout(5)


def test_notify_to_a_socket_path(notify_socket: tuple[str, socket.socket]) -> None:
    path, server = notify_socket
    notifier = Notifier(path)
    assert notifier.notify("READY=1\nSTATUS=up")
    assert receive(server) == ["READY=1", "STATUS=up"]
    notifier.close()


def test_notify_to_an_abstract_socket() -> None:
    name = f"maskgate-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        server.settimeout(5)
        notifier = Notifier("@" + name)
        assert notifier.notify("WATCHDOG=1")
        assert receive(server) == ["WATCHDOG=1"]
        notifier.close()


def test_without_systemd_nothing_is_sent(caplog: pytest.LogCaptureFixture) -> None:
    assert not Notifier(None).enabled
    assert not Notifier(None).notify("READY=1")
    assert not Notifier("vsock:2:1234").enabled
    assert "neither a path nor an abstract socket" in caplog.text


def test_a_vanished_socket_is_a_warning_not_a_crash(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert not notifier.notify("READY=1")
    assert not notifier.notify("READY=1")
    assert caplog.text.count("cannot notify systemd") == 1


def test_watchdog_seconds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert watchdog_seconds() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert watchdog_seconds() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_seconds() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert watchdog_seconds() is None
    monkeypatch.delenv("WATCHDOG_PID")
    monkeypatch.setenv("WATCHDOG_USEC", "soon")
    assert watchdog_seconds() is None


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def test_ready_pings_and_stall(notify_socket: tuple[str, socket.socket]) -> None:
    path, server = notify_socket
    clock = Clock()
    monitor = ServiceMonitor(Notifier(path), watchdog=8.0, max_frame_age=0.0, status_interval=1.0, clock=clock)
    assert (monitor.ping_interval, monitor.max_frame_age) == (2.0, 4.0)

    monitor.tick()  # loading models: pinged, start-up is bounded by TimeoutStartSec
    assert receive(server) == ["WATCHDOG=1", "STATUS=starting: loading models"]
    stats = LoopStats()
    monitor.attach(stats, "picamera2")
    clock.now += 2.0
    monitor.tick()
    assert receive(server) == ["WATCHDOG=1", "STATUS=starting: waiting for the first frame from picamera2"]

    stats.frame_done(0.05, 1)
    stats.last_frame_at = clock.now
    clock.now += 0.5
    monitor.tick()
    message = receive(server)
    assert message[0] == "READY=1"
    assert message[1].startswith("STATUS=20.0 FPS, 1 frames, 1 faces")
    clock.now += 1.6
    monitor.tick()
    assert receive(server)[0] == "WATCHDOG=1"

    clock.now += 3.0  # 5.1 s since the last frame: the camera stalled
    monitor.tick()
    message = receive(server)
    assert "WATCHDOG=1" not in message
    assert message[0].startswith("STATUS=stalled: no frame for 5 s")
    for _ in range(10):
        clock.now += 1.0
        monitor.tick()
    assert not any("WATCHDOG=1" in m for m in pending(server))

    stats.frame_done(0.05, 0)
    stats.last_frame_at = clock.now
    monitor.tick()
    message = receive(server)
    assert message[0] == "WATCHDOG=1"
    assert not message[1].startswith("STATUS=stalled")


def test_no_watchdog_no_pings(notify_socket: tuple[str, socket.socket]) -> None:
    path, server = notify_socket
    clock = Clock()
    monitor = ServiceMonitor(Notifier(path), watchdog=None, max_frame_age=0.0, status_interval=1.0, clock=clock)
    stats = LoopStats()
    monitor.attach(stats, "0")
    stats.last_frame_at = clock.now
    monitor.tick()
    assert receive(server)[0] == "READY=1"
    clock.now += 100
    monitor.tick()
    assert receive(server)[0].startswith("STATUS=0.0 FPS")


def test_from_config_honours_watchdog_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert ServiceMonitor.from_environment(ServiceConfig()).watchdog == 10.0
    assert ServiceMonitor.from_environment(ServiceConfig(watchdog=False)).watchdog is None
    assert ServiceMonitor.from_environment(ServiceConfig(max_frame_age=3.0)).max_frame_age == 3.0


def test_the_thread_sends_and_stops(notify_socket: tuple[str, socket.socket]) -> None:
    path, server = notify_socket
    monitor = ServiceMonitor(Notifier(path), watchdog=1.0, max_frame_age=0.0, status_interval=0.5)
    monitor.start()
    try:
        assert "WATCHDOG=1" in receive(server)
    finally:
        monitor.stopping()
        monitor.stop()
    messages = [receive(server)]
    messages += pending(server)
    assert ["STOPPING=1", "STATUS=stopping"] in messages
    assert monitor._thread is not None and not monitor._thread.is_alive()
