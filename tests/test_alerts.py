"""GPIO alerts on gpiozero's MockFactory: pin-state histories for each scenario, driven by the real tracker."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge.config import AlertsConfig, ConfigError, TrackerConfig, from_dict
from edge.outputs.alerts import AlertsError, GpioAlerts
from edge.vision.labels import MASK, NO_MASK
from edge.vision.stats import LoopStats
from edge.vision.tracker import Tracker
from edge.vision.types import Face, Frame, TrackedFace

GREEN, RED, BUZZER, RELAY = 17, 27, 22, 23
PINS = {"green_led": GREEN, "red_led": RED, "buzzer": BUZZER, "relay": RELAY}
LEFT, RIGHT = (100.0, 100.0, 200.0, 220.0), (400.0, 100.0, 500.0, 220.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Door:
    """The real tracker and the alerts output, called in the pipeline's order: decisions, then the frame."""

    def __init__(self, factory: MockFactory, **overrides: object) -> None:
        settings = {**PINS, "buzzer_on": 0.01, "buzzer_off": 0.01, "relay_seconds": 0.05, "cooldown": 30.0}
        self.clock = FakeClock()
        self.alerts = GpioAlerts(AlertsConfig(**{**settings, **overrides}), pin_factory=factory, clock=self.clock)
        self.tracker = Tracker(TrackerConfig(iou_threshold=0.3, vote_window=5, vote_min=3, max_missed=2))
        self.frame_number = 0
        self.decisions = []

    def frame(self, *people: tuple[tuple[float, float, float, float], str]) -> list[TrackedFace]:
        self.frame_number += 1
        faces = [Face(box, 0.9) for box, _ in people]
        labels = [label for _, label in people]
        tracked, decisions = self.tracker.update(
            str(self.frame_number), self.clock(), faces, labels, [0.95] * len(faces)
        )
        for decision in decisions:
            self.decisions.append(decision)
            self.alerts.on_decision(decision)
        self.alerts.on_frame(Frame(str(self.frame_number), self.clock(), None), tracked, LoopStats())
        return tracked


@pytest.fixture
def factory() -> MockFactory:
    factory = MockFactory()
    yield factory
    factory.reset()
    factory.close()


@pytest.fixture
def make_door(factory: MockFactory):
    doors: list[Door] = []

    def make(**overrides: object) -> Door:
        doors.append(Door(factory, **overrides))
        return doors[-1]

    yield make
    for door in doors:
        door.alerts.close()


def levels(factory: MockFactory, pin: int) -> list[bool]:
    return [state.state for state in factory.pin(pin).states]


