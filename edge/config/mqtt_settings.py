"""What the [mqtt] settings mean (broker URL, device id, password, TLS context, outbox path) and their rules,
which edge.config.checks runs with every other rule before anything starts. Standard library only."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from edge.config.problems import ConfigError, Problem, readable_problem, secret_problem

if TYPE_CHECKING:
    from edge.config.schema import MqttConfig

TOPIC_PREFIX_PATTERN = re.compile(r"^[^+#\x00]+$")
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
TLS_FILES = ("tls_ca_file", "tls_cert_file", "tls_key_file")
ONLINE, OFFLINE = "online", "offline"
"""Payloads of the retained state topic; Home Assistant reads them as the door's availability."""


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
    """mqtt.device_id, or the host name made fit for topics."""
    return device_id or re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "maskgate"


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
    """The system CAs, or mqtt.tls_ca_file, and the client certificate if one is set (files checked by problems)."""
    try:
        cafile = str(Path(config.tls_ca_file).expanduser()) if config.tls_ca_file else None
        context = ssl.create_default_context(cafile=cafile)
        if config.tls_cert_file:
            context.load_cert_chain(Path(config.tls_cert_file).expanduser(), Path(config.tls_key_file).expanduser())
    except ssl.SSLError as exc:
        raise ConfigError(f"mqtt TLS files ({config.tls_ca_file or 'system CAs'}): {exc}") from None
    return context


def problems(config: MqttConfig) -> Iterator[Problem]:
    """Every rule of [mqtt]; checked only when mqtt.broker turns MQTT on."""
    if not config.broker:
        return
    if importlib.util.find_spec("paho") is None:
        yield Problem("mqtt.broker", "is set but paho-mqtt is not installed; fix: pip install 'maskgate[mqtt]'")
    try:
        broker = parse_broker(config.broker)
    except ConfigError as exc:
        yield Problem("mqtt.broker", str(exc).removeprefix("mqtt.broker: "))
        broker = None
    if config.device_id and not DEVICE_ID_PATTERN.match(config.device_id):
        yield Problem("mqtt.device_id", f"{config.device_id!r} may hold only letters, digits, _ and - (1 to 64)")
    for key in ("topic_prefix", "discovery_prefix") if config.discovery else ("topic_prefix",):
        value = getattr(config, key)
        if not TOPIC_PREFIX_PATTERN.match(value):
            yield Problem(f"mqtt.{key}", f"{value!r} must be a non-empty topic without + or #")
    yield from _password_problems(config, broker)
    yield from _tls_problems(config, broker)


def _password_problems(config: MqttConfig, broker: Broker | None) -> Iterator[Problem]:
    if config.password_file:
        path = Path(config.password_file).expanduser()
        problem = readable_problem("mqtt.password_file", path) or secret_problem("mqtt.password_file", path)
        if problem:
            yield problem
            return
    try:
        password = read_password(config)
    except ConfigError as exc:
        yield Problem("mqtt.password_file", str(exc).removeprefix("mqtt.password_file: "))
        return
    if password is not None and not config.username and not (broker and broker.username):
        yield Problem("mqtt.username", "is empty but a password is given (mqtt.password_file or mqtt.password_env)")


def _tls_problems(config: MqttConfig, broker: Broker | None) -> Iterator[Problem]:
    if broker and not broker.tls:
        for key in TLS_FILES:
            if getattr(config, key):
                yield Problem(f"mqtt.{key}", f"TLS file set but mqtt.broker {config.broker!r} is not mqtts://")
        return
    for key in TLS_FILES:
        if value := getattr(config, key):
            path = Path(value).expanduser()
            if problem := readable_problem(f"mqtt.{key}", path):
                yield problem
    if bool(config.tls_cert_file) != bool(config.tls_key_file):
        yield Problem("mqtt.tls_key_file", "mqtt.tls_cert_file and mqtt.tls_key_file go together: set both or neither")
    elif config.tls_key_file and (problem := secret_problem("mqtt.tls_key_file", Path(config.tls_key_file))):
        yield problem
