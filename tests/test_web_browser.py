"""The door page end to end: `maskgate run` with [web] on a video from ../shared/data/video, opened in headless
Chromium (Debian's package, driven over the DevTools pipe): the login refuses a wrong password and serves no
picture without a session; after login the picture updates, the decisions list fills, and a screenshot is
taken (its path is printed; `pytest -s --basetemp DIR` keeps it)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
from cdp import Chromium
from conftest import need_module, need_shared, need_tool

need_module("waitress", "pip install -e '.[web]'")

PASSWORD = "front-door-2026"
SHOTS = Path(os.environ.get("MASKGATE_PAGE_SHOTS", "")) if os.environ.get("MASKGATE_PAGE_SHOTS") else None
"""Where the screenshots go (desktop and phone; live, stalled, stopped, aim, login); tmp_path when unset."""
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
STAND_IN_CAMERA = """
# A stand-in for the Pi camera module (python3-picamera2): the methods Picamera2Camera calls, frames from the
# video in MASKGATE_TEST_VIDEO (real people) at 15 a second, and a frozen driver while the file named by
# MASKGATE_TEST_STALL exists: capture_array blocks, as a stuck CSI read does.
import os, time
import cv2

class Picamera2:
    def __init__(self, camera_num=0, verbose_console=None, tuning=None, allocator=None):
        self._video = cv2.VideoCapture(os.environ["MASKGATE_TEST_VIDEO"])

    def create_video_configuration(self, main={}, controls={}, **rest):
        return {"main": dict(main), "controls": dict(controls)}

    def configure(self, camera_config=None):
        self._config = camera_config

    def camera_configuration(self):
        return self._config

    def start(self, config=None, show_preview=False):
        pass

    def capture_array(self, name="main", wait=None, signal_function=None):
        while os.path.exists(os.environ["MASKGATE_TEST_STALL"]):
            time.sleep(0.05)
        time.sleep(1 / 15)
        ok, image = self._video.read()
        if not ok:
            self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._video.read()
        return image

    def stop(self):
        pass

    def close(self):
        self._video.release()
"""
LOOPS = 8
"""The shared clip is 300 frames; eight in a row keep the loop busy while the browser works."""


def _looped_video(source: Path, target: Path) -> Path:
    capture = cv2.VideoCapture(str(source))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    assert frames, f"no frames in {source}"
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), 15, (width, height))
    for _ in range(LOOPS):
        for frame in frames:
            writer.write(frame)
    writer.release()
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def _start_maskgate(config: Path, log: Path, **environ: str) -> subprocess.Popen:
    """`maskgate run --config CONFIG` in its own process, its output into `log`."""
    env = os.environ | {"PYTHONUNBUFFERED": "1"} | environ
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(config)], env=env, stdout=out, stderr=out
        )


def _wait_until_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, "maskgate run ended:\n" + log.read_text()[-3000:]
        try:
            if _status(port, "/login") in (200, 303):  # 303: no password, the login goes to the page
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("the door page never answered:\n" + log.read_text()[-3000:])


def _shot(browser: Chromium, tmp_path: Path, name: str, viewport: dict) -> Path:
    browser.send("Emulation.setDeviceMetricsOverride", viewport)
    path = browser.screenshot((SHOTS or tmp_path) / f"{name}.png")
    print(f"screenshot: {path}")
    return path


def _badge(browser: Chromium, words: str, timeout: float) -> str:
    """The liveness badge's text once it contains `words`; fails after `timeout` seconds."""
    return browser.wait_for(
        f"(t => t.includes({words!r}) && t)(document.getElementById('live').textContent)", timeout=timeout
    )


