"""Prometheus endpoint (prometheus-client): loop counters, FPS, per-stage latency histograms, decisions by
label, camera reconnects and the MQTT queue, plus the library's process metrics (CPU, memory).

Counters are read from the pipeline's LoopStats when Prometheus scrapes, so counting costs the frame loop
nothing; only the stage latencies are observed per frame, into real (cumulative) histograms. The endpoint
has a registry of its own, so two endpoints in one process (tests) do not collide.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from edge import __version__
from edge.config import ConfigError
from edge.outputs import Output
from edge.vision.labels import DEFAULT_POLICY, LabelPolicy
from edge.vision.stats import STAGES

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.core import Metric

    from edge.config import MetricsConfig
    from edge.outputs.mqtt import MqttPublisher
    from edge.vision.stats import LoopStats
    from edge.vision.types import Frame, TrackedFace

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds: a stage takes about 1 ms (crop) to a few hundred ms (detection on a Pi Zero)."""


class MetricsEndpoint(Output):
    name = "metrics"

    def __init__(
        self,
        port: int,
        address: str,
        publisher: MqttPublisher | None = None,
        policy: LabelPolicy = DEFAULT_POLICY,
    ) -> None:
        from prometheus_client import CollectorRegistry, Histogram, start_http_server
        from prometheus_client.platform_collector import PlatformCollector
        from prometheus_client.process_collector import ProcessCollector

        self.publisher, self.policy = publisher, policy
        self._stats: LoopStats | None = None
        self._last_frame_time = 0.0
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        latency = Histogram(
            "maskgate_stage_seconds",
            "Time per frame spent in each pipeline stage",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._latency = {stage: latency.labels(stage=stage) for stage in STAGES}
        self.registry.register(_LoopCollector(self))
        try:
            self._server, self._thread = start_http_server(port, addr=address, registry=self.registry)
        except OSError as exc:
            raise OSError(f"metrics.port: cannot serve metrics on {address}:{port}: {exc.strerror or exc}") from exc
        self.port = self._server.server_port
        log.info("metrics: serving Prometheus metrics on http://%s:%d/metrics", address, self.port)

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
        self._stats = stats
        self._last_frame_time = time.time()
        # on_frame runs inside the "outputs" stage, so that stage's newest sample is the previous frame's
        for stage, histogram in self._latency.items():
            samples = stats.stage_seconds[stage]
            if samples:
                histogram.observe(samples[-1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _LoopCollector:
    """Builds the counter and gauge families at scrape time from the latest LoopStats."""

    def __init__(self, endpoint: MetricsEndpoint) -> None:
        self._endpoint = endpoint

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

        endpoint, stats = self._endpoint, self._endpoint._stats
        yield InfoMetricFamily("maskgate", "MaskGate version", value={"version": __version__})

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"maskgate_{name}", doc, value=value)

        yield counter("frames", "Frames processed", stats.frames if stats else 0)
        yield counter("faces", "Faces seen in processed frames", stats.faces if stats else 0)
        yield counter("frame_errors", "Frames that failed in the pipeline", stats.frame_errors if stats else 0)
        yield counter("skipped_frames", "Unreadable frames skipped", stats.skipped_frames if stats else 0)
        yield counter("camera_reconnects", "Times the camera was reopened", stats.camera_reconnects if stats else 0)
        yield counter(
            "camera_dropped_frames", "Camera frames replaced by newer ones", stats.camera_dropped_frames if stats else 0
        )
        yield counter(
            "gate_skipped_frames",
            "Frames the change gate carried without running the detector",
            stats.gate_skipped_frames if stats else 0,
        )
        yield GaugeMetricFamily(
            "maskgate_gate_skipping",
            "1 while the change gate skips the detector",
            value=bool(stats and stats.gate_skipping),
        )
        yield from _thermal_gauges(stats)
        yield counter(
            "skipped_files",
            "Image files skipped: unreadable or over the pixel budget",
            getattr(stats, "skipped_files", 0),
        )
        failures = CounterMetricFamily(
            "maskgate_output_failures", "Failed output calls (event log, snapshots: writes dropped)", labels=["output"]
        )
        for output, count in sorted((stats.output_failures if stats else {}).items()):
            failures.add_metric([output], count)
        yield failures
        decisions = stats.decisions.snapshot() if stats else {}
        by_label = CounterMetricFamily("maskgate_decisions", "Confirmed decisions by label", labels=["label"])
        for label, count in sorted(decisions.items()):
            by_label.add_metric([label], count)
        yield by_label
        alarms = sum(count for label, count in decisions.items() if endpoint.policy.is_alarm(label))
        yield counter(
            "alerts", "Alerts raised: decisions that are not OK at the door (bare face, mask worn wrong)", alarms
        )
        yield GaugeMetricFamily("maskgate_fps", "Frames per second over the recent frames", value=_fps(stats))
        yield GaugeMetricFamily(
            "maskgate_last_frame_timestamp_seconds",
            "Unix time of the last processed frame (0 before the first)",
            value=endpoint._last_frame_time,
        )
        publisher = endpoint.publisher
        if publisher is not None:
            status = publisher.status()
            yield GaugeMetricFamily(
                "maskgate_mqtt_connected", "1 while the broker is connected", value=status.connected
            )
            yield GaugeMetricFamily("maskgate_mqtt_queue_depth", "Events on disk, not yet acked", value=status.queued)
            yield counter("mqtt_dropped", "Events dropped because the outbox was full", status.dropped)
            yield counter("mqtt_published", "Events acknowledged by the broker", status.published)


def _thermal_gauges(stats: LoopStats | None) -> Iterator[Metric]:
    """CPU temperature and throttling, where the device tells them (edge.health.thermal)."""
    from prometheus_client.core import GaugeMetricFamily

    state = stats.thermal_state() if stats is not None else None
    if state is None:
        return
    if state.temperature_c is not None:
        yield GaugeMetricFamily("maskgate_cpu_temperature_celsius", "CPU temperature", value=state.temperature_c)
    if state.throttled is not None:
        yield GaugeMetricFamily(
            "maskgate_throttled", "1 while the firmware throttles or caps the CPU (vcgencmd)", value=state.throttled_now
        )
        yield GaugeMetricFamily(
            "maskgate_throttled_since_boot",
            "1 if the CPU was throttled or under-volted since boot (vcgencmd)",
            value=state.throttled_since_boot,
        )


def _fps(stats: LoopStats | None) -> float:
    if stats is None:
        return 0.0
    for _ in range(3):
        try:
            return stats.fps
        except RuntimeError:  # the loop appended to the window while it was summed; read again
            continue
    return 0.0


def build_metrics(
    config: MetricsConfig, publisher: MqttPublisher | None = None, policy: LabelPolicy = DEFAULT_POLICY
) -> MetricsEndpoint:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ConfigError(
            "metrics.port is set but prometheus-client is not installed: pip install 'maskgate[metrics]'"
        ) from None
    return MetricsEndpoint(config.port, config.address, publisher, policy)
