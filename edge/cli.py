"""`maskgate`: run the door loop, classify crops, manage model files, check the machine."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from edge import __version__
from edge.errors import EXIT_SETUP, ModelNotFoundError, SetupError, os_errors_as, run_command, third_party_imports
from edge.registry import DETECTORS

log = logging.getLogger("maskgate")


def setup_logging(level: str) -> None:
    under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
    fmt = "%(levelname)s %(name)s: %(message)s" if under_systemd else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)


OVERRIDE_FLAGS = {
    "source": "source.uri",
    "display": "output.display",
    "record": "output.record",
    "events": "output.events",
    "mqtt": "mqtt.broker",
    "device_id": "mqtt.device_id",
    "log_level": "logging.level",
}


def load_config(args: argparse.Namespace):
    """The config file with the CLI flags over it, every setting checked; a ConfigError lists every problem."""
    from edge import config as cfg

    path = Path(args.config) if args.config else None
    flags = {key: getattr(args, flag, None) for flag, key in OVERRIDE_FLAGS.items()}
    with os_errors_as(cfg.ConfigError, f"config file {path}", fix="pass --config a TOML file this user may read"):
        return cfg.load(path, flags)


DEMO_RECORD = "maskgate-demo.avi"
"""Where `maskgate run --source demo` writes its annotated video unless --record says otherwise: Motion JPEG,
which every OpenCV build writes."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
"""Each stops the loop with every output switched off; SIGHUP comes with a closed SSH terminal, and SIGUSR1
would otherwise kill the process with the relay or LEDs left as they were."""


def cmd_run(args: argparse.Namespace) -> int:
    with third_party_imports("maskgate run"):
        from edge.app import build_classifier, build_detector, build_outputs, build_pipeline, build_policy, build_source
        from edge.health.self_test import require_passed, run_self_test
        from edge.health.service import ServiceMonitor
        from edge.health.thermal import ThermalMonitor
        from edge.outputs.summary import PersonSummary
        from edge.sources import DEMO_SOURCE, is_live, is_stills, none_readable

    config = args.loaded_config
    if config.source.uri == DEMO_SOURCE and not config.output.record:
        config.output.record = DEMO_RECORD
    monitor = ServiceMonitor.from_environment(config.service)  # systemd: READY, WATCHDOG, STATUS
    monitor.start()
    detector = build_detector(config, stills=is_stills(config.source.uri))
    classifier = build_classifier(config)
    require_passed(run_self_test(detector, config.detector.type, classifier), classifier, config.detector.type)
    source = build_source(config)
    outputs = build_outputs(config)
    summary = None if is_live(config.source.uri) else PersonSummary(build_policy(config))
    pipeline = build_pipeline(
        config, detector, classifier, [*outputs, summary] if summary else outputs, per_frame=source.per_frame_decisions
    )
    pipeline.stats.thermal = ThermalMonitor()
    monitor.attach(pipeline.stats, config.source.uri)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()
        monitor.stopping()
        source.close()

    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, request_stop)
    log.info(
        "running: source %s, detector %s, classifier %s", config.source.uri, config.detector.type, classifier.model_path
    )
    try:
        stats = pipeline.run(source, stop, max_frames=args.max_frames)
    finally:
        source.close()
        pipeline.close()  # outputs off: GPIO alerts switch off here on exit, SIGTERM or an unhandled error
        monitor.stop()
    if stats.skipped_files and not stats.frames:
        raise none_readable(stats.skipped_files, config.source.uri)
    log.info("done: %s", json.dumps(stats.summary()))
    if summary is not None:
        out = sys.stderr if config.output.events == "-" else sys.stdout  # stdout may be the JSON-lines event log
        lines = summary.lines()
        if config.output.record:
            lines.append(
                f"annotated {'video' if Path(config.output.record).suffix else 'frames'}: "
                f"{Path(config.output.record).expanduser().resolve()}"
            )
        print("\n".join(lines), file=out, flush=True)
    return 0


