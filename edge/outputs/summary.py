"""Who came to the door: one readable line per person (track) when a run over files ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.outputs import Output

if TYPE_CHECKING:
    from edge.vision.labels import LabelPolicy
    from edge.vision.stats import LoopStats
    from edge.vision.types import Decision, Frame, TrackedFace


@dataclass
class Person:
    first_frame: str
    last_frame: str
    label: str | None = None
    """The last confirmed label; None while the vote never confirmed one."""
    score: float = 0.0
    confirmed_at: str = ""


class PersonSummary(Output):
    """Collects each track's frames and confirmed label; `lines()` renders them after the run."""

    name = "summary"

    def __init__(self, policy: LabelPolicy) -> None:
        self.policy = policy
        self.people: dict[int, Person] = {}

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
        for face in faces:
            person = self.people.setdefault(face.track, Person(frame.id, frame.id))
            person.last_frame = frame.id

    def on_decision(self, decision: Decision) -> None:
        person = self.people.setdefault(decision.track, Person(decision.frame, decision.frame))
        person.label, person.score, person.confirmed_at = decision.label, decision.score, decision.frame

    def lines(self) -> list[str]:
        count = len(self.people)
        lines = [f"{count} {'person' if count == 1 else 'people'} in view:"]
        for track, person in sorted(self.people.items()):
            if person.first_frame == person.last_frame:
                seen = f"in frame {person.first_frame}"
            else:
                seen = f"in frames {person.first_frame}-{person.last_frame}"
                seen += f", confirmed at frame {person.confirmed_at}" if person.label else ""
            if person.label is None:
                lines.append(f"  person {track:<3} {'undecided':<15} {'':<11}  {seen}")
                continue
            door = f"door {self.policy.state(person.label).value.replace('_', ' ').upper()}"
            lines.append(f"  person {track:<3} {person.label:<15} {door:<11}  {seen} ({person.score:.2f} sure)")
        return lines
