"""The door page's HTTP side: a small read-only WSGI app served by waitress on a thread of its own.

Routes: `/` the page, `/page.js` and `/page.css` its code, `/frame.jpg` the newest picture (`?aim=1` for
aim mode), `/thumb/<n>.jpg` the face of decision n (web.thumbnails; from memory), `/state.json` decisions,
counters and states, `/doctor.json` the doctor's checks of this process, `/login` and `/logout`. With a
password every route but the login form, `page.js`, `page.css` needs a session cookie. Nothing is ever
written through HTTP: GET shows, POST only logs in and out.

waitress parses HTTP (a production server, pure Python, no dependencies); this module only routes.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from edge.config.password import verify_password
from edge.web.auth import LoginRateLimit, SessionStore

if TYPE_CHECKING:
    from edge.web.page import DoorPage

log = logging.getLogger(__name__)

COOKIE = "maskgate_session"
MAX_LOGIN_BODY = 4096
ALL_LOGINS_PER_MINUTE = 30
"""Logins checked per minute from all clients together: each costs a scrypt, so many addresses cannot keep
the page's threads (and the Pi's cores) hashing."""
SECURITY_HEADERS = [
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'none'; img-src 'self' blob:; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),  # "no-referrer" would make the login form's Origin "null"
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]
"""On every answer: no framing (clickjacking), no type sniffing, nothing cached or leaked in a Referer."""
PUBLIC = ("/login", "/page.js", "/page.css")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
THUMBNAIL_PATH = re.compile(r"/thumb/([0-9]{1,12})\.jpg")
CONNECTION_LIMIT = 256
"""Open connections at most; idle ones are cheap (a socket each, no thread), so a crowd of them cannot shut out
a real viewer the way waitress's default channels could."""
IDLE_TIMEOUT_S = 10
"""An idle connection is closed after this (the page polls every half second, so a real one never idles)."""
CLEANUP_INTERVAL_S = 2
"""How often idle connections are looked for: an idle one lives at most IDLE_TIMEOUT_S + this."""

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _asset(name: str) -> bytes:
    return resources.files("edge.web").joinpath(name).read_bytes()


