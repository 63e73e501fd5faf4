"""The relay and policy rules of the GPIO alerts, on MockFactory pins and the real tracker: the relay's cooldown
per person, the cooldown's boundary, the "warn" policy (green and the relay for a wrongly worn mask), and a
masked person who leaves while waiting for the relay stops waiting."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory

from edge.vision.labels import MASK, MASK_INCORRECT, NO_MASK, LabelPolicy
from tests.test_alerts import BUZZER, GREEN, LEFT, RED, RELAY, RIGHT, factory, levels, make_door, wait_for_levels

__all__ = ["factory", "make_door"]  # fixtures from test_alerts, used by name

WARN = LabelPolicy.from_config("warn")


def confirm(door, *people, frames: int = 4) -> None:
    for _ in range(frames):
        door.frame(*people)


def test_the_relay_opens_once_per_person_within_the_cooldown(factory: MockFactory, make_door) -> None:
    door = make_door(buzzer_beeps=1, cooldown=30.0)
    confirm(door, (LEFT, MASK))
    assert wait_for_levels(factory, RELAY, 3) == [False, True, False]
    confirm(door, (LEFT, NO_MASK), frames=5)
    door.clock.now += 10.0
    confirm(door, (LEFT, MASK), frames=5)
    assert [d.label for d in door.decisions] == [MASK, NO_MASK, MASK]
    door.alerts.close()  # joins the pattern threads: a second pulse would be in the history
    assert levels(factory, RELAY) == [False, True, False], "mask -> bare -> mask within the cooldown: one opening"


def test_the_relay_never_opens_twice_for_one_person_even_after_the_cooldown(factory: MockFactory, make_door) -> None:
    door = make_door(buzzer_beeps=1, cooldown=30.0)
    confirm(door, (LEFT, MASK))
    assert wait_for_levels(factory, RELAY, 3) == [False, True, False]
    confirm(door, (LEFT, NO_MASK), frames=5)
    door.clock.now += 30.0
    confirm(door, (LEFT, MASK), frames=5)
    assert [(d.label, d.previous) for d in door.decisions] == [(MASK, None), (NO_MASK, MASK), (MASK, NO_MASK)]
    door.alerts.close()
    assert levels(factory, RELAY) == [False, True, False], "once per person (docs/door.md)"


def test_the_cooldown_ends_exactly_cooldown_seconds_after_the_alert(factory: MockFactory, make_door) -> None:
    door = make_door(buzzer_beeps=1, cooldown=30.0)
    confirm(door, (LEFT, NO_MASK))
    assert wait_for_levels(factory, BUZZER, 3) == [False, True, False]
    confirm(door, (LEFT, MASK), frames=5)
    door.clock.now += 30.0  # exactly the cooldown: this is a new alert
    confirm(door, (LEFT, NO_MASK), frames=5)
    assert [d.label for d in door.decisions] == [NO_MASK, MASK, NO_MASK]
    assert wait_for_levels(factory, BUZZER, 5) == [False, True, False, True, False]


def test_just_inside_the_cooldown_no_second_alert(factory: MockFactory, make_door) -> None:
    door = make_door(buzzer_beeps=1, cooldown=30.0)
    confirm(door, (LEFT, NO_MASK))
    assert wait_for_levels(factory, BUZZER, 3) == [False, True, False]
    confirm(door, (LEFT, MASK), frames=5)
    door.clock.now += 29.99
    confirm(door, (LEFT, NO_MASK), frames=5)
    door.alerts.close()
    assert levels(factory, BUZZER) == [False, True, False]


def test_a_warn_label_lights_green_and_opens_the_relay_without_the_buzzer(factory: MockFactory, make_door) -> None:
    door = make_door()
    door.alerts.policy = WARN
    confirm(door, (LEFT, MASK_INCORRECT))
    assert [d.label for d in door.decisions] == [MASK_INCORRECT]
    assert levels(factory, GREEN) == [False, True]
    assert levels(factory, RED) == [False]
    assert wait_for_levels(factory, RELAY, 3) == [False, True, False]
    door.alerts.close()
    assert levels(factory, BUZZER) == [False]


def test_a_warn_label_beside_a_mask_still_opens_the_door(factory: MockFactory, make_door) -> None:
    door = make_door()
    door.alerts.policy = WARN
    confirm(door, (LEFT, MASK_INCORRECT), (RIGHT, MASK))
    assert levels(factory, GREEN) == [False, True]
    assert wait_for_levels(factory, RELAY, 3) == [False, True, False]


def test_under_the_default_policy_a_wrong_mask_is_not_ok(factory: MockFactory, make_door) -> None:
    door = make_door(buzzer_beeps=1)
    confirm(door, (LEFT, MASK_INCORRECT))
    assert levels(factory, RED) == [False, True]
    assert wait_for_levels(factory, BUZZER, 3) == [False, True, False]
    door.alerts.close()
    assert levels(factory, GREEN) == [False]
    assert levels(factory, RELAY) == [False]


def test_a_masked_person_who_stepped_out_while_waiting_is_not_let_in_on_return(factory: MockFactory, make_door) -> None:
    door = make_door()
    confirm(door, (LEFT, NO_MASK), (RIGHT, MASK))  # the masked one waits: a bare face is in view
    assert [d.label for d in door.decisions] == [NO_MASK, MASK]
    door.frame((LEFT, NO_MASK))  # the masked one steps out of view: stops waiting
    confirm(door, (RIGHT, MASK), frames=2)  # back (the same track) once the bare one has gone
    assert {d.track for d in door.decisions} == {1, 2}
    assert levels(factory, GREEN) == [False, True], "the masked person is back in view, alone"
    door.alerts.close()
    assert levels(factory, RELAY) == [False], "their wait ended when they left; no new decision, no opening"
