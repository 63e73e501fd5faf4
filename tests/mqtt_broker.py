"""A real mosquitto broker on a loopback port for the MQTT tests, and a subscriber that records what it gets."""

from __future__ import annotations

import getpass
import queue
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import need_tool

START_TIMEOUT = 10.0


def mosquitto_program() -> str:
    """mosquitto lives in /usr/sbin, which is not on every user's PATH."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    return found or need_tool("mosquitto")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


class Mosquitto:
    """mosquitto with a generated config in `workdir`; stop() and start() again keep the port and the
    persisted sessions, so a test can take the broker away and bring it back."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None, tls: Certificates | None = None) -> None:
        self.workdir = workdir
        self.tls = tls
        self.port = free_port()
        self.url = f"{'mqtts' if tls else 'mqtt'}://127.0.0.1:{self.port}"
        self.log = workdir / "mosquitto.log"
        self._process: subprocess.Popen | None = None
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"user {getpass.getuser()}",
            "persistence true",
            f"persistence_location {workdir}/",
            f"log_dest file {self.log}",
            "log_type all",
        ]
        if tls:
            lines += [f"cafile {tls.ca}", f"certfile {tls.server_cert}", f"keyfile {tls.server_key}"]
        if users:
            password_file = workdir / "passwords"
            password_file.touch()
            program = need_tool("mosquitto_passwd")
            for user, password in users.items():
                subprocess.run([program, "-b", str(password_file), user, password], check=True, timeout=10)
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        self.config = workdir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> Mosquitto:
        self._process = subprocess.Popen(
            [mosquitto_program(), "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self._process.stderr.read().decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM: mosquitto writes its persistence file (the subscribers' sessions) and exits."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path


def make_certificates(directory: Path, name: str = "test") -> Certificates:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it, made with the openssl program."""
    openssl = need_tool("openssl")
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / f"{name}-ca.crt", directory / f"{name}-ca.key"
    cert, key, request = directory / f"{name}-server.crt", directory / f"{name}-server.key", directory / "server.csr"
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    commands = [
        [openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", f"/CN={name} CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [openssl, "req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "2", "-extfile", extensions],
    ]  # fmt: skip
    for command in commands:
        subprocess.run([str(part) for part in command], check=True, capture_output=True, timeout=30)
    return Certificates(ca, cert, key)


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    """A paho client that records every message on `topics`; with a client_id it keeps a persistent session,
    so messages published while it is away (broker restart included) are kept for it by the broker."""

    def __init__(self, broker: Mosquitto, topics: list[str], client_id: str = "", **credentials: str) -> None:
        import paho.mqtt.client as mqtt

        self.messages: queue.Queue[Received] = queue.Queue()
        self._subscribed = queue.Queue()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not client_id)
        if credentials:
            self._client.username_pw_set(credentials["username"], credentials["password"])
        if broker.tls:
            self._client.tls_set(ca_certs=str(broker.tls.ca))
        self._client.reconnect_delay_set(0.1, 0.5)
        self._client.on_message = lambda _c, _u, m: self.messages.put(Received(m.topic, m.payload, m.retain))
        self._client.on_subscribe = lambda *_: self._subscribed.put(True)
        self._client.on_connect = lambda client, _u, _f, reason, _p: (
            None if reason.is_failure else client.subscribe([(topic, 1) for topic in topics])
        )
        self._client.connect("127.0.0.1", broker.port)
        self._client.loop_start()
        self._subscribed.get(timeout=START_TIMEOUT)

    def take(self, count: int, timeout: float = 10.0) -> list[Received]:
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            try:
                got.append(self.messages.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"received {len(got)} of {count} messages in {timeout:.0f} s") from None
        return got

    def sync(self) -> None:
        """Returns once the broker has processed everything this client sent before (its PUBACKs included):
        a QoS 1 publish is acknowledged in order after them."""
        self._client.publish("test/sync", b"", qos=1).wait_for_publish(timeout=START_TIMEOUT)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