def cmd_alerts_off(args: argparse.Namespace) -> int:
    from edge.outputs.alerts import switch_off

    switch_off(args.loaded_config.alerts)
    return 0


SCENE_FACE_SHARE = 0.25
"""A picture whose only face is narrower than this share of its width is a scene, not a face crop."""


def cmd_classify(args: argparse.Namespace) -> int:
    """Classify face crops; a picture with several faces (or one small face) is a scene: each face is classified
    from the crop `maskgate run` would take, with a warning. Bad input as `run`: a missing path or a folder with no
    images is exit 2 before anything runs; an unreadable file is skipped with its reason, all unreadable is exit 2."""
    with third_party_imports("maskgate classify"):
        from edge.app import build_classifier, build_detector
        from edge.sources import image_files, no_such_path, none_readable
        from edge.sources.files import UnreadableImageError, read_image
        from edge.vision.crop import CropRule, crop_face

    config = args.loaded_config
    files: list[Path] = []
    for name in args.images:
        path = Path(name).expanduser()
        if path.is_dir():
            files += image_files(path)
        elif path.exists():
            files.append(path)
        else:
            raise no_such_path("classify:", path)
    classifier = build_classifier(config)
    detector = build_detector(config, stills=True)
    whole = CropRule(size=classifier.input_size, margin=0.0)
    skipped = 0
    for file in files:
        try:
            image = read_image(file, config.source.max_image_pixels)
            height, width = image.shape[:2]
            if min(height, width) < 2:
                raise UnreadableImageError(f"{width}x{height} is too small to classify")
        except UnreadableImageError as exc:
            log.warning("skipping %s: %s", file, exc)
            skipped += 1
            continue
        faces = detector.detect(image)
        if len(faces) < 2 and not (faces and faces[0].width < SCENE_FACE_SHARE * width):
            rows = [{"file": str(file)}]
            crops = [crop_face(image, (0, 0, width, height), whole)]
        else:
            log.warning("%s is a scene with %d face(s), not a face crop: classifying each face", file, len(faces))
            rows = [{"file": str(file), "face": i, "box": [round(v) for v in f.box]} for i, f in enumerate(faces)]
            crops = [crop_face(image, face.box, classifier.card.crop) for face in faces]
        for row, probabilities in zip(rows, classifier.classify(crops), strict=True):
            best = int(probabilities.argmax())
            row |= {"label": classifier.labels[best], "score": round(float(probabilities[best]), 4)}
            print(json.dumps(row), flush=True)
    if skipped == len(files):
        raise none_readable(skipped, " ".join(args.images))
    if skipped:
        log.warning("%d of %d file(s) could not be read and were skipped", skipped, len(files))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from edge.modelfiles import find as model_files

    config = args.loaded_config
    if args.action == "fetch":
        from edge.modelfiles.fetch import YUNET_2023MAR, FetchError, PinnedFile, fetch

        pinned = YUNET_2023MAR
        if args.sha256:
            pinned = PinnedFile(
                pinned.name if not args.url else Path(args.url).name, args.url or pinned.url, args.sha256
            )
        dest = Path(args.dest) if args.dest else model_files.user_model_dir()
        with os_errors_as(FetchError, f"model directory {dest}", fix="pass --dest a directory this user may write"):
            print(fetch(pinned, dest, url=args.url))
        if dest.expanduser() not in model_files.model_dirs(config.models.dir):
            log.warning(
                "%s is not searched (this user can write it, so it is no place to trust models from); "
                "set models.dir = %r to use what is in it",
                dest,
                str(dest),
            )
        return 0
    dirs = model_files.model_dirs(config.models.dir)
    print("model directories, in search order:")
    for entry in model_files.search_plan(config.models.dir):
        state = entry.skipped or ("" if entry.path.is_dir() else "(absent)")
        print(f"  {entry.path}  [{entry.named_by}]{'  ' + state if state else ''}")
    missing = 0
    for name in DETECTORS:
        in_use = name == config.detector.type
        explicit = config.detector.model if in_use else ""
        missing += not list_model(f"detector {name}", in_use, partial(detector_weights, name, explicit, dirs))
    find_classifier = partial(model_files.find_classifier, config.classifier.model, dirs)
    missing += not list_model("classifier", True, find_classifier)
    partner = fast_partner(find_classifier) if config.classifier.fast_first else None
    if partner is not None:
        missing += not list_model("fast classifier", True, partial(existing_model, partner))
    return 1 if missing else 0


