"""The relay and policy rules of the GPIO alerts, on MockFactory pins and the real tracker: the relay's cooldown
per person, the cooldown's boundary, the "warn" policy (green and the relay for a wrongly worn mask), and a
masked person who leaves while waiting for the relay stops waiting."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge.config import AlertsConfig
from edge.outputs.alerts import RELAY_MEMORY, AlertsError, GpioAlerts
from edge.vision.labels import MASK, MASK_INCORRECT, NO_MASK, LabelPolicy
from edge.vision.stats import LoopStats
from edge.vision.types import Decision, Face, Frame, TrackedFace
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


def held(factory: MockFactory, pin: int) -> list[float]:
    """Seconds each recorded level of the pin was held before the next change (a MockPin's state timestamp is
    the time since the change before it)."""
    return [state.timestamp for state in factory.pin(pin).states[1:]][1:]


def test_the_buzzer_sounds_and_pauses_for_the_configured_times(factory: MockFactory, make_door) -> None:
    """Longer than gpiozero's defaults (1 s each), so a dropped setting shows as a shorter beep or pause
    (the mock pin's timestamps are taken a little apart from gpiozero's waits: 0.1 s of slack)."""
    door = make_door(buzzer_on=1.5, buzzer_off=1.5, buzzer_beeps=2)
    confirm(door, (LEFT, NO_MASK))
    assert wait_for_levels(factory, BUZZER, 5) == [False, True, False, True, False]
    on, off = held(factory, BUZZER)[:2]
    assert on >= 1.4 and off >= 1.4, held(factory, BUZZER)


def test_the_relay_holds_the_door_open_for_relay_seconds(factory: MockFactory, make_door) -> None:
    door = make_door(relay_seconds=1.5)
    confirm(door, (LEFT, MASK))
    assert wait_for_levels(factory, RELAY, 3) == [False, True, False]
    assert held(factory, RELAY)[0] >= 1.4, held(factory, RELAY)


def test_states_reads_every_output_back_while_the_door_is_open(factory: MockFactory, make_door) -> None:
    door = make_door(relay_seconds=30.0)
    confirm(door, (LEFT, MASK))
    assert wait_for_levels(factory, RELAY, 2) == [False, True]
    assert door.alerts.states() == {"green_led": 1, "red_led": 0, "buzzer": 0, "relay": 1}
    door.alerts.close()
    assert door.alerts.states() == {}


def test_the_relay_remembers_the_newest_relay_memory_people(factory: MockFactory) -> None:
    """Each person is let in once; beyond RELAY_MEMORY openings the oldest is forgotten (and could be let in
    again after a correction), the others are still remembered."""
    alerts = GpioAlerts(AlertsConfig(relay=RELAY, relay_seconds=0.001), pin_factory=factory)
    openings = 0

    def decide(track: int, label: str) -> None:
        nonlocal openings
        alerts.on_decision(Decision(str(track), 0.0, track, LEFT, label, 0.9))
        face = TrackedFace(Face(LEFT, 0.9), track, label, 0.9, label)
        alerts.on_frame(Frame(str(track), 0.0, None), [face], LoopStats())
        if len(levels(factory, RELAY)) > 2 * openings + 1:  # a pulse started: wait for it to end
            openings += 1
            assert wait_for_levels(factory, RELAY, 2 * openings + 1)[-1] is False

    try:
        for track in range(1, RELAY_MEMORY + 2):
            decide(track, MASK)
        assert openings == RELAY_MEMORY + 1
        decide(2, NO_MASK)
        decide(2, MASK)
        assert openings == RELAY_MEMORY + 1, "the second-oldest person is still remembered"
        decide(1, NO_MASK)
        decide(1, MASK)
        assert openings == RELAY_MEMORY + 2, "the oldest was forgotten"
    finally:
        alerts.close()


def test_an_unknown_or_unusable_pin_factory_is_a_setup_error_naming_it() -> None:
    with pytest.raises(AlertsError, match=r"alerts\.pin_factory: gpiozero has no pin factory named 'nosuch'"):
        GpioAlerts(AlertsConfig(green_led=GREEN, pin_factory="nosuch"))
    with pytest.raises(AlertsError, match=r"alerts\.pin_factory: gpiozero pin factory 'pigpio' is unusable here: "):
        GpioAlerts(AlertsConfig(green_led=GREEN, pin_factory="pigpio"))  # no pigpio module (or daemon) here


def test_without_any_pin_factory_the_error_says_how_to_run_without_gpio(monkeypatch: pytest.MonkeyPatch) -> None:
    if Path("/proc/device-tree/model").exists():
        pytest.skip("on a Pi a default pin factory loads")
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(Device, "pin_factory", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gpiozero's fallback warnings stay inside; the error says it all
        with pytest.raises(AlertsError) as error:
            GpioAlerts(AlertsConfig(green_led=GREEN))
    assert str(error.value).startswith("alerts.green_led: no GPIO pin factory works here (")
    assert str(error.value).endswith(
        'elsewhere set alerts.pin_factory = "mock" or GPIOZERO_PIN_FACTORY=mock to run without GPIO'
    )


def test_the_buzzer_beeps_exactly_buzzer_beeps_times_and_stops(factory: MockFactory, make_door) -> None:
    door = make_door(buzzer_beeps=3)
    confirm(door, (LEFT, NO_MASK))
    pattern = door.alerts.devices["buzzer"]._blink_thread  # gpiozero's pattern thread: ends after n beeps
    pattern.join(timeout=10)
    assert not pattern.is_alive(), "the buzzer never stops"
    assert levels(factory, BUZZER) == [False, True, False, True, False, True, False]
