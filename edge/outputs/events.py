"""The JSON-lines event log: one line per decision, flushed as it is written so a crash loses nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from edge.outputs import Output
from edge.types import Decision


class EventLog(Output):
    name = "events"
    wants_frames = False

    def __init__(self, target: str) -> None:
        if target == "-":
            self._stream: TextIO = sys.stdout
            self._owned = False
        else:
            path = Path(target).expanduser()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._stream = path.open("a", encoding="utf-8", buffering=1)
            except OSError as exc:
                raise OSError(f"cannot open event log {path}: {exc.strerror or exc}") from exc
            self._owned = True

    def on_decision(self, decision: Decision) -> None:
        self._stream.write(json.dumps(decision.as_event(), separators=(",", ":")) + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()
