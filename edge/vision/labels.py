"""The label policy: the one place that turns classifier labels into what the door does.

Every output (LEDs, buzzer, relay, screen, snapshots, MQTT, Home Assistant, metrics) asks this
module whether a confirmed label lets a person in. Only `mask` does by default; every other label,
including classes a future model adds, is "not OK" unless the site configures it as a warning.
Standard library only: `maskgate config` and `doctor` import it without OpenCV.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

MASK = "mask"
NO_MASK = "no_mask"
MASK_INCORRECT = "mask_incorrect"
UNSURE = "unsure"
"""Per-frame label of a face the classifier is not sure enough about; it never becomes a decision."""


class DoorState(StrEnum):
    OK = "ok"
    """Everybody confirmed in view wears a mask: green, the relay may open."""
    WARN = "warn"
    """A confirmed label the site lets in with a reminder (e.g. a mask under the nose): green, own screen text."""
    NOT_OK = "not_ok"
    """A confirmed face is bare or wrongly masked: red, buzzer, no relay, bare-face alarm, snapshot."""


SEVERITY = {DoorState.OK: 0, DoorState.WARN: 1, DoorState.NOT_OK: 2}


@dataclass(frozen=True)
class LabelPolicy:
    ok_labels: frozenset[str] = frozenset({MASK})
    warn_labels: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, mask_incorrect: str) -> LabelPolicy:
        """`policy.mask_incorrect` is "not_ok" (the default) or "warn"."""
        return cls(warn_labels=frozenset({MASK_INCORRECT}) if mask_incorrect == DoorState.WARN else frozenset())

    def state(self, label: str) -> DoorState:
        if label in self.ok_labels:
            return DoorState.OK
        if label in self.warn_labels:
            return DoorState.WARN
        return DoorState.NOT_OK

    def lets_in(self, label: str) -> bool:
        return self.state(label) is not DoorState.NOT_OK

    def is_alarm(self, label: str) -> bool:
        """A confirmed label that sounds the buzzer, lights red, sets MQTT bare_face and is counted as an alert."""
        return self.state(label) is DoorState.NOT_OK

    def worst_label(self, decided: Iterable[str | None]) -> str | None:
        """The confirmed label that decides the door: the most severe one; among not-OK labels a bare face
        (anything but a wrong mask) comes first. None while nobody is confirmed."""
        labels = {label for label in decided if label is not None}
        if not labels:
            return None
        return max(sorted(labels), key=lambda label: (SEVERITY[self.state(label)], label != MASK_INCORRECT))

    def door_state(self, decided: Iterable[str | None]) -> DoorState | None:
        label = self.worst_label(decided)
        return None if label is None else self.state(label)


DEFAULT_POLICY = LabelPolicy()
