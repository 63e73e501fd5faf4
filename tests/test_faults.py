"""Fault suite (issue 12): hostile files, full disks, silent brokers, signals and people who follow each other,
driven for real: bomb files are made at test time, disk-full comes from RLIMIT_FSIZE in a child process."""

from __future__ import annotations

import functools
import itertools
import json
import re
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import need_shared

from edge.cli import main


def png_bomb(path: Path, side: int) -> Path:
    """A valid 1-bit grey PNG of side x side pixels: a few hundred KB on disk, side**2 * 3 bytes as decoded BGR."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def hostile_folder(facemask_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "hostile"
    folder.mkdir()
    png_bomb(folder / "a_bomb_40000.png", 40_000)
    png_bomb(folder / "b_bomb_30000.png", 30_000)
    cv2.imwrite(str(folder / "c_one_pixel.png"), np.zeros((1, 1, 3), np.uint8))
    (folder / "d_text.jpg").write_text("not a picture")
    (folder / "e_empty.png").write_bytes(b"")
    face = sorted((facemask_dir / "without_mask").glob("*.jpg"))[0]
    (folder / "z_face.jpg").write_bytes(face.read_bytes())
    return folder


def test_the_bomb_is_what_it_claims(tmp_path: Path) -> None:
    bomb = png_bomb(tmp_path / "bomb.png", 40_000)
    assert bomb.stat().st_size < 1_000_000
    from edge.sources.files import image_size

    assert image_size(bomb) == (40_000, 40_000)


def log_messages(stderr: str) -> list[str]:
    """The message part of each `time LEVEL logger: message` line maskgate logged."""
    return [line.split(": ", 1)[1] for line in stderr.splitlines() if ": " in line]


def test_run_skips_bombs_and_junk_counts_them_and_finishes_the_folder(
    model_env, hostile_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    events = tmp_path / "events.jsonl"
    assert main(["run", "--source", str(hostile_folder), "--events", str(events)]) == 0
    messages = log_messages(capsys.readouterr().err)
    (done,) = [m for m in messages if m.startswith("done: ")]
    summary = json.loads(done.removeprefix("done: "))
    assert summary["skipped_files"] == 4, "two bombs, a text file and an empty file"
    assert summary["frames"] == 1 and summary["skipped_frames"] == 1, "the face decided; the 1x1 frame skipped"
    assert [json.loads(line)["frame"] for line in events.read_text().splitlines()] == ["z_face.jpg"]
    skips = [m for m in messages if m.startswith("skipping ")]
    assert len(skips) == 5, skips
    assert any("a_bomb_40000.png: 40000x40000 is 1600 MP, over source.max_image_pixels" in s for s in skips)


def test_a_folder_of_only_unreadable_files_is_an_error_not_a_success(model_env, tmp_path: Path) -> None:
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.jpg").write_text("text")
    png_bomb(folder / "b.png", 40_000)
    assert main(["run", "--source", str(folder), "--events", "-"]) == 2


def test_classify_goes_through_the_whole_batch(default_classifier, hostile_folder: Path, capsys) -> None:
    assert main(["classify", str(hostile_folder)]) == 0, "as run: unreadable files are skipped with a warning"
    printed = [json.loads(line)["file"] for line in capsys.readouterr().out.splitlines()]
    assert [Path(p).name for p in printed] == ["z_face.jpg"], "every bad file skipped, the last one classified"


# --- one decision per person -------------------------------------------------------------------------------


def door_scene(face: np.ndarray, squash: float = 1.0, tilt: float = 0.0) -> np.ndarray:
    """A 640x480 door view with the person's photo at the same spot every time, turned by a horizontal squash
    (yaw) and a rotation (tilt): ../shared has no clip of one person turning, so the turn is made from one
    real photo."""
    scale = 320 / max(face.shape[:2])
    person = cv2.resize(face, None, fx=scale * squash, fy=scale)
    if tilt:
        height, width = person.shape[:2]
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), tilt, 1.0)
        person = cv2.warpAffine(person, turn, (width, height), borderValue=(90, 90, 90))
    scene = np.full((480, 640, 3), 90, np.uint8)
    y, x = (480 - person.shape[0]) // 2, (640 - person.shape[1]) // 2
    scene[y : y + person.shape[0], x : x + person.shape[1]] = person
    return scene


@pytest.fixture(scope="module")
def door_parts(shared_models: Path, default_classifier: Path):
    from edge.config import DetectorConfig
    from edge.detectors import create_detector
    from edge.modelfiles import find as model_files
    from edge.vision.classifier import MaskClassifier

    return create_detector(DetectorConfig(), model_files.model_dirs(str(shared_models))), MaskClassifier(
        default_classifier
    )


@pytest.fixture(scope="module")
def masked_people(door_parts) -> list[np.ndarray]:
    """Four photos of different masked people that the shipped model calls masked, each alone at the door
    (the test is about tracking; the classifier's accuracy is measured elsewhere)."""
    from edge.config import TrackerConfig
    from edge.pipeline import Pipeline
    from edge.vision.labels import MASK
    from edge.vision.tracker import Tracker
    from edge.vision.types import Frame

    folder = need_shared("data/masked-people/with_mask")
    picked = []
    for path in sorted(folder.glob("*.jpg")):
        photo = cv2.imread(str(path))
        pipeline = Pipeline(*door_parts, Tracker(TrackerConfig(), per_frame=True))
        tracked, _ = pipeline.process(Frame(path.name, 0.0, door_scene(photo)))
        if len(tracked) == 1 and tracked[0].label == MASK:
            picked.append(photo)
        if len(picked) == 4:
            return picked
    pytest.fail(f"fewer than four single masked faces in {folder}")


def walk_past_the_door(door_parts, scenes: list[np.ndarray], **tracker_settings: float):
    """The real detector, classifier, tracker and GPIO alerts (MockFactory) over these frames, in order;
    returns the decisions and how many times the relay opened."""
    from gpiozero.pins.mock import MockFactory

    from edge.config import AlertsConfig, TrackerConfig
    from edge.outputs.alerts import GpioAlerts
    from edge.pipeline import Pipeline
    from edge.vision.tracker import Tracker
    from edge.vision.types import Frame

    factory = MockFactory()
    alerts = GpioAlerts(AlertsConfig(relay=23, relay_seconds=0.01), pin_factory=factory)
    relay = alerts.devices["relay"]
    relay.blink = functools.partial(relay.blink, background=False)  # each pulse ends before the next frame
    pipeline = Pipeline(
        *door_parts, Tracker(TrackerConfig(vote_window=5, vote_min=3, max_missed=15, **tracker_settings)), [alerts]
    )
    decisions = []
    try:
        for number, scene in enumerate(scenes):
            tracked, made = pipeline.process(Frame(str(number), float(number), scene))
            decisions += made
            pipeline._emit(Frame(str(number), float(number), scene), tracked, made)
        states = [s.state for s in factory.pin(23).states]
    finally:
        alerts.close()
        factory.reset()
        factory.close()
    openings = sum(1 for before, after in itertools.pairwise(states) if after and not before)
    return decisions, openings


def test_four_masked_people_one_after_another_get_four_decisions_and_four_openings(door_parts, masked_people):
    empty = np.full((480, 640, 3), 90, np.uint8)
    scenes = []
    for photo in masked_people:
        scenes += [door_scene(photo)] * 8 + [empty] * 2  # two empty frames: well within max_missed
    decisions, openings = walk_past_the_door(door_parts, scenes)
    assert len(decisions) == 4 and len({d.track for d in decisions}) == 4, decisions
    assert openings == 4
    _, old_openings = walk_past_the_door(door_parts, scenes, same_face_min=0.0, return_face_min=0.0)
    assert old_openings < 4, "without appearance a person inherits the track of the one before (the bug)"


def test_one_person_turning_their_head_keeps_one_track(door_parts, masked_people):
    turn = [(1.0, 0), (0.95, 4), (0.9, 8), (0.85, 12), (0.9, 8), (0.95, 4), (1.0, 0), (0.95, -4), (0.9, -8)]
    scenes = [door_scene(masked_people[0], squash, tilt) for squash, tilt in turn * 2]
    decisions, openings = walk_past_the_door(door_parts, scenes)
    assert len(decisions) == 1 and openings == 1, decisions


# --- full disks and special files ----------------------------------------------------------------------------

DISK_FULL_CHILD = """
import json, logging, resource, signal, sys
import numpy as np
from edge.vision.labels import NO_MASK
from edge.config import EventsConfig
from edge.outputs.events import EventLog
from edge.outputs.snapshots import Snapshots
from edge.pipeline import Pipeline
from edge.vision.types import Decision, Face, Frame, TrackedFace

folder, limit, frames = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, write() fails with EFBIG like a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
outputs = [
    EventLog(folder + "/events.jsonl", EventsConfig(fsync=True)),
    Snapshots(folder + "/snaps", EventsConfig(snapshot_max_days=0)),
]
pipeline = Pipeline(None, None, None, outputs)
image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
for number in range(frames):
    box = (10.0, 20.0, 110.0, 140.0)
    decision = Decision(str(number), 1.7e9 + number, number, box, NO_MASK, 0.9)
    face = TrackedFace(Face(box, 0.9), number, NO_MASK, 0.9, NO_MASK)
    pipeline._emit(Frame(str(number), decision.time, image), [face], [decision])
pipeline.close()
print(json.dumps(dict(pipeline.stats.output_failures)))
"""


def test_a_full_disk_is_a_state_not_a_flood_and_leaves_no_torn_line_or_temp_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    frames, limit = 1500, 20_000
    child = subprocess.run(
        [sys.executable, "-c", DISK_FULL_CHILD, str(tmp_path), str(limit), str(frames)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    failures = json.loads(child.stdout)
    lines = (tmp_path / "events.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b"", "the log ends with a whole line"
    written = [json.loads(line) for line in lines[:-1]]
    assert len(written) + failures["events"] == frames, "every event is either written whole or counted as dropped"
    assert failures["events"] > 1000 and failures["snapshots"] > 1000
    assert not list((tmp_path / "snaps").glob(".*")), "no temp files left by failed snapshot writes"
    errors = [line for line in child.stderr.splitlines() if line.startswith("ERROR ")]
    assert len(errors) <= 4, errors
    assert "Traceback" not in child.stderr
    assert any("output events on_decision failed: [Errno 27] File too large" in line for line in errors)


def test_dev_null_is_a_working_event_log(tmp_path: Path) -> None:
    from edge.config import EventsConfig
    from edge.outputs.events import EventLog
    from edge.vision.labels import MASK
    from edge.vision.types import Decision

    log = EventLog("/dev/null", EventsConfig(max_bytes=10, fsync=True))
    for number in range(3):
        log.on_decision(Decision(str(number), 1.7e9, number, (0.0, 0.0, 1.0, 1.0), MASK, 0.9))
    log.close()


def test_the_event_log_does_not_follow_a_symlink(tmp_path: Path) -> None:
    from edge.config import EventsConfig
    from edge.outputs.events import EventLog

    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "events.jsonl").symlink_to(victim)
    with pytest.raises(OSError, match="cannot open event log"):
        EventLog(str(tmp_path / "events.jsonl"), EventsConfig())
    assert victim.read_text() == "keep"


# --- silent failures -----------------------------------------------------------------------------------------


def test_a_broker_that_accepts_tcp_and_never_answers_is_reported(tmp_path: Path, caplog) -> None:
    import logging
    import socket

    from edge.config import MqttConfig
    from edge.outputs.mqtt import MqttPublisher

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # the kernel completes the handshake; nobody ever reads or answers
    port = listener.getsockname()[1]
    caplog.set_level(logging.INFO, logger="edge.outputs.mqtt")
    publisher = MqttPublisher(
        MqttConfig(broker=f"mqtt://127.0.0.1:{port}", device_id="door1", outbox=str(tmp_path / "outbox.db")),
        labels=("mask", "no_mask"),
        drain_timeout=0.1,
    )
    try:
        publisher.silent_after = 1.0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "has not answered" not in caplog.text:
            time.sleep(0.1)
        assert f"127.0.0.1:{port} took the connection but has not answered" in caplog.text
        time.sleep(2.5)
        assert caplog.text.count("has not answered") == 1, "logged once"
        assert not publisher.status().connected
    finally:
        publisher.close()
        listener.close()


@pytest.fixture
def stalling_stream(facemask_dir: Path):
    """An MJPEG stream over HTTP that sends 20 frames of a face, then keeps the connection open and silent."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    face = cv2.imread(str(sorted((facemask_dir / "without_mask").glob("*.jpg"))[0]))
    jpeg = cv2.imencode(".jpg", cv2.resize(face, (320, 320)))[1].tobytes()
    finished = threading.Event()
    stop = threading.Event()

    class Stream(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=f")
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg) + jpeg)
                self.wfile.write(b"\r\n")
                time.sleep(0.05)
            finished.set()
            stop.wait(60)  # the stall: open and silent

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/stream.mjpg", finished
    stop.set()
    server.shutdown()
    server.server_close()


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def wait_until_read(server_port: int, timeout: float = 30.0) -> None:
    """Wait until the client end of the connection to `server_port` has read every byte the server sent: its
    receive queue in /proc/net/tcp is empty, so the reader is blocked waiting for more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queues = []
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local_port, remote_port = (int(address.split(":")[1], 16) for address in fields[1:3])
            if remote_port == server_port and local_port != server_port and fields[3] == "01":  # ESTABLISHED
                queues.append(int(fields[4].split(":")[1], 16))
        if queues and not any(queues):
            return
        time.sleep(0.05)
    raise AssertionError(f"the client never read all of the stream on port {server_port} within {timeout} s")


@pytest.mark.parametrize("signal_name", ["SIGHUP", "SIGUSR1"])
def test_hangup_and_usr1_stop_with_outputs_off_within_a_second_during_a_stall(
    model_env, stalling_stream, tmp_path: Path, signal_name: str
) -> None:
    import os
    import signal
    import subprocess
    import sys

    url, finished = stalling_stream
    config = tmp_path / "maskgate.toml"
    config.write_text(f'[source]\nuri = "{url}"\n[alerts]\ngreen_led = 17\nrelay = 27\n')
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}
    process = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config), "--events", str(tmp_path / "events.jsonl")],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert finished.wait(60), "the door loop never read the stream"
        wait_until_read(port_of(url))  # now in the stall: the camera thread is blocked in a read
        sent = time.monotonic()
        process.send_signal(getattr(signal, signal_name))
        process.wait(10)
        took = time.monotonic() - sent
    finally:
        process.kill()
        stderr = process.stderr.read()
        process.stderr.close()
    assert process.returncode == 0, stderr
    assert f"received {signal_name}; stopping" in stderr
    assert "GPIO outputs off" in stderr
    print(f"{signal_name}: stopped in {took:.2f} s")  # 0.7-0.8 s measured here, interpreter exit included
    assert took < 5.0, f"stopped in {took:.2f} s: waiting for the stuck camera read again (it took 10 s)"


