"""The configuration: the TOML schema with its defaults and per-key bounds (schema.py), the rules across keys
and the files the config names (checks.py), each part's own settings rules (mqtt_settings.py, web_settings.py,
the door-page password hash in password.py), what a rule reports (problems.py) and the config as
documentation (docs.py). `from edge.config import Config, load, ...` is the interface every other part uses;
the names below are the schema's and its problems'. Imports only the standard library, edge.errors and
edge.registry: the parts import the config, never the other way, so a part's settings are declared here, where
the checks see them without importing the part.
"""

from edge.config.checks import ALERT_PINS
from edge.config.problems import ConfigError, Problem
from edge.config.schema import (
    DOWNSCALES,
    YUNET_ENGINES,
    AlertsConfig,
    ClassifierConfig,
    Config,
    DetectorConfig,
    EventsConfig,
    GateConfig,
    LoggingConfig,
    MetricsConfig,
    ModelsConfig,
    MqttConfig,
    OutputConfig,
    PolicyConfig,
    ScreenConfig,
    ServiceConfig,
    SourceConfig,
    TrackerConfig,
    WebConfig,
    ZoneConfig,
    check_file,
    from_dict,
    load,
    meta,
    override,
    parse,
    reference,
)

__all__ = [
    "ALERT_PINS",
    "DOWNSCALES",
    "YUNET_ENGINES",
    "AlertsConfig",
    "ClassifierConfig",
    "Config",
    "ConfigError",
    "DetectorConfig",
    "EventsConfig",
    "GateConfig",
    "LoggingConfig",
    "MetricsConfig",
    "ModelsConfig",
    "MqttConfig",
    "OutputConfig",
    "PolicyConfig",
    "Problem",
    "ScreenConfig",
    "ServiceConfig",
    "SourceConfig",
    "TrackerConfig",
    "WebConfig",
    "ZoneConfig",
    "check_file",
    "from_dict",
    "load",
    "meta",
    "override",
    "parse",
    "reference",
]
