"""The door page's HTTP side for real: waitress on a free localhost port, real requests with urllib, real
frames drawn and JPEG-encoded; the login, the session, the headers, the rate limits and the config rules."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import cv2
import numpy as np
import pytest
from conftest import need_module

from edge.config import Config, ConfigError, WebConfig, ZoneConfig
from edge.config.password import hash_password, verify_password
from edge.config.web_settings import is_loopback, problems
from edge.outputs.screen import banner_texts
from edge.vision.labels import MASK, NO_MASK
from edge.vision.stats import LoopStats
from edge.vision.types import Decision, Face, Frame, TrackedFace
from edge.web.auth import LoginRateLimit, SessionStore
from edge.web.frame_gate import FrameGate
from edge.web.page import DoorPage
from edge.web.view import ViewSettings, render_view

need_module("waitress", "pip install -e '.[web]'")

from edge.web.server import LOCAL_HOSTS, SECURITY_HEADERS, PageServer, serve

PASSWORD = "open-the-door-42"


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def _view(width: int = 640) -> ViewSettings:
    from edge.config import ScreenConfig

    return ViewSettings(width, True, banner_texts(ScreenConfig()), 20, ZoneConfig().min_face)


def _frame(index: int) -> Frame:
    image = np.full((480, 640, 3), 90, np.uint8)
    cv2.circle(image, (100 + 3 * index, 200), 40, (200, 180, 160), -1)  # the picture changes frame to frame
    return Frame(str(index), 1_700_000_000.0 + index, image)


def _faces(decision: str | None = MASK) -> list[TrackedFace]:
    return [
        TrackedFace(Face((60.0, 160.0, 140.0, 240.0), 0.9), 1, MASK, 0.97, decision),
        TrackedFace(Face((400.0, 100.0, 430.0, 130.0), 0.8), 2, NO_MASK, 0.6, None),  # 30 px: too small
    ]


def _page(gate: FrameGate | None = None) -> DoorPage:
    models = {"maskgate": "test", "detector": "yunet", "classifier": "c.tflite", "labels": [MASK, NO_MASK]}
    return DoorPage(_view(), gate or FrameGate(max_fps=100), 5, models)


class Client:
    """One browser's worth of requests: keeps the session cookie it is given."""

    def __init__(self, server: PageServer) -> None:
        self.port, self.cookie, self.cookie_header = server.port, "", ""

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = dict(headers or {})
        if self.cookie:
            sent["Cookie"] = self.cookie
        connection.request(method, path, body=body, headers=sent)
        answer = connection.getresponse()
        data, got = answer.read(), {k.lower(): v for k, v in answer.getheaders()}
        connection.close()
        if "set-cookie" in got:
            self.cookie_header = got["set-cookie"]
            self.cookie = got["set-cookie"].split(";", 1)[0]
        return answer.status, got, data

    def login(self, password: str, origin: str | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if origin:
            headers["Origin"] = origin
        return self.request("POST", "/login", urlencode({"password": password}).encode(), headers)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def page(clock: FakeClock) -> DoorPage:
    return _page(FrameGate(max_fps=2, clock=clock))


def _take(page: DoorPage, clock: FakeClock, index: int, stats: LoopStats | None = None) -> None:
    """A frame while a page is open, half a second after the last (the gate's 2 a second)."""
    clock.now += 0.5
    page.gate.viewer_seen()
    page.on_frame(_frame(index), _faces(), stats or LoopStats())


@pytest.fixture
def open_server(page: DoorPage):
    server = serve(page, "127.0.0.1", 0, None, SessionStore(), LoginRateLimit())
    yield server
    server.close()


@pytest.fixture
def locked(page: DoorPage, clock: FakeClock):
    sessions = SessionStore(lifetime_s=600, clock=clock)
    server = serve(page, "127.0.0.1", 0, hash_password(PASSWORD), sessions, LoginRateLimit(attempts=5, clock=clock))
    server.clock = clock
    yield server
    server.close()


def test_open_page_on_loopback_serves_page_picture_and_state(
    page: DoorPage, open_server: PageServer, clock: FakeClock
) -> None:
    client = Client(open_server)
    status, headers, body = client.request("GET", "/")
    assert status == 200 and b"/page.js" in body
    for name, value in SECURITY_HEADERS:
        assert headers[name.lower()] == value
    assert client.request("GET", "/frame.jpg")[0] == 503  # no picture before a page asked for one

    _take(page, clock, 1)
    status, headers, jpeg = client.request("GET", "/frame.jpg")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape[1] == 640 and picture.shape[0] > 480  # the frame above the banner
    assert client.request("GET", "/frame.jpg")[2] == jpeg  # the same picture is encoded once
    stats = LoopStats()
    _take(page, clock, 9, stats)
    assert client.request("GET", "/frame.jpg")[2] != jpeg  # and a newer one replaces it
    aimed = client.request("GET", "/frame.jpg?aim=1")[2]
    assert aimed != client.request("GET", "/frame.jpg")[2]

    stats.decisions.add(MASK)  # the loop counts each decision once, then hands it to the outputs
    page.on_decision(Decision("1", 1_700_000_001.0, 1, (60, 160, 140, 240), MASK, 0.97))
    state = json.loads(client.request("GET", "/state.json")[2])
    assert state["decisions"][0] | {"time": 0} == {"time": 0, "track": 1, "label": MASK, "score": 0.97, "state": "ok"}
    assert state["counts"]["decisions"] == {MASK: 1}
    assert state["door"]["text"] == banner_texts(Config().screen).for_label(MASK)
    assert state["login"] is False and state["models"]["detector"] == "yunet"
    assert state["aim"] == {"min_face_size": 20, "small_face_size": ZoneConfig().min_face}
    doctor = json.loads(client.request("GET", "/doctor.json")[2])
    assert {"python", "opencv", "config"} <= {check["name"] for check in doctor}


def test_page_is_read_only_and_unknown_paths_are_404(open_server: PageServer) -> None:
    client = Client(open_server)
    for method, path in (("POST", "/"), ("PUT", "/state.json"), ("DELETE", "/frame.jpg"), ("POST", "/config")):
        status, headers, _ = client.request(method, path, b"x=1")
        assert status == 405, (method, path)
        assert headers["x-frame-options"] == "DENY"
    assert client.request("GET", "/../etc/passwd")[0] == 404
    assert client.request("GET", "/events.jsonl")[0] == 404
    assert client.request("GET", "/login")[0] == 303  # nothing to log in to


def test_without_a_session_nothing_but_the_login_form_is_served(
    page: DoorPage, locked: PageServer, clock: FakeClock
) -> None:
    _take(page, clock, 1)
    client = Client(locked)
    status, headers, _ = client.request("GET", "/")
    assert status == 303 and headers["location"] == "/login"
    for path in ("/frame.jpg", "/frame.jpg?aim=1", "/state.json", "/doctor.json"):
        status, headers, body = client.request("GET", path)
        assert status == 401 and headers["content-type"].startswith("text/plain"), path
        assert b"\xff\xd8" not in body  # no JPEG
    status, headers, body = client.request("GET", "/login")
    assert status == 200 and b'type="password"' in body
    client.cookie = "maskgate_session=forged"
    assert client.request("GET", "/frame.jpg")[0] == 401


def test_login_refuses_wrong_password_then_session_serves_until_it_expires(
    page: DoorPage, locked: PageServer, clock: FakeClock
) -> None:
    _take(page, clock, 1)
    client = Client(locked)
    status, headers, body = client.login("wrong")
    assert status == 401 and b"Wrong password" in body and not client.cookie
    status, headers, _ = client.login(PASSWORD)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=600" in cookie
    assert "Secure" not in cookie  # plain HTTP; behind a TLS proxy it is added
    assert client.request("GET", "/")[0] == 200
    status, headers, jpeg = client.request("GET", "/frame.jpg")
    assert status == 200 and jpeg.startswith(b"\xff\xd8")
    assert json.loads(client.request("GET", "/state.json")[2])["login"] is True
    locked.clock.now += 601
    assert client.request("GET", "/frame.jpg")[0] == 401


def test_logout_ends_the_session(locked: PageServer) -> None:
    client = Client(locked)
    client.login(PASSWORD, origin=f"http://127.0.0.1:{locked.port}")
    token = client.cookie
    assert client.request("GET", "/state.json")[0] == 200
    status, headers, _ = client.request("POST", "/logout")
    assert status == 303 and "Max-Age=0" in headers["set-cookie"]
    client.cookie = token  # a copy of the old cookie is dead too
    assert client.request("GET", "/state.json")[0] == 401


def test_logins_are_rate_limited_and_cross_site_logins_refused(locked: PageServer) -> None:
    client = Client(locked)
    assert client.login(PASSWORD, origin="http://evil.example")[0] == 403
    answers = [client.login("guess")[0] for _ in range(5)]
    assert answers == [401] * 5  # the cross-site attempt counted as none
    status, _, body = client.login(PASSWORD)
    assert status == 429 and b"Too many" in body  # even the right password, unchecked
    locked.clock.now += 61
    assert client.login(PASSWORD)[0] == 303


def test_closed_page_costs_the_loop_no_copies_and_an_open_one_its_rate() -> None:
    clock = FakeClock()
    page = _page(FrameGate(max_fps=2, viewer_timeout_s=5, clock=clock))
    stats = LoopStats()
    for index in range(300):  # 10 s at 30 fps, nobody watching
        page.on_frame(_frame(index), _faces(), stats)
        clock.now += 1 / 30
    assert page.pictures_taken == 0
    for index in range(300):  # 10 s with a page polling twice per frame
        page.gate.viewer_seen()
        page.on_frame(_frame(index), _faces(), stats)
        clock.now += 1 / 30
    assert 19 <= page.pictures_taken <= 21


def test_view_mirrors_like_the_entrance_screen_and_aim_marks_small_faces() -> None:
    frame = _frame(0)
    plain = render_view(frame.image, _faces(), _view(), fps=10.0)
    aimed = render_view(frame.image, _faces(), _view(), fps=10.0, aim=True)
    height = frame.image.shape[0]
    # aim mode is not mirrored (a poster reads the right way round while aiming): the 30 px face at x 400-430
    # stays there and is marked; the 80 px one at 60-140 is left unmarked
    magenta = (aimed[:height, :, 0] > 200) & (aimed[:height, :, 1] < 60) & (aimed[:height, :, 2] > 200)
    columns = np.nonzero(magenta.any(axis=0))[0]
    assert columns.size and columns.min() >= 390 and columns.max() < 440
    assert not ((plain[:height, :, 0] > 200) & (plain[:height, :, 1] < 60) & (plain[:height, :, 2] > 200)).any()
    banner = plain[height + 5, 5]
    assert tuple(int(v) for v in banner) == (0, 140, 0)  # a confirmed mask: the entrance screen's green
    small = render_view(frame.image, _faces(), _view(width=320), fps=None)
    assert small.shape[1] == 320


def test_port_in_use_is_a_clear_error(page: DoorPage) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"web\.port: cannot serve the door page on 127\.0\.0\.1:{port}"):
            serve(page, "127.0.0.1", port, None, SessionStore(), LoginRateLimit())