def test_the_reconnect_message_names_a_stream_not_dev_video() -> None:
    from edge.config import SourceConfig
    from edge.sources import SourceError
    from edge.sources.live import OpenCVCamera

    with pytest.raises(SourceError, match=r"cannot open stream 'http://127\.0\.0\.1:9/x\.mjpg'") as raised:
        OpenCVCamera("http://127.0.0.1:9/x.mjpg", SourceConfig())
    assert "/dev/video" not in str(raised.value)


def test_record_to_an_unknown_video_suffix_is_refused_not_made_a_folder(tmp_path: Path) -> None:
    from edge.errors import OutputError
    from edge.outputs.video import Recorder

    with pytest.raises(OutputError, match=r"\.webm is not a video format"):
        Recorder(str(tmp_path / "out.webm"))
    assert not (tmp_path / "out.webm").exists()
    Recorder(str(tmp_path / "frames"))
    assert (tmp_path / "frames").is_dir()


def test_a_long_folder_run_reports_progress_on_a_log_and_a_terminal(caplog) -> None:
    import io
    import logging

    from edge.sources.progress import with_progress

    ticks = iter(range(0, 1000, 3))
    caplog.set_level(logging.INFO, logger="edge.sources.progress")
    assert list(with_progress(range(10), 10, "images", interval=10.0, clock=lambda: next(ticks))) == list(range(10))
    assert [r.getMessage() for r in caplog.records][:2] == [
        "progress: 4/10 images (40%)",
        "progress: 8/10 images (80%)",
    ]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    list(with_progress(range(4), 4, "images", stream=terminal))
    assert terminal.getvalue().endswith("\r[" + "#" * 30 + "] 4/4 images\n")


