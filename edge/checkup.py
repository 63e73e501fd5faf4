"""`maskgate doctor` in full: edge.health.doctor's checks of this machine, and the models built as `maskgate run`
builds them (edge.app) and self-tested. Here rather than in edge.health because it builds through edge.app, which
the door page (an output, below edge.app) must not reach through the doctor's machine checks."""

from __future__ import annotations

from collections.abc import Callable

from edge.config import Config
from edge.errors import BackendUnavailableError
from edge.health.doctor import (
    Check,
    check_board,
    check_camera,
    check_gpio,
    check_opencv,
    check_python,
    check_runtime,
    check_self_test,
    check_thermal,
)


def check_models(config: Config) -> list[Check]:
    from edge.app import build_classifier, build_detector
    from edge.modelfiles import find as model_files

    c = config
    checks = [
        Check("model folder", None, f"{entry.path} ({entry.named_by}) {entry.skipped}")
        for entry in model_files.search_plan(config.models.dir)
        if entry.skipped and model_files.writable_by_this_user(entry.path) and entry.path.is_dir()
    ]
    built = {}
    for name, build in (("face detector", build_detector), ("classifier", build_classifier)):
        try:
            built[name] = part = build(config)
            detail = (
                f"{config.detector.type} loaded, run by {part.engine}; {detector_file(config)}"
                if name == "face detector"
                else f"{part.model_path} loaded, sha256 as its card says [{model_files.origin(part.model_path)}]; "
                + model_files.why_chosen(part.model_path, "classifier.model", c.classifier.model, c.models.dir)
            )
            if name == "classifier" and part.fast_first:
                detail += f"; fast first: {part.fast_first} (labels first, keeps the answers it is that sure of)"
            checks.append(Check(name, True, detail))
        except Exception as exc:
            fix = "maskgate models fetch (for YuNet); maskgate models lists where files are searched"
            checks.append(
                Check(name, False, str(exc).replace("\n", " "), "" if isinstance(exc, BackendUnavailableError) else fix)
            )
    if len(built) == 2:
        checks += check_self_test(built["face detector"], config.detector.type, built["classifier"])
    return checks


def detector_file(config: Config) -> str:
    """Which file the detector runs, and why that one."""
    from edge.detectors import detector_class
    from edge.modelfiles import find as model_files

    dirs = model_files.model_dirs(config.models.dir)
    path = detector_class(config.detector.type).find_model_files(config.detector.model, dirs)[-1]
    return f"{path}: " + model_files.why_chosen(path, "detector.model", config.detector.model, config.models.dir)


def run_checks(config: Config, config_checks: list[Check] | None = None) -> list[Check]:
    """`config_checks`: check_config's, for the config edge.cli loaded before anything else."""
    steps: list[Callable[[], Check | list[Check]]] = [
        lambda: config_checks or [],
        check_python,
        check_board,
        check_thermal,
        lambda: check_runtime(config),
        check_opencv,
        lambda: check_models(config),
        lambda: check_camera(config),
        check_gpio,
    ]
    checks: list[Check] = []
    for step in steps:
        result = step()
        checks += result if isinstance(result, list) else [result]
    return checks
