"""The TOML configuration: built-in defaults, validated at start-up, overridden by CLI flags.

Each section is a dataclass; field types and `meta(...)` bounds are the schema. Validation is a
few dozen lines over dataclasses rather than pydantic: the schema is flat, and on a Pi Zero the
import of pydantic alone costs more than the rest of start-up.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class ConfigError(ValueError):
    pass


def meta(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass
class SourceConfig:
    uri: str = meta("0", doc="camera index, /dev/videoN, picamera2, video file, stream URL, image or folder")
    width: int = meta(640, 16, 8192, "requested camera width")
    height: int = meta(480, 16, 8192, "requested camera height")
    fps: int = meta(30, 1, 240, "requested camera frame rate")
    reconnect_max_delay: float = meta(30.0, 0.1, 3600, "longest wait between camera reconnect attempts, seconds")


@dataclass
class DetectorConfig:
    type: Literal["yunet", "res10", "ultraface"] = meta("yunet", doc="face detector backend")
    model: str = meta("", doc="explicit model file; empty searches the model directories")
    input_size: int = meta(320, 64, 2048, "yunet: longest side fed to the detector; res10: square input")
    score_threshold: float = meta(0.6, 0.0, 1.0, "minimum face score")
    nms_threshold: float = meta(0.3, 0.0, 1.0, "overlap above which boxes are merged")
    min_face_size: int = meta(20, 1, 4096, "smaller faces (pixels) are ignored")
    max_faces: int = meta(32, 1, 1000, "most faces classified per frame (highest scores kept)")


@dataclass
class ClassifierConfig:
    model: str = meta("", doc="explicit .tflite; empty uses the model directories, then the packaged default")
    num_threads: int = meta(2, 1, 64, "interpreter threads")
    batch: bool = meta(False, doc="invoke once for all faces of a frame instead of once per face")
    backend: Literal["auto", "ai-edge-litert", "tflite-runtime", "tensorflow"] = meta("auto", doc="TFLite runtime")


@dataclass
class TrackerConfig:
    iou_threshold: float = meta(0.3, 0.01, 1.0, "minimum overlap to continue a track")
    vote_window: int = meta(5, 1, 100, "last n frames of a track that vote")
    vote_min: int = meta(3, 1, 100, "k votes for one label confirm it")
    max_missed: int = meta(15, 0, 10000, "frames a track survives without a matching face")


@dataclass
class OutputConfig:
    display: Literal["none", "window"] = meta("none", doc="show annotated frames in a window")
    record: str = meta("", doc="video file (.mp4/.avi) or directory for annotated frames; empty = off")
    events: str = meta("", doc="JSON-lines event log file, '-' for stdout; empty = off")


@dataclass
class ModelsConfig:
    dir: str = meta("", doc="model directory searched before $MASKGATE_MODEL_DIR and the defaults")


@dataclass
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = meta("INFO", doc="log level")


@dataclass
class MqttConfig:
    broker: str = meta("", doc="broker URL: mqtt://HOST[:PORT], or mqtts://HOST[:PORT] for TLS; empty = MQTT off")
    device_id: str = meta("", doc="this door in topics and Home Assistant (letters, digits, _, -); empty = host name")
    topic_prefix: str = meta("maskgate", doc="topics are PREFIX/DEVICE_ID/event, /state, /counts and /bare_face")
    username: str = meta("", doc="broker user name; empty = anonymous")
    password_file: str = meta("", doc="file whose first line is the broker password; read before password_env")
    password_env: str = meta("MASKGATE_MQTT_PASSWORD", doc="environment variable holding the broker password")
    tls_ca_file: str = meta("", doc="mqtts: CA certificate (PEM) that signed the broker's; empty = the system CAs")
    tls_cert_file: str = meta("", doc="mqtts: client certificate (PEM), for brokers that require one")
    tls_key_file: str = meta("", doc="mqtts: the client certificate's private key (PEM)")
    keepalive: int = meta(30, 5, 3600, "seconds between pings; the broker sends the Last Will 1.5x this after silence")
    outbox: str = meta("", doc="SQLite file queueing events while the broker is away; empty = state dir/outbox.sqlite3")
    outbox_max: int = meta(50000, 100, 10_000_000, "most events queued on disk; beyond it the oldest are dropped")
    discovery: bool = meta(True, doc="publish Home Assistant MQTT discovery for this door")
    discovery_prefix: str = meta("homeassistant", doc="Home Assistant's discovery topic prefix")


@dataclass
class MetricsConfig:
    port: int = meta(0, 0, 65535, "Prometheus endpoint port (e.g. 9108), served at /metrics; 0 = off")
    address: str = meta("127.0.0.1", doc="address the metrics endpoint listens on; 0.0.0.0 opens it to the network")


@dataclass
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    def validate(self) -> Config:
        if self.tracker.vote_min > self.tracker.vote_window:
            raise ConfigError(
                f"tracker.vote_min ({self.tracker.vote_min}) must not exceed "
                f"tracker.vote_window ({self.tracker.vote_window})"
            )
        return self


def _check_value(key: str, kind: Any, value: Any, bounds: dict[str, Any]) -> Any:
    origin = typing.get_origin(kind)
    if origin is Literal:
        allowed = typing.get_args(kind)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not allowed; allowed values: {', '.join(map(repr, allowed))}")
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if (kind in (int, float) and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(f"{key}: expected {kind.__name__}, got {type(value).__name__} {value!r}")
    lo, hi = bounds.get("lo"), bounds.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{key}: {value!r} is out of range; allowed: {lo} to {hi}")
    return value


def _build_section(name: str, cls: type, values: Any) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"[{name}] must be a table, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{name}.{unknown[0]}: unknown key; allowed keys in [{name}]: {', '.join(fields)}")
    return cls(**{k: _check_value(f"{name}.{k}", hints[k], v, dict(fields[k].metadata)) for k, v in values.items()})


def from_dict(data: dict[str, Any]) -> Config:
    hints = typing.get_type_hints(Config)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown section; allowed sections: {', '.join(hints)}")
    return Config(**{k: _build_section(k, hints[k], v) for k, v in data.items()}).validate()


def load(path: Path | None) -> Config:
    if path is None:
        return Config().validate()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    try:
        return from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def override(config: Config, key: str, value: Any) -> None:
    """Set section.key from a CLI flag, with the same validation as the file."""
    section_name, name = key.split(".")
    section = getattr(config, section_name)
    fields = {f.name: f for f in dataclasses.fields(section)}
    hints = typing.get_type_hints(type(section))
    setattr(section, name, _check_value(key, hints[name], value, dict(fields[name].metadata)))
    config.validate()


def reference() -> list[tuple[str, str, Any, str]]:
    """(key, type, default, doc) for every key: the README's config reference is made from this."""
    rows = []
    for section_name, section_cls in typing.get_type_hints(Config).items():
        hints = typing.get_type_hints(section_cls)
        for f in dataclasses.fields(section_cls):
            kind = hints[f.name]
            shown = (
                " | ".join(map(repr, typing.get_args(kind))) if typing.get_origin(kind) is Literal else kind.__name__
            )
            rows.append((f"{section_name}.{f.name}", shown, f.default, f.metadata.get("doc", "")))
    return rows