def wait_for_levels(factory: MockFactory, pin: int, count: int) -> list[bool]:
    """Background patterns (beeps, the relay pulse) run in gpiozero threads: wait until they have finished."""
    deadline = time.monotonic() + 10
    while len(levels(factory, pin)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return levels(factory, pin)


def test_confirmed_mask_lights_green_and_pulses_the_relay_once(factory: MockFactory, make_door) -> None:
    door = make_door()
    for _ in range(8):
        door.frame((LEFT, MASK))
    assert [d.label for d in door.decisions] == [MASK]
    assert levels(factory, GREEN) == [False, True]
    assert wait_for_levels(factory, RELAY, 3) == [False, True, False]
    assert levels(factory, RED) == [False]
    assert levels(factory, BUZZER) == [False]


def test_the_green_led_waits_for_the_vote(factory: MockFactory, make_door) -> None:
    door = make_door()
    door.frame((LEFT, MASK))
    door.frame((LEFT, MASK))
    assert levels(factory, GREEN) == [False], "two of five votes must not confirm"
    door.frame((LEFT, MASK))
    assert levels(factory, GREEN) == [False, True]


def test_confirmed_bare_face_lights_red_and_sounds_the_buzzer_pattern(factory: MockFactory, make_door) -> None:
    door = make_door(buzzer_beeps=3)
    for _ in range(8):
        door.frame((LEFT, NO_MASK))
    assert levels(factory, RED) == [False, True]
    assert wait_for_levels(factory, BUZZER, 7) == [False, True, False, True, False, True, False]
    assert levels(factory, GREEN) == [False]
    assert levels(factory, RELAY) == [False]


def test_the_leds_go_dark_when_the_person_leaves(factory: MockFactory, make_door) -> None:
    door = make_door()
    for _ in range(4):
        door.frame((LEFT, NO_MASK))
    for _ in range(5):
        door.frame()
    assert levels(factory, RED) == [False, True, False]


def test_flicker_of_single_bare_frames_raises_no_alert(factory: MockFactory, make_door) -> None:
    door = make_door()
    for label in [MASK, NO_MASK, MASK, MASK, NO_MASK, MASK, MASK, NO_MASK, MASK, MASK]:
        door.frame((LEFT, label))
    door.frame((RIGHT, NO_MASK))  # a face glimpsed for two frames: never confirmed
    door.frame((RIGHT, NO_MASK))
    assert [d.label for d in door.decisions] == [MASK]
    assert levels(factory, RED) == [False]
    assert levels(factory, BUZZER) == [False]
    assert levels(factory, GREEN) == [False, True, False], "on for the masked person, off once they are gone"


def bare_masked_bare(door: Door, pause: float = 0.0) -> None:
    """One person: bare face, puts a mask on (the door opens), takes it off again `pause` seconds later."""
    for _ in range(5):
        door.frame((LEFT, NO_MASK))
    wait_for_levels(door.alerts.devices["buzzer"].pin_factory, BUZZER, 3)
    for _ in range(5):
        door.frame((LEFT, MASK))
    door.clock.now += pause
    for _ in range(5):
        door.frame((LEFT, NO_MASK))
    assert [d.label for d in door.decisions] == [NO_MASK, MASK, NO_MASK]
    assert {d.track for d in door.decisions} == {1}


def test_cooldown_one_alert_per_person(factory: MockFactory, make_door) -> None:
    door = make_door(buzzer_beeps=1, cooldown=30.0)
    bare_masked_bare(door, pause=5.0)
    door.alerts.close()  # joins any pattern thread, so a second buzz would show in the history
    assert levels(factory, BUZZER) == [False, True, False]
    assert levels(factory, RELAY) == [False, True, False]


def test_after_the_cooldown_the_same_person_alerts_again(factory: MockFactory, make_door) -> None:
    door = make_door(buzzer_beeps=1, cooldown=30.0)
    bare_masked_bare(door, pause=31.0)
    assert wait_for_levels(factory, BUZZER, 5) == [False, True, False, True, False]


def test_cooldown_is_per_track(factory: MockFactory, make_door) -> None:
    door = make_door(buzzer_beeps=1, cooldown=30.0)
    for _ in range(4):
        door.frame((LEFT, NO_MASK))
    assert wait_for_levels(factory, BUZZER, 3) == [False, True, False]
    for _ in range(4):
        door.frame((LEFT, NO_MASK), (RIGHT, NO_MASK))
    assert {d.track for d in door.decisions} == {1, 2}
    assert wait_for_levels(factory, BUZZER, 5) == [False, True, False, True, False]


def test_the_relay_waits_while_a_bare_face_is_in_view(factory: MockFactory, make_door) -> None:
    door = make_door(relay_seconds=30.0)
    for _ in range(4):
        door.frame((LEFT, NO_MASK))
    for _ in range(4):
        door.frame((LEFT, NO_MASK), (RIGHT, MASK))
    assert [d.label for d in door.decisions] == [NO_MASK, MASK]
    assert levels(factory, RELAY) == [False], "no door opening with a bare face beside the masked one"
    assert levels(factory, GREEN) == [False], "red wins while any confirmed bare face is in view"
    for _ in range(6):  # the bare face leaves; the masked person is still there
        door.frame((RIGHT, MASK))
    door.alerts.close()
    assert levels(factory, RELAY) == [False, True, False], "opened once, then switched off by close()"


def test_a_masked_person_who_leaves_before_the_bare_one_opens_nothing(factory: MockFactory, make_door) -> None:
    door = make_door()
    for _ in range(4):
        door.frame((LEFT, NO_MASK), (RIGHT, MASK))
    for _ in range(6):
        door.frame((LEFT, NO_MASK))
    for _ in range(6):
        door.frame()
    door.alerts.close()
    assert levels(factory, RELAY) == [False]


def test_close_switches_everything_off_mid_pattern(factory: MockFactory, make_door) -> None:
    door = make_door(buzzer_on=30.0, buzzer_off=30.0, relay_seconds=30.0, cooldown=0.0)
    for _ in range(4):
        door.frame((LEFT, NO_MASK))
    for _ in range(6):  # a correction takes tracker.change_min (5) votes
        door.frame((LEFT, MASK))
    door.frame()
    for _ in range(6):
        door.frame((RIGHT, NO_MASK))
    assert factory.pin(RED).state and factory.pin(BUZZER).state and factory.pin(RELAY).state
    door.alerts.close()
    for pin in PINS.values():
        assert factory.pin(pin).state is False, f"BCM {pin} left on"
    door.alerts.close()  # twice is harmless


def test_an_active_low_relay_is_off_when_high(factory: MockFactory, make_door) -> None:
    door = make_door(relay_active_high=False, relay_seconds=30.0)
    assert levels(factory, RELAY) == [False, True], "claimed at its off level"
    for _ in range(4):
        door.frame((LEFT, MASK))
    assert factory.pin(RELAY).state is False, "open = low"
    door.alerts.close()
    assert levels(factory, RELAY) == [False, True, False, True]


def test_unused_outputs_claim_no_pins(factory: MockFactory) -> None:
    alerts = GpioAlerts(AlertsConfig(red_led=RED), pin_factory=factory)
    assert list(alerts.devices) == ["red_led"]
    assert len(factory.pins) == 1
    alerts.close()
    assert not GpioAlerts(AlertsConfig(), pin_factory=factory).devices


def test_pin_factory_by_name_from_the_config() -> None:
    alerts = GpioAlerts(AlertsConfig(green_led=GREEN, pin_factory="mock"))
    try:
        assert type(alerts.devices["green_led"].pin_factory).__name__ == "MockFactory"
    finally:
        alerts.close()


def test_a_pin_used_twice_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"alerts\.buzzer: BCM 17 is already used by alerts\.green_led"):
        from_dict({"alerts": {"green_led": 17, "buzzer": 17}})


