"""Building the pipeline's parts from a validated config (shared by `maskgate run`, bench and doctor)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from edge.config import ALERT_PINS, Config, DetectorConfig
from edge.errors import ModelLoadError, OutputError, os_errors_as, third_party_imports
from edge.modelfiles import find as model_files
from edge.modelfiles.find import classifier_path
from edge.vision.labels import LabelPolicy

if TYPE_CHECKING:
    from edge.detectors import FaceDetector
    from edge.outputs import Output
    from edge.pipeline import Pipeline
    from edge.sources import Source
    from edge.vision.classifier import FastFirstClassifier, MaskClassifier
    from edge.vision.gate import ChangeGate
    from edge.vision.model_card import FastModel
    from edge.vision.tracker import Tracker
    from edge.vision.zone import DoorZone

log = logging.getLogger(__name__)

OUTPUT_FIX = "change that setting in the config, or let this user open what it names"
MODEL_FIX = "let this user read the model files (the service runs as maskgate)"


def detector_config(config: Config, stills: bool = False) -> DetectorConfig:
    """[detector] as the detector is built: for stills (image files and folders) with
    detector.stills_second_look_size as its second look, if that is larger, detector.stills_downscale and
    detector.stills_retry_border."""
    settings = config.detector
    if not stills:
        return settings
    settings = replace(settings, downscale=settings.stills_downscale, retry_border=settings.stills_retry_border)
    if settings.stills_second_look_size > settings.second_look_size:
        settings = replace(settings, second_look_size=settings.stills_second_look_size)
    return settings


def build_detector(config: Config, stills: bool = False) -> FaceDetector:
    from edge.detectors import create_detector

    with os_errors_as(ModelLoadError, f"detector.type = {config.detector.type!r}", fix=MODEL_FIX):
        return create_detector(detector_config(config, stills), model_files.model_dirs(config.models.dir))


def build_classifier(config: Config) -> MaskClassifier | FastFirstClassifier:
    """The classifier, whose model must match the sha256 its card names; one that is not the packaged default
    is announced in the log."""
    with third_party_imports("MaskClassifier"):
        from edge.vision.classifier import MaskClassifier
    from edge.vision.model_card import ModelCard

    c = config.classifier
    with os_errors_as(ModelLoadError, "classifier", fix=MODEL_FIX):
        path = classifier_path(config)
        card = ModelCard.for_model(path)
        digest = card.verify_model(path)
        if model_files.origin(path) != "packaged":
            log.warning("classifier %s is %s (sha256 %s, as its card says)", path, model_files.origin(path), digest)
        classifier = MaskClassifier(
            path,
            card=card,
            num_threads=c.num_threads,
            batch=c.batch,
            backend=c.backend,
            mask_threshold=c.mask_threshold or None,
        )
        if not (c.fast_first and card.fast_model):
            return classifier
        return with_fast_model(classifier, card.fast_model, config)


def with_fast_model(main: MaskClassifier, fast_model: FastModel, config: Config) -> FastFirstClassifier:
    """The main classifier paired with the fast model its card names, which must be the file the card pins."""
    from edge.vision.classifier import FastFirstClassifier, MaskClassifier
    from edge.vision.model_card import ModelCard

    c = config.classifier
    path = fast_model.beside(main.model_path)
    fix = f"put {fast_model.file} back beside {main.model_path.name}, or set classifier.fast_first = false"
    if not path.is_file():
        raise ModelLoadError(f"fast model {path}, which {main.model_path.with_suffix('.json')} names, not found; {fix}")
    with os_errors_as(ModelLoadError, "fast classifier", fix=fix):
        card = ModelCard.for_model(path)
        digest = card.verify_model(path)
        if digest != fast_model.sha256:
            raise ModelLoadError(
                f"fast model {path} has sha256 {digest}, but {main.model_path.with_suffix('.json')} pairs "
                f"{main.model_path.name} with sha256 {fast_model.sha256}; {fix}"
            )
        fast = MaskClassifier(path, card=card, num_threads=c.num_threads, batch=c.batch, backend=c.backend)
    log.info(
        "classifier %s labels first; faces it is under %.2f sure of go to %s",
        path.name,
        fast_model.min_score,
        main.model_path.name,
    )
    return FastFirstClassifier(main, fast, fast_model.min_score)


def build_policy(config: Config) -> LabelPolicy:
    return LabelPolicy.from_config(config.policy.mask_incorrect)


def classifier_labels(config: Config) -> tuple[str, ...]:
    """The labels the classifier answers, from its model card (no interpreter is loaded)."""
    from edge.vision.model_card import ModelCard

    return ModelCard.for_model(classifier_path(config)).labels


def build_tracker(config: Config, per_frame: bool = False) -> Tracker:
    from edge.vision.tracker import Tracker

    return Tracker(config.tracker, per_frame, build_policy(config))


def build_gate(config: Config, per_frame: bool = False) -> ChangeGate | None:
    """The change gate, or None when it is off or every frame is its own scene (image folders)."""
    from edge.vision.gate import ChangeGate

    if not config.gate.enabled or per_frame:
        return None
    return ChangeGate(config.gate, config.tracker.recheck_every)


def build_zone(config: Config, per_frame: bool = False) -> DoorZone:
    """The door zone of a live source; image folders judge every face of each picture (no zone)."""
    from edge.vision.zone import WHOLE_FRAME, DoorZone

    return WHOLE_FRAME if per_frame else DoorZone.from_config(config.zone)


def build_pipeline(
    config: Config,
    detector: FaceDetector,
    classifier: MaskClassifier | FastFirstClassifier,
    outputs: list[Output],
    per_frame: bool = False,
) -> Pipeline:
    """The door loop around a built detector and classifier: a fresh tracker, change gate and door zone from the
    config. `maskgate run` and `maskgate-convert evaluate-approach` both build it here, so the clips are judged by
    the loop the door runs."""
    from edge.pipeline import Pipeline

    return Pipeline(
        detector,
        classifier,
        build_tracker(config, per_frame=per_frame),
        outputs,
        gate=build_gate(config, per_frame=per_frame),
        zone=build_zone(config, per_frame=per_frame),
    )


def build_source(config: Config) -> Source:
    from edge.sources import open_source

    return open_source(config.source.uri, config.source)


@dataclass(frozen=True)
class OutputPlug:
    enabled: Callable[[Config], bool]
    build: Callable[[Config, LabelPolicy, dict[str, Output]], Output]
    """Gets the config, the label policy and the outputs built before it, by table name (metrics reads "mqtt");
    imports its module inside, so a run without the output never imports it."""


def _event_log(config: Config, policy: LabelPolicy, built: dict[str, Output]) -> Output:
    from edge.outputs.events import EventLog

    e = config.events
    return EventLog(config.output.events, e)


def _recorder(config: Config, policy: LabelPolicy, built: dict[str, Output]) -> Output:
    from edge.outputs.video import Recorder

    return Recorder(config.output.record, fps=min(config.source.fps, 15))


def _window(config: Config, policy: LabelPolicy, built: dict[str, Output]) -> Output:
    from edge.outputs.video import Window

    return Window()


def _entrance_screen(config: Config, policy: LabelPolicy, built: dict[str, Output]) -> Output:
    from edge.outputs.screen import EntranceScreen

    return EntranceScreen(config.screen, policy=policy, zone=build_zone(config))


def _snapshots(config: Config, policy: LabelPolicy, built: dict[str, Output]) -> Output:
    from edge.config.checks import snapshot_dir
    from edge.outputs.snapshots import Snapshots

    e = config.events
    return Snapshots(snapshot_dir(e, config.output.events), e, policy=policy)


def _gpio_alerts(config: Config, policy: LabelPolicy, built: dict[str, Output]) -> Output:
    from edge.outputs.alerts import GpioAlerts

    return GpioAlerts(config.alerts, policy=policy)


def _mqtt(config: Config, policy: LabelPolicy, built: dict[str, Output]) -> Output:
    from edge.outputs.mqtt import build_publisher

    return build_publisher(config.mqtt, classifier_labels(config), policy)


def _metrics(config: Config, policy: LabelPolicy, built: dict[str, Output]) -> Output:
    from edge.outputs.metrics import build_metrics

    return build_metrics(config.metrics, built.get("mqtt"), policy)


def _web(config: Config, policy: LabelPolicy, built: dict[str, Output]) -> Output:
    from edge.web.page import build_page

    return build_page(config, policy)


OUTPUTS: dict[str, OutputPlug] = {
    "events": OutputPlug(lambda c: bool(c.output.events), _event_log),
    "record": OutputPlug(lambda c: bool(c.output.record), _recorder),
    "window": OutputPlug(lambda c: c.output.display == "window", _window),
    "screen": OutputPlug(lambda c: c.output.display == "screen", _entrance_screen),
    "snapshots": OutputPlug(lambda c: c.events.snapshots, _snapshots),
    "alerts": OutputPlug(lambda c: any(getattr(c.alerts, key) for key in ALERT_PINS), _gpio_alerts),
    "mqtt": OutputPlug(lambda c: bool(c.mqtt.broker), _mqtt),
    "metrics": OutputPlug(lambda c: bool(c.metrics.port), _metrics),
    "web": OutputPlug(lambda c: c.web.enabled, _web),
}
"""Every output, in the order they are built and called; an entry is on when `enabled(config)` says so."""


def build_outputs(config: Config) -> list[Output]:
    policy = build_policy(config)
    built: dict[str, Output] = {}
    for name, plug in OUTPUTS.items():
        if plug.enabled(config):
            with os_errors_as(OutputError, f"output {name}", fix=OUTPUT_FIX):
                built[name] = plug.build(config, policy, built)
    return list(built.values())