# --- trust in model files --------------------------------------------------------------------------------------


def test_a_classifier_dropped_into_a_model_folder_is_announced_and_must_match_its_card(
    default_classifier: Path, monkeypatch, tmp_path: Path, capsys, caplog
) -> None:
    import logging
    import shutil

    from edge.app import build_classifier
    from edge.config import Config
    from edge.vision.model_card import ModelCard, ModelCardError

    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("MASKGATE_MODEL_DIR", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert build_classifier(Config()).model_path == default_classifier, "the packaged one verifies"

    dropped = folder / default_classifier.name
    shutil.copy(default_classifier, dropped)
    shutil.copy(default_classifier.with_suffix(".json"), dropped.with_suffix(".json"))
    fast = default_classifier.with_name(ModelCard.for_model(default_classifier).fast_model.file)
    for suffix in (".tflite", ".json"):  # the model's fast-first partner, which its card names
        shutil.copy(fast.with_suffix(suffix), folder / fast.with_suffix(suffix).name)
    caplog.set_level(logging.WARNING, logger="edge.app")
    assert build_classifier(Config()).model_path == dropped
    assert f"is NOT the packaged default: from {folder}" in caplog.text
    assert main(["models"]) == 0
    assert f"{dropped}  (in use)  [NOT the packaged default: from {folder}]" in capsys.readouterr().out

    dropped.write_bytes(dropped.read_bytes()[:-16] + bytes(16))  # same card, other model
    with pytest.raises(ModelCardError, match="the model or its card was replaced or damaged"):
        build_classifier(Config())
    assert main(["classify", str(dropped)]) == 2

    card = json.loads(dropped.with_suffix(".json").read_text())
    del card["model_sha256"]
    dropped.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match="has no model_sha256"):
        build_classifier(Config())


