"""The Prometheus endpoint, scraped over HTTP on loopback while a real Pipeline runs a live-camera source."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import need_module

from edge import __version__
from edge.config import MetricsConfig, MqttConfig, TrackerConfig
from edge.pipeline import Pipeline
from edge.sources.live import LatestFrameSource
from edge.vision.labels import MASK, NO_MASK
from edge.vision.stats import STAGES
from edge.vision.tracker import Tracker
from edge.vision.types import Decision

need_module("prometheus_client", "pip install -e '.[metrics]'")

from prometheus_client.parser import text_string_to_metric_families

from edge.outputs.metrics import MetricsEndpoint, build_metrics


class NoFaces:
    """Detector and classifier stand-ins: the metrics are about the loop, not the models."""

    labels = (MASK, NO_MASK)

    def detect(self, image: np.ndarray) -> list:
        return []

    def classify(self, crops: list) -> np.ndarray:
        return np.zeros((0, 2), np.float32)


class OneFrameCamera:
    """Gives one frame per opening, then nothing, so LatestFrameSource reopens it: a camera that keeps dropping."""

    def __init__(self) -> None:
        self._left = 1

    def read(self) -> np.ndarray | None:
        if self._left:
            self._left -= 1
            return np.full((48, 64, 3), 128, np.uint8)
        return None

    def close(self) -> None:
        pass


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_endpoint_serves_loop_camera_decision_and_queue_metrics(tmp_path: Path) -> None:
    from edge.outputs.mqtt import MqttPublisher

    with socket.socket() as probe:  # a port nobody listens on: the broker is away, events queue up
        probe.bind(("127.0.0.1", 0))
        away = probe.getsockname()[1]
    publisher = MqttPublisher(
        MqttConfig(broker=f"mqtt://127.0.0.1:{away}", device_id="door1", outbox=str(tmp_path / "outbox.sqlite3")),
        labels=(MASK, NO_MASK),
        drain_timeout=0,
    )
    endpoint = MetricsEndpoint(port=0, address="127.0.0.1", publisher=publisher)
    source = LatestFrameSource(OneFrameCamera, "flaky", reconnect_max_delay=0.1, first_delay=0.01)
    pipeline = Pipeline(NoFaces(), NoFaces(), Tracker(TrackerConfig()), [endpoint, publisher])
    try:
        before = scrape(endpoint.port)
        assert before[("maskgate_frames_total", ())] == 0
        assert before[("maskgate_last_frame_timestamp_seconds", ())] == 0

        stats = pipeline.run(source, max_frames=3)
        for label in (MASK, NO_MASK, NO_MASK):
            decision = Decision("f", time.time(), 1, (0, 0, 10, 10), label, 0.9)
            stats.decisions.add(label)  # as Pipeline._emit does
            endpoint.on_decision(decision)
            publisher.on_decision(decision)

        metrics = scrape(endpoint.port)
    finally:
        source.close()
        pipeline.close()

    assert metrics[("maskgate_frames_total", ())] == 3
    assert metrics[("maskgate_faces_total", ())] == 0
    assert metrics[("maskgate_camera_reconnects_total", ())] >= 2
    assert metrics[("maskgate_decisions_total", (("label", MASK),))] == 1
    assert metrics[("maskgate_decisions_total", (("label", NO_MASK),))] == 2
    assert metrics[("maskgate_alerts_total", ())] == 2
    assert metrics[("maskgate_fps", ())] > 0
    assert metrics[("maskgate_last_frame_timestamp_seconds", ())] > 1e9
    # each frame observes one sample per stage ("outputs" is one frame behind: observed from inside it)
    for stage in STAGES:
        expected = {"outputs": 2, "gate": 0}.get(stage, 3)  # this pipeline runs without the change gate
        assert metrics[("maskgate_stage_seconds_count", (("stage", stage),))] == expected, stage
    assert metrics[("maskgate_stage_seconds_bucket", (("le", "+Inf"), ("stage", "detect")))] == 3
    assert metrics[("maskgate_gate_skipped_frames_total", ())] == 0
    assert metrics[("maskgate_gate_skipping", ())] == 0
    assert metrics[("maskgate_mqtt_connected", ())] == 0
    assert metrics[("maskgate_mqtt_queue_depth", ())] == 3
    assert metrics[("maskgate_mqtt_dropped_total", ())] == 0
    assert metrics[("maskgate_info", (("version", __version__),))] == 1
    assert ("process_resident_memory_bytes", ()) in metrics


def test_endpoint_listens_on_loopback_by_default() -> None:
    endpoint = build_metrics(MetricsConfig(port=_free_port()))
    try:
        assert endpoint._server.server_address[0] == "127.0.0.1"
        assert scrape(endpoint.port)[("maskgate_frames_total", ())] == 0
    finally:
        endpoint.close()


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"metrics\.port: cannot serve metrics on 127\.0\.0\.1:{port}"):
            build_metrics(MetricsConfig(port=port))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
