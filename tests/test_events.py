"""The event log (flush per event, size rotation that loses no line, crash safety) and violation snapshots."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge.config import Config, ConfigError, EventsConfig
from edge.config.checks import snapshot_dir
from edge.outputs.events import EventLog
from edge.outputs.snapshots import SNAPSHOT_NAME, Snapshots, snapshot_name
from edge.vision.labels import MASK, NO_MASK
from edge.vision.stats import LoopStats
from edge.vision.types import Decision, Face, Frame, TrackedFace

T0 = 1_790_000_000.0


def decision(number: int, label: str = NO_MASK, track: int | None = None) -> Decision:
    return Decision(str(number), T0 + number, track or number, (10, 20, 110, 140), label, 0.9)


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_event_is_on_disk_before_the_next(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(str(path), EventsConfig())
    for number in range(3):
        log.on_decision(decision(number))
        assert [e["frame"] for e in read_events(path)] == [str(n) for n in range(number + 1)]
    log.close()


def test_rotation_by_size_keeps_every_line_whole_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    line_bytes = len(json.dumps(decision(10).as_event(), separators=(",", ":"))) + 1
    log = EventLog(str(path), EventsConfig(max_bytes=4 * line_bytes + 5, keep=10, fsync=True))
    for number in range(10, 40):
        log.on_decision(decision(number))
    log.close()
    files = [log.rotated_path(i) for i in range(10, 0, -1)] + [path]
    present = [f for f in files if f.exists()]
    assert len(present) == 8, [f.name for f in present]
    for file in present:
        assert file.stat().st_size <= 4 * line_bytes + 5
        assert file.read_bytes().endswith(b"\n")
    frames = [e["frame"] for f in present for e in read_events(f)]
    assert frames == [str(n) for n in range(10, 40)], "oldest file first, nothing lost or repeated"


def test_rotation_drops_only_files_beyond_keep(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(str(path), EventsConfig(max_bytes=300, keep=2))
    for number in range(100, 160):
        log.on_decision(decision(number))
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    frames = [e["frame"] for f in (log.rotated_path(2), log.rotated_path(1), path) for e in read_events(f)]
    assert frames == [str(n) for n in range(160 - len(frames), 160)], "the newest events, contiguous"


def test_reopening_appends(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for number in range(2):
        log = EventLog(str(path), EventsConfig())
        log.on_decision(decision(number))
        log.close()
    assert len(read_events(path)) == 2


def test_a_line_cut_by_a_crash_cannot_swallow_the_next_event(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"frame":"1"}\n{"frame":"2","ti')
    log = EventLog(str(path), EventsConfig())
    log.on_decision(decision(3))
    log.close()
    lines = path.read_text().splitlines()
    assert lines[1] == '{"frame":"2","ti'
    assert json.loads(lines[2])["frame"] == "3"


CRASHING_WRITER = """
import sys, time
from edge.config import EventsConfig
from edge.outputs.events import EventLog
from edge.vision.types import Decision
log = EventLog(sys.argv[1], EventsConfig(max_bytes=2000, keep=100, fsync=False))
for n in range(200):
    log.on_decision(Decision(str(n), 0.0, n, (0, 0, 1, 1), "no_mask", 0.9))
