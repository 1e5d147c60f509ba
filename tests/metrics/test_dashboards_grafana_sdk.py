"""Every shipped dashboard round-trips through the Grafana 11 dashboard models of
grafana-foundation-sdk (pinned in pyproject.toml): a key the models drop, or a value they change,
is a key Grafana's own schema does not know, and fails the test. No Grafana server runs here;
tests/metrics/test_metrics_prometheus.py checks the same files' queries against a real Prometheus."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.metrics.promcheck import DASHBOARDS

register_default_plugins()  # typed options/fieldConfig per panel type, typed Prometheus queries


def differences(original: Any, back: Any, path: str = "") -> list[str]:
    """Keys of `original` missing from `back`, and values that changed (paths like .panels[3].options)."""
    if isinstance(original, dict):
        if not isinstance(back, dict):
            return [f"{path}: became {type(back).__name__}"]
        out = []
        for key, value in original.items():
            if key not in back:
                out.append(f"{path}.{key}: dropped")
            else:
                out += differences(value, back[key], f"{path}.{key}")
        return out
    if isinstance(original, list):
        if not isinstance(back, list) or len(back) != len(original):
            return [f"{path}: list changed"]
        return [d for i, (a, b) in enumerate(zip(original, back)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if original == back else [f"{path}: {original!r} became {back!r}"]


def test_the_sdk_is_a_grafana_11_build() -> None:
    assert version("grafana-foundation-sdk").split("!")[-1].startswith("11.")


def test_the_checker_sees_a_dropped_key() -> None:
    board = {"title": "x", "panels": [{"type": "timeseries", "title": "p", "gridPos": {"x": 0, "y": 0, "w": 1, "h": 1},
                                       "notAGrafanaKey": 1}]}
    back = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
    assert differences(board, back) == [".panels[0].notAGrafanaKey: dropped"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_shipped_dashboard_round_trips_through_the_sdk_models(path: Path) -> None:
    board = json.loads(path.read_text(encoding="utf-8"))
    model = Dashboard.from_json(board)
    back = json.loads(json.dumps(model, cls=JSONEncoder))
    assert not differences(board, back), "\n".join(differences(board, back))
    assert model.panels and model.templating.list_val  # parsed into models, not kept as raw dicts


def test_the_overview_has_a_tenant_row() -> None:
    board = json.loads((DASHBOARDS[0].parent / "mcu-overview.json").read_text(encoding="utf-8"))
    titles = [p["title"] for p in board["panels"]]
    assert "Tenants" in titles
    exprs = " ".join(t["expr"] for p in board["panels"] for t in p.get("targets", []))
    assert "mcu_tenant_sites" in exprs and "mcu_quota_refusals_total" in exprs