def test_a_world_writable_model_folder_named_in_the_config_stops_run_with_the_path_and_the_fix(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """Before: used with a warning. A folder anyone can write is a place anyone can plant the door's model."""
    monkeypatch.delenv("MASKGATE_MODEL_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "models"
    folder.mkdir()
    folder.chmod(0o777)
    config = tmp_path / "maskgate.toml"
    config.write_text(f'[models]\ndir = "{folder}"\n')
    assert main(["run", "--config", str(config), "--source", str(tmp_path), "--events", "-"]) == 2
    err = capsys.readouterr().err
    assert f"model folder (models.dir in the config) {folder} may be written by everyone" in err
    assert f"chmod go-w {folder}" in err


# --- state files ---------------------------------------------------------------------------------------------


def test_a_corrupt_mqtt_outbox_does_not_stop_the_door(model_env, facemask_dir: Path, tmp_path: Path, capsys) -> None:
    """Before: exit 2 (systemd never restarts it), GPIO and screen off for good."""
    outbox = tmp_path / "state" / "outbox.sqlite3"
    outbox.parent.mkdir()
    outbox.write_bytes(b"SQLite format 3\0" + bytes(4096))  # a header and nothing behind it
    folder = tmp_path / "pictures"
    folder.mkdir()
    face = sorted((facemask_dir / "without_mask").glob("*.jpg"))[0]
    (folder / "face.jpg").write_bytes(face.read_bytes())
    config = tmp_path / "maskgate.toml"
    config.write_text(f'[mqtt]\nbroker = "mqtt://127.0.0.1:9"\noutbox = "{outbox}"\n')
    assert main(["run", "--config", str(config), "--source", str(folder), "--events", "-"]) == 0
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "is damaged" in errors[0] and ".corrupt-" in errors[0], errors
    assert len(list(outbox.parent.glob("outbox.sqlite3.corrupt-*"))) == 1


# --- one bad value or file as the config --------------------------------------------------------------------


def config_check(path: Path, capsys) -> tuple[int, str]:
    code = main(["config", "--check", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("output.events", "/tmp/ev\\u0000ents.jsonl"),
        ("events.snapshot_dir", "/tmp/snap\\u0000shots"),
        ("mqtt.password_file", "/etc/pass\\u0000word"),
        ("web.password_file", "/etc/pass\\u0000word"),
        ("mqtt.device_id", "door\\u001b[2J"),
        ("screen.idle_text", "line\\nforged log line"),
    ],
)
def test_a_nul_or_control_character_in_any_string_is_a_config_problem_under_its_key(
    tmp_path: Path, capsys, key: str, value: str
) -> None:
    """Before: a NUL passed --check, then `run` died with exit 1 and systemd restarted it every 5 s forever (in a
    password file's name: a ValueError traceback)."""
    section, name = key.split(".")
    config = tmp_path / "maskgate.toml"
    extra = 'broker = "mqtt://127.0.0.1"\n' if section == "mqtt" else ""
    config.write_text(f'[{section}]\n{extra}{name} = "{value}"\n')
    code, out = config_check(config, capsys)
    assert code == 2 and f"{key}: contains " in out and "Traceback" not in out, out
    assert main(["run", "--config", str(config), "--source", str(tmp_path)]) == 2


def test_an_empty_source_is_an_error_not_the_current_folder(tmp_path: Path, capsys) -> None:
    config = tmp_path / "maskgate.toml"
    config.write_text('[source]\nuri = ""\n')
    code, out = config_check(config, capsys)
    assert code == 2 and "source.uri: is empty" in out


def test_metrics_without_prometheus_client_fails_the_check_not_the_start(tmp_path: Path, capsys, monkeypatch) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "prometheus_client" else find_spec(name, *a)
    )
    config = tmp_path / "maskgate.toml"
    config.write_text("[metrics]\nport = 9108\n")
    code, out = config_check(config, capsys)
    assert code == 2 and "metrics.port: is set but prometheus-client is not installed" in out


def hostile_configs(tmp_path: Path) -> dict[str, Path]:
    import os

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.toml"
    huge.write_text("# padding\n" * 200_000)
    nested = tmp_path / "nested.toml"
    nested.write_text("x = " + "[" * 2048 + "]" * 2048 + "\n")
    dotted = tmp_path / "dotted.toml"
    dotted.write_text(".".join(["a"] * 50_000) + " = 1\n")
    return {"fifo": fifo, "/dev/zero": Path("/dev/zero"), "huge": huge, "nested": nested, "dotted": dotted}


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("fifo", "not a regular file"),
        ("/dev/zero", "not a regular file"),
        ("huge", "larger than 1000000 bytes"),
        ("nested", "nests more than 32"),
        ("dotted", "dotted key of more than 64 parts"),
    ],
)
def test_a_config_that_is_no_file_or_no_config_is_one_problem_not_a_hang(
    tmp_path: Path, capsys, kind: str, reason: str
) -> None:
    """Before: a FIFO hung `config --check` and `run`, /dev/zero read until memory ran out, nested arrays gave a
    RecursionError traceback, a 100 KB dotted key took 1.9 GB and minutes."""
    path = hostile_configs(tmp_path)[kind]
    code, out = config_check(path, capsys)
    assert code == 2 and reason in out and "Traceback" not in out, out
    assert main(["run", "--config", str(path), "--source", str(tmp_path)]) == 2


