"""Reporting a failure that repeats (a full disk, a dead device) as a state instead of a flood: the first
failure is logged with its cause, then a count once per `interval`, and the recovery once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class _Failing:
    since: float
    last_logged: float
    unlogged: int = 0
    total: int = 1


class FaultLog:
    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._failing: dict[str, _Failing] = {}

    def failed(self, what: str, exc: BaseException) -> None:
        """`what` failed with exc. An OSError is a condition (disk full, no permission): one line with its
        message; anything else is a bug and gets its traceback the first time."""
        now = self._clock()
        state = self._failing.get(what)
        if state is None:
            self._failing[what] = _Failing(now, now)
            log.error(
                "%s failed: %s (repeats are counted and logged every %.0f s)",
                what,
                exc,
                self.interval,
                exc_info=None if isinstance(exc, OSError) else exc,
            )
            return
        state.unlogged += 1
        state.total += 1
        if now - state.last_logged >= self.interval:
            log.error(
                "%s still failing: %d more times in %.0f s; latest: %s",
                what,
                state.unlogged,
                now - state.last_logged,
                exc,
            )
            state.last_logged, state.unlogged = now, 0

    def worked(self, what: str) -> None:
        state = self._failing.pop(what, None)
        if state is not None:
            log.warning("%s works again after %d failures in %.0f s", what, state.total, self._clock() - state.since)
