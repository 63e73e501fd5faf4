"""MQTT output: every confirmed decision as JSON on PREFIX/DEVICE/event (QoS 1), a retained online/offline
state with a Last Will, and Home Assistant MQTT discovery for a bare-face binary sensor and two counters.

Events go through the on-disk outbox (edge.outbox): `on_decision` only writes to SQLite and wakes the
sender thread, so the frame loop never waits for the network. paho's network loop runs in its own
thread (loop_start) and reconnects by itself. The sender hands at most WINDOW events to paho at a time
and deletes each from the outbox when its PUBACK arrives; paho retransmits unacknowledged events after
a reconnect, and new events wait until those are acknowledged, so delivery stays in order. QoS 1 is
at-least-once: an event in flight when the connection drops may arrive twice; its `event_id` tells.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import socket
import ssl
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from edge import __version__
from edge.config import ConfigError
from edge.labels import DEFAULT_POLICY, MASK, MASK_INCORRECT, NO_MASK, LabelPolicy
from edge.outbox import Outbox
from edge.outputs import Output

if TYPE_CHECKING:
    from edge.config import MqttConfig
    from edge.stats import LoopStats
    from edge.types import Decision, Frame, TrackedFace

log = logging.getLogger(__name__)

WINDOW = 32
"""Most events handed to paho and not yet acknowledged."""
BARE_FACE_HOLD_SECONDS = 2.0
"""The bare-face sensor stays ON this long after the last bare face left the picture."""
TICK_SECONDS = 1.0
SILENT_BROKER_SECONDS = 15.0
"""A broker that took the TCP connection but sent no CONNACK for this long is reported (once per outage)."""
TOPIC_PREFIX_PATTERN = re.compile(r"^[^+#\x00]+$")
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
COUNT_TITLES = {MASK: "Masked faces", NO_MASK: "Bare faces", MASK_INCORRECT: "Masks worn wrong"}
ONLINE, OFFLINE = "online", "offline"


class _NotConnectedNoise(logging.Filter):
    """paho 2.2 logs "Client is not connected" at ERROR each time its loop runs without a socket (every
    outage, every clean stop); our own lines already say when the broker is away."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client is not connected")


PAHO_LOG = logging.getLogger(f"{__name__}.paho")
PAHO_LOG.addFilter(_NotConnectedNoise())