# --- memory bounded by the pixel budget ------------------------------------------------------------------------

RSS_BUDGET_MB = 320
"""Peak resident memory of `maskgate run` over the worst JPEG pictures (a Zero 2 W has 512 MB, the OS takes ~100).
Measured: 133 MB for a phone-sized face photo, 241 MB for any picture of 1600 px (the second look for stills
runs YuNet at 1280 px, and onnxruntime's working memory for it is most of that), 251 MB for 25 MP JPEG pictures
and a 1.5 GB file behind a JPEG header in one venv and 280-289 MB in another, freshly installed by .ci/run with
the same package versions (the same code: the venv alone moves it; not explained yet)."""
WHOLE_DECODE_MB = 3 * 25_000_000 / 2**20
"""What a picture OpenCV cannot decode at a reduced size (PNG, BMP, TIFF, WebP) adds at most: its BGR pixels at
source.max_image_pixels, for a moment, before it is shrunk."""


def peak_rss_mb_of_run(folder: Path, shared_models: Path, tmp_path: Path) -> tuple[float, str]:
    """`maskgate run` over the folder in a fresh process, which reports its own peak RSS as it ends: a measure of
    memory, not of time. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and
    exec, so it would report this test process's size."""
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from edge.cli import main\n"
        "code = main(['run', '--source', sys.argv[1], '--events', '-'])\n"
        "peak = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
        "print('peak_rss_kb', peak, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    # A controlled environment: what earlier tests left in os.environ (a pin factory, thread counts) must not
    # change what is measured.
    env = {name: os.environ[name] for name in ("PATH", "HOME", "PYTHONPATH", "LANG") if name in os.environ}
    env |= {"MASKGATE_MODEL_DIR": str(shared_models), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    result = subprocess.run(
        [sys.executable, "-c", script, str(folder)], capture_output=True, text=True, env=env, timeout=600
    )
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("peak_rss_kb")]
    return int(line.split()[1]) / 1024, result.stderr


