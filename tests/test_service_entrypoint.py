"""The real `maskgate run` under a fake systemd: a NOTIFY_SOCKET bound here, WATCHDOG_USEC set, a live MJPEG
stream on 127.0.0.1 that this test can stall, and gpiozero's mock pins.

Checks READY=1 after the first frame, WATCHDOG=1 pings while frames flow, no pings while the stream stalls,
pings again when it resumes, and a clean exit on SIGTERM with every GPIO output off.
"""

from __future__ import annotations

import os
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import cv2
import pytest

WATCHDOG_SECONDS = 4.0
"""Pings every 1 s while a frame came within 2 s."""
BOUNDARY = b"frame"


class MjpegCamera:
    """A network camera on loopback: multipart JPEG over HTTP, as IP cameras serve it; `stall()` keeps the
    connection open but sends nothing, like a camera whose sensor hung."""

    def __init__(self, jpeg: bytes, fps: float = 10.0) -> None:
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = threading.Event()
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
                self.end_headers()
                part = b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (
                    BOUNDARY,
                    len(jpeg),
                    jpeg,
                )
                try:
                    while not camera.closed.is_set():
                        if camera.flowing.wait(0.1):
                            self.wfile.write(part)
                            self.wfile.flush()
                            camera.closed.wait(1 / fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


class FakeSystemd:
    """The notify socket, and every datagram the service sent, in order."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="mg-", dir="/tmp")
        self.path = os.path.join(self.directory, "notify")
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(self.path)
        self.socket.settimeout(1.0)
        self.messages: list[list[str]] = []

    def wait_for(self, wanted: Callable[[list[str]], bool], timeout: float, process: subprocess.Popen) -> list[str]:
        """Collect datagrams until one satisfies `wanted`; fail if the service dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.socket.recv(65536).decode().split("\n")
            except TimeoutError:
                assert process.poll() is None, f"maskgate exited early with {process.returncode}"
                continue
            self.messages.append(message)
            if wanted(message):
                return message
        pytest.fail(f"no such message within {timeout} s; got {self.messages[-5:]}")

    def drain(self) -> list[list[str]]:
        """Whatever is still queued (after the service exited)."""
        self.socket.setblocking(False)
        try:
            while True:
                self.messages.append(self.socket.recv(65536).decode().split("\n"))
        except BlockingIOError:
            return self.messages
        finally:
            self.socket.settimeout(1.0)

    def close(self) -> None:
        self.socket.close()
        os.unlink(self.path)
        os.rmdir(self.directory)


def entry_point() -> list[str]:
    script = Path(sys.executable).with_name("maskgate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "edge"]


@pytest.fixture
def camera(facemask_dir: Path) -> Iterator[MjpegCamera]:
    image = cv2.imread(str(facemask_dir / "without_mask" / "chandrikadeb7_1bee6f2399e1.jpg"))
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    camera = MjpegCamera(jpeg.tobytes())
    yield camera
    camera.close()


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    fake = FakeSystemd()
    yield fake
    fake.close()


def test_maskgate_run_under_systemd(
    camera: MjpegCamera, systemd: FakeSystemd, model_env: Path, default_classifier: Path, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    config = tmp_path / "maskgate.toml"
    config.write_text(
        f"""
[source]
uri = "{camera.url}"
[output]
events = "{events}"
[alerts]
green_led = 17
red_led = 27
buzzer = 22
relay = 23
[service]
status_interval = 0.5
"""
    )
    env = {
        **os.environ,
        "NOTIFY_SOCKET": systemd.path,
        "WATCHDOG_USEC": str(int(WATCHDOG_SECONDS * 1e6)),
        "GPIOZERO_PIN_FACTORY": "mock",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("WATCHDOG_PID", None)
    log_file = tmp_path / "maskgate.log"
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [*entry_point(), "run", "--config", str(config)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        systemd.wait_for(lambda m: "READY=1" in m, timeout=180, process=process)
        for _ in range(3):
            systemd.wait_for(lambda m: "WATCHDOG=1" in m, timeout=30, process=process)

        camera.flowing.clear()  # the camera hangs: the loop gets no frames
        systemd.wait_for(lambda m: any(line.startswith("STATUS=stalled") for line in m), 30, process)
        stalled_from = len(systemd.messages)
        for _ in range(8):  # 8 status updates of 0.5 s: two ping intervals at least
            systemd.wait_for(lambda m: any(line.startswith("STATUS=") for line in m), 30, process)
        during_stall = systemd.messages[stalled_from:]
        assert not any("WATCHDOG=1" in m for m in during_stall), during_stall

        camera.flowing.set()  # frames again: the pings come back
        systemd.wait_for(lambda m: "WATCHDOG=1" in m, timeout=60, process=process)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert any("STOPPING=1" in m for m in systemd.drain())
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_file.read_text()
    assert "received SIGTERM; stopping" in log
    lit = [line for line in log.splitlines() if "door status idle ->" in line]
    assert lit, "the confirmed face should have lit an LED\n" + log[-3000:]
    off = [line for line in log.splitlines() if "GPIO outputs off:" in line]
    assert off and off[-1].endswith("GPIO outputs off: green_led=0 red_led=0 buzzer=0 relay=0"), log[-3000:]
    assert events.read_text().count("\n") >= 1, "the decision is in the event log"
    assert "Traceback" not in log