@dataclass(frozen=True, slots=True)
class Broker:
    host: str
    port: int
    tls: bool
    username: str

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker(url: str) -> Broker:
    """mqtt://[USER@]HOST[:PORT] or mqtts://...; a password in the URL is refused (it would show in `ps`)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"mqtt.broker: {url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"mqtt.broker: {url!r} is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    if parts.password is not None:
        raise ConfigError("mqtt.broker: put the password in mqtt.password_file or mqtt.password_env, not in the URL")
    return Broker(parts.hostname, port or DEFAULT_PORTS[parts.scheme], parts.scheme == "mqtts", parts.username or "")


def resolve_device_id(device_id: str) -> str:
    if not device_id:
        device_id = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "maskgate"
    if not DEVICE_ID_PATTERN.match(device_id):
        raise ConfigError(f"mqtt.device_id: {device_id!r} may hold only letters, digits, _ and - (1 to 64)")
    return device_id


def read_password(config: MqttConfig) -> str | None:
    """The password from mqtt.password_file, else from the environment variable mqtt.password_env, else None."""
    if config.password_file:
        path = Path(config.password_file).expanduser()
        try:
            return path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"mqtt.password_file: cannot read {path}: {getattr(exc, 'strerror', exc)}") from None
    if config.password_env:
        return os.environ.get(config.password_env)
    return None


def default_outbox_path() -> Path:
    """systemd's StateDirectory= when running as the service, else the user's state directory."""
    if state := os.environ.get("STATE_DIRECTORY"):
        return Path(state.split(":")[0]) / "outbox.sqlite3"
    from platformdirs import user_state_dir

    return Path(user_state_dir("maskgate")) / "outbox.sqlite3"


def tls_context(config: MqttConfig) -> ssl.SSLContext:
    for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
        value = getattr(config, key)
        if value and not Path(value).expanduser().is_file():
            raise ConfigError(f"mqtt.{key}: {value} is not a file")
    if bool(config.tls_cert_file) != bool(config.tls_key_file):
        raise ConfigError("mqtt.tls_cert_file and mqtt.tls_key_file go together: set both or neither")
    try:
        cafile = str(Path(config.tls_ca_file).expanduser()) if config.tls_ca_file else None
        context = ssl.create_default_context(cafile=cafile)
        if config.tls_cert_file:
            context.load_cert_chain(Path(config.tls_cert_file).expanduser(), Path(config.tls_key_file).expanduser())
    except ssl.SSLError as exc:
        raise ConfigError(f"mqtt TLS files ({config.tls_ca_file or 'system CAs'}): {exc}") from None
    return context


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
        drain_timeout: float = 5.0,
        reconnect_delays: tuple[float, float] = (1.0, 30.0),
        labels: tuple[str, ...] = (MASK, NO_MASK),
        policy: LabelPolicy = DEFAULT_POLICY,
    ) -> None:
        import paho.mqtt.client as mqtt

        self.labels, self.policy = labels, policy

        self.broker = parse_broker(config.broker)
        self.device_id = resolve_device_id(config.device_id)
        username = config.username or self.broker.username
        password = read_password(config)
        if password is not None and not username:
            raise ConfigError("mqtt: a password is given but mqtt.username is empty")
        if not self.broker.tls and (config.tls_ca_file or config.tls_cert_file):
            raise ConfigError(f"mqtt.tls_*: TLS files are set but mqtt.broker {config.broker!r} is not mqtts://")
        context = tls_context(config) if self.broker.tls else None
        for key in ("topic_prefix", "discovery_prefix") if config.discovery else ("topic_prefix",):
            value = getattr(config, key)
            if not TOPIC_PREFIX_PATTERN.match(value):
                raise ConfigError(f"mqtt.{key}: {value!r} must be a non-empty topic without + or #")
        root = f"{config.topic_prefix.strip('/')}/{self.device_id}"
        self.topics = {name: f"{root}/{name}" for name in ("event", "state", "counts", "bare_face")}
        self._discovery_prefix = config.discovery_prefix.strip("/") if config.discovery else ""
        self.drain_timeout = drain_timeout
        outbox_path = Path(config.outbox).expanduser() if config.outbox else default_outbox_path()
        self.outbox = Outbox(outbox_path, config.outbox_max, fsync=config.outbox_fsync)

        self._events: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self._status_lock = threading.Lock()
        self._counts = dict.fromkeys(labels, 0)
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
        with self._status_lock:
            self._counts[decision.label] = self._counts.get(decision.label, 0) + 1
        self._events.put(("queued", None))

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
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
            self._connected, self._unreachable = False, True
            self._resending = bool(self._handed)
            self._waiting_since = time.monotonic()
        elif kind == "unreachable":
            self._unreachable, self._waiting_since = True, None
            text = str(value) if value else "connection failed"
            if text != self._problem_logged:
                self._problem_logged = text
                log.warning(
                    "MQTT: cannot connect to %s: %s; retrying, events are kept in %s",
                    self.broker,
                    text,
                    self.outbox.path,
                )

    def _on_connect(self, reason: object) -> None:
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
                for topic, payload in self.discovery_messages().items():
                    self._client.publish(topic, json.dumps(payload), qos=1, retain=True)
            self._sent_counts = self._sent_bare_face = None
        with self._status_lock:
            counts = dict(self._counts)
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

    def discovery_messages(self) -> dict[str, dict[str, object]]:
        """Home Assistant MQTT discovery: a bare-face binary sensor and counters of both decisions."""
        node = f"maskgate_{self.device_id}"
        common = {
            "availability_topic": self.topics["state"],
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": {
                "identifiers": [node],
                "name": f"MaskGate {self.device_id}",
                "manufacturer": "MaskGate",
                "model": "MaskGate door",
                "sw_version": __version__,
            },
        }
        prefix = self._discovery_prefix
        messages: dict[str, dict[str, object]] = {
            f"{prefix}/binary_sensor/{node}/bare_face/config": {
                "name": "Bare face detected",
                "unique_id": f"{node}_bare_face",
                "state_topic": self.topics["bare_face"],
                "payload_on": "ON",
                "payload_off": "OFF",
                "icon": "mdi:emoticon-outline",
                **common,
            }
        }
        for label in self.labels:
            title = COUNT_TITLES.get(label, f"Faces labelled {label}")
            messages[f"{prefix}/sensor/{node}/{label}_count/config"] = {
                "name": title,
                "unique_id": f"{node}_{label}_count",
                "state_topic": self.topics["counts"],
                "value_template": f"{{{{ value_json.{label} }}}}",
                "state_class": "total_increasing",
                "icon": "mdi:counter",
                **common,
            }
        return messages

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


def build_publisher(
    config: MqttConfig, labels: tuple[str, ...] = (MASK, NO_MASK), policy: LabelPolicy = DEFAULT_POLICY
) -> MqttPublisher:
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        raise ConfigError("mqtt.broker is set but paho-mqtt is not installed: pip install 'maskgate[mqtt]'") from None
    return MqttPublisher(config, labels=labels, policy=policy)