@pytest.mark.parametrize("with_png", [False, True], ids=["jpeg", "jpeg-and-png"])
def test_the_worst_pictures_stay_within_the_memory_budget(shared_models: Path, tmp_path: Path, with_png: bool) -> None:
    """Before: a 1.5 GB file behind a valid JPEG header was read whole (1.6 GB RSS; under a limit a MemoryError
    traceback), and a 25 MP picture with no face took 454 MB (the border retry's canvas)."""
    folder = tmp_path / "worst"
    folder.mkdir()
    header = tmp_path / "header.jpg"
    cv2.imwrite(str(header), np.full((64, 64, 3), 120, np.uint8))
    with (folder / "a_huge.jpg").open("wb") as file:  # sparse: 1.5 GB on paper, a few KB on disk
        file.write(header.read_bytes())
        file.truncate(1_500_000_000)
    side = np.linspace(0, 255, 5000, dtype=np.float32)
    no_face = (side[None, :, None] * 0.5 + side[:, None, None] * 0.5).astype(np.uint8).repeat(3, axis=2)
    cv2.imwrite(str(folder / "b_25mp_no_face.jpg"), no_face, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if with_png:
        cv2.imwrite(str(folder / "c_25mp_no_face.png"), no_face)
    del no_face
    peak, stderr = peak_rss_mb_of_run(folder, shared_models, tmp_path)
    assert "a_huge.jpg: the file is 1500 MB" in stderr, stderr[-3000:]
    assert "Traceback" not in stderr
    budget = RSS_BUDGET_MB + (WHOLE_DECODE_MB if with_png else 0)
    assert peak < budget, f"peak RSS {peak:.0f} MB over the budget of {budget:.0f} MB"


# --- snapshots -------------------------------------------------------------------------------------------------


def test_a_symlinked_snapshot_folder_is_refused_and_its_target_untouched(
    model_env, facemask_dir: Path, tmp_path: Path, capsys
) -> None:
    """Before: followed; snapshots were written and pruned inside the link's target."""
    from edge.config import EventsConfig
    from edge.outputs.snapshots import Snapshots

    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "20200101T000000.000Z-track1.jpg").write_bytes(b"someone else's")
    link = tmp_path / "snapshots"
    link.symlink_to(target)
    with pytest.raises(OSError, match="is a symbolic link, which snapshots never follow"):
        Snapshots(link, EventsConfig(snapshot_max_files=1, snapshot_max_days=0))
    assert [p.name for p in target.iterdir()] == ["20200101T000000.000Z-track1.jpg"]
    config = tmp_path / "maskgate.toml"
    config.write_text(f'[events]\nsnapshots = true\nsnapshot_dir = "{link}"\n[output]\nevents = "-"\n')
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    (pictures / "face.jpg").write_bytes(sorted((facemask_dir / "without_mask").glob("*.jpg"))[0].read_bytes())
    assert main(["run", "--config", str(config), "--source", str(pictures)]) == 2
    assert f"events.snapshot_dir {link}: is a symbolic link" in capsys.readouterr().err