def test_a_busy_pin_is_a_clear_error(factory: MockFactory) -> None:
    first = GpioAlerts(AlertsConfig(red_led=RED), pin_factory=factory)
    try:
        with pytest.raises(AlertsError, match=r"alerts\.red_led: cannot drive BCM 27"):
            GpioAlerts(AlertsConfig(green_led=GREEN, red_led=RED), pin_factory=factory)
    finally:
        first.close()
    assert factory.pin(GREEN).function == "input", "the pins claimed before the failure are released"


@pytest.mark.parametrize("crash", [True, False], ids=["unhandled-error", "source-ends"])
def test_maskgate_run_leaves_every_output_off(
    crash: bool,
    model_env: Path,
    default_classifier: Path,
    facemask_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real `maskgate run` (detector, classifier, tracker) on a real bare face; then the camera either fails
    with an exception nobody handles or just ends: either way every GPIO output must be left off."""
    import cv2

    from edge import app, cli

    image = cv2.imread(str(facemask_dir / "without_mask" / "chandrikadeb7_1bee6f2399e1.jpg"))
    assert image is not None

    class CrashingCamera:
        live, per_frame_decisions = True, True

        def __iter__(self):
            for number in range(3):
                yield Frame(str(number), time.time(), image)
            if crash:
                raise RuntimeError("camera driver crashed")

        def close(self) -> None:
            pass

    config = tmp_path / "maskgate.toml"
    config.write_text(
        f'[alerts]\ngreen_led = {GREEN}\nred_led = {RED}\n[output]\nevents = "{tmp_path / "events.jsonl"}"\n'
    )
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setattr(app, "build_source", lambda _config: CrashingCamera())
    Device.pin_factory = None
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if crash:
            with pytest.raises(RuntimeError, match="camera driver crashed"):
                cli.main(["run", "--config", str(config)])
        else:
            assert cli.main(["run", "--config", str(config)]) == 0
        factory = Device.pin_factory
        assert isinstance(factory, MockFactory)
        history = {pin: levels(factory, pin) for pin in (GREEN, RED)}
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if Device.pin_factory is not None:
            Device.pin_factory.close()
        Device.pin_factory = None
    lit = [pin for pin, states in history.items() if True in states]
    assert lit, f"a confirmed face should have lit an LED: {history}"
    assert all(states[-1] is False for states in history.values()), history
    assert (tmp_path / "events.jsonl").read_text().count("\n") == 3


def test_switch_off_command_leaves_every_output_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge import cli

    config = tmp_path / "maskgate.toml"
    config.write_text(f"[alerts]\ngreen_led = {GREEN}\nrelay = {RELAY}\nrelay_active_high = false\n")
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    Device.pin_factory = None
    try:
        assert cli.main(["alerts-off", "--config", str(config)]) == 0
        factory = Device.pin_factory
        assert levels(factory, GREEN) == [False]
        assert levels(factory, RELAY) == [False, True], "active-low relay held high = off"
    finally:
        if Device.pin_factory is not None:
            Device.pin_factory.close()
        Device.pin_factory = None


def test_the_relay_opens_once_per_person_however_often_they_are_corrected(factory: MockFactory, make_door) -> None:
    """mask -> corrected to bare -> corrected to mask, beyond the cooldown: one opening, one buzzer alert."""
    door = make_door(cooldown=5.0)
    for label in (MASK, NO_MASK, MASK):
        for _ in range(6):
            door.frame((LEFT, label))
        door.clock.now += 10.0
    assert [(d.label, d.previous) for d in door.decisions] == [(MASK, None), (NO_MASK, MASK), (MASK, NO_MASK)]
    assert {d.track for d in door.decisions} == {1}
    door.alerts.close()
    assert levels(factory, RELAY) == [False, True, False], "opened once, for the first mask decision only"
    assert levels(factory, BUZZER)[:2] == [False, True], "the correction to a bare face sounds the buzzer"


def test_a_correction_to_a_bare_face_cancels_a_waiting_opening(factory: MockFactory, make_door) -> None:
    """A masked person waits while a bare face is in view; corrected to bare meanwhile, the door stays shut."""
    door = make_door()
    for _ in range(4):
        door.frame((LEFT, NO_MASK), (RIGHT, MASK))
    for _ in range(6):
        door.frame((LEFT, NO_MASK), (RIGHT, NO_MASK))
    for _ in range(6):
        door.frame((RIGHT, NO_MASK))
    assert [(d.label, d.previous) for d in door.decisions if d.track == 2] == [(MASK, None), (NO_MASK, MASK)]
    door.alerts.close()
    assert levels(factory, RELAY) == [False]
