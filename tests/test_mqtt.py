"""MQTT output against a real mosquitto on a loopback port: publish, Home Assistant discovery, Last Will on
kill -9, an outage with every event delivered once and in order, the queue surviving a restart, and
credentials (a clear error for wrong ones, while the runtime keeps running)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import need_module
from mqtt_broker import Mosquitto, Subscriber, free_port, make_certificates, wait_until

from edge.config import ConfigError, MqttConfig, from_dict
from edge.config.mqtt_settings import parse_broker
from edge.outputs.homeassistant import discovery_messages
from edge.outputs.mqtt import MqttPublisher
from edge.vision.labels import MASK, NO_MASK
from edge.vision.stats import LoopStats
from edge.vision.types import Decision, Face, TrackedFace

need_module("paho.mqtt.client", "pip install -e '.[mqtt]'")

REPO = Path(__file__).resolve().parent.parent
FAST_RECONNECT = (0.1, 0.5)
"""Reconnect delays for tests, in seconds (the defaults are 1 to 30)."""
LABELS = (MASK, NO_MASK)
"""A two-class model's labels: two Home Assistant counters."""

PUBLISHER_SCRIPT = """
import sys, time
from edge.config import MqttConfig
from edge.outputs.mqtt import MqttPublisher
from edge.vision.types import Decision
broker, outbox, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = MqttConfig(broker=broker, device_id="door1", outbox=outbox)
publisher = MqttPublisher(config, labels=("mask", "no_mask"), reconnect_delays=(0.1, 0.5))
for i in range(count):
    publisher.on_decision(Decision(f"before-kill-{i}", time.time(), i, (0, 0, 10, 10), "no_mask", 0.9))
while count == 0 and not publisher.status().connected:
    time.sleep(0.01)
print("ready", publisher.outbox.depth, flush=True)
time.sleep(120)
"""


@pytest.fixture
def broker(tmp_path: Path):
    workdir = tmp_path / "broker"
    workdir.mkdir()
    server = Mosquitto(workdir).start()
    yield server
    server.stop()


@pytest.fixture
def publishers(tmp_path: Path):
    """Makes publishers with an outbox in tmp_path; closes whatever a test leaves open."""
    made: list[MqttPublisher] = []

    def make(broker_url: str, **overrides: object) -> MqttPublisher:
        settings = {"broker": broker_url, "device_id": "door1", "outbox": str(tmp_path / "outbox.sqlite3")}
        publisher = MqttPublisher(
            MqttConfig(**(settings | overrides)), labels=LABELS, reconnect_delays=FAST_RECONNECT, drain_timeout=2.0
        )
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        if publisher._sender.is_alive():
            publisher.close()


def decision(name: str, label: str = NO_MASK) -> Decision:
    return Decision(name, time.time(), 7, (10.0, 20.0, 110.0, 140.0), label, 0.93)


def frames_of(messages) -> list[str]:
    return [json.loads(m.payload)["frame"] for m in messages]


def connected(publisher: MqttPublisher) -> bool:
    return publisher.status().connected


def start_script(broker_url: str, outbox: Path, count: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER_SCRIPT, broker_url, str(outbox), str(count)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )
    line = process.stdout.readline()
    assert line.startswith("ready"), f"publisher script did not start: {line!r}"
    return process


def test_decision_is_published_as_json_on_the_event_topic(broker: Mosquitto, publishers) -> None:
    subscriber = Subscriber(broker, ["maskgate/door1/event"])
    publisher = publishers(broker.url)
    publisher.on_decision(decision("frame-1"))

    [message] = subscriber.take(1)
    event = json.loads(message.payload)
    assert event["device"] == "door1"
    assert event["frame"] == "frame-1"
    assert event["label"] == NO_MASK
    assert event["box"] == [10, 20, 110, 140]
    assert event["track"] == 7
    assert len(event["event_id"]) == 32
    wait_until(lambda: publisher.status().queued == 0, what="the outbox to empty after the PUBACK")
    assert publisher.status().published == 1
    subscriber.close()