def test_links_among_the_snapshots_are_neither_listed_nor_pruned_through(tmp_path: Path) -> None:
    from edge.config import EventsConfig
    from edge.outputs.snapshots import Snapshots

    outside = tmp_path / "precious.jpg"
    outside.write_bytes(b"keep")
    folder = tmp_path / "snaps"
    folder.mkdir()
    (folder / "20200101T000000.000Z-track1.jpg").symlink_to(outside)
    snapshots = Snapshots(folder, EventsConfig(snapshot_max_files=1, snapshot_max_days=0))
    assert snapshots.files() == []
    assert outside.read_bytes() == b"keep"
    snapshots.close()


def test_a_failing_snapshot_output_logs_once_then_a_count_never_a_false_recovery(tmp_path: Path, caplog) -> None:
    """Before: two lines per bare face ("failed", then "works again" on the next frame with no snapshot due): 128
    lines in 45 s on a live stream. The folder is removed under the open output, so every write fails for real
    (as root, a read-only mode would not stop it)."""
    import logging

    from edge.config import EventsConfig
    from edge.outputs.snapshots import Snapshots
    from edge.pipeline import Pipeline
    from edge.vision.labels import NO_MASK
    from edge.vision.types import Decision, Face, Frame, TrackedFace

    folder = tmp_path / "snaps"
    snapshots = Snapshots(folder, EventsConfig(snapshot_max_days=0, snapshot_min_free_mb=0))
    folder.rmdir()
    now = [0.0]
    pipeline = Pipeline(None, None, None, [snapshots])
    pipeline.fault_log._clock = lambda: now[0]
    image = np.full((240, 320, 3), 90, np.uint8)
    box = (10.0, 20.0, 110.0, 140.0)
    caplog.set_level(logging.INFO)
    for number in range(1000):  # a bare face decided every 3rd frame, 10 frames a second: 100 s
        now[0] = number / 10
        face = TrackedFace(Face(box, 0.9), number, NO_MASK, 0.9, NO_MASK)
        decisions = [Decision(str(number), 1.7e9 + number, number, box, NO_MASK, 0.9)] if number % 3 == 0 else []
        pipeline._emit(Frame(str(number), 1.7e9 + number, image), [face], decisions)
    lines = [r.getMessage() for r in caplog.records if r.name == "edge.health.fault_log"]
    assert not [line for line in lines if "works again" in line], lines
    assert len(lines) == 2, lines
    assert "output snapshots on_frame failed" in lines[0] and f"cannot write a snapshot into {folder}" in lines[0]
    assert re.search(r"still failing: 200 more times in 60 s; latest: cannot write a snapshot", lines[1]), lines[1]
    snapshots.close()


