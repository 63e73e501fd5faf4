"""Door-page login: expiring sessions and a per-client login rate limit (the password hash format, which the
config checks too, is edge.config.password).

Stdlib only (secrets): nothing here needs a third-party library.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_CLIENTS = 1024
"""Clients whose recent login attempts are remembered; beyond it the quietest are forgotten."""


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
