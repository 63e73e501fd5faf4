"""Door-page login: salted scrypt password hashes, expiring sessions and a per-client login rate limit.

Stdlib only (hashlib.scrypt, secrets, hmac): nothing here needs a third-party library, and the hash
line is what `maskgate web-password` will write into the config.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
"""About 16 MiB and tens of ms per hash on a Pi: slow for a guesser, fine for one login."""
HASH_SCHEME = "scrypt"
MAX_N = 2**20
MAX_MEMORY = 64 * 1024 * 1024
"""A hash file asking for more scrypt memory than this is refused: a login must not exhaust a Pi Zero."""
MAX_CLIENTS = 1024
"""Clients whose recent login attempts are remembered; beyond it the quietest are forgotten."""


class PasswordHashError(ValueError):
    """A stored password hash is not in the `scrypt$n$r$p$salt$digest` form."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, salt: bytes | None = None) -> str:
    if not password:
        raise ValueError("the door-page password must not be empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"{HASH_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != HASH_SCHEME:
        raise PasswordHashError(f"password hash {stored[:12]!r}... is not scrypt$n$r$p$salt$digest")
    try:
        n, r, p = (int(value) for value in parts[1:4])
        salt, expected = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as error:
        raise PasswordHashError(f"password hash has a bad field: {error}") from error
    if n < 2 or n & (n - 1) or n > MAX_N or not 1 <= r <= 32 or not 1 <= p <= 16 or 128 * n * r > MAX_MEMORY:
        raise PasswordHashError(f"password hash has scrypt parameters n={n} r={r} p={p} out of range")
    if len(salt) < 8 or len(expected) < 16:
        raise PasswordHashError("password hash has a salt under 8 or a digest under 16 bytes")
    return n, r, p, salt, expected


def check_hash(stored: str) -> None:
    """Raise PasswordHashError unless `stored` is a hash verify_password can use (read at start, not at login)."""
    _parse(stored)


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, expected = _parse(stored)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=MAX_MEMORY + 1024 * 1024
    )
    return hmac.compare_digest(digest, expected)


@dataclass
class SessionStore:
    """Random session tokens that expire `lifetime_s` after login (not sliding: a stolen token dies)."""

    lifetime_s: float = 3600.0
    max_sessions: int = 64
    """Beyond it the session closest to expiry is ended: logins cannot grow memory without bound."""
    clock: Callable[[], float] = time.monotonic
    _expiry: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired()
            while len(self._expiry) >= self.max_sessions:
                del self._expiry[min(self._expiry, key=self._expiry.__getitem__)]
            self._expiry[token] = self.clock() + self.lifetime_s
        return token

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        with self._lock:
            self._drop_expired()
            return token in self._expiry

    def end(self, token: str) -> None:
        with self._lock:
            self._expiry.pop(token, None)

    def _drop_expired(self) -> None:
        now = self.clock()
        for token in [token for token, expiry in self._expiry.items() if expiry <= now]:
            del self._expiry[token]


@dataclass
class LoginRateLimit:
    """At most `attempts` logins per client within `window_s`; further attempts are refused unchecked."""

    attempts: int = 5
    window_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _recent: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, client: str) -> bool:
        now = self.clock()
        with self._lock:
            recent = self._recent.setdefault(client, deque())
            while recent and recent[0] <= now - self.window_s:
                recent.popleft()
            if len(recent) >= self.attempts:
                return False
            recent.append(now)
            if len(self._recent) > MAX_CLIENTS:
                self._forget(now)
            return True

    def _forget(self, now: float) -> None:
        """Drop clients without attempts in the window, then the oldest, so many addresses cannot fill memory."""
        for client in [c for c, times in self._recent.items() if not times or times[-1] <= now - self.window_s]:
            del self._recent[client]
        while len(self._recent) > MAX_CLIENTS:
            del self._recent[min(self._recent, key=lambda c: self._recent[c][-1])]
