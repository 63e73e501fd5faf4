"""The config rules that span keys or look at this machine (files, permissions, packages): run with the
per-key checks of edge.config before anything heavy loads, by `maskgate run`, `config --check` and `doctor`.
Standard library only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from edge.config.problems import ConfigError, Problem

if TYPE_CHECKING:
    from edge.config.schema import Config, EventsConfig, ScreenConfig

ALERT_PINS = ("green_led", "red_led", "buzzer", "relay")
"""The [alerts] keys that name a BCM pin; no two may share one."""
SCREEN_TEXTS = ("mask_text", "no_mask_text", "mask_incorrect_text", "idle_text", "closer_text")


def cross_field_problems(config: Config) -> list[Problem]:
    from edge.config import mqtt_settings, web_settings

    return [
        *_source_problems(config),
        *_metrics_problems(config),
        *_tracker_problems(config),
        *_pin_problems(config),
        *_snapshot_problems(config),
        *(_screen_problems(config.screen) if config.output.display == "screen" else ()),
        *mqtt_settings.problems(config.mqtt),
        *web_settings.problems(config.web),
    ]


def _source_problems(config: Config) -> Iterator[Problem]:
    if not config.source.uri.strip():
        yield Problem(
            "source.uri",
            "is empty (it would read the current folder); give a camera (0, /dev/video0, picamera2), a file, a folder "
            "or a stream URL",
        )


def _metrics_problems(config: Config) -> Iterator[Problem]:
    import importlib.util

    if config.metrics.port and importlib.util.find_spec("prometheus_client") is None:
        fix = "pip install 'maskgate[metrics]'"
        yield Problem("metrics.port", f"is set but prometheus-client is not installed; fix: {fix}")


def _tracker_problems(config: Config) -> Iterator[Problem]:
    tracker = config.tracker
    if tracker.vote_min > tracker.vote_window:
        window = tracker.vote_window
        yield Problem("tracker.vote_min", f"{tracker.vote_min} must not exceed tracker.vote_window ({window})")
    elif not tracker.vote_min <= tracker.change_min <= tracker.vote_window:
        yield Problem(
            "tracker.change_min",
            f"{tracker.change_min} must lie between tracker.vote_min ({tracker.vote_min}) and tracker.vote_window "
            f"({tracker.vote_window}): a correction needs at least the votes of a first decision",
        )
    zone = config.zone
    for low, high in (("left", "right"), ("top", "bottom")):
        if getattr(zone, low) >= getattr(zone, high):
            lo, hi = getattr(zone, low), getattr(zone, high)
            yield Problem(f"zone.{high}", f"{hi} must be greater than zone.{low} ({lo})")


def _pin_problems(config: Config) -> Iterator[Problem]:
    used: dict[int, str] = {}
    for key in ALERT_PINS:
        pin = getattr(config.alerts, key)
        if pin and pin in used:
            yield Problem(f"alerts.{key}", f"BCM {pin} is already used by alerts.{used[pin]}")
        used[pin] = key


def snapshot_dir(config: EventsConfig, event_log: str) -> Path:
    """events.snapshot_dir, or snapshots/ beside the event log file."""
    if config.snapshot_dir:
        return Path(config.snapshot_dir).expanduser()
    if event_log and event_log != "-":
        return Path(event_log).expanduser().parent / "snapshots"
    raise ConfigError("events.snapshot_dir: events.snapshots is on but has no folder; set it, or output.events")


def _snapshot_problems(config: Config) -> Iterator[Problem]:
    if not config.events.snapshots:
        return
    try:
        snapshot_dir(config.events, config.output.events)
    except ConfigError as exc:
        yield Problem("events.snapshot_dir", str(exc).removeprefix("events.snapshot_dir: "))


def _screen_problems(screen: ScreenConfig) -> Iterator[Problem]:
    for key in SCREEN_TEXTS:
        if not getattr(screen, key).isascii():
            yield Problem(f"screen.{key}", "OpenCV's built-in font draws ASCII characters only")