class DoorPageApp:
    """The WSGI application; `password_hash` None means no login (allowed only on loopback)."""

    def __init__(
        self,
        page: DoorPage,
        password_hash: str | None,
        sessions: SessionStore,
        logins: LoginRateLimit,
        doctor: Callable[[], list[dict[str, Any]]] | None = None,
        allowed_hosts: tuple[str, ...] = LOCAL_HOSTS,
    ) -> None:
        self.page, self.password_hash, self.sessions, self.logins = page, password_hash, sessions, logins
        self.allowed_hosts = frozenset(allowed_hosts)
        self.all_logins = LoginRateLimit(attempts=ALL_LOGINS_PER_MINUTE, window_s=60.0, clock=logins.clock)
        self._doctor = doctor or doctor_checks
        self._doctor_result: list[dict[str, Any]] | None = None
        self._doctor_lock = threading.Lock()
        page_html = _asset("page.html")
        self._assets = {
            "/": (page_html, "text/html; charset=utf-8"),
            "/page.js": (_asset("page.js"), "text/javascript; charset=utf-8"),
            "/page.css": (_asset("page.css"), "text/css; charset=utf-8"),
        }

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, headers, body = self.route(environ)
        except Exception:
            log.exception("web: %s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            status, headers, body = _text(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
        if environ.get("REQUEST_METHOD") == "HEAD":
            body = b""
        start_response(f"{status.value} {status.phrase}", [*headers, *SECURITY_HEADERS])
        return [body]

    def route(self, environ: dict[str, Any]) -> tuple[HTTPStatus, list[tuple[str, str]], bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        if self.password_hash is None and not self.host_allowed(environ):
            # without a login, the Host is what tells this page from a rebound name in someone else's site
            return _text(HTTPStatus.MISDIRECTED_REQUEST, "this host name is not one of web.allowed_hosts")
        if path == "/login":
            return self.login(environ) if method == "POST" else self.login_form(environ)
        if path == "/logout" and method == "POST":
            return self.logout(environ)
        if method not in ("GET", "HEAD"):
            return _text(HTTPStatus.METHOD_NOT_ALLOWED, "the door page is read-only", [("Allow", "GET, HEAD")])
        if path in PUBLIC and path in self._assets:
            return _bytes(*self._assets[path])
        if not self.signed_in(environ):
            if path == "/":
                return HTTPStatus.SEE_OTHER, [("Location", "/login"), ("Content-Length", "0")], b""
            return _text(HTTPStatus.UNAUTHORIZED, "log in first")
        if path == "/":
            return _bytes(*self._assets["/"])
        if path == "/frame.jpg":
            aim = parse_qs(environ.get("QUERY_STRING", "")).get("aim", ["0"])[0] == "1"
            picture = self.page.jpeg(aim)
            if picture is None:
                return _text(HTTPStatus.SERVICE_UNAVAILABLE, "no picture yet", [("Retry-After", "1")])
            data, seq, age = picture
            status, headers, body = _bytes(data, "image/jpeg")
            return status, [*headers, ("X-Picture-Seq", str(seq)), ("X-Picture-Age", f"{age:.2f}")], body
        if thumb := THUMBNAIL_PATH.fullmatch(path):
            face = self.page.thumbnail(int(thumb.group(1)))
            return _bytes(face, "image/jpeg") if face is not None else _text(HTTPStatus.NOT_FOUND, "not found")
        if path == "/state.json":
            return _json(self.page.state() | {"login": self.password_hash is not None})
        if path == "/doctor.json":
            return _json(self.doctor())
        return _text(HTTPStatus.NOT_FOUND, "not found")

    def host_allowed(self, environ: dict[str, Any]) -> bool:
        host = environ.get("HTTP_HOST")
        if host is None:
            return True  # HTTP/1.0 without a Host: not a browser, so not a rebinding
        host = host.strip().lower()
        name = host[: host.index("]") + 1] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
        return name in self.allowed_hosts

    # sessions
    def signed_in(self, environ: dict[str, Any]) -> bool:
        return self.password_hash is None or self.sessions.valid(_cookie(environ))

    def login_form(self, environ: dict[str, Any], message: str = "", status: HTTPStatus = HTTPStatus.OK):
        if self.password_hash is None:
            return HTTPStatus.SEE_OTHER, [("Location", "/"), ("Content-Length", "0")], b""
        note = f'<p class="error">{html.escape(message)}</p>' if message else ""
        body = _asset("login.html").replace(b"<!--message-->", note.encode())
        return status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))], body

    def login(self, environ: dict[str, Any]):
        if self.password_hash is None:
            return HTTPStatus.SEE_OTHER, [("Location", "/"), ("Content-Length", "0")], b""
        if not _same_origin(environ):
            return _text(HTTPStatus.FORBIDDEN, "login from another site refused")
        client = environ.get("REMOTE_ADDR", "?")
        if not (self.logins.allow(client) and self.all_logins.allow("*")):
            log.warning("web: too many logins from %s; refused without checking", client)
            return self.login_form(environ, "Too many attempts: wait a minute.", HTTPStatus.TOO_MANY_REQUESTS)
        password = _form(environ).get("password", [""])[0]
        if not password or not verify_password(password, self.password_hash):
            log.warning("web: wrong password from %s", client)
            return self.login_form(environ, "Wrong password.", HTTPStatus.UNAUTHORIZED)
        token = self.sessions.create()
        cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={round(self.sessions.lifetime_s)}"
        if _https(environ):
            cookie += "; Secure"
        log.info("web: login from %s", client)
        return HTTPStatus.SEE_OTHER, [("Location", "/"), ("Set-Cookie", cookie), ("Content-Length", "0")], b""

    def logout(self, environ: dict[str, Any]):
        if token := _cookie(environ):
            self.sessions.end(token)
        expired = f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        return HTTPStatus.SEE_OTHER, [("Location", "/login"), ("Set-Cookie", expired), ("Content-Length", "0")], b""

    def doctor(self) -> list[dict[str, Any]]:
        """The doctor's checks that do not touch what the running loop holds (camera, pins), once."""
        with self._doctor_lock:
            if self._doctor_result is None:
                self._doctor_result = self._doctor()
            return self._doctor_result


