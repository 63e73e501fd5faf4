"""Outputs consume frames and decisions; none reaches back into the pipeline.

Subclass `Output` and override what you need. A failing output is logged and does not stop the
loop or the other outputs.

The folder holds one module per output (the entrance screen and MQTT have a few: screen/, mqtt.py with
homeassistant.py and the on-disk outbox.py; their settings rules are in edge.config). May import edge.sources,
edge.vision, edge.config, edge.registry and edge.errors; never a detector, the web page or edge.app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.vision.stats import LoopStats
    from edge.vision.types import Decision, Frame, TrackedFace


class Output:
    name = "output"
    wants_frames = True
    """False lets the pipeline skip on_frame calls (and drawing) for outputs that only log decisions."""

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> bool | None:
        """May return False when it did nothing with the frame: the pipeline then does not take it as the output
        working again after a failure."""
        pass

    def on_decision(self, decision: Decision) -> None:
        pass

    def close(self) -> None:
        pass