def test_state_counters_bare_face_and_home_assistant_discovery(broker: Mosquitto, publishers) -> None:
    publisher = publishers(broker.url)
    publisher.bare_face_hold = 0.0
    wait_until(lambda: connected(publisher), what="the publisher to connect")
    stats = LoopStats()
    for name, label in (("1", MASK), ("2", NO_MASK), ("3", NO_MASK)):
        stats.decisions.add(label)  # as Pipeline._emit does: the counts topic shows the loop's one count
        publisher.on_decision(decision(name, label))
    bare = TrackedFace(Face((0, 0, 10, 10), 0.9), track=1, label=NO_MASK, score=0.9, decision=NO_MASK)
    publisher.on_frame(None, [bare], stats)
    wait_until(lambda: publisher.status().queued == 0, what="the events to be acknowledged")

    # A client that arrives later sees the retained state: what Home Assistant gets after a restart.
    late = Subscriber(broker, ["maskgate/door1/state", "maskgate/door1/counts", "maskgate/door1/bare_face"])
    retained = {m.topic: m for m in late.take(3)}
    assert all(m.retain for m in retained.values())
    assert retained["maskgate/door1/state"].payload == b"online"
    assert json.loads(retained["maskgate/door1/counts"].payload) == {MASK: 1, NO_MASK: 2}
    assert retained["maskgate/door1/bare_face"].payload == b"ON"

    publisher.on_frame(None, [], stats)
    assert late.take(1)[0].payload == b"OFF"
    late.close()

    discovery = Subscriber(broker, ["homeassistant/#"])
    configs = {m.topic: json.loads(m.payload) for m in discovery.take(3)}
    sensor = configs["homeassistant/binary_sensor/maskgate_door1/bare_face/config"]
    assert sensor["state_topic"] == "maskgate/door1/bare_face"
    assert sensor["availability_topic"] == "maskgate/door1/state"
    no_mask_count = configs["homeassistant/sensor/maskgate_door1/no_mask_count/config"]
    assert no_mask_count["state_topic"] == "maskgate/door1/counts"
    assert no_mask_count["value_template"] == "{{ value_json.no_mask }}"
    assert len({c["unique_id"] for c in configs.values()}) == 3
    assert {c["device"]["identifiers"][0] for c in configs.values()} == {"maskgate_door1"}
    discovery.close()


def test_last_will_marks_the_door_offline_when_the_process_is_killed(broker: Mosquitto, tmp_path: Path) -> None:
    states = Subscriber(broker, ["maskgate/door1/state"])
    process = start_script(broker.url, tmp_path / "outbox.sqlite3", count=0)
    try:
        assert states.take(1)[0].payload == b"online"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert states.take(1)[0].payload == b"offline"
    finally:
        process.kill()
        process.wait()
    states.close()
    # retained: a client that connects afterwards still learns the door is offline
    later = Subscriber(broker, ["maskgate/door1/state"])
    [message] = later.take(1)
    assert (message.payload, message.retain) == (b"offline", True)
    later.close()


def test_clean_close_says_offline(broker: Mosquitto, publishers) -> None:
    states = Subscriber(broker, ["maskgate/door1/state"])
    publisher = publishers(broker.url)
    assert states.take(1)[0].payload == b"online"
    publisher.close()
    assert states.take(1)[0].payload == b"offline"
    states.close()


def test_outage_delivers_every_event_once_and_in_order(broker: Mosquitto, publishers, caplog) -> None:
    caplog.set_level(logging.INFO, logger="edge.outputs.mqtt")
    # A persistent session (client id, QoS 1): the broker keeps the subscriber's messages across its restart.
    subscriber = Subscriber(broker, ["maskgate/door1/event"], client_id="watcher")
    publisher = publishers(broker.url)
    for i in range(5):
        publisher.on_decision(decision(f"before-{i}"))
    assert frames_of(subscriber.take(5)) == [f"before-{i}" for i in range(5)]
    wait_until(lambda: publisher.status().queued == 0, what="the first events to be acknowledged")
    subscriber.sync()  # else the broker may stop before the subscriber's PUBACKs and redeliver to it

    broker.stop()
    wait_until(lambda: not connected(publisher), what="the publisher to notice the outage")
    during = [f"during-{i}" for i in range(50)]
    for name in during:
        publisher.on_decision(decision(name))
    queued = publisher.status().queued
    assert queued == len(during)

    broker.start()
    wait_until(lambda: publisher.status().queued == 0, timeout=20, what="the queue to drain after the broker returned")
    publisher.on_decision(decision("after"))
    # The subscriber gets everything up to the sentinel "after": a duplicate or a reordering would show here.
    received = frames_of(subscriber.take(len(during) + 1, timeout=20))
    assert received == [*during, "after"]
    assert subscriber.messages.empty()
    wait_until(lambda: publisher.status().queued == 0, what="the last PUBACK")
    status = publisher.status()
    assert (status.dropped, status.published) == (0, 5 + len(during) + 1)
    assert "lost the connection" in caplog.text
    assert "reconnected to" in caplog.text
    logging.getLogger(__name__).info(
        "outage: %d queued, %d delivered, %d lost", queued, len(received) - 1, len(during) - (len(received) - 1)
    )
    subscriber.close()


