"""The shipped dashboards and alert rules against a REAL Prometheus scraping our exporter.

Prometheus (Debian package) runs on a free 127.0.0.1 port with a throwaway config and storage,
scrapes a fake meeting every second, and every dashboard expression, template variable and
alert expression must parse and return data. promtool validates the shipped files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcu.metrics import ConfigInfo, Metrics, start_exporter
from tests.helpers import free_port
from tests.metrics.fake_meeting import SITE_NAMES, FakeMeeting
from tests.metrics.promcheck import (
    ALERTS,
    DASHBOARDS,
    SCRAPE_CONFIG,
    PrometheusServer,
    alert_signal,
    check_all,
    check_dashboard,
    check_expr,
    check_rules,
    format_results,
    panel_targets,
    query,
    running_prometheus,
    substitute,
    variable_options,
    wait_for_scrapes,
)

SCRAPES = 6
EXPECTED_ALERTS = {"MCUDown", "MCUSiteSustainedLoss", "MCUAudioTicksLate",
                   "MCUEncoderBelowTargetFps", "MCUMemberFlapping", "MCUMemberNoMedia",
                   "MCUConfigReloadFailed", "MCUEventLoopLag", "MCUMemberFaults",
                   "MCUCallsRefusedForAbuse", "MCUPinGuessing", "MCUOverloaded",
                   "MCUJoinsRefusedForCapacity", "MCUGatekeeperUnregistered",
                   "MCURecordingFailed", "MCURecordingDiskLow", "MCUTenantAtQuota"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: apt-get install prometheus")
    return path


# --------------------------------------------------------------------------- offline checks


def test_substitute_replaces_every_variable_syntax_and_leaves_unknown_ones() -> None:
    values = {"room": "4100", "__rate_interval": "10s"}
    assert substitute('x{room="$room"}[$__rate_interval]', values) == 'x{room="4100"}[10s]'
    assert substitute('x{room="${room}", r="[[room]]", f="${room:regex}"}', values) == \
        'x{room="4100", r="4100", f="4100"}'
    assert substitute("x{a=\"$nope\"}", values) == 'x{a="$nope"}'


def test_alert_signal_strips_threshold_and_set_operators() -> None:
    assert alert_signal('up{job="mcu"} == 0') == 'up{job="mcu"}'
    assert alert_signal("(sum(increase(a[10m])) > 3)\n and (sum(increase(b[10m])) > 3)") == \
        "sum(increase(a[10m]))"
    assert alert_signal('rate(x{l=">"}[1m]) / rate(y[1m]) > 0.01') == 'rate(x{l=">"}[1m]) / rate(y[1m])'
    assert alert_signal("a + b") == "a + b"


def test_dashboards_are_grafana_json_with_prometheus_targets() -> None:
    assert {p.stem for p in DASHBOARDS} == {"mcu-overview", "mcu-room", "mcu-capacity"}
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        assert board["schemaVersion"] >= 36, path.name
        assert board["uid"] and board["title"]
        exprs = list(panel_targets(board))
        assert len(exprs) >= 8, path.name
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for p in board["panels"]:
            if p["type"] != "row":
                assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", (path.name, p["title"])
    room = json.loads((DASHBOARDS[0].parent / "mcu-room.json").read_text(encoding="utf-8"))
    assert any(p.get("repeat") == "member" for p in room["panels"]), "one row per site"


def test_promtool_accepts_the_shipped_rules_and_scrape_config(tmp_path: Path) -> None:
    tool = promtool()
    rules = subprocess.run([tool, "check", "rules", str(ALERTS)], check=False, capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in rules.stdout
    config = subprocess.run([tool, "check", "config", str(SCRAPE_CONFIG)], check=False, capture_output=True,
                            text=True)
    assert config.returncode == 0, config.stdout + config.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: rate(x[\n")
    refused = subprocess.run([tool, "check", "rules", str(broken)], check=False, capture_output=True, text=True)
    assert refused.returncode != 0


# --------------------------------------------------------------------------- real Prometheus


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    metrics = Metrics()
    metrics.set_config_info(ConfigInfo("/etc/mcu/mcu.toml", "sha256:0f3a"))
    meeting = FakeMeeting(metrics, room="4100", sites=12, views=3, troubles=True)
    metrics.set_snapshot_provider(meeting.snapshot)
    exporter = start_exporter(metrics, "127.0.0.1", 0)
    dead = f"127.0.0.1:{free_port()}"  # a second MCU that is down, for the MCUDown alert
    try:
        with meeting.running(0.1), running_prometheus(
                tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{exporter.port}", dead],
                rule_files=[ALERTS]) as prom:
            wait_for_scrapes(prom.url, count=SCRAPES)
            yield prom
    finally:
        exporter()


@pytest.mark.peer
def test_every_dashboard_expression_returns_data_for_the_meeting(
        prometheus: PrometheusServer) -> None:
    results = [r for path in DASHBOARDS for r in check_dashboard(prometheus.url, path)]
    print(f"\n{len(results)} dashboard expressions and variables checked")
    failures = [r for r in results if not r.ok]
    assert not failures, format_results(failures)
    assert len(results) >= 50


@pytest.mark.peer
def test_every_alert_fires_for_the_troubled_meeting(prometheus: PrometheusServer) -> None:
    results = check_rules(prometheus.url, alerts_must_fire=True)
    failures = [r for r in results if not r.ok]
    assert not failures, format_results(failures)
    assert {r.source.removeprefix("rule ") for r in results} == EXPECTED_ALERTS


@pytest.mark.peer
def test_healthy_mode_checks_signals_and_member_variable_shows_display_names(
        prometheus: PrometheusServer) -> None:
    results = check_all(prometheus.url, alerts_must_fire=False)
    assert not [r for r in results if not r.ok], format_results(results)
    assert sum(r.source.endswith("(signal)") for r in results) == len(EXPECTED_ALERTS)
    room_board = json.loads((DASHBOARDS[0].parent / "mcu-room.json").read_text("utf-8"))
    member_var = next(v for v in room_board["templating"]["list"] if v["name"] == "member")
    options = variable_options(prometheus.url, member_var, {"instance": ".*", "room": "4100"})
    texts = {text for text, _ in options}
    assert "Hà Nội" in texts and texts <= set(SITE_NAMES)  # rows titled by display name
    assert all(value.startswith("m") and value[1:].isdigit() for _, value in options)


@pytest.mark.peer
def test_a_broken_expression_is_reported_not_passed(prometheus: PrometheusServer) -> None:
    assert not check_expr(prometheus.url, "bad", "rate(mcu_rooms[").ok
    assert not check_expr(prometheus.url, "empty", 'mcu_rooms{room="nowhere"}').ok
    counters = query(prometheus.url, 'increase(mcu_member_joins_total{room="4100"}[1m])')
    assert float(counters["result"][0]["value"][1]) > 0  # the meeting really moves