def test_a_stalled_camera_and_a_stopped_maskgate_show_as_such_within_5_s(model_env: Path, tmp_path: Path) -> None:
    """A stand-in Pi camera with real people: live, then frozen (the page says camera stalled, greys the picture,
    FPS 0; the log warns), live again, then maskgate frozen (SIGSTOP) and stopped: not answering. Also aim mode
    by URL and the phone layout without sideways scrolling."""
    chromium = need_tool("chromium")
    video = need_shared("data/video/parking-lot.mp4")
    stand_in = tmp_path / "stand-in"
    stand_in.mkdir()
    (stand_in / "picamera2.py").write_text(STAND_IN_CAMERA)
    stall = tmp_path / "stall"
    port = _free_port()
    config = tmp_path / "maskgate.toml"
    config.write_text(
        f'[source]\nuri = "picamera2"\n[output]\nevents = "{tmp_path / "events.jsonl"}"\n'
        f"[web]\nenabled = true\nport = {port}\nmax_fps = 4\n[zone]\nmin_face = 0\n"
    )
    log = tmp_path / "maskgate.log"
    path = os.pathsep.join(p for p in (str(stand_in), os.environ.get("PYTHONPATH", "")) if p)
    process = _start_maskgate(
        config, log, PYTHONPATH=path, MASKGATE_TEST_VIDEO=str(video), MASKGATE_TEST_STALL=str(stall)
    )
    browser = None
    try:
        _wait_until_listening(port, process, log)
        browser = Chromium(chromium, tmp_path / "profile", width=1280, height=900)
        base = f"http://127.0.0.1:{port}"
        browser.navigate(base + "/")
        _badge(browser, "live", timeout=120)
        browser.wait_for("document.getElementById('frame').naturalWidth > 0")
        _shot(browser, tmp_path, "desktop-live", DESKTOP)
        _shot(browser, tmp_path, "phone-live", PHONE)
        assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scroll"
        browser.send("Emulation.setDeviceMetricsOverride", DESKTOP)

        stall.touch()
        _badge(browser, "camera stalled", timeout=5)
        assert "grayscale" in browser.evaluate("getComputedStyle(document.getElementById('frame')).filter")
        assert browser.evaluate("fetch('/state.json').then(r => r.json()).then(s => s.fps)") == 0
        _shot(browser, tmp_path, "desktop-stalled", DESKTOP)
        _shot(browser, tmp_path, "phone-stalled", PHONE)
        deadline = time.monotonic() + 30
        while "gives no frames" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "camera picamera2 gives no frames: none for" in log.read_text()
        stall.unlink()
        _badge(browser, "live", timeout=30)
        assert "camera picamera2 delivers frames again after" in log.read_text()

        browser.navigate(base + "/?aim=1")
        browser.wait_for("document.getElementById('aim').checked && !document.getElementById('aimnote').hidden")
        browser.wait_for("document.getElementById('frame').dataset.aim === '1'")
        _shot(browser, tmp_path, "desktop-aim", DESKTOP)
        _shot(browser, tmp_path, "phone-aim", PHONE)
        assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scroll"
        browser.send("Emulation.setDeviceMetricsOverride", DESKTOP)
        browser.navigate(base + "/")
        _badge(browser, "live", timeout=30)

        process.send_signal(signal.SIGSTOP)  # frozen: connections are accepted and never answered
        try:
            _badge(browser, "not answering", timeout=5)
            assert "grayscale" in browser.evaluate("getComputedStyle(document.getElementById('frame')).filter")
        finally:
            process.send_signal(signal.SIGCONT)
        _badge(browser, "live", timeout=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
        _badge(browser, "not answering", timeout=5)
        _shot(browser, tmp_path, "desktop-stopped", DESKTOP)
        _shot(browser, tmp_path, "phone-stopped", PHONE)
    finally:
        if browser is not None:
            browser.close()
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def test_door_page_in_chromium_with_login(model_env: Path, tmp_path: Path) -> None:
    from edge.config.password import hash_password
    from edge.config.web_settings import write_hash

    chromium = need_tool("chromium")
    video = _looped_video(need_shared("data/video/parking-lot.mp4"), tmp_path / "door.mp4")
    password_file = tmp_path / "web-password"
    write_hash(password_file, hash_password(PASSWORD))
    port = _free_port()
    config = tmp_path / "maskgate.toml"
    config.write_text(
        f'[source]\nuri = "{video}"\n[output]\nevents = "{tmp_path / "events.jsonl"}"\n'
        f'[web]\nenabled = true\nport = {port}\npassword_file = "{password_file}"\nmax_fps = 4\nthumbnails = true\n'
        "[zone]\nmin_face = 0\n"  # the car park's people stay far from the camera (docs/door.md)
    )
    log = tmp_path / "maskgate.log"
    process = _start_maskgate(config, log)
    browser = None
    try:
        _wait_until_listening(port, process, log)
        for path in ("/frame.jpg", "/frame.jpg?aim=1", "/state.json", "/doctor.json", "/thumb/1.jpg"):
            assert _status(port, path) == 401, path
        assert _status(port, "/") == 303

        browser = Chromium(chromium, tmp_path / "profile")
        base = f"http://127.0.0.1:{port}"
        browser.navigate(base + "/")
        browser.wait_for("location.pathname === '/login' && !!document.querySelector('input[name=password]')")
        assert browser.evaluate("fetch('/frame.jpg').then(r => r.status)") == 401  # the browser has no session

        login = "document.querySelector('input[name=password]').value = {!r}; document.querySelector('form').submit()"
        browser.evaluate(login.format("not-the-password"))
        browser.wait_for("document.body.textContent.includes('Wrong password')")
        _shot(browser, tmp_path, "desktop-login", DESKTOP)
        _shot(browser, tmp_path, "phone-login", PHONE)
        assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scroll"
        browser.send("Emulation.clearDeviceMetricsOverride")
        assert browser.evaluate("fetch('/state.json').then(r => r.status)") == 401
        browser.evaluate(login.format(PASSWORD))
        browser.wait_for("location.pathname === '/' && document.getElementById('frame').naturalWidth > 0")

        first = browser.evaluate("document.getElementById('frame').src")
        seq = browser.evaluate("fetch('/state.json').then(r => r.json()).then(s => s.picture.seq)")
        browser.wait_for(f"document.getElementById('frame').src !== {first!r}")
        browser.wait_for(f"fetch('/state.json').then(r => r.json()).then(s => s.picture.seq > {seq})")
        decisions = browser.wait_for(
            "Array.from(document.querySelectorAll('#decisions li.decision')).map(li => li.textContent)", timeout=180
        )
        # in plain words, with the day, the time and how long ago
        said = ("mask today", "no mask today", "mask below the nose today")
        assert any(text.startswith(said) and ("ago)" in text or "just now" in text) for text in decisions), decisions
        # web.thumbnails: each decision beside a small picture of the face, cut from its frame by the real loop
        sizes = browser.wait_for(
            "Array.from(document.querySelectorAll('#decisions li.decision img.thumb'))"
            ".filter(i => i.complete && i.naturalWidth > 0).map(i => [i.naturalWidth, i.naturalHeight])"
        )
        assert all(0 < max(size) <= 96 for size in sizes), sizes
        browser.wait_for("document.querySelectorAll('#doctor li').length > 0")
        browser.wait_for("document.querySelectorAll('#stages tr').length > 0")

        shot = browser.screenshot(tmp_path / "door-page.png")
        print(f"door page screenshot: {shot}")
        image = cv2.imread(str(shot))
        assert image is not None and image.shape[1] == 1000
        assert float(image[60:800].std()) > 20  # a camera picture, not a blank page

        browser.evaluate("document.getElementById('aim').click()")
        browser.wait_for("document.getElementById('frame').dataset.aim === '1' && location.search === '?aim=1'")
        browser.screenshot(tmp_path / "door-page-aim.png")
    finally:
        if browser is not None:
            browser.close()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "web: wrong password from 127.0.0.1" in text and "web: login from 127.0.0.1" in text
