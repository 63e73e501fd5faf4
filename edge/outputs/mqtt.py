"""MQTT output, the client: every confirmed decision as JSON on PREFIX/DEVICE/event (QoS 1), a retained
online/offline state with a Last Will, and the Home Assistant discovery messages (edge.outputs.homeassistant).
What the [mqtt] settings mean and their rules: edge.config.mqtt_settings.

Events go through the on-disk outbox (edge.outputs.outbox): `on_decision` only writes to SQLite and wakes the
sender thread, so the frame loop never waits for the network. paho's network loop runs in its own
thread (loop_start) and reconnects by itself. The sender hands at most WINDOW events to paho at a time
and deletes each from the outbox when its PUBACK arrives; paho retransmits unacknowledged events after
a reconnect, and new events wait until those are acknowledged, so delivery stays in order. QoS 1 is
at-least-once: an event in flight when the connection drops may arrive twice; its `event_id` tells.
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge.config.mqtt_settings import (
    OFFLINE,
    ONLINE,
    default_outbox_path,
    parse_broker,
    read_password,
    resolve_device_id,
    tls_context,
)
from edge.outputs import Output
from edge.outputs.homeassistant import discovery_messages
from edge.outputs.outbox import Outbox
from edge.vision.labels import DEFAULT_POLICY, LabelPolicy

if TYPE_CHECKING:
    from edge.config import MqttConfig
    from edge.vision.stats import DecisionCounts, LoopStats
    from edge.vision.types import Decision, Frame, TrackedFace

log = logging.getLogger(__name__)

WINDOW = 32
"""Most events handed to paho and not yet acknowledged."""
BARE_FACE_HOLD_SECONDS = 2.0
"""The bare-face sensor stays ON this long after the last bare face left the picture."""
TICK_SECONDS = 1.0
SILENT_BROKER_SECONDS = 15.0
"""A broker that took the TCP connection but sent no CONNACK for this long is reported (once per outage)."""


class _NotConnectedNoise(logging.Filter):
    """paho 2.2 logs "Client is not connected" at ERROR each time its loop runs without a socket (every
    outage, every clean stop), and "failed to receive on socket" on every retry against a listener that drops the
    connection (a TLS port given as mqtt://); our own lines already say when the broker is away, once."""

    NOISE = ("Client is not connected", "failed to receive on socket")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


PAHO_LOG = logging.getLogger(f"{__name__}.paho")
PAHO_LOG.addFilter(_NotConnectedNoise())


@dataclass(frozen=True, slots=True)
class PublisherStatus:
    connected: bool
    queued: int
    dropped: int
    published: int


class MqttPublisher(Output):
    name = "mqtt"

    def __init__(
        self,
        config: MqttConfig,
        *,
        labels: tuple[str, ...],
        drain_timeout: float = 5.0,
        reconnect_delays: tuple[float, float] = (1.0, 30.0),
        policy: LabelPolicy = DEFAULT_POLICY,
    ) -> None:
        """`labels`: the classifier's (its model card's), each a Home Assistant counter and a key of the counts
        topic from the start; no default that could drift from the model that runs."""
        import paho.mqtt.client as mqtt

        self.labels, self.policy = labels, policy

        # The settings were checked with the whole config (edge.config.mqtt_settings.problems).
        self.broker = parse_broker(config.broker)
        self.device_id = resolve_device_id(config.device_id)
        username = config.username or self.broker.username
        password = read_password(config)
        context = tls_context(config) if self.broker.tls else None
        root = f"{config.topic_prefix.strip('/')}/{self.device_id}"
        self.topics = {name: f"{root}/{name}" for name in ("event", "state", "counts", "bare_face")}
        self._discovery_prefix = config.discovery_prefix.strip("/") if config.discovery else ""
        self.drain_timeout = drain_timeout
        outbox_path = Path(config.outbox).expanduser() if config.outbox else default_outbox_path()
        self.outbox = Outbox(outbox_path, config.outbox_max, fsync=config.outbox_fsync)

        self._events: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self._decisions: DecisionCounts | None = None
        """The loop's counts (LoopStats.decisions), known from the first on_frame; the counts topic shows them."""
        self._decided = False
        self._bare_face = False
        self._bare_face_seen = float("-inf")
        self.bare_face_hold = BARE_FACE_HOLD_SECONDS
        # Only the sender thread writes these:
        self._connected = False
        self._unreachable = False
        self._sent_counts: dict[str, int] | None = None
        self._sent_bare_face: bool | None = None
        self._announce = False
        self._handed: dict[int, int] = {}
        self._last_handed = 0
        self._resending = False
        self._problem_logged: str | None = None
        self._answered = False
        """Whether the broker sent a CONNACK (any answer) on the current connection."""
        self._was_connected = False
        self._waiting_since: float | None = time.monotonic()
        self.silent_after = SILENT_BROKER_SECONDS
        self.published = 0

        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"maskgate-{self.device_id}", clean_session=True
        )
        self._client.enable_logger(PAHO_LOG)
        self._client.max_inflight_messages_set(0)
        self._client.reconnect_delay_set(*reconnect_delays)
        if username:
            self._client.username_pw_set(username, password)
        if context is not None:
            self._client.tls_set_context(context)
        self._client.will_set(self.topics["state"], OFFLINE, qos=1, retain=True)
        self._client.on_connect = lambda _c, _u, _f, reason, _p: self._events.put(("connect", reason))
        self._client.on_disconnect = lambda _c, _u, _f, reason, _p: self._events.put(("disconnect", reason))
        # paho calls on_connect_fail inside its `except OSError`, so the exception says why (refused, TLS, DNS)
        self._client.on_connect_fail = lambda _c, _u: self._events.put(("unreachable", sys.exc_info()[1]))
        self._client.on_publish = lambda _c, _u, mid, _r, _p: self._events.put(("ack", mid))
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=config.keepalive)
        self._sender = threading.Thread(target=self._send_forever, name="mqtt sender", daemon=True)
        self._sender.start()
        self._client.loop_start()
        log.info(
            "MQTT: publishing to %s as %s on %s/# (%d queued in %s)",
            self.broker,
            self.device_id,
            root,
            self.outbox.depth,
            self.outbox.path,
        )

    # --- frame-loop side: never blocks on the network ---

    def on_decision(self, decision: Decision) -> None:
        event = {"device": self.device_id, "event_id": uuid.uuid4().hex, **decision.as_event()}
        self.outbox.put(self.topics["event"], json.dumps(event, separators=(",", ":")).encode())
        self._decided = True
        self._events.put(("queued", None))

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
        self._decisions = stats.decisions
        if self._decided:  # the frame's decisions are counted: the sender publishes the new counts
            self._decided = False
            self._events.put(("status", None))
        now = time.monotonic()
        if any(face.decision is not None and self.policy.is_alarm(face.decision) for face in faces):
            self._bare_face_seen = now
        bare = now - self._bare_face_seen <= self.bare_face_hold
        if bare != self._bare_face:
            self._bare_face = bare
            self._events.put(("status", None))

    def status(self) -> PublisherStatus:
        return PublisherStatus(self._connected, self.outbox.depth, self.outbox.dropped, self.published)

    # --- sender thread ---

    def _send_forever(self) -> None:
        while True:
            try:
                kind, value = self._events.get(timeout=TICK_SECONDS)
            except queue.Empty:
                kind, value = "tick", None  # a periodic pass retries anything a failed pass left behind
            acked: list[int] = []
            try:
                while True:
                    if kind == "stop":
                        self.outbox.delete(acked)
                        return
                    self._handle(kind, value, acked)
                    try:
                        kind, value = self._events.get_nowait()
                    except queue.Empty:
                        break
                self.outbox.delete(acked)
                self._report_silence()
                if self._connected:
                    self._publish_status()
                    self._send_more()
            except Exception:  # a full disk or a broken file must not end the sender; the next event retries
                log.exception("MQTT sender failed; retrying on the next event")
                time.sleep(1.0)

    def _report_silence(self) -> None:
        """paho waits without a word for a CONNACK that a hung broker or a non-MQTT server never sends."""
        if self._connected or self._waiting_since is None:
            return
        waited = time.monotonic() - self._waiting_since
        if waited >= self.silent_after:
            self._waiting_since = None
            self._problem_logged = "silent"
            log.error(
                "MQTT: %s took the connection but has not answered for %.0f s (not an MQTT broker, or hung); "
                "events are kept in %s",
                self.broker,
                waited,
                self.outbox.path,
            )

    def _handle(self, kind: str, value: object, acked: list[int]) -> None:
        if kind == "ack":
            row = self._handed.pop(value, None)
            if row is not None:
                acked.append(row)
                self.published += 1
                self._resending = self._resending and bool(self._handed)
        elif kind == "connect":
            self._on_connect(value)
        elif kind == "disconnect":
            if self._connected:
                log.warning(
                    "MQTT: lost the connection to %s; events are kept in %s until it is back",
                    self.broker,
                    self.outbox.path,
                )
            elif not self._answered and self._problem_logged != "dropped":
                self._problem_logged = "dropped"
                hint = (
                    "a TLS listener? then use mqtts://"
                    if not self.broker.tls
                    else "not an MQTT broker, or it refuses this client"
                )
                log.error(
                    "MQTT: %s took the connection and closed it without answering (%s); retrying quietly, events are "
                    "kept in %s",
                    self.broker,
                    hint,
                    self.outbox.path,
                )
            # closed without a CONNACK: it answered, by closing, so not silent
            self._waiting_since = time.monotonic() if self._answered else None
            self._connected, self._unreachable, self._answered = False, True, False
            self._resending = bool(self._handed)
        elif kind == "unreachable":
            self._unreachable, self._waiting_since = True, None
            text = str(value) if value else "connection failed"
            handshake = isinstance(value, (ConnectionResetError, ssl.SSLError)) and "CERTIFICATE" not in text
            if self.broker.tls and handshake:
                text += " (a plain MQTT listener? then use mqtt://, or the port of the broker's TLS listener)"
            if text != self._problem_logged:
                self._problem_logged = text
                log.warning(
                    "MQTT: cannot connect to %s: %s; retrying, events are kept in %s",
                    self.broker,
                    text,
                    self.outbox.path,
                )

    def _on_connect(self, reason: object) -> None:
        self._answered = True
        if getattr(reason, "is_failure", False):
            self._waiting_since = None  # it answered: not silent
            text = str(reason)
            if text != self._problem_logged:
                self._problem_logged = text
                hint = (
                    "check mqtt.username and the password (mqtt.password_file or mqtt.password_env)"
                    if "authori" in text.lower() or "password" in text.lower()
                    else "check the broker's configuration"
                )
                self._unreachable = True
                log.error(
                    "MQTT: broker %s refused the connection: %s; %s. Retrying; events are kept in %s",
                    self.broker,
                    text,
                    hint,
                    self.outbox.path,
                )
            return
        self._problem_logged = None
        self._connected, self._unreachable, self._announce = True, False, True
        self._waiting_since = None
        log.info(
            "MQTT: %s %s; %d event(s) queued",
            "reconnected to" if self._was_connected else "connected to",
            self.broker,
            self.outbox.depth,
        )
        self._was_connected = True

    def _publish_status(self) -> None:
        if self._announce:
            self._announce = False
            self._client.publish(self.topics["state"], ONLINE, qos=1, retain=True)
            if self._discovery_prefix:
                discovery = discovery_messages(self._discovery_prefix, self.device_id, self.topics, self.labels)
                for topic, payload in discovery.items():
                    self._client.publish(topic, json.dumps(payload), qos=1, retain=True)
            self._sent_counts = self._sent_bare_face = None
        decided = self._decisions.snapshot() if self._decisions is not None else {}
        counts = {**dict.fromkeys(self.labels, 0), **decided}
        if counts != self._sent_counts:
            self._client.publish(self.topics["counts"], json.dumps(counts), qos=1, retain=True)
            self._sent_counts = counts
        bare = self._bare_face
        if bare != self._sent_bare_face:
            self._client.publish(self.topics["bare_face"], "ON" if bare else "OFF", qos=1, retain=True)
            self._sent_bare_face = bare

    def _send_more(self) -> None:
        if self._resending:
            return
        room = WINDOW - len(self._handed)
        if room <= 0:
            return
        for message in self.outbox.after(self._last_handed, room):
            info = self._client.publish(message.topic, message.payload, qos=1)
            self._handed[info.mid] = message.id
            self._last_handed = self.outbox.sending_upto = message.id

    # --- shutdown ---

    def close(self) -> None:
        """Give queued events up to drain_timeout to reach a reachable broker, say offline, and stop.
        Whatever is not acknowledged by then stays in the outbox for the next start."""
        deadline = time.monotonic() + self.drain_timeout
        while self.outbox.depth and not self._unreachable and time.monotonic() < deadline:
            time.sleep(0.02)
        self._events.put(("stop", None))
        self._sender.join(timeout=5)
        if self._connected:
            info = self._client.publish(self.topics["state"], OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError) as exc:
                log.debug("MQTT: offline state not sent: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()
        self.outbox.close()
        if self.outbox.depth:
            log.warning("MQTT: %d event(s) not yet delivered stay in %s", self.outbox.depth, self.outbox.path)


def build_publisher(config: MqttConfig, labels: tuple[str, ...], policy: LabelPolicy = DEFAULT_POLICY) -> MqttPublisher:
    return MqttPublisher(config, labels=labels, policy=policy)
