"""The fleet's alert rules and Grafana dashboard (systemd/prometheus, systemd/grafana): promtool checks the rules
and runs their unit tests on synthetic series, and every metric they name exists in a real scrape of the door's
endpoint."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from conftest import need_module, need_tool

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "systemd" / "prometheus" / "maskgate-rules.yml"
RULE_TESTS = REPO / "systemd" / "prometheus" / "maskgate-rules.test.yml"
DASHBOARD = REPO / "systemd" / "grafana" / "maskgate-fleet.json"
METRIC = re.compile(r"\b(maskgate_[a-z_]+|process_[a-z_]+|up)\b(?=\s*[{\[)]|\s*[=<>!]|\s*$)")
FROM_PROMETHEUS = {"up"}
"""Series Prometheus makes itself for each target."""
ALERTS = {
    "MaskGateDown",
    "MaskGateRestarting",
    "MaskGateCameraStalled",
    "MaskGateNoDecisions",
    "MaskGateThrottled",
    "MaskGateHot",
    "MaskGateOutboxGrowing",
    "MaskGateOutboxDropping",
}


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([need_tool("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=RULES.parent)


def test_the_alert_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_each_alert_fires_on_a_sick_door_and_not_on_a_healthy_one() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert tested == ALERTS, f"every alert has a unit test: missing {ALERTS - tested}"


def scraped_names() -> set[str]:
    """Every sample name of the door's endpoint, fed a loop with thermal readings and an MQTT publisher."""
    need_module("prometheus_client", "pip install -e '.[metrics]'")
    import numpy as np
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from edge.health.thermal import ThermalState
    from edge.outputs.metrics import MetricsEndpoint
    from edge.outputs.mqtt import PublisherStatus
    from edge.vision.labels import NO_MASK
    from edge.vision.stats import LoopStats
    from edge.vision.types import Frame

    class Thermal:
        def current(self) -> ThermalState:
            return ThermalState(61.0, "cpu-thermal", 0x50005)

    class Publisher:
        def status(self) -> PublisherStatus:
            return PublisherStatus(connected=True, queued=3, dropped=0, published=9)

    endpoint = MetricsEndpoint(0, "127.0.0.1", publisher=Publisher())
    try:
        stats = LoopStats(thermal=Thermal())
        stats.decisions.add(NO_MASK)
        endpoint.on_frame(Frame("0", 0.0, np.zeros((8, 8, 3), np.uint8)), [], stats)
        text = generate_latest(endpoint.registry).decode()
    finally:
        endpoint.close()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exprs += [variable["definition"] for variable in dashboard["templating"]["list"] if "definition" in variable]
    return exprs


def test_every_metric_the_rules_and_the_dashboard_name_is_one_the_door_serves() -> None:
    served = scraped_names() | FROM_PROMETHEUS
    rule_exprs = re.findall(r"expr: (>-\n(?:\s{10}.*\n)+|.*)", RULES.read_text())
    named = {name for expr in [*rule_exprs, *dashboard_exprs()] for name in METRIC.findall(expr)}
    assert {"maskgate_fps", "maskgate_decisions_total", "maskgate_alerts_total", "up"} <= named
    assert named - served == set(), f"not served by the door: {sorted(named - served)}"


def test_the_dashboard_shows_each_door_by_instance() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Frames per second", "Decisions per hour, by label", "Alarms per hour", "CPU temperature"} <= titles
    assert any("stall" in title for title in titles)
    assert all('instance=~"$instance"' in expr for expr in dashboard_exprs()[:-1])
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
