"""Soak benchmark (not a test): `maskgate run` on a live MJPEG stream over HTTP that stalls and restarts, for
a long time, sampling the process's RSS and open file descriptors.

The stream is served from this process: real face images from ../shared (people one after another), with a
stall (connection open, no bytes) and a restart (every connection dropped, the port refusing for a while) on a
fixed schedule. The door loop runs as a separate process exactly as the service would, with the event log,
snapshots, GPIO alerts on gpiozero's mock pin factory and the metrics endpoint on. Every `--sample` seconds the
RSS (VmRSS) and the number of open fds of that process are recorded; the result (JSON + a Markdown table) goes
to benchmarks/results/. A result written before --minutes elapsed is labelled partial.

    nice python benchmarks/soak.py --minutes 35
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.bench.shared_dir import shared_dir  # noqa: E402

BOUNDARY = "maskgateframe"


class StreamSchedule:
    """What the stream does at a time since start: a cycle of `run` s flowing, `stall` s silent, `run` s
    flowing, `down` s refusing connections."""

    def __init__(self, run: float, stall: float, down: float) -> None:
        self.run, self.stall, self.down = run, stall, down
        self.start = time.monotonic()
        self.stalls = self.restarts = 0

    def phase(self) -> str:
        cycle = 2 * self.run + self.stall + self.down
        at = (time.monotonic() - self.start) % cycle
        if at < self.run:
            return "flow"
        if at < self.run + self.stall:
            return "stall"
        if at < 2 * self.run + self.stall:
            return "flow"
        return "down"


def load_frames() -> list[bytes]:
    """JPEG frames: a few people, each shown for a while with an empty scene between them."""
    import cv2
    import numpy as np

    people = []
    for folder in ("masked-people/with_mask", "faces-ages/without_mask"):
        people += sorted((shared_dir() / "data" / folder).glob("*.jpg"))[:3]
    if not people:
        raise SystemExit(f"no face images under {shared_dir() / 'data'}; set MASKGATE_SHARED")
    frames = []
    empty = np.full((480, 640, 3), 90, np.uint8)
    for path in people:
        face = cv2.imread(str(path))
        scale = 360 / max(face.shape[:2])
        face = cv2.resize(face, None, fx=scale, fy=scale)
        scene = empty.copy()
        y, x = (480 - face.shape[0]) // 2, (640 - face.shape[1]) // 2
        scene[y : y + face.shape[0], x : x + face.shape[1]] = face
        frames += [cv2.imencode(".jpg", scene)[1].tobytes()] * 30
        frames += [cv2.imencode(".jpg", empty)[1].tobytes()] * 10
    return frames


def make_handler(frames: list[bytes], schedule: StreamSchedule, fps: float, stop: threading.Event):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if schedule.phase() == "down":
                self.send_error(503)
                return
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.end_headers()
            stalled = False
            for frame in itertools.cycle(frames):
                if stop.is_set():
                    return
                phase = schedule.phase()
                if phase == "down":
                    schedule.restarts += 1
                    return  # drops the connection
                if phase == "stall":
                    if not stalled:
                        schedule.stalls += 1
                    stalled = True
                    time.sleep(0.2)
                    continue
                stalled = False
                try:
                    self.wfile.write(
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame)}\r\n\r\n".encode()
                        + frame
                        + b"\r\n"
                    )
                except OSError:
                    return
                time.sleep(1 / fps)

    return Handler


def sample(pid: int) -> dict[str, float]:
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return {"rss_mb": round(rss_kb / 1024, 1), "open_fds": len(os.listdir(f"/proc/{pid}/fd"))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_result(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    rows = [
        f"| {s['minute']:.1f} | {s['rss_mb']} | {s['open_fds']} | {s['events']} | {s['snapshots']} |"
        for s in result["samples"]
    ]
    first, last = result["samples"][0], result["samples"][-1]
    out.with_suffix(".md").write_text(
        f"# Soak: `maskgate run` on a stalling, restarting MJPEG stream ({result['status']})\n\n"
        f"Commit {result['commit']}, {result['minutes_ran']:.1f} of {result['minutes_planned']} minutes, "
        f"{result['stalls']} stalls and {result['restarts']} stream restarts, exit code {result['exit_code']}.\n\n"
        f"RSS {first['rss_mb']} -> {last['rss_mb']} MB (max {max(s['rss_mb'] for s in result['samples'])}), "
        f"open fds {first['open_fds']} -> {last['open_fds']} "
        f"(max {max(s['open_fds'] for s in result['samples'])}).\n\n"
        "| minute | RSS MB | open fds | event lines | snapshots |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=35.0)
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--run", type=float, default=50.0, help="seconds of flow before each stall and restart")
    parser.add_argument("--stall", type=float, default=15.0)
    parser.add_argument("--down", type=float, default=8.0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/soak"))
    args = parser.parse_args()

    frames = load_frames()
    stop = threading.Event()
    schedule = StreamSchedule(args.run, args.stall, args.down)
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(frames, schedule, args.fps, stop))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    work = Path(tempfile.mkdtemp(prefix="maskgate-soak-"))
    metrics_port = free_port()
    config = work / "maskgate.toml"
    config.write_text(
        f'[source]\nuri = "http://127.0.0.1:{port}/stream.mjpg"\nreconnect_max_delay = 4.0\n'
        f'[output]\nevents = "{work}/events.jsonl"\n'
        f"[events]\nsnapshots = true\nsnapshot_max_files = 50\n"
        f"[alerts]\ngreen_led = 17\nred_led = 22\nrelay = 27\n"
        f'[metrics]\nport = {metrics_port}\n[logging]\nlevel = "WARNING"\n'
    )
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "MASKGATE_MODEL_DIR": str(shared_dir() / "models")}
    log_file = (work / "maskgate.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    result = {
        "commit": commit.stdout.strip() or os.environ.get("SOAK_COMMIT", "unknown (not run from a git checkout)"),
        "minutes_planned": args.minutes,
        "schedule": {"run": args.run, "stall": args.stall, "down": args.down, "fps": args.fps},
        "work_dir": str(work),
        "samples": [],
        "status": "partial",
        "exit_code": None,
    }
    out = Path(args.out)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while time.monotonic() - started < args.minutes * 60 and process.poll() is None:
            stop.wait(args.sample)
            if stop.is_set() or process.poll() is not None:
                break
            events = work / "events.jsonl"
            row = sample(process.pid)
            row["minute"] = round((time.monotonic() - started) / 60, 2)
            row["events"] = len(events.read_text().splitlines()) if events.exists() else 0
            row["snapshots"] = len(list((work / "snapshots").glob("*.jpg")))
            result["samples"].append(row)
            result.update(minutes_ran=row["minute"], stalls=schedule.stalls, restarts=schedule.restarts)
            print(json.dumps(row), flush=True)
            write_result(out, result)
    finally:
        alive = process.poll() is None
        if alive:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        result["exit_code"] = process.wait()
        stop.set()
        server.shutdown()
        ran = (time.monotonic() - started) / 60
        result["minutes_ran"] = round(ran, 2)
        result["status"] = "complete" if alive and ran >= args.minutes * 0.99 else "partial"
        if result["samples"]:
            write_result(out, result)
    print(f"{result['status']}: {out.with_suffix('.md')}; log in {work}/maskgate.log")
    return 0 if result["status"] == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())
