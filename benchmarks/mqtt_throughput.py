"""Events per second the MQTT publisher sustains, against a real mosquitto on loopback.

Three numbers:
- put: the frame loop's cost of one `on_decision` (JSON + one SQLite transaction), microseconds;
- sustained: events/s from the first `on_decision` until the broker acknowledged the last one, with the
  events emitted as fast as the loop can;
- drain: events/s when a backlog queued during an outage is delivered after the broker returns.

With mqtt.outbox_fsync (the default) each put waits for an fsync, which bounds the sustained rate;
--no-fsync measures the outbox without it.

Starts its own mosquitto (Debian package `mosquitto`) on a free loopback port. Usage:
    python benchmarks/mqtt_throughput.py --events 5000 [--no-fsync] --json mqtt.json
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edge.config import MqttConfig
from edge.outputs.mqtt import MqttPublisher
from edge.vision.types import Decision

log = logging.getLogger("mqtt_throughput")


class Broker:
    def __init__(self, workdir: Path) -> None:
        program = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
        if program is None:
            sys.exit("needs mosquitto (apt install mosquitto)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n")
        self.program = program
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([self.program, "-c", str(self.config)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.001)


def decision(i: int) -> Decision:
    return Decision(f"frame-{i}", time.time(), i % 50, (120.0, 80.0, 260.0, 240.0), "no_mask", 0.97)


def measure(events: int, workdir: Path, fsync: bool) -> dict[str, object]:
    broker = Broker(workdir)
    broker.start()
    config = MqttConfig(
        broker=f"mqtt://127.0.0.1:{broker.port}", device_id="bench", outbox=str(workdir / "o.db"), outbox_fsync=fsync
    )
    publisher = MqttPublisher(config, labels=("mask", "no_mask"), reconnect_delays=(0.05, 0.2))
    try:
        wait_for(lambda: publisher.status().connected, 10)
        begin = time.perf_counter()
        for i in range(events):
            publisher.on_decision(decision(i))
        emitted = time.perf_counter() - begin
        wait_for(lambda: publisher.status().queued == 0, 600)
        sustained = time.perf_counter() - begin

        broker.stop()
        wait_for(lambda: not publisher.status().connected, 10)
        for i in range(events):
            publisher.on_decision(decision(i))
        broker.start()
        wait_for(lambda: publisher.status().connected, 10)
        begin = time.perf_counter()
        wait_for(lambda: publisher.status().queued == 0, 600)
        drain = time.perf_counter() - begin
        status = publisher.status()
    finally:
        publisher.close()
        broker.stop()
    return {
        "events": events,
        "outbox_fsync": fsync,
        "put_us_per_event": round(1e6 * emitted / events, 1),
        "sustained_events_per_s": round(events / sustained),
        "drain_after_outage_events_per_s": round(events / drain),
        "published": status.published,
        "dropped": status.dropped,
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--no-fsync", action="store_true", help="outbox without an fsync per event")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as workdir:
        result = measure(args.events, Path(workdir), fsync=not args.no_fsync)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
