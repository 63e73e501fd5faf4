"""GPIO alerts through gpiozero: green and red LEDs, a buzzer pattern and a door-strike relay.

The LEDs follow the door's state frame by frame (confirmed faces only). The buzzer sounds on a confirmed
bare face (a first decision or a correction), at most once per track within `cooldown` seconds. The relay
opens at most once per person (track), and only while that person's latest confirmed label lets them in: a
correction to a bare face before the door opened cancels it. It never opens while a bare face is also
confirmed in view: a masked person waits until it has gone. Every output is driven to its off level on
close, which `maskgate run` reaches on exit, on SIGTERM and on an unhandled error.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.config import ALERT_PINS, AlertsConfig
from edge.errors import SetupError
from edge.outputs import Output
from edge.vision.labels import DEFAULT_POLICY, DoorState, LabelPolicy
from edge.vision.types import Decision, Frame, TrackedFace

if TYPE_CHECKING:
    from edge.vision.stats import LoopStats

log = logging.getLogger(__name__)

BUZZER_ALERT = "buzzer"
RELAY_MEMORY = 256
"""Track ids are never reused; one that many openings old has long left the door."""


class AlertsError(SetupError, OSError):
    pass


def pin_factory_named(name: str) -> Any:
    """A gpiozero pin factory by its registered name (the names GPIOZERO_PIN_FACTORY takes); "" = None,
    which lets gpiozero pick its default from the environment."""
    if not name:
        return None
    from importlib.metadata import entry_points

    for entry in entry_points(group="gpiozero_pin_factories"):
        if entry.name == name:
            try:
                return entry.load()()
            except Exception as exc:  # each backend fails in its own way off a Pi (ImportError, OSError, ...)
                raise AlertsError(f"alerts.pin_factory: gpiozero pin factory {name!r} is unusable here: {exc}") from exc
    raise AlertsError(f"alerts.pin_factory: gpiozero has no pin factory named {name!r}")


class GpioAlerts(Output):
    name = "alerts"

    def __init__(
        self,
        config: AlertsConfig,
        pin_factory: Any = None,
        clock: Callable[[], float] = time.monotonic,
        policy: LabelPolicy = DEFAULT_POLICY,
    ) -> None:
        self.config = config
        self.policy = policy
        self._clock = clock
        self._last_alert: dict[tuple[int, str], float] = {}
        self._relay_waiting: set[int] = set()
        self._relay_opened: OrderedDict[int, None] = OrderedDict()
        """Tracks the relay opened for (the newest RELAY_MEMORY of them): never again for the same person."""
        self._status: DoorState | None = None
        self.devices: dict[str, Any] = {}
        if not any(getattr(config, key) for key in ALERT_PINS):
            return
        factory = pin_factory if pin_factory is not None else pin_factory_named(config.pin_factory)
        try:
            self._open_devices(factory)
        except AlertsError:
            self.close()
            raise
        log.info(
            "GPIO alerts on %s (pin factory %s)",
            ", ".join(f"{k}=BCM{getattr(config, k)}" for k in self.devices),
            type(next(iter(self.devices.values())).pin_factory).__name__,
        )

    def _open_devices(self, factory: Any) -> None:
        from gpiozero import LED, Buzzer, DigitalOutputDevice
        from gpiozero.exc import BadPinFactory, GPIOZeroError, PinFactoryFallback

        c = self.config
        makers = {
            "green_led": lambda pin: LED(pin, pin_factory=factory),
            "red_led": lambda pin: LED(pin, pin_factory=factory),
            "buzzer": lambda pin: Buzzer(pin, pin_factory=factory),
            "relay": lambda pin: DigitalOutputDevice(
                pin, active_high=c.relay_active_high, initial_value=False, pin_factory=factory
            ),
        }
        for key in ALERT_PINS:
            pin = getattr(c, key)
            if not pin:
                continue
            try:
                with warnings.catch_warnings():  # one warning per backend tried; the outcome is logged below
                    warnings.simplefilter("ignore", PinFactoryFallback)
                    self.devices[key] = makers[key](pin)
            except BadPinFactory as exc:
                raise AlertsError(
                    f"alerts.{key}: no GPIO pin factory works here ({exc}); on a Pi install python3-lgpio, "
                    'elsewhere set alerts.pin_factory = "mock" or GPIOZERO_PIN_FACTORY=mock to run without GPIO'
                ) from exc
            except (GPIOZeroError, OSError) as exc:
                raise AlertsError(f"alerts.{key}: cannot drive BCM {pin}: {exc}") from exc

    def _cooled_down(self, track: int, kind: str) -> bool:
        """True unless this track raised this kind of alert within the cooldown."""
        now = self._clock()
        self._last_alert = {key: t for key, t in self._last_alert.items() if now - t < self.config.cooldown}
        if (track, kind) in self._last_alert:
            log.debug("track %d: %s alert suppressed by the cooldown", track, kind)
            return False
        return True

    def _record(self, track: int, kind: str) -> None:
        self._last_alert[(track, kind)] = self._clock()

    def on_decision(self, decision: Decision) -> None:
        if self.policy.lets_in(decision.label):
            if "relay" in self.devices and decision.track not in self._relay_opened:
                self._relay_waiting.add(decision.track)  # opened in on_frame, once the whole frame is known
            return
        self._relay_waiting.discard(decision.track)
        if "buzzer" in self.devices and self._cooled_down(decision.track, BUZZER_ALERT):
            self._record(decision.track, BUZZER_ALERT)
            c = self.config
            log.info("track %d confirmed %s: buzzer", decision.track, decision.label)
            self.devices["buzzer"].beep(on_time=c.buzzer_on, off_time=c.buzzer_off, n=c.buzzer_beeps)

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
        status = self.policy.door_state(face.decision for face in faces)
        if status != self._status:
            log.info("door status %s -> %s", self._status or "idle", status or "idle")
            self._status = status
            self._set("green_led", status in (DoorState.OK, DoorState.WARN))
            self._set("red_led", status is DoorState.NOT_OK)
        if self._relay_waiting:
            let_in = {face.track for face in faces if face.decision is not None and self.policy.lets_in(face.decision)}
            self._open_door(frame.id, status, let_in)

    def _open_door(self, frame_id: str, status: DoorState | None, masked_in_view: set[int]) -> None:
        """Pulse the relay for the masked tracks waiting for it; while a bare face is also in view they keep
        waiting, and a track that leaves stops waiting."""
        self._relay_waiting &= masked_in_view
        if not self._relay_waiting or status not in (DoorState.OK, DoorState.WARN):
            return
        for track in self._relay_waiting:
            self._relay_opened[track] = None
        while len(self._relay_opened) > RELAY_MEMORY:
            self._relay_opened.popitem(last=False)
        log.info("frame %s: relay open for %.1f s", frame_id, self.config.relay_seconds)
        self.devices["relay"].blink(on_time=self.config.relay_seconds, off_time=0, n=1)
        self._relay_waiting.clear()

    def _set(self, key: str, on: bool) -> None:
        device = self.devices.get(key)
        if device is None:
            return
        if on:
            device.on()
        else:
            device.off()

    def states(self) -> dict[str, int]:
        """Each output's state read back from its pin: 1 = on (lit, sounding, door open), whatever the polarity."""
        return {key: int(device.value) for key, device in self.devices.items() if not device.closed}

    def close(self) -> None:
        """Every output to its off level, then release the pins. Safe to call twice."""
        for key, device in self.devices.items():
            try:
                if not device.closed:
                    device.off()
            except Exception:
                log.exception("could not switch off %s", key)
        if self.devices:
            log.info("GPIO outputs off: %s", " ".join(f"{k}={v}" for k, v in self.states().items()))
        for device in self.devices.values():
            try:
                device.close()
            except Exception:
                log.exception("could not release %s", device)
        self.devices = {}


def switch_off(config: AlertsConfig) -> None:
    """Claim every configured output at its off level and release it: after a crash or a watchdog kill, when
    close() never ran (the unit's ExecStopPost)."""
    GpioAlerts(config).close()