# the [web] rules and `maskgate web-password`


def test_loopback_addresses() -> None:
    assert all(map(is_loopback, ("127.0.0.1", "127.8.0.1", "::1", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "::", "192.168.1.20", "door.local", "")))


def _hash_file(tmp_path: Path, mode: int = 0o640, text: str | None = None) -> Path:
    path = tmp_path / "web-password"
    path.write_text(text if text is not None else hash_password(PASSWORD) + "\n")
    path.chmod(mode)
    return path


def test_network_address_needs_a_password(tmp_path: Path) -> None:
    found = list(problems(WebConfig(enabled=True, address="0.0.0.0")))
    assert [p.key for p in found] == ["web.address"] and "needs a password" in found[0].message
    assert not list(problems(WebConfig(enabled=False, address="0.0.0.0")))  # off: no rule applies
    assert not list(problems(WebConfig(enabled=True)))  # loopback without a password is allowed
    good = _hash_file(tmp_path)
    assert not list(problems(WebConfig(enabled=True, address="0.0.0.0", password_file=str(good))))


def test_password_file_must_be_private_and_a_hash(tmp_path: Path) -> None:
    def keys_and_messages(path: Path) -> list[str]:
        web = WebConfig(enabled=True, address="0.0.0.0", password_file=str(path))
        return [f"{p.key}: {p.message}" for p in problems(web)]

    (found,) = keys_and_messages(_hash_file(tmp_path, mode=0o644))
    assert found.startswith("web.password_file:") and "chmod o-rw" in found
    (found,) = keys_and_messages(_hash_file(tmp_path, text=PASSWORD + "\n"))
    assert "not a password hash" in found and "maskgate web-password" in found  # a plain password is refused
    assert PASSWORD[:4] not in found, "not a character of what may be the password itself is repeated"
    (found,) = keys_and_messages(_hash_file(tmp_path, mode=0o660))
    assert found.startswith("web.password_file:") and "may be rewritten by others (mode 0660)" in found
    assert found.endswith(f"fix: chmod go-w {tmp_path / 'web-password'}")
    (found,) = keys_and_messages(_hash_file(tmp_path, mode=0o620))
    assert "chmod go-w" in found
    (found,) = keys_and_messages(
        _hash_file(tmp_path, text="scrypt$1099511627776$8$1$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGln\n")
    )
    assert "out of range" in found  # a hash asking for terabytes of memory
    (found,) = keys_and_messages(tmp_path / "missing")
    assert "cannot read" in found