def doctor_checks() -> list[dict[str, Any]]:
    from edge.health import doctor

    checks = [doctor.check_python(), doctor.check_board(), *doctor.check_opencv()]
    rows = [{"name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix} for c in checks]
    rows.append({"name": "config", "ok": True, "detail": "every setting passed when the run started", "fix": ""})
    return rows


def _cookie(environ: dict[str, Any]) -> str | None:
    try:
        morsel = SimpleCookie(environ.get("HTTP_COOKIE", "")).get(COOKIE)
    except CookieError:
        return None
    return morsel.value if morsel else None


def _https(environ: dict[str, Any]) -> bool:
    """waitress sets the scheme from X-Forwarded-Proto only when web.trusted_proxy sent it."""
    return environ.get("wsgi.url_scheme") == "https"


def _same_origin(environ: dict[str, Any]) -> bool:
    """A form posted from another site carries its Origin; browsers that send none are let through."""
    origin = environ.get("HTTP_ORIGIN")
    if not origin or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1] == environ.get("HTTP_HOST", "")


def _form(environ: dict[str, Any]) -> dict[str, list[str]]:
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_LOGIN_BODY)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    return parse_qs(body.decode("utf-8", "replace"))


def _bytes(body: bytes, content_type: str) -> tuple[HTTPStatus, list[tuple[str, str]], bytes]:
    return HTTPStatus.OK, [("Content-Type", content_type), ("Content-Length", str(len(body)))], body


def _text(status: HTTPStatus, text: str, extra: list[tuple[str, str]] | None = None):
    body = (text + "\n").encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    return status, headers + (extra or []), body


def _json(data: Any) -> tuple[HTTPStatus, list[tuple[str, str]], bytes]:
    return _bytes(json.dumps(data).encode(), "application/json")


class PageServer:
    """waitress on a daemon thread; close() stops it and closes every connection from that thread."""

    def __init__(self, app: DoorPageApp, address: str, port: int, trusted_proxy: str = "") -> None:
        from waitress.server import create_server

        self.app = app
        # only a configured proxy may say who the client is and that it used TLS; from anyone else (loopback
        # included) these headers are removed before the app sees them
        proxy: dict[str, Any] = {"clear_untrusted_proxy_headers": True}
        if trusted_proxy:
            proxy |= {
                "trusted_proxy": trusted_proxy,
                "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
            }
        self._server = create_server(
            app,
            host=address,
            port=port,
            threads=2,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=IDLE_TIMEOUT_S,
            cleanup_interval=CLEANUP_INTERVAL_S,
            max_request_header_size=16 * 1024,
            max_request_body_size=MAX_LOGIN_BODY,
            ident="",
            **proxy,
        )
        self.address, self.port = address, int(self._server.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/"

    def _run(self) -> None:
        from waitress import wasyncore

        while not self._stop.is_set():
            wasyncore.loop(timeout=0.5, map=self._server._map, count=1)

    def close(self) -> None:
        """Stops the loop, then closes its channels here: were the loop's thread to close them, the wake-up
        could be written to the trigger's file descriptor after it was closed (EBADF, or another file's)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._server.pull_trigger()
        self._thread.join(timeout=5)
        for channel in list(self._server._map.values()):
            channel.close()
        self._server.task_dispatcher.shutdown(timeout=2)


def serve(
    page: DoorPage,
    address: str,
    port: int,
    password_hash: str | None,
    sessions: SessionStore,
    logins: LoginRateLimit,
    trusted_proxy: str = "",
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS,
) -> PageServer:
    app = DoorPageApp(page, password_hash, sessions, logins, allowed_hosts=allowed_hosts)
    try:
        server = PageServer(app, address, port, trusted_proxy)
    except OSError as exc:
        raise OSError(f"web.port: cannot serve the door page on {address}:{port}: {exc.strerror or exc}") from exc
    from edge.config.web_settings import is_loopback

    login = "with a password" if password_hash else "without a password (this machine only)"
    log.info("web: door page on %s, %s", server.url, login)
    if not is_loopback(address):
        log.warning("web: the door page is plain HTTP on the network; put a TLS proxy in front (docs/door-page.md)")
    return server
