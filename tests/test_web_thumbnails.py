"""The door page's face thumbnails (web.thumbnails): off by default, and when on a small picture of each decided
face, cut from the decision's frame, kept in memory for the listed decisions only and served behind the login."""

from __future__ import annotations

import json

import cv2
import numpy as np
from conftest import need_module

from edge.config import Config
from edge.config.password import hash_password
from edge.vision.labels import MASK, NO_MASK
from edge.vision.stats import LoopStats
from edge.vision.types import Decision, Frame
from edge.web.auth import LoginRateLimit, SessionStore
from edge.web.frame_gate import FrameGate
from edge.web.page import DoorPage
from edge.web.view import THUMBNAIL_SIZE

need_module("waitress", "pip install -e '.[web]'")

from test_web_page import PASSWORD, Client, FakeClock, _faces, _view  # noqa: E402

from edge.web.server import serve  # noqa: E402

FACE_BOX = (200.0, 100.0, 360.0, 300.0)
"""160 x 200 px: larger than a thumbnail, so it must be shrunk."""
FACE_COLOUR = (30, 160, 230)  # BGR, far from the grey background and from the other face's colour


def _page(thumbnails: bool, decisions: int = 5) -> DoorPage:
    models = {"maskgate": "test", "detector": "yunet", "classifier": "c.tflite", "labels": [MASK, NO_MASK]}
    return DoorPage(_view(), FrameGate(max_fps=2, clock=FakeClock()), decisions, models, thumbnails=thumbnails)


def _frame(index: int, colour: tuple[int, int, int] = FACE_COLOUR) -> Frame:
    """A grey frame with a coloured block where the decided face is, and another colour elsewhere."""
    image = np.full((480, 640, 3), 90, np.uint8)
    x1, y1, x2, y2 = (round(v) for v in FACE_BOX)
    image[y1:y2, x1:x2] = colour
    image[20:80, 500:600] = (250, 20, 250)
    return Frame(str(index), 1_700_000_000.0 + index, image)


def _decide(page: DoorPage, index: int, colour: tuple[int, int, int] = FACE_COLOUR, frame_id: str | None = None):
    """As the loop does: the frame's decisions first, then the frame."""
    page.on_decision(Decision(frame_id or str(index), 1_700_000_000.0 + index, index, FACE_BOX, MASK, 0.97))
    page.on_frame(_frame(index, colour), _faces(), LoopStats())


def _decoded(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_thumbnails_are_off_by_default_none_in_state_and_the_route_is_404() -> None:
    assert Config().web.thumbnails is False
    page = _page(thumbnails=Config().web.thumbnails)
    _decide(page, 1)
    state = page.state()
    assert len(state["decisions"]) == 1 and "thumb" not in state["decisions"][0]
    assert page.thumbnail(1) is None
    server = serve(page, "127.0.0.1", 0, None, SessionStore(), LoginRateLimit())
    try:
        client = Client(server)
        for path in ("/thumb/1.jpg", "/thumb/0.jpg", "/thumb/x.jpg", "/thumb/1.jpg/../../etc/passwd"):
            assert client.request("GET", path)[0] == 404, path
    finally:
        server.close()


def test_a_decision_gets_a_small_picture_of_its_face_cut_from_its_frame() -> None:
    page = _page(thumbnails=True)
    _decide(page, 1)
    entry = page.state()["decisions"][0]
    assert entry["thumb"] == "/thumb/1.jpg"
    picture = _decoded(page.thumbnail(1))
    assert max(picture.shape[:2]) <= THUMBNAIL_SIZE
    assert picture.shape[0] > picture.shape[1]  # the box's shape, taller than wide
    mean = picture.reshape(-1, 3).mean(axis=0)
    assert np.abs(mean - FACE_COLOUR).max() < 8, mean  # the face block, not the background or the other block


def test_a_decision_whose_frame_never_came_has_no_thumbnail() -> None:
    page = _page(thumbnails=True)
    _decide(page, 1, frame_id="elsewhere")
    assert "thumb" not in page.state()["decisions"][0] and page.thumbnail(1) is None
    _decide(page, 2)  # and it is not cut from a later frame either
    assert [("thumb" in d) for d in page.state()["decisions"]] == [True, False]


def test_thumbnails_are_kept_for_the_listed_decisions_only() -> None:
    page = _page(thumbnails=True, decisions=3)
    colours = [(40 * i, 255 - 40 * i, 60) for i in range(1, 6)]
    for index, colour in enumerate(colours, start=1):
        _decide(page, index, colour)
    listed = page.state()["decisions"]
    assert [d["thumb"] for d in listed] == ["/thumb/5.jpg", "/thumb/4.jpg", "/thumb/3.jpg"]
    assert sorted(page._thumbs) == [3, 4, 5]  # memory: no more pictures than listed decisions
    assert page.thumbnail(2) is None and page.thumbnail(1) is None
    for number in (3, 4, 5):  # each is its own decision's face
        mean = _decoded(page.thumbnail(number)).reshape(-1, 3).mean(axis=0)
        assert np.abs(mean - colours[number - 1]).max() < 8, (number, mean)


def test_no_decisions_listed_means_no_thumbnails() -> None:
    page = _page(thumbnails=True, decisions=0)
    _decide(page, 1)
    assert page.state()["decisions"] == [] and page.thumbnail(1) is None and not page._thumbs


def test_the_thumbnail_route_needs_the_session_when_a_password_is_set() -> None:
    page = _page(thumbnails=True)
    _decide(page, 1)
    server = serve(page, "127.0.0.1", 0, hash_password(PASSWORD), SessionStore(), LoginRateLimit())
    try:
        client = Client(server)
        status, headers, body = client.request("GET", "/thumb/1.jpg")
        assert status == 401 and b"\xff\xd8" not in body
        client.cookie = "maskgate_session=forged"
        assert client.request("GET", "/thumb/1.jpg")[0] == 401
        client.cookie = ""
        assert client.login(PASSWORD)[0] == 303
        state = json.loads(client.request("GET", "/state.json")[2])
        status, headers, body = client.request("GET", state["decisions"][0]["thumb"])
        assert status == 200 and headers["content-type"] == "image/jpeg" and headers["cache-control"] == "no-store"
        assert body == page.thumbnail(1)
        assert client.request("GET", "/thumb/2.jpg")[0] == 404  # unknown decision
        assert client.request("HEAD", "/thumb/1.jpg")[2] == b""
    finally:
        server.close()