def fast_partner(find_classifier: Callable[[], Path]) -> Path | None:
    """Where the fast-first partner the classifier's card names belongs (beside it); None when the card names
    none or the classifier itself cannot be read (listed above)."""
    from edge.vision.model_card import ModelCard

    try:
        main = find_classifier()
        fast = ModelCard.for_model(main).fast_model
    except SetupError:
        return None
    return fast.beside(main) if fast is not None else None


def existing_model(path: Path) -> Path:
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing; its partner's model card names it")
    return path


def detector_weights(name: str, explicit: str, dirs: list[Path]) -> Path:
    from edge.detectors import detector_class

    return detector_class(name).find_model_files(explicit, dirs)[-1]


def list_model(name: str, in_use: bool, find: Callable[[], Path]) -> bool:
    """Print where a model was found; False when one in use is missing or cannot run here."""
    from edge.modelfiles import find as model_files

    try:
        path = find()
        print(f"{name}: {path}{'  (in use)' if in_use else ''}  [{model_files.origin(path)}]")
        return True
    except SetupError as exc:
        status = "not found" if isinstance(exc, ModelNotFoundError) else "unavailable"
        print(f"{name}: {status}{'  (in use!)' if in_use else ''}" + (f"\n  {exc}" if in_use else ""))
        return not in_use


def cmd_doctor(args: argparse.Namespace) -> int:
    from edge.checkup import run_checks
    from edge.health.doctor import check_config

    checks = run_checks(args.loaded_config, check_config(args.config, args.config_problem))
    for check in checks:
        print(check.render())
    failed = [c for c in checks if c.ok is False]
    print(f"\n{len(failed)} problem(s) found" if failed else "\nall checks passed")
    return 1 if failed else 0


def cmd_web_password(args: argparse.Namespace) -> int:
    """Ask for the door page's password (twice on a terminal, one line from a pipe) and write its hash."""
    import getpass

    from edge.config import ConfigError
    from edge.config.password import hash_password
    from edge.config.web_settings import write_hash

    target = args.file or args.loaded_config.web.password_file
    if not target and args.config_problem is not None and args.config:
        import tomllib

        from edge.config import parse

        # the config failed its rules, most likely because the file it names is not written yet: take the name
        data = tomllib.loads(Path(args.config).read_text(encoding="utf-8"))
        target = parse(data)[0].web.password_file
    if not target:
        raise ConfigError("web-password: name the file (maskgate web-password FILE) or set web.password_file")
    if sys.stdin.isatty():
        password = getpass.getpass("door page password: ")
        if getpass.getpass("again: ") != password:
            raise ConfigError("web-password: the two passwords differ; nothing written")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise ConfigError("web-password: use at least 8 characters; nothing written")
    path = Path(target).expanduser()
    with os_errors_as(ConfigError, f"web-password file {path}", fix="name a file in a folder this user may write"):
        write_hash(path, hash_password(password))
    print(f'wrote the password hash to {path} (mode 0640); set web.password_file = "{path}" in [web]')
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from edge.config.docs import default_toml, markdown_reference

    if args.check:
        return check_config(Path(args.check))
    print(markdown_reference() if args.markdown else default_toml(), end="")
    return 0


