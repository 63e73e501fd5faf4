"""The error contract (edge.errors): every setup problem is a SetupError."""

from __future__ import annotations

import importlib

import pytest

from edge.errors import SetupError

SETUP_ERRORS = [
    ("edge.config", "ConfigError"),
    ("edge.model_files", "ModelNotFoundError"),
    ("edge.tflite", "ModelLoadError"),
    ("edge.model_card", "ModelCardError"),
    ("edge.sources", "SourceError"),
    ("edge.fetch", "FetchError"),
    ("edge.bench_frames", "FrameSetError"),
    ("edge.outputs.alerts", "AlertsError"),
    ("edge.outputs.video", "DisplayUnavailableError"),
    ("convert.dataset", "DatasetError"),
    ("convert.train", "WeightsError"),
    ("convert.door_eval", "DoorEvalError"),
]


@pytest.mark.parametrize(("module", "name"), SETUP_ERRORS)
def test_every_setup_error_is_a_setup_error_where_it_always_was(module: str, name: str) -> None:
    assert issubclass(getattr(importlib.import_module(module), name), SetupError)