def test_queue_survives_a_kill_during_an_outage(broker: Mosquitto, tmp_path: Path, publishers) -> None:
    subscriber = Subscriber(broker, ["maskgate/door1/event"], client_id="watcher")
    broker.stop()
    outbox = tmp_path / "outbox.sqlite3"
    process = start_script(broker.url, outbox, count=20)
    try:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()
        process.wait()

    broker.start()
    publisher = publishers(broker.url)
    assert publisher.status().queued == 20
    assert frames_of(subscriber.take(20, timeout=20)) == [f"before-kill-{i}" for i in range(20)]
    wait_until(lambda: publisher.status().queued == 0, what="the outbox to empty")
    subscriber.close()


def test_wrong_password_is_a_clear_error_and_the_runtime_keeps_running(
    tmp_path: Path, publishers, caplog, monkeypatch
) -> None:
    workdir = tmp_path / "secure"
    workdir.mkdir()
    secure = Mosquitto(workdir, users={"door": "right-secret"}).start()
    try:
        caplog.set_level(logging.DEBUG)
        monkeypatch.setenv("MASKGATE_MQTT_PASSWORD", "wrong-secret")
        publisher = publishers(secure.url, username="door")
        wait_until(lambda: "refused the connection" in caplog.text, what="the refusal to be logged")
        # paho keeps retrying; the error is logged once, not once per attempt
        wait_until(lambda: secure.log.read_text().count("not authorised") >= 3, what="three refused attempts")
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert "Not authorized" in errors[0].getMessage()
        assert "mqtt.username" in errors[0].getMessage()
        assert "127.0.0.1" in errors[0].getMessage()
        assert "wrong-secret" not in caplog.text

        for i in range(3):
            publisher.on_decision(decision(f"kept-{i}"))
        publisher.on_frame(None, [], LoopStats())
        assert publisher.status().queued == 3
        assert publisher._sender.is_alive()
    finally:
        secure.stop()


def test_password_file_authenticates(tmp_path: Path, publishers) -> None:
    workdir = tmp_path / "secure"
    workdir.mkdir()
    secure = Mosquitto(workdir, users={"door": "right-secret"}).start()
    try:
        password_file = tmp_path / "mqtt-password"
        password_file.write_text("right-secret\n")
        subscriber = Subscriber(secure, ["maskgate/door1/event"], username="door", password="right-secret")
        publisher = publishers(secure.url, username="door", password_file=str(password_file))
        publisher.on_decision(decision("authenticated"))
        assert frames_of(subscriber.take(1)) == ["authenticated"]
        subscriber.close()
    finally:
        secure.stop()


