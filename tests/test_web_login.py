"""The door page's login and logout as answers of the WSGI app itself (no server, no socket): the exact status,
headers and body a browser acts on. tests/test_web_page.py drives the same app through waitress."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import pytest

from edge.config.password import hash_password
from edge.web.auth import LoginRateLimit, SessionStore
from edge.web.server import COOKIE, LOCAL_HOSTS, DoorPageApp

PASSWORD = "open-the-door-42"
HOST = "door.local:8080"


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


def app(password_hash: str | None, attempts: int = 5) -> DoorPageApp:
    # The login never reads the door page (the picture and state), so there is none. Without a password the Host
    # must be allowed (DNS rebinding): the door's name is, as web.allowed_hosts would say.
    return DoorPageApp(
        None,  # type: ignore[arg-type]
        password_hash,
        SessionStore(),
        LoginRateLimit(attempts=attempts),
        allowed_hosts=(*LOCAL_HOSTS, HOST.split(":")[0]),
    )


def call(
    application: DoorPageApp,
    method: str,
    path: str,
    form: dict[str, str] | None = None,
    **environ: str,
) -> tuple[str, dict[str, str], bytes]:
    body = urlencode(form).encode() if form is not None else b""
    request = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "HTTP_HOST": HOST,
        "REMOTE_ADDR": "192.0.2.7",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
    } | environ
    answer: dict[str, object] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, headers

    data = b"".join(application(request, start_response))
    headers = answer["headers"]
    assert isinstance(headers, list)
    assert len({name for name, _ in headers}) == len(headers), "a header sent twice"
    return str(answer["status"]), dict(headers), data


def test_without_a_password_the_login_sends_the_browser_to_the_page() -> None:
    for method in ("GET", "POST"):
        status, headers, body = call(app(None), method, "/login", {"password": "anything"})
        assert (status, headers["Location"], headers["Content-Length"], body) == ("303 See Other", "/", "0", b"")
        assert "Set-Cookie" not in headers


def test_the_login_form_is_html_of_its_stated_length_and_shows_no_error_at_first(password_hash: str) -> None:
    status, headers, body = call(app(password_hash), "GET", "/login")
    assert status == "200 OK"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Length"] == str(len(body))
    assert b'class="error"' not in body and b"<!--message-->" not in body
    assert b"<form" in body and b'name="password"' in body


def test_a_good_password_gives_a_session_cookie_and_sends_the_browser_to_the_page(password_hash: str) -> None:
    application = app(password_hash)
    status, headers, body = call(application, "POST", "/login", {"password": PASSWORD}, HTTP_ORIGIN=f"http://{HOST}")
    assert (status, headers["Location"], headers["Content-Length"], body) == ("303 See Other", "/", "0", b"")
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "; HttpOnly; SameSite=Strict; Max-Age=3600" in cookie
    assert not cookie.endswith("; Secure"), "plain HTTP: a Secure cookie would never come back"
    token = cookie.split(";", 1)[0]
    assert call(application, "GET", "/", HTTP_COOKIE=token)[0] == "200 OK"


def test_over_https_the_session_cookie_is_secure(password_hash: str) -> None:
    _, headers, _ = call(app(password_hash), "POST", "/login", {"password": PASSWORD}, **{"wsgi.url_scheme": "https"})
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and cookie.endswith("; HttpOnly; SameSite=Strict; Max-Age=3600; Secure")


def test_a_wrong_or_missing_password_is_refused_with_the_form_and_its_message(password_hash: str) -> None:
    for form in ({"password": "nope"}, {"password": ""}, {"user": "admin"}):
        status, headers, body = call(app(password_hash), "POST", "/login", form)
        assert status == "401 Unauthorized", form
        assert b'<p class="error">Wrong password.</p>' in body
        assert headers["Content-Length"] == str(len(body)) and "Set-Cookie" not in headers


def test_a_form_without_the_password_field_never_logs_in_whatever_the_password() -> None:
    # No placeholder stands in for a missing field: with the password "XXXX" a form without it is still refused.
    status, headers, _ = call(app(hash_password("XXXX")), "POST", "/login", {"user": "XXXX"})
    assert status == "401 Unauthorized" and "Set-Cookie" not in headers


def test_a_login_from_another_site_or_with_a_bare_origin_is_refused(password_hash: str) -> None:
    for origin in ("http://evil.example", "evil.example", "null", f"http://{HOST}.evil.example"):
        status, headers, body = call(app(password_hash), "POST", "/login", {"password": PASSWORD}, HTTP_ORIGIN=origin)
        assert (status, body) == ("403 Forbidden", b"login from another site refused\n"), origin
        assert "Set-Cookie" not in headers
    # an Origin naming this host, by any scheme, is the same site
    assert call(app(password_hash), "POST", "/login", {"password": PASSWORD}, HTTP_ORIGIN=f"https://{HOST}")[0] == (
        "303 See Other"
    )


def test_too_many_logins_are_refused_unchecked_with_the_form_and_a_wait_message(password_hash: str) -> None:
    application = app(password_hash, attempts=2)
    for _ in range(2):
        assert call(application, "POST", "/login", {"password": "nope"})[0] == "401 Unauthorized"
    status, headers, body = call(application, "POST", "/login", {"password": PASSWORD})
    assert status == "429 Too Many Requests" and "Set-Cookie" not in headers
    assert b'<p class="error">Too many attempts: wait a minute.</p>' in body
    assert call(application, "POST", "/login", {"password": PASSWORD}, REMOTE_ADDR="192.0.2.8")[0] == "303 See Other"


def test_logout_ends_the_session_expires_the_cookie_and_sends_the_browser_to_the_login(password_hash: str) -> None:
    application = app(password_hash)
    token = call(application, "POST", "/login", {"password": PASSWORD})[1]["Set-Cookie"].split(";", 1)[0]
    status, headers, body = call(application, "POST", "/logout", HTTP_COOKIE=token)
    assert (status, headers["Location"], headers["Content-Length"], body) == ("303 See Other", "/login", "0", b"")
    assert headers["Set-Cookie"] == f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    assert call(application, "GET", "/", HTTP_COOKIE=token)[1]["Location"] == "/login"
    assert call(application, "POST", "/logout")[0] == "303 See Other", "logging out without a session is harmless"


def test_the_login_form_shows_exactly_its_page_at_first(password_hash: str) -> None:
    from edge.web.server import _asset

    _, _, body = call(app(password_hash), "GET", "/login")
    assert body == _asset("login.html").replace(b"<!--message-->", b"")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        (None, True),  # HTTP/1.0 without a Host: no browser, no rebinding
        ("[::1]", True),
        ("[::1]:8080", True),
        ("DOOR.local:8080", True),
        ("door.local", True),
        ("[::2]:8080", False),
        ("attacker.example:8080", False),
    ],
)
def test_without_a_password_only_the_allowed_host_names_get_an_answer(host: str | None, allowed: bool) -> None:
    request = app(None)
    environ = {"HTTP_HOST": host} if host is not None else {}
    answer = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"] = status

    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/login", "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http"}
    request(base | environ, start_response)
    assert answer["status"] == ("303 See Other" if allowed else "421 Misdirected Request"), host


def test_only_content_length_bytes_of_the_form_are_read(password_hash: str) -> None:
    body = urlencode({"password": PASSWORD}).encode()
    for length in ("5", "bogus"):  # "passw" holds no password; a bogus length reads nothing
        status, headers, _ = call(
            app(password_hash), "POST", "/login", CONTENT_LENGTH=length, **{"wsgi.input": io.BytesIO(body)}
        )
        assert status == "401 Unauthorized", length
        assert "Set-Cookie" not in headers


def test_a_form_that_is_not_utf8_is_a_wrong_password_not_an_error(password_hash: str) -> None:
    body = b"password=" + PASSWORD.encode() + b"\xff\xfe"
    status, _, _ = call(
        app(password_hash), "POST", "/login", CONTENT_LENGTH=str(len(body)), **{"wsgi.input": io.BytesIO(body)}
    )
    assert status == "401 Unauthorized"
