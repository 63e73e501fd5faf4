"""Progress of a long run over files: a bar on a terminal, a log line every `interval` seconds otherwise
(journald, a pipe). Hand-written: tqdm or rich would be a dependency of the Pi runtime for one line."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

log = logging.getLogger(__name__)
Item = TypeVar("Item")
BAR_WIDTH = 30


def with_progress(
    items: Iterable[Item],
    total: int,
    what: str,
    interval: float = 10.0,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Item]:
    """Yields items unchanged while reporting how many of `total` have been taken."""
    stream = stream or sys.stderr
    bar = stream.isatty()
    last = clock()
    for done, item in enumerate(items, 1):
        yield item
        now = clock()
        if bar and (now - last >= 0.2 or done == total):
            filled = BAR_WIDTH * done // max(total, 1)
            stream.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} {what}")
            stream.flush()
            last = now
        elif not bar and now - last >= interval:
            log.info("progress: %d/%d %s (%.0f%%)", done, total, what, 100 * done / max(total, 1))
            last = now
    if bar:
        stream.write("\n")