def test_config_refuses_to_start_a_network_page_without_password() -> None:
    from edge.config import from_dict

    with pytest.raises(ConfigError, match=r"web\.address"):
        from_dict({"web": {"enabled": True, "address": "0.0.0.0"}})


def _maskgate(*args: str, stdin: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_web_password_command_writes_a_private_hash_the_config_accepts(tmp_path: Path) -> None:
    target = tmp_path / "web-password"
    config = tmp_path / "maskgate.toml"
    config.write_text(f'[web]\nenabled = true\naddress = "0.0.0.0"\npassword_file = "{target}"\n')
    assert _maskgate("config", "--check", str(config), stdin="", cwd=tmp_path).returncode == 2  # not written yet

    done = _maskgate("web-password", "--config", str(config), stdin=PASSWORD + "\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert str(target) in done.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    stored = target.read_text().strip()
    assert PASSWORD not in target.read_text() and verify_password(PASSWORD, stored)
    assert _maskgate("config", "--check", str(config), stdin="", cwd=tmp_path).returncode == 0

    short = _maskgate("web-password", str(tmp_path / "other"), stdin="short\n", cwd=tmp_path)
    assert short.returncode == 2 and "at least 8" in short.stderr and not (tmp_path / "other").exists()
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".web-password.")]  # no temp left