def check_config(path: Path) -> int:
    """Every problem of the config file, one line each with its key; exit 2 if there is any."""
    from edge.config import ConfigError, check_file

    with os_errors_as(ConfigError, f"config file {path}", fix="give a TOML file this user may read"):
        problems = check_file(path)
    for problem in problems:
        print(f"{path}: {problem}")
    if problems:
        print(f"{len(problems)} problem(s) in {path}")
        return EXIT_SETUP
    print(f"{path}: OK")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maskgate", description="Face-mask detection at a door, on a Raspberry Pi.")
    parser.add_argument("--version", action="version", version=f"maskgate {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML config file (defaults are built in)")
    common.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", parents=[common], help="run the door loop")
    run.add_argument("--source", help="camera index, /dev/videoN, picamera2, video file, stream URL, image or folder")
    run.add_argument("--display", choices=("none", "window", "screen"), help="screen: the entrance screen ([screen])")
    run.add_argument("--record", help="video file (.mp4/.avi/.mkv) or folder for annotated frames")
    run.add_argument("--events", help="JSON-lines event log, '-' for stdout")
    run.add_argument("--mqtt", metavar="URL", help="publish events to this broker: mqtt://HOST[:PORT] or mqtts://...")
    run.add_argument("--device-id", help="this door's name in MQTT topics and Home Assistant (default: host name)")
    run.add_argument("--max-frames", type=int, help="stop after N frames")
    run.set_defaults(handler=cmd_run)

    classify = commands.add_parser("classify", parents=[common], help="classify already-cropped face images")
    classify.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR")
    classify.set_defaults(handler=cmd_classify)

    models = commands.add_parser("models", parents=[common], help="list model files; `models fetch` downloads YuNet")
    models.add_argument("action", nargs="?", choices=("list", "fetch"), default="list")
    models.add_argument("--dest", help="fetch: directory (default: the user model directory)")
    models.add_argument("--url", help="fetch: another URL (a mirror, or file:// for a local copy)")
    models.add_argument("--sha256", help="fetch: expected sha256 when --url names another file")
    models.set_defaults(handler=cmd_models)

    doctor = commands.add_parser("doctor", parents=[common], help="check runtime, OpenCV, camera, GPIO, models")
    doctor.set_defaults(handler=cmd_doctor)

    config = commands.add_parser("config", parents=[common], help="print a commented default config file")
    config.add_argument("--markdown", action="store_true", help="the config reference as a Markdown table")
    config.add_argument("--check", metavar="FILE", help="check FILE: print every problem with its key, exit 2 if any")
    config.set_defaults(handler=cmd_config)

    alerts_off = commands.add_parser(
        "alerts-off", parents=[common], help="switch every configured GPIO output off (the service's ExecStopPost)"
    )
    alerts_off.set_defaults(handler=cmd_alerts_off)

    web_password = commands.add_parser(
        "web-password", parents=[common], help="set the door page's password: writes its salted hash to FILE"
    )
    web_password.add_argument("file", nargs="?", metavar="FILE", help="hash file (default: web.password_file)")
    web_password.set_defaults(handler=cmd_web_password)

    from edge.bench import command as bench_command  # stdlib imports only; the heavy ones happen inside run_command

    bench = commands.add_parser("bench", parents=[common], help="measure FPS and stage latency on a fixed frame set")
    bench_command.add_arguments(bench)
    bench.set_defaults(handler=bench_command.run_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level or "INFO")
    args.config_problem = None
    try:
        args.loaded_config = load_config(args)
    except SetupError as exc:
        if args.command not in ("doctor", "web-password") or not getattr(exc, "problems", None):
            log.error("config error: %s", exc)
            return EXIT_SETUP
        # doctor shows the settings' problems and checks the rest with the defaults; web-password may be what
        # fixes them (a web.password_file not written yet)
        from edge.config import Config

        args.config_problem, args.loaded_config = exc, Config()
    setup_logging(args.loaded_config.logging.level)
    return run_handler(args)


def run_handler(args: argparse.Namespace) -> int:
    """The edge.errors contract: a SetupError is logged and exits 2; anything else propagates (traceback, exit 1)."""
    return run_command(lambda: args.handler(args), log)


if __name__ == "__main__":
    sys.exit(main())