print("written", flush=True)
time.sleep(60)
"""


def test_a_killed_process_loses_no_event(tmp_path: Path) -> None:
    """SIGKILL: no close(), no atexit, no buffer flush. Every event must already be in the files."""
    path = tmp_path / "events.jsonl"
    writer = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(path)], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    try:
        assert writer.stdout.readline().strip() == "written"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    files = [*sorted(tmp_path.glob("events.jsonl.*"), key=lambda p: -int(p.suffix[1:])), path]
    frames = [e["frame"] for f in files for e in read_events(f)]
    assert frames == [str(n) for n in range(200)]


def test_stdout_target(capsys: pytest.CaptureFixture) -> None:
    log = EventLog("-", EventsConfig(max_bytes=10))
    log.on_decision(decision(1))
    log.on_decision(decision(2))
    log.close()
    assert [json.loads(line)["frame"] for line in capsys.readouterr().out.splitlines()] == ["1", "2"]


def test_an_unwritable_event_log_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match=r"cannot open event log .*file/events\.jsonl"):
        EventLog(str(tmp_path / "file" / "events.jsonl"), EventsConfig())


def frame_with_face(number: int, decided: str | None) -> tuple[Frame, list[TrackedFace]]:
    image = np.full((240, 320, 3), 90, np.uint8)
    face = TrackedFace(Face((10, 20, 110, 140), 0.9), number, NO_MASK, 0.9, decided)
    return Frame(str(number), T0 + number, image), [face]


def feed(snapshots: Snapshots, number: int, label: str) -> None:
    frame, faces = frame_with_face(number, label)
    snapshots.on_decision(decision(number, label))
    snapshots.on_frame(frame, faces, LoopStats())


def test_snapshots_are_private_and_only_of_bare_faces(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        snapshots = Snapshots(tmp_path / "snaps", EventsConfig(snapshot_max_files=10, snapshot_max_days=0))
        feed(snapshots, 1, MASK)
        feed(snapshots, 2, NO_MASK)
        frame, faces = frame_with_face(3, None)
        snapshots.on_frame(frame, faces, LoopStats())  # no decision: no snapshot
    finally:
        os.umask(old_umask)
    files = snapshots.files()
    assert [f.name for f in files] == [snapshot_name(decision(2))]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "snaps").stat().st_mode) == 0o700
    assert files[0].read_bytes()[:2] == b"\xff\xd8", "a JPEG"
    assert not list((tmp_path / "snaps").glob(".*")), "no partial files left"


def test_snapshot_retention_by_count_and_age(tmp_path: Path) -> None:
    now = T0 + 100
    snapshots = Snapshots(tmp_path, EventsConfig(snapshot_max_files=3, snapshot_max_days=1.0), clock=lambda: now)
    for number in range(1, 6):
        feed(snapshots, number, NO_MASK)
    assert [f.name for f in snapshots.files()] == [snapshot_name(decision(n)) for n in (3, 4, 5)]
    os.utime(snapshots.files()[0], (now - 2 * 86400, now - 2 * 86400))
    snapshots.prune()
    assert [f.name for f in snapshots.files()] == [snapshot_name(decision(n)) for n in (4, 5)]


def test_retention_applies_at_start_up(tmp_path: Path) -> None:
    for number in range(5):
        (tmp_path / f"2026010{number}T000000.000Z-track{number}.jpg").write_bytes(b"\xff\xd8")
    Snapshots(tmp_path, EventsConfig(snapshot_max_files=2, snapshot_max_days=0))
    assert sorted(p.name[:9] for p in tmp_path.glob("*.jpg")) == ["20260103T", "20260104T"]


def test_snapshots_are_off_by_default_and_need_a_folder(tmp_path: Path) -> None:
    from edge.app import build_outputs

    config = Config()
    config.output.events = str(tmp_path / "events.jsonl")
    outputs = build_outputs(config)
    assert [o.name for o in outputs] == ["events"]
    for output in outputs:
        output.close()
    assert snapshot_dir(EventsConfig(), str(tmp_path / "events.jsonl")) == tmp_path / "snapshots"
    assert snapshot_dir(EventsConfig(snapshot_dir=str(tmp_path / "x")), "") == tmp_path / "x"
    with pytest.raises(ConfigError, match=r"events\.snapshot_dir"):
        snapshot_dir(EventsConfig(snapshots=True), "-")


def test_build_outputs_wires_rotation_and_snapshots(tmp_path: Path) -> None:
    from edge.app import build_outputs
    from edge.config import from_dict

    config = from_dict(
        {
            "output": {"events": str(tmp_path / "events.jsonl")},
            "events": {"max_bytes": 1000, "keep": 3, "snapshots": True, "snapshot_max_files": 7},
        }
    )
    outputs = {o.name: o for o in build_outputs(config)}
    try:
        assert (outputs["events"].max_bytes, outputs["events"].keep) == (1000, 3)
        assert outputs["snapshots"].directory == tmp_path / "snapshots"
        assert outputs["snapshots"].max_files == 7
    finally:
        for output in outputs.values():
            output.close()


def test_snapshot_names_sort_by_time() -> None:
    names = [snapshot_name(decision(n)) for n in (9, 10, 11)]
    assert names == sorted(names)
    assert names[0] == time.strftime("%Y%m%dT%H%M%S", time.gmtime(T0 + 9)) + ".000Z-track9.jpg"


def test_retention_never_touches_files_it_did_not_write_nor_the_folder_mode(tmp_path: Path) -> None:
    (tmp_path / "holiday.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "zzz-last-by-name.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / ".20260101T000000.000Z-track1.jpg.part").write_bytes(b"")  # a crashed write of ours
    old = T0 - 30 * 86400
    for path in tmp_path.iterdir():
        os.utime(path, (old, old))
    tmp_path.chmod(0o755)
    now = T0 + 100
    snapshots = Snapshots(tmp_path, EventsConfig(snapshot_max_files=2, snapshot_max_days=7.0), clock=lambda: now)
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755
    assert not list(tmp_path.glob(".*.part"))
    for number in range(1, 4):
        feed(snapshots, number, NO_MASK)
    assert sorted(p.name for p in tmp_path.iterdir() if not SNAPSHOT_NAME.fullmatch(p.name)) == [
        "holiday.jpg",
        "zzz-last-by-name.jpg",
    ]
    assert [f.name for f in snapshots.files()] == [snapshot_name(decision(n)) for n in (2, 3)]


def test_the_newest_snapshot_survives_the_age_limit(tmp_path: Path) -> None:
    snapshots = Snapshots(
        tmp_path, EventsConfig(snapshot_max_files=5, snapshot_max_days=1.0), clock=lambda: T0 + 10 * 86400
    )
    feed(snapshots, 1, NO_MASK)  # written now, but the clock says it is ten days old by its mtime
    os.utime(snapshots.files()[0], (T0, T0))
    snapshots.prune()
    assert [f.name for f in snapshots.files()] == [snapshot_name(decision(1))]


def test_a_symlink_under_the_temp_name_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    folder = tmp_path / "snaps"
    snapshots = Snapshots(folder, EventsConfig(snapshot_max_days=0))
    (folder / f".{snapshot_name(decision(1))}.part").symlink_to(victim)
    with pytest.raises(OSError):
        feed(snapshots, 1, NO_MASK)
    assert victim.read_text() == "keep"


def test_snapshots_pause_below_the_free_space_floor(tmp_path: Path) -> None:
    import shutil

    free_mb = shutil.disk_usage(tmp_path).free // 2**20
    snapshots = Snapshots(tmp_path, EventsConfig(snapshot_max_days=0, snapshot_min_free_mb=free_mb + 1024))
    feed(snapshots, 1, NO_MASK)
    assert snapshots.files() == [] and snapshots.skipped_low_space == 1
