"""The recording alerts fire on what they are for, checked by promtool's rule unit tests: a
recording that failed on a full disk, and a recording disk below twice the free-space floor."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ALERTS = Path(__file__).resolve().parents[2] / "conf" / "prometheus" / "mcu-alerts.yml"
MB = 2**20


def annotations(alert: str, labels: dict[str, str]) -> dict[str, str]:
    """The rule's annotations as Prometheus renders them for `labels` (promtool compares them too)."""
    import yaml

    rules = [r for g in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"] for r in g["rules"]]
    rule = next(r for r in rules if r.get("alert") == alert)
    out = {}
    for key, text in rule["annotations"].items():
        for name, value in labels.items():
            text = text.replace("{{ $labels." + name + " }}", value)
        out[key] = text
    return out


def promtool_test(tmp_path: Path, series: list[dict[str, str]], alert: str, expected: list[dict]) -> str:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: apt-get install prometheus"
    doc = {"rule_files": [str(ALERTS)], "evaluation_interval": "1m",
           "tests": [{"interval": "1m", "input_series": series,
                      "alert_rule_test": [{"eval_time": "5m", "alertname": alert, "exp_alerts": [
                          {**e, "exp_annotations": annotations(alert, e["exp_labels"])} for e in expected]}]}]}
    path = tmp_path / "test.yml"
    path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
    run = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    return "" if run.returncode == 0 else run.stdout + run.stderr


def test_recording_failed_fires_on_a_full_disk(tmp_path: Path) -> None:
    series = [{"series": 'mcu_recording_failures_total{job="mcu",instance="m:9464",reason="disk_full"}',
               "values": "0 0 1 1 1 1"},
              {"series": 'mcu_recording_failures_total{job="mcu",instance="m:9464",reason="encoder"}',
               "values": "0 0 0 0 0 0"}]
    expected = [{"exp_labels": {"job": "mcu", "instance": "m:9464", "reason": "disk_full", "severity": "critical"}}]
    assert not (problem := promtool_test(tmp_path, series, "MCURecordingFailed", expected)), problem


def test_recording_failed_stays_quiet_without_failures(tmp_path: Path) -> None:
    series = [{"series": 'mcu_recording_failures_total{job="mcu",instance="m:9464",reason="disk_full"}',
               "values": "0 0 0 0 0 0"}]
    assert not (problem := promtool_test(tmp_path, series, "MCURecordingFailed", [])), problem


def test_disk_low_fires_below_twice_the_floor(tmp_path: Path) -> None:
    series = [{"series": 'mcu_recording_disk_free_bytes{job="mcu",instance="m:9464"}',
               "values": f"{2000 * MB} {1500 * MB} {900 * MB} {900 * MB} {900 * MB} {900 * MB}"},
              {"series": 'mcu_recording_disk_min_free_bytes{job="mcu",instance="m:9464"}',
               "values": f"{500 * MB}x5"}]
    expected = [{"exp_labels": {"job": "mcu", "instance": "m:9464", "severity": "warning"}}]
    assert not (problem := promtool_test(tmp_path, series, "MCURecordingDiskLow", expected)), problem
    plenty = [dict(series[0], values=f"{2000 * MB}x5"), series[1]]
    assert not (problem := promtool_test(tmp_path, plenty, "MCURecordingDiskLow", [])), problem