def test_web_output_is_built_through_the_outputs_table(model_env: Path) -> None:
    from edge.app import OUTPUTS, build_outputs, classifier_path
    from edge.config import from_dict
    from edge.vision.model_card import ModelCard

    assert "web" in OUTPUTS
    config = from_dict({"web": {"enabled": True, "port": _free_port()}})
    outputs = build_outputs(config)
    try:
        (page,) = [output for output in outputs if output.name == "web"]
        assert page.server.address == "127.0.0.1"
        client = Client(page.server)
        assert client.request("GET", "/")[0] == 200
        state = json.loads(client.request("GET", "/state.json")[2])
        assert state["models"]["classifier"].endswith(".tflite") and state["models"]["labels"]
        assert state["models"]["detector_model"].endswith(".onnx")  # yunet, the default
        fast = ModelCard.for_model(classifier_path(config)).fast_model
        assert state["models"]["fast_first"] == f"{fast.file} (keeps answers >= {fast.min_score:g})"
    finally:
        for output in outputs:
            output.close()
    assert not OUTPUTS["web"].enabled(from_dict({}))  # off by default


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_behind_a_local_tls_proxy_the_cookie_is_secure_and_clients_are_told_apart(
    page: DoorPage, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edge.web.server as server_module

    monkeypatch.setattr(server_module, "ALL_LOGINS_PER_MINUTE", 4)
    sessions = SessionStore(clock=clock)
    server = serve(
        page,
        "127.0.0.1",
        0,
        hash_password(PASSWORD),
        sessions,
        LoginRateLimit(attempts=2, clock=clock),
        trusted_proxy="127.0.0.1",
    )
    try:
        client = Client(server)

        def login(password: str, address: str) -> tuple[int, dict[str, str], bytes]:
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"}
            headers |= {"X-Forwarded-For": address, "X-Forwarded-Host": "door.example.org"}
            headers["Origin"] = "https://door.example.org"
            return client.request("POST", "/login", urlencode({"password": password}).encode(), headers)

        status, headers, _ = login(PASSWORD, "192.0.2.10")
        assert status == 303 and "; Secure" in headers["set-cookie"]
        assert [login("guess", "192.0.2.11")[0] for _ in range(3)] == [401, 401, 429]  # per forwarded client
        assert login("guess", "192.0.2.12")[0] == 401  # another client: its own count
        assert login("guess", "192.0.2.13")[0] == 429  # but all together: 4 checked a minute
        clock.now += 61
        assert login(PASSWORD, "192.0.2.13")[0] == 303
    finally:
        server.close()


def test_the_server_closes_even_when_its_loop_ends_before_the_wake_up_and_closing_twice_is_harmless(
    page: DoorPage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race a CI run hit: the loop saw the stop and ended before close() woke it; the wake-up must still find
    the trigger open (it used to be closed by the loop's thread: EBADF)."""
    server = serve(page, "127.0.0.1", 0, None, SessionStore(), LoginRateLimit())
    wake_up = server._server.pull_trigger

    def after_the_loop_ended() -> None:
        server._thread.join(timeout=5)
        assert not server._thread.is_alive()
        wake_up()

    monkeypatch.setattr(server._server, "pull_trigger", after_the_loop_ended)
    server.close()
    server.close()
    assert not server._server._map, "every channel closed"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_a_login_with_origin_null_is_refused_and_the_page_stays_locked(locked: PageServer) -> None:
    # Sandboxed frames and data: pages send "Origin: null": a cross-site form, not a browser that sends none.
    client = Client(locked)
    status, headers, _ = client.login(PASSWORD, origin="null")
    assert status == 403 and "set-cookie" not in headers
    assert client.request("GET", "/state.json")[0] == 401
    assert client.login(PASSWORD, origin=f"http://127.0.0.1:{locked.port}")[0] == 303


def test_a_stalled_loop_reads_0_fps_and_stalled_while_its_last_picture_ages(
    page: DoorPage, open_server: PageServer, clock: FakeClock
) -> None:
    """The window of frame times keeps the rate from before a stall: the page must say 0 FPS and stalled."""
    import time

    client = Client(open_server)
    stats = LoopStats()
    for _ in range(30):
        stats.frame_done(1 / 15, 1)
    _take(page, clock, 1, stats)
    status, headers, _ = client.request("GET", "/frame.jpg")
    assert status == 200 and headers["x-picture-seq"] == "1" and float(headers["x-picture-age"]) < 5
    live = json.loads(client.request("GET", "/state.json")[2])
    assert live["fps"] == pytest.approx(15, abs=0.1) and live["camera"]["stalled_s"] is None

    stats.last_frame_at = time.monotonic() - 20  # as if the camera gave nothing for 20 s
    stalled = json.loads(client.request("GET", "/state.json")[2])
    assert stalled["fps"] == 0.0
    assert stalled["camera"]["stalled_s"] >= 20 and stalled["camera"]["last_frame_age_s"] >= 20
    assert stats.fps == pytest.approx(15, abs=0.1), "the run's summary keeps the window's rate"
    assert stalled["picture"]["seq"] == 1 and stalled["max_fps"] == 2


def test_stalled_means_longer_than_five_recent_frames_or_two_seconds() -> None:
    stats = LoopStats()
    assert stats.stalled_for(100.0) is None  # no frame yet is starting, not stalling
    stats.frame_done(1.0, 0)  # a slow Pi: a second a frame
    done = stats.last_frame_at
    assert stats.stalled_for(done + 4.9) is None and stats.live_fps(done + 4.9) == 1.0
    assert stats.stalled_for(done + 5.1) == pytest.approx(5.1) and stats.live_fps(done + 5.1) == 0.0
    fast = LoopStats()
    fast.frame_done(0.01, 0)
    assert fast.stalled_for(fast.last_frame_at + 1.9) is None and fast.stalled_for(fast.last_frame_at + 2.1)


def test_decisions_are_counted_per_local_day_for_a_week(page: DoorPage) -> None:
    import time

    noon = time.mktime((2026, 3, 10, 12, 0, 0, 0, 0, -1))
    for day in range(9):
        for label in (MASK, MASK, NO_MASK):
            page.on_decision(Decision("1", noon + day * 86400, day, (0, 0, 9, 9), label, 0.9))
    days = page.state()["days"]
    assert [d["day"] for d in days] == [f"2026-03-{n:02d}" for n in range(18, 11, -1)]  # newest first, 7 kept
    assert days[0]["counts"] == {MASK: 2, NO_MASK: 1}


def test_forwarded_headers_from_an_untrusted_address_are_ignored(
    page: DoorPage, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Without web.trusted_proxy even loopback may not say who the client is: made-up X-Forwarded-For values
    share the connection's five tries instead of getting fresh ones, and the log names the real address."""
    caplog.set_level("INFO", logger="edge.web.server")
    server = serve(
        page, "127.0.0.1", 0, hash_password(PASSWORD), SessionStore(clock=clock), LoginRateLimit(clock=clock)
    )
    try:
        client = Client(server)

        def login(password: str, address: str) -> int:
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"}
            headers |= {"X-Forwarded-For": address}
            return client.request("POST", "/login", urlencode({"password": password}).encode(), headers)[0]

        assert [login("guess", f"203.0.113.{n}") for n in range(7)] == [401] * 5 + [429] * 2
        assert login(PASSWORD, "203.0.113.99") == 429, "a made-up address gets no fresh tries"
        clock.now += 61
        assert login(PASSWORD, "203.0.113.100") == 303
        assert "Secure" not in client.cookie_header, "X-Forwarded-Proto from anyone is not believed either"
    finally:
        server.close()
    assert "203.0.113" not in caplog.text and "wrong password from 127.0.0.1" in caplog.text


def test_a_hundred_idle_connections_do_not_shut_out_a_viewer(open_server: PageServer) -> None:
    """Connections opened and left silent (no login needed to do that) must not take every channel."""
    idle = [socket.create_connection(("127.0.0.1", open_server.port), timeout=5) for _ in range(100)]
    try:
        for _ in range(3):
            status, _, body = Client(open_server).request("GET", "/")
            assert status == 200 and b"/page.js" in body
    finally:
        for connection in idle:
            connection.close()


def test_without_a_password_only_this_machines_names_and_the_allowed_hosts_are_served(page: DoorPage) -> None:
    """DNS rebinding: a site's name pointed at 127.0.0.1 reaches the page with its own Host; refused."""
    server = serve(page, "127.0.0.1", 0, None, SessionStore(), LoginRateLimit(), allowed_hosts=(*LOCAL_HOSTS, "door"))
    try:
        client = Client(server)
        for host in ("evil.example", "evil.example:80", "127.0.0.2", "[::2]"):
            status, _, body = client.request("GET", "/state.json", headers={"Host": host})
            assert status == 421 and b"web.allowed_hosts" in body, host
        for host in ("localhost", f"127.0.0.1:{server.port}", "[::1]:8080", "door:8080", "DOOR"):
            assert client.request("GET", "/state.json", headers={"Host": host})[0] == 200, host
    finally:
        server.close()


def test_with_a_password_the_host_is_not_checked(locked: PageServer) -> None:
    assert Client(locked).request("GET", "/login", headers={"Host": "door.example.org"})[0] == 200


def test_allowed_hosts_come_from_the_address_and_the_setting() -> None:
    from edge.config.web_settings import allowed_hosts

    assert allowed_hosts(WebConfig()) == ("localhost", "127.0.0.1", "[::1]")
    web = WebConfig(address="::1", allowed_hosts=" Door.local , pi ,")
    assert allowed_hosts(web) == ("localhost", "127.0.0.1", "[::1]", "door.local", "pi")
    assert allowed_hosts(WebConfig(address="192.168.1.5"))[-1] == "192.168.1.5"


def test_trusted_proxy_must_be_an_address() -> None:
    found = list(problems(WebConfig(enabled=True, trusted_proxy="localhost")))
    assert [p.key for p in found] == ["web.trusted_proxy"] and "not an IP address" in found[0].message
    assert not list(problems(WebConfig(enabled=True, trusted_proxy="127.0.0.1")))
