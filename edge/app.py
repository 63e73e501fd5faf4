"""Building the pipeline's parts from a validated config (shared by `maskgate run`, bench and doctor)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edge import model_files
from edge.config import ALERT_PINS, Config
from edge.labels import LabelPolicy

if TYPE_CHECKING:
    from edge.classifier import MaskClassifier
    from edge.detectors import FaceDetector
    from edge.outputs import Output
    from edge.sources import Source
    from edge.tracker import Tracker


def build_detector(config: Config) -> FaceDetector:
    from edge.detectors import create_detector

    return create_detector(config.detector, model_files.model_dirs(config.models.dir))


def classifier_path(config: Config) -> Path:
    return model_files.find_classifier(config.classifier.model, model_files.model_dirs(config.models.dir))


def build_classifier(config: Config) -> MaskClassifier:
    from edge.classifier import MaskClassifier

    c = config.classifier
    return MaskClassifier(
        classifier_path(config),
        num_threads=c.num_threads,
        batch=c.batch,
        backend=c.backend,
        mask_threshold=c.mask_threshold or None,
    )


def build_policy(config: Config) -> LabelPolicy:
    return LabelPolicy.from_config(config.policy.mask_incorrect)


def classifier_labels(config: Config) -> tuple[str, ...]:
    """The labels the classifier answers, from its model card (no interpreter is loaded)."""
    from edge.model_card import ModelCard

    return ModelCard.for_model(classifier_path(config)).labels


def build_tracker(config: Config, per_frame: bool = False) -> Tracker:
    from edge.tracker import Tracker

    t = config.tracker
    return Tracker(t.iou_threshold, t.vote_window, t.vote_min, t.max_missed, per_frame, t.recheck_every)


def build_source(config: Config) -> Source:
    from edge.sources import open_source

    return open_source(config.source.uri, config.source)


def build_outputs(config: Config) -> list[Output]:
    outputs: list[Output] = []
    policy = build_policy(config)
    if config.output.events:
        from edge.outputs.events import EventLog

        e = config.events
        outputs.append(EventLog(config.output.events, max_bytes=e.max_bytes, keep=e.keep, fsync=e.fsync))
    if config.output.record:
        from edge.outputs.video import Recorder

        outputs.append(Recorder(config.output.record, fps=min(config.source.fps, 15)))
    if config.output.display == "window":
        from edge.outputs.video import Window

        outputs.append(Window())
    if config.output.display == "screen":
        from edge.outputs.screen import EntranceScreen

        outputs.append(EntranceScreen(config.screen, policy=policy))
    if config.events.snapshots:
        from edge.outputs.snapshots import Snapshots, snapshot_dir

        e = config.events
        outputs.append(
            Snapshots(snapshot_dir(e, config.output.events), e.snapshot_max_files, e.snapshot_max_days, policy=policy)
        )
    if any(getattr(config.alerts, key) for key in ALERT_PINS):
        from edge.outputs.alerts import GpioAlerts

        outputs.append(GpioAlerts(config.alerts, policy=policy))
    publisher = None
    if config.mqtt.broker:
        from edge.outputs.mqtt import build_publisher

        publisher = build_publisher(config.mqtt, classifier_labels(config), policy)
        outputs.append(publisher)
    if config.metrics.port:
        from edge.outputs.metrics import build_metrics

        outputs.append(build_metrics(config.metrics, publisher, policy))
    return outputs