def test_broker_away_at_start_keeps_events_and_close_does_not_wait(tmp_path: Path, publishers) -> None:
    publisher = publishers(f"mqtt://127.0.0.1:{free_port()}")
    publisher.on_decision(decision("nobody-listens"))
    wait_until(lambda: publisher._unreachable, what="the connection attempt to fail")
    begin = time.monotonic()
    publisher.close()
    assert time.monotonic() - begin < publisher.drain_timeout
    reopened = publishers(f"mqtt://127.0.0.1:{free_port()}")
    assert reopened.status().queued == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.local", ("broker.local", 1883, False, "")),
        ("mqtts://broker.local", ("broker.local", 8883, True, "")),
        ("mqtt://door@10.0.0.2:1884", ("10.0.0.2", 1884, False, "door")),
    ],
)
def test_broker_urls(url: str, expected: tuple) -> None:
    broker = parse_broker(url)
    assert (broker.host, broker.port, broker.tls, broker.username) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://broker", "mqtt.broker"),
        ("mqtt://", "mqtt.broker"),
        ("mqtt://host:99999", "mqtt.broker"),
        ("mqtt://door:secret@host", "password_file"),
    ],
)
def test_bad_broker_urls_name_the_key(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_broker(url)


def test_bad_settings_name_the_key_before_anything_starts(tmp_path: Path) -> None:
    """Checked with the whole config (edge.config.checks), not when the publisher is built after the models."""
    on = {"broker": "mqtt://127.0.0.1"}
    cases = [
        ({**on, "device_id": "door/1"}, r"mqtt\.device_id: 'door/1' may hold only"),
        ({**on, "username": "u", "password_file": "/nonexistent"}, r"mqtt\.password_file: cannot read /nonexistent"),
        ({**on, "topic_prefix": "doors/#"}, r"mqtt\.topic_prefix: 'doors/#' must be a non-empty topic"),
        ({"broker": "mqtts://127.0.0.1", "tls_ca_file": "/nonexistent"}, r"mqtt\.tls_ca_file: cannot read"),
        ({**on, "tls_ca_file": str(tmp_path)}, r"mqtt\.tls_ca_file: TLS file set but mqtt\.broker .* is not mqtts"),
        ({"broker": "mqtts://127.0.0.1", "tls_cert_file": __file__}, r"mqtt\.tls_key_file: .* set both or neither"),
        ({"broker": "http://host"}, r"mqtt\.broker: 'http://host' is not mqtt://"),
    ]
    for settings, message in cases:
        with pytest.raises(ConfigError, match=message):
            from_dict({"mqtt": settings})
    from_dict({"mqtt": {"device_id": "door/1", "topic_prefix": "#"}})  # MQTT off: its settings are not used


def test_a_password_needs_a_user_name_and_a_private_file(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("hunter2\n")
    secret.chmod(0o640)  # root:maskgate 0640, like the config: allowed
    settings = {"broker": "mqtt://127.0.0.1", "password_file": str(secret)}
    with pytest.raises(ConfigError, match=r"mqtt\.username: is empty but a password is given"):
        from_dict({"mqtt": settings})
    assert from_dict({"mqtt": {**settings, "username": "door"}}).mqtt.username == "door"
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match=r"mqtt\.password_file: .* is open to every user \(mode 0644\); fix: chmod"):
        from_dict({"mqtt": {**settings, "username": "door"}})


@pytest.fixture
def photos(facemask_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for label in ("with_mask", "without_mask"):
        for path in sorted((facemask_dir / label).glob("*.jpg"))[:3]:
            (folder / f"{label}_{path.name}").symlink_to(path)
    return folder


def test_cli_mqtt_flags_publish_without_a_config_file(
    broker: Mosquitto, model_env: Path, photos: Path, tmp_path: Path, monkeypatch
) -> None:
    from edge.cli import main

    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    subscriber = Subscriber(broker, ["maskgate/door9/event"])
    events = tmp_path / "events.jsonl"
    code = main(["run", "--source", str(photos), "--mqtt", broker.url, "--device-id", "door9", "--events", str(events)])
    assert code == 0
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    assert logged, "the photos should give decisions"
    published = [json.loads(m.payload) for m in subscriber.take(len(logged))]
    assert [(e["frame"], e["label"]) for e in published] == [(e["frame"], e["label"]) for e in logged]
    assert (tmp_path / "state" / "outbox.sqlite3").is_file()
    subscriber.close()


def test_cli_keeps_running_when_the_broker_refuses_the_credentials(
    model_env: Path, photos: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from edge.cli import main

    workdir = tmp_path / "secure"
    workdir.mkdir()
    secure = Mosquitto(workdir, users={"door": "right-secret"}).start()
    try:
        monkeypatch.setenv("MASKGATE_MQTT_PASSWORD", "wrong-secret")
        config = tmp_path / "maskgate.toml"
        config.write_text(f'[mqtt]\nbroker = "{secure.url}"\nusername = "door"\noutbox = "{tmp_path / "outbox.db"}"\n')
        events = tmp_path / "events.jsonl"
        assert main(["run", "--config", str(config), "--source", str(photos), "--events", str(events)]) == 0
    finally:
        secure.stop()
    err = capsys.readouterr().err
    assert "refused the connection: Not authorized" in err
    assert "wrong-secret" not in err
    decisions = events.read_text().splitlines()
    assert decisions, "the loop ran through the photos"
    assert f"{len(decisions)} event(s) not yet delivered" in err


def test_tls_broker_with_the_configured_ca(tmp_path: Path, publishers) -> None:
    certificates = make_certificates(tmp_path / "pki")
    workdir = tmp_path / "tls"
    workdir.mkdir()
    secure = Mosquitto(workdir, tls=certificates).start()
    try:
        subscriber = Subscriber(secure, ["maskgate/door1/event"])
        publisher = publishers(secure.url, tls_ca_file=str(certificates.ca))
        publisher.on_decision(decision("over-tls"))
        assert frames_of(subscriber.take(1)) == ["over-tls"]
        subscriber.close()
    finally:
        secure.stop()


def test_tls_broker_with_an_unknown_ca_is_a_clear_warning(tmp_path: Path, publishers, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="edge.outputs.mqtt")
    workdir = tmp_path / "tls"
    workdir.mkdir()
    secure = Mosquitto(workdir, tls=make_certificates(tmp_path / "pki")).start()
    try:
        other_ca = make_certificates(tmp_path / "other", name="other").ca
        publisher = publishers(secure.url, tls_ca_file=str(other_ca))
        publisher.on_decision(decision("kept"))
        wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in caplog.text, what="the TLS failure to be logged")
        assert "cannot connect to mqtts://127.0.0.1" in caplog.text
        assert publisher.status().queued == 1
    finally:
        secure.stop()


def test_home_assistant_discovery_has_a_counter_per_label_and_the_door_availability() -> None:
    topics = {name: f"maskgate/door1/{name}" for name in ("event", "state", "counts", "bare_face")}
    messages = discovery_messages("homeassistant", "door1", topics, ("mask", "no_mask", "mask_incorrect", "hat"))
    counters = {topic: payload["name"] for topic, payload in messages.items() if "/sensor/" in topic}
    assert counters == {
        "homeassistant/sensor/maskgate_door1/mask_count/config": "Masked faces",
        "homeassistant/sensor/maskgate_door1/no_mask_count/config": "Bare faces",
        "homeassistant/sensor/maskgate_door1/mask_incorrect_count/config": "Masks worn wrong",
        "homeassistant/sensor/maskgate_door1/hat_count/config": "Faces labelled hat",
    }
    assert {payload["availability_topic"] for payload in messages.values()} == {"maskgate/door1/state"}
    assert messages["homeassistant/binary_sensor/maskgate_door1/bare_face/config"]["state_topic"] == topics["bare_face"]


def test_a_plain_client_at_a_tls_listener_logs_one_clear_line_then_retries_quietly(tmp_path: Path, caplog) -> None:
    """Before: paho's "failed to receive on socket: Connection reset by peer" at ERROR on every retry, forever, and
    nothing that said why."""
    caplog.set_level(logging.DEBUG, logger="edge.outputs.mqtt")
    workdir = tmp_path / "tls"
    workdir.mkdir()
    secure = Mosquitto(workdir, tls=make_certificates(tmp_path / "pki")).start()
    plain_url = secure.url.replace("mqtts://", "mqtt://")
    publisher = MqttPublisher(
        MqttConfig(broker=plain_url, device_id="door1", outbox=str(tmp_path / "outbox.sqlite3")),
        labels=LABELS,
        reconnect_delays=FAST_RECONNECT,
        drain_timeout=0.5,
    )
    try:
        publisher.on_decision(decision("kept"))
        wait_until(lambda: secure.log.read_text().count("wrong version number.") >= 6, what="six attempts")
    finally:
        publisher.close()
        secure.stop()
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "paho" in r.name]
    assert loud == [], loud[:3]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert (
        f"{plain_url} took the connection and closed it without answering (a TLS listener? then use mqtts://)"
        in (errors[0])
    )
