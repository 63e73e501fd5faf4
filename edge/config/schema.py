"""The TOML configuration: built-in defaults, validated at start-up, overridden by CLI flags.

Each section is a dataclass; field types and `meta(...)` bounds are the schema. Validation is a
few dozen lines over dataclasses rather than pydantic: the schema is flat, and on a Pi Zero the
import of pydantic alone costs more than the rest of start-up.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edge.config.problems import ConfigError, ConfigFileError, Problem
from edge.config.reading import read_config_text
from edge.registry import DETECTORS, SCREEN_BACKENDS, TFLITE_RUNTIMES

DOWNSCALES = ("linear", "area")
"""How YuNet's input may be shrunk (edge.detectors.common.INTERPOLATIONS maps them to OpenCV's)."""
YUNET_ENGINES = ("onnxruntime", "opencv")
"""What may run YuNet's network (edge.detectors.yunet.yunet_pass picks the class)."""


def meta(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass
class SourceConfig:
    uri: str = meta("0", doc="camera index, /dev/videoN, picamera2, video file, stream URL, image or folder")
    width: int = meta(640, 16, 8192, "requested camera width")
    height: int = meta(480, 16, 8192, "requested camera height")
    fps: int = meta(30, 1, 240, "requested camera frame rate")
    reconnect_max_delay: float = meta(30.0, 0.1, 3600, "longest wait between camera reconnect attempts, seconds")
    max_image_pixels: int = meta(
        25_000_000,
        0,
        10**10,
        "image files larger than this (width x height, from the header), or longer than 4 bytes a pixel of it "
        "+ 4 MB, are skipped unread; 0 = no limit",
    )


@dataclass
class DetectorConfig:
    type: Literal[tuple(DETECTORS)] = meta("yunet", doc="face detector backend")
    model: str = meta("", doc="explicit model file; empty searches the model directories")
    engine: Literal[YUNET_ENGINES] = meta(
        "onnxruntime",
        doc="yunet: what runs the network: onnxruntime (less than half OpenCV's time on 2 x86 cores, the same "
        "faces) or opencv (OpenCV's FaceDetectorYN)",
    )
    input_size: int = meta(416, 64, 2048, "yunet: longest side fed to the detector; res10: square input")
    score_threshold: float = meta(0.5, 0.0, 1.0, "minimum face score")
    nms_threshold: float = meta(0.3, 0.0, 1.0, "overlap above which boxes are merged")
    second_look_size: int = meta(
        0,
        0,
        4096,
        "yunet: longest side of a second pass over the same frame at higher resolution (never above the "
        "frame's own), merged with the first; finds masked and small faces the first misses, at about 3x the "
        "detector's time on 640x480 (docs/second-look.md); 0 = off; no second pass on frames no larger than input_size",
    )
    second_look_score: float = meta(
        0.8, 0.0, 1.0, "yunet: minimum score of a face from the second pass (stricter: it sees more pixels)"
    )
    stills_second_look_size: int = meta(
        1280,
        0,
        4096,
        "yunet: the second look for image files and folders, where each picture is judged once and there is no "
        "frame rate to keep (a live door sees each person many times instead); 0 = as detector.second_look_size",
    )
    downscale: Literal[DOWNSCALES] = meta(
        "linear",
        doc="yunet: how a live frame is shrunk to input_size: linear (bilinear, about 0.2 ms on 640x480) or area "
        "(pixel averaging, about 1.1 ms, what the training crops were detected with)",
    )
    stills_downscale: Literal[DOWNSCALES] = meta(
        "area", doc="yunet: detector.downscale for image files and folders, where there is no frame rate to keep"
    )
    retry_border: float = meta(
        0.0,
        0.0,
        1.0,
        "yunet: a frame with no face found is looked at again inside a black border of this share of its longer "
        "side, enlarged to input_size if smaller (finds tight face crops); 0 = off",
    )
    stills_retry_border: float = meta(
        0.25, 0.0, 1.0, "yunet: detector.retry_border for image files and folders (a folder of face crops)"
    )
    retry_score: float = meta(
        0.35,
        0.0,
        1.0,
        "yunet: when the retry inside a border finds no face either, a face scoring at least this (below "
        "score_threshold) is taken if it is at least 0.4 of the picture's shorter side wide: the picture is a "
        "face crop (the best such face only); at or above score_threshold = off",
    )
    min_face_size: int = meta(20, 1, 4096, "smaller faces (pixels) are ignored")
    max_faces: int = meta(32, 1, 1000, "most faces classified per frame (highest scores kept)")
    num_threads: int = meta(
        0,
        0,
        64,
        "detector threads; 0 = its default (yunet: onnxruntime's, one per physical core, or OpenCV's pool; res10: "
        "OpenCV's pool, all cores; ultraface: 1)",
    )


@dataclass
class ClassifierConfig:
    model: str = meta("", doc="explicit .tflite; empty uses the model directories, then the packaged default")
    num_threads: int = meta(2, 1, 64, "interpreter threads")
    batch: bool = meta(False, doc="invoke once for all faces of a frame instead of once per face")
    backend: Literal["auto", *TFLITE_RUNTIMES] = meta("auto", doc="TFLite runtime")
    mask_threshold: float = meta(
        0.0,
        0.0,
        1.0,
        "a face counts as mask only at this probability or above, else it stays undecided; "
        "0 = the model card's threshold (chosen on validation data)",
    )
    fast_first: bool = meta(
        True,
        doc="if the model's card names a smaller fast model, it labels each face first and the model only "
        "the faces it is unsure of (chosen on validation data); false = the model labels every face",
    )


@dataclass
class TrackerConfig:
    iou_threshold: float = meta(0.3, 0.01, 1.0, "minimum overlap to continue a track")
    vote_window: int = meta(5, 1, 100, "last n frames of a track that vote")
    vote_min: int = meta(3, 1, 100, "k votes for one label confirm it")
    max_missed: int = meta(15, 0, 10000, "frames a track survives without a matching face")
    same_face_min: float = meta(
        0.5, 0.0, 1.0, "appearance likeness (0-1) a face seen frame after frame needs to keep its track; 0 = off"
    )
    return_face_min: float = meta(
        0.7, 0.0, 1.0, "likeness a face needs to continue a track whose spot was empty: else a new person, new vote"
    )
    recheck_every: int = meta(
        5, 1, 1000, "a decided face is classified again every n frames (1 = every frame); new or doubtful ones always"
    )
    change_min: int = meta(
        5,
        1,
        100,
        "a decided person's label changes (a `corrected` event) only when another label has this many of the last "
        "vote_window votes: one decision per person unless the evidence is strong",
    )


FACE_WIDTH_CM = 13.3
"""A YuNet box on an adult face: 2.12x the distance between the eyes (median of 300 UTKFace adults, 10-90%:
2.03-2.22) times the mean adult interpupillary distance, 6.3 cm."""


@dataclass
class ZoneConfig:
    min_face: int = meta(
        48,
        0,
        4096,
        "faces narrower than this (source pixels) are not at the door yet: tracked and drawn grey with 'come closer', "
        "never classified or decided; 48 = a face 1.5 m from a Pi Camera Module 2 at 640 px wide (docs/door.md); "
        "0 = every face",
    )
    left: float = meta(0.0, 0.0, 1.0, "left edge of the door region, a share of the frame's width")
    top: float = meta(0.0, 0.0, 1.0, "top edge of the door region, a share of the frame's height")
    right: float = meta(1.0, 0.0, 1.0, "right edge of the door region, a share of the frame's width")
    bottom: float = meta(1.0, 0.0, 1.0, "bottom edge of the door region; a face counts if its centre is inside")


@dataclass
class GateConfig:
    enabled: bool = meta(True, doc="skip the face detector while the scene is unchanged; false = detect every frame")
    thumb_width: int = meta(40, 8, 320, "width of the grey thumbnail the change test compares")
    cell_threshold: float = meta(12.0, 1.0, 255.0, "grey levels a thumbnail cell must change by to count as changed")
    min_changed_cells: int = meta(2, 1, 10000, "changed cells that make a frame a change (detector runs)")
    empty_check_every: int = meta(30, 1, 10000, "with nobody in view and no change, still detect every n frames")
    decided_every: int = meta(3, 1, 1000, "with all faces decided and no change, detect every n frames")


@dataclass
class OutputConfig:
    display: Literal["none", "window", "screen"] = meta(
        "none", doc="window: annotated frames for debugging; screen: the entrance screen ([screen])"
    )
    record: str = meta("", doc="video file (.mp4/.avi) or directory for annotated frames; empty = off")
    events: str = meta("", doc="JSON-lines event log file, '-' for stdout; empty = off")


@dataclass
class ModelsConfig:
    dir: str = meta("", doc="model directory searched before $MASKGATE_MODEL_DIR and the defaults")


@dataclass
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = meta("INFO", doc="log level")


@dataclass
class AlertsConfig:
    green_led: int = meta(0, 0, 27, "BCM pin of the green LED, lit while the person at the door is masked; 0 = none")
    red_led: int = meta(0, 0, 27, "BCM pin of the red LED, lit while a bare face is confirmed; 0 = none")
    buzzer: int = meta(0, 0, 27, "BCM pin of the buzzer, sounded once per bare-face alert; 0 = none")
    relay: int = meta(0, 0, 27, "BCM pin of the door-strike relay, pulsed on a confirmed mask; 0 = none")
    relay_active_high: bool = meta(True, doc="false for relay boards that switch on a low input")
    relay_seconds: float = meta(3.0, 0.1, 60, "how long the relay holds the door open, seconds")
    buzzer_on: float = meta(0.2, 0.01, 10, "length of one beep, seconds")
    buzzer_off: float = meta(0.15, 0.01, 10, "pause between beeps, seconds")
    buzzer_beeps: int = meta(3, 1, 100, "beeps per bare-face alert")
    cooldown: float = meta(
        20.0, 0, 3600, "seconds before one track can sound the buzzer again (the relay opens once per track)"
    )
    pin_factory: Literal["", "lgpio", "rpigpio", "pigpio", "native", "mock"] = meta(
        "", doc="gpiozero pin factory; empty = $GPIOZERO_PIN_FACTORY, else gpiozero's default (lgpio on a Pi)"
    )


@dataclass
class ScreenConfig:
    backend: Literal[tuple(SCREEN_BACKENDS)] = meta(
        "window", doc="window: OpenCV window (needs a desktop); framebuffer: draw on screen.device (Pi OS Lite)"
    )
    fullscreen: bool = meta(True, doc="window backend: fill the monitor")
    width: int = meta(0, 0, 7680, "drawing width in pixels; 0 = the framebuffer's, or 1280 for a window")
    height: int = meta(0, 0, 4320, "drawing height in pixels; 0 = the framebuffer's, or 720 for a window")
    device: str = meta("/dev/fb0", doc="framebuffer device for the framebuffer backend")
    mirror: bool = meta(True, doc="show the camera image mirrored, as people expect of a screen facing them")
    mask_text: str = meta("Mask OK - please enter", doc="banner while the person is masked (ASCII only)")
    no_mask_text: str = meta("Please wear a mask", doc="banner while a bare face is confirmed (ASCII only)")
    mask_incorrect_text: str = meta(
        "Please cover your nose", doc="banner while a mask worn under the nose or on the chin is confirmed (ASCII only)"
    )
    idle_text: str = meta("Please look at the camera", doc="banner while nobody is confirmed (ASCII only)")
    closer_text: str = meta(
        "Please come closer", doc="banner while the only faces in view are too small to decide (ASCII only)"
    )


@dataclass
class PolicyConfig:
    mask_incorrect: Literal["not_ok", "warn"] = meta(
        "not_ok",
        doc="a mask under the nose or on the chin: not_ok = treated as a bare face (red, buzzer, no door); "
        "warn = let in with its own screen text",
    )


@dataclass
class ServiceConfig:
    watchdog: bool = meta(True, doc="send WATCHDOG=1 to systemd while frames are processed (unit's WatchdogSec=)")
    max_frame_age: float = meta(
        0.0, 0, 3600, "seconds without a processed frame after which watchdog pings stop; 0 = half of WatchdogSec"
    )
    status_interval: float = meta(5.0, 0.5, 3600, "seconds between STATUS= updates (systemctl status)")


@dataclass
class EventsConfig:
    max_bytes: int = meta(10_000_000, 0, 10**12, "rotate the event log before it grows past this many bytes; 0 = never")
    keep: int = meta(5, 1, 1000, "rotated event logs kept (events.jsonl.1 is the newest)")
    fsync: bool = meta(True, doc="fsync each event so a power cut loses nothing (events are rare)")
    snapshots: bool = meta(False, doc="save a JPEG of each confirmed bare face (off by default: privacy)")
    snapshot_dir: str = meta("", doc="snapshot folder; empty = snapshots/ beside the event log file")
    snapshot_max_files: int = meta(500, 1, 10_000_000, "newest snapshots kept; older ones are deleted")
    snapshot_max_days: float = meta(7.0, 0, 3650, "snapshots older than this many days are deleted; 0 = no age limit")
    snapshot_min_free_mb: int = meta(
        200, 0, 10**7, "no snapshot is written while less than this many MB are free (the event log comes first)"
    )


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
    outbox_fsync: bool = meta(True, doc="fsync each queued event so a power cut loses none (events are rare)")
    discovery: bool = meta(True, doc="publish Home Assistant MQTT discovery for this door")
    discovery_prefix: str = meta("homeassistant", doc="Home Assistant's discovery topic prefix")


@dataclass
class MetricsConfig:
    port: int = meta(0, 0, 65535, "Prometheus endpoint port (e.g. 9108), served at /metrics; 0 = off")
    address: str = meta("127.0.0.1", doc="address the metrics endpoint listens on; 0.0.0.0 opens it to the network")


@dataclass
class WebConfig:
    enabled: bool = meta(False, doc="serve the door page (live view, decisions, counters) inside `maskgate run`")
    address: str = meta(
        "127.0.0.1", doc="address the door page listens on; any other than loopback needs web.password_file"
    )
    port: int = meta(8080, 1, 65535, "door page TCP port")
    password_file: str = meta(
        "", doc="file holding the page password's salted hash, written by `maskgate web-password`; empty = no login"
    )
    session_minutes: int = meta(60, 1, 1440, "a login lasts this long, then the page asks again")
    max_fps: float = meta(2.0, 0.1, 15.0, "most pictures a second taken for the page, and only while it is open")
    width: int = meta(640, 160, 1920, "width of the page's picture in pixels (smaller frames are not enlarged)")
    decisions: int = meta(20, 0, 500, "recent decisions kept in memory and listed on the page; 0 = none")
    thumbnails: bool = meta(
        False,
        doc="keep a small picture of each decided face in memory (never on disk) for the page's decision list; "
        "personal data: off by default",
    )
    trusted_proxy: str = meta(
        "",
        doc="IP address of the reverse proxy (e.g. 127.0.0.1) whose X-Forwarded-For/-Proto/-Host are believed; "
        "empty = none: each client is the address it connects from",
    )
    allowed_hosts: str = meta(
        "",
        doc="comma-separated host names the page answers to besides localhost, 127.0.0.1, [::1] and web.address "
        "(against DNS rebinding; checked when there is no password)",
    )


@dataclass
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    zone: ZoneConfig = field(default_factory=ZoneConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    screen: ScreenConfig = field(default_factory=ScreenConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    web: WebConfig = field(default_factory=WebConfig)

    def problems(self) -> list[Problem]:
        """The rules that span keys or look at this machine (files, permissions, packages)."""
        from edge.config.checks import cross_field_problems

        return cross_field_problems(self)

    def validate(self) -> Config:
        if problems := self.problems():
            raise ConfigError.of(problems)
        return self


def _invalid(key: str, message: str) -> ConfigError:
    return ConfigError.of([Problem(key, message)])


def _check_value(key: str, kind: Any, value: Any, bounds: dict[str, Any]) -> Any:
    """`value` as `kind`; a ConfigError naming `key` when it is not allowed."""
    origin = typing.get_origin(kind)
    if origin is Literal:
        allowed = typing.get_args(kind)
        if value not in allowed:
            raise _invalid(key, f"{value!r} is not allowed; allowed values: {', '.join(map(repr, allowed))}")
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if (kind in (int, float) and isinstance(value, bool)) or not isinstance(value, kind):
        raise _invalid(key, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
    if kind is float and not math.isfinite(value):
        raise _invalid(key, f"{value!r} is not a number; give a finite value")
    if kind is str and (bad := control_character(value)):
        raise _invalid(key, f"contains {bad}, which no setting may; remove it")
    lo, hi = bounds.get("lo"), bounds.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _invalid(key, f"{value!r} is out of range; allowed: {lo} to {hi}")
    return value


def control_character(text: str) -> str:
    """The first NUL or other control character in `text` (a path with a NUL cannot be opened at all, and a
    newline or escape in a name or a topic forges log lines and terminal output), described; "" if none."""
    for position, char in enumerate(text):
        if char == "\0":
            return f"a NUL byte at position {position}"
        if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            return f"the control character U+{ord(char):04X} at position {position}"
    return ""


def did_you_mean(name: str, allowed: Iterable[str], prefix: str = "") -> str:
    """ " did you mean X?" for the closest allowed name to a typo, or nothing."""
    close = difflib.get_close_matches(name, list(allowed), n=1)
    return f" did you mean {prefix}{close[0]}?" if close else ""


def _set_checked(config: Config, key: str, value: Any, problems: list[Problem]) -> None:
    """Set section.key to `value` if it passes its type and range; else add the problem and keep the default."""
    section_name, name = key.split(".")
    section = getattr(config, section_name)
    fields = {f.name: f for f in dataclasses.fields(section)}
    if name not in fields:
        problems.append(
            Problem(
                key,
                f"unknown key;{did_you_mean(name, fields, section_name + '.')} allowed keys in "
                f"[{section_name}]: {', '.join(fields)}",
            )
        )
        return
    hints = typing.get_type_hints(type(section))
    try:
        setattr(section, name, _check_value(key, hints[name], value, dict(fields[name].metadata)))
    except ConfigError as exc:
        problems += exc.problems


def parse(data: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> tuple[Config, list[Problem]]:
    """The config from TOML data and then `overrides` ("section.key" -> value), with every problem found:
    types, ranges and finite numbers per key, then the rules across keys (Config.problems)."""
    config, problems = Config(), []
    sections = typing.get_type_hints(Config)
    for name, values in data.items():
        if name not in sections:
            problems.append(
                Problem(name, f"unknown section;{did_you_mean(name, sections)} allowed sections: {', '.join(sections)}")
            )
        elif not isinstance(values, dict):
            problems.append(Problem(name, f"[{name}] must be a table, got {type(values).__name__}"))
        else:
            for key, value in values.items():
                _set_checked(config, f"{name}.{key}", value, problems)
    for key, value in (overrides or {}).items():
        _set_checked(config, key, value, problems)
    return config, problems + config.problems()


def from_dict(data: dict[str, Any]) -> Config:
    config, problems = parse(data)
    if problems:
        raise ConfigError.of(problems)
    return config


def load(path: Path | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """The config file (None: the defaults) with `overrides` from CLI flags, where a flag left unset (None) overrides
    nothing; a ConfigError lists every problem."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(read_config_text(Path(path)))
        except FileNotFoundError:
            raise ConfigFileError(f"config file not found: {path}", "not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"config file {path} is not valid TOML: {exc}", f"not valid TOML: {exc}") from None
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    config, problems = parse(data, given)
    if problems:
        raise ConfigError.of(problems, where=str(path) if path is not None else "")
    return config


def check_file(path: Path) -> list[Problem]:
    """Every problem of a config file, for `maskgate config --check`; a file that cannot be read is one."""
    try:
        load(path)
    except ConfigError as exc:
        return exc.problems or [Problem("file", exc.reason if isinstance(exc, ConfigFileError) else str(exc))]
    return []


def override(config: Config, key: str, value: Any) -> None:
    """Set section.key from a CLI flag, with the same validation as the file."""
    problems: list[Problem] = []
    _set_checked(config, key, value, problems)
    if problems:
        raise ConfigError.of(problems)
    config.validate()


def reference() -> list[tuple[str, str, Any, str]]:
    """(key, type, default, doc) for every key: docs/configuration.md is made from this."""
    rows = []
    for section_name, section_cls in typing.get_type_hints(Config).items():
        hints = typing.get_type_hints(section_cls)
        for f in dataclasses.fields(section_cls):
            kind = hints[f.name]
            shown = (
                " | ".join(map(repr, typing.get_args(kind))) if typing.get_origin(kind) is Literal else kind.__name__
            )
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
            rows.append((f"{section_name}.{f.name}", shown, default, f.metadata.get("doc", "")))
    return rows
