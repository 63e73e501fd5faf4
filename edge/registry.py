"""Backends by name: each table maps a config value to "module:attribute", imported only when used.

The config's choices (detector.type, classifier.backend, screen.backend), the CLI's choices,
`maskgate models`, `maskgate doctor` and `maskgate bench` all read these tables, so a new backend is
one module plus one line here. Frame sources and outputs have their own tables beside their code,
because each entry there carries a rule (which URIs a source takes, when an output is on):
edge.sources.SOURCES and edge.app.OUTPUTS. Standard library only: edge.config imports this.
"""

from __future__ import annotations

import importlib
from typing import Any

from edge.errors import BackendUnavailableError, third_party_imports

DETECTORS: dict[str, str] = {
    "yunet": "edge.detectors.yunet:YuNetDetector",
    "res10": "edge.detectors.res10:Res10Detector",
    "ultraface": "edge.detectors.ultraface:UltraFaceDetector",
}
"""Face detectors (edge.detectors.FaceDetector)."""

TFLITE_RUNTIMES: dict[str, str] = {
    "ai-edge-litert": "ai_edge_litert.interpreter:Interpreter",
    "tflite-runtime": "tflite_runtime.interpreter:Interpreter",
    "tensorflow": "tensorflow.lite.python.interpreter:Interpreter",
}
"""TFLite interpreters, in the order classifier.backend = "auto" tries them (edge.modelfiles.tflite)."""

SCREEN_BACKENDS: dict[str, str] = {
    "window": "edge.outputs.screen.window:WindowSink",
    "framebuffer": "edge.outputs.screen.framebuffer:FramebufferSink",
}
"""Where the entrance screen draws (edge.outputs.screen.Sink, built with `from_config(ScreenConfig)`)."""


def resolve(target: str) -> Any:
    """The attribute a "module:attribute" target names, importing its module."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def load(table: dict[str, str], name: str, key: str) -> Any:
    """The backend `name` of `table`, for the config key `key` (named in errors). A missing third-party
    package is a BackendUnavailableError; a failing import of our own code is a bug and propagates."""
    if name not in table:
        raise BackendUnavailableError(f"{key}: unknown value {name!r}; allowed: {', '.join(map(repr, table))}")
    with third_party_imports(f"{key} = {name!r}"):
        return resolve(table[name])