# --- source folders and files ----------------------------------------------------------------------------------


def test_links_fifos_and_devices_in_a_folder_are_counted_and_logged_once(
    model_env, facemask_dir: Path, tmp_path: Path, capsys
) -> None:
    """Before: a symlink loop, a FIFO and a link to /dev/zero were skipped without a word or a count."""
    import os

    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "z_face.jpg").write_bytes(sorted((facemask_dir / "without_mask").glob("*.jpg"))[0].read_bytes())
    (folder / "a_loop.jpg").symlink_to(folder / "a_loop.jpg")
    (folder / "b_zero.jpg").symlink_to("/dev/zero")
    (folder / "c_elsewhere.jpg").symlink_to(folder / "z_face.jpg")
    os.mkfifo(folder / "d_pipe.png")
    assert main(["run", "--source", str(folder), "--events", "-"]) == 0
    messages = log_messages(capsys.readouterr().err)
    notes = [m for m in messages if "no picture file" in m]
    assert notes == [
        f"folder {folder}: skipping 3 entries that are no picture file "
        "(1 FIFO, 1 broken or looping link, 1 link to a device)"
    ]
    (done,) = [m for m in messages if m.startswith("done: ")]
    summary = json.loads(done.removeprefix("done: "))
    assert (summary["frames"], summary["skipped_files"]) == (2, 3), "a link to a picture is a picture"


def test_a_video_cut_short_says_so_at_its_end(tmp_path: Path, caplog) -> None:
    """Before: an AVI cut in half ended quietly at frame 54 of 120."""
    import logging

    from edge.sources.files import VideoFileSource

    path = tmp_path / "door.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for shade in range(120):
        writer.write(np.full((120, 160, 3), shade, np.uint8))
    writer.release()
    whole = VideoFileSource(path)
    with caplog.at_level(logging.WARNING, logger="edge.sources.files"):
        assert sum(1 for _ in whole) == 120
    whole.close()
    assert "cut short" not in caplog.text, "a whole file ends without a word"
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)
    cut = VideoFileSource(path)
    with caplog.at_level(logging.WARNING, logger="edge.sources.files"):
        read = sum(1 for _ in cut)
    cut.close()
    assert 0 < read < 120
    assert f"video {path} ended after {read} of the 120 frames its container announces" in caplog.text
