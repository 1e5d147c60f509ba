"""Pure parts of the cluster: the local cluster's plan and files, the admin routing decision."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mcu.cluster import admin_route, local
from mcu.cluster.registry import NodeInfo
from mcu.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_plan_gives_each_node_its_own_ports_and_rtp_range(tmp_path: Path) -> None:
    plan = local.plan(tmp_path, 3, 5060, base_port=7000, rtp_base=40000)
    assert [(n.sip_port, n.admin_port, n.metrics_port) for n in plan.nodes] == [
        (7001, 7101, 7201), (7002, 7102, 7202), (7003, 7103, 7203)]
    assert [(n.rtp_min, n.rtp_max) for n in plan.nodes] == [(40000, 40999), (41000, 41999), (42000, 42999)]
    assert plan.redis_port == 7300 and plan.redis_url == "redis://127.0.0.1:7300/0"
    free = local.plan(tmp_path, 2, 5060)
    ports = [p for n in free.nodes for p in (n.sip_port, n.admin_port, n.metrics_port)] + [free.redis_port]
    assert len(set(ports)) == len(ports)
    with pytest.raises(local.ClusterError, match="at least one node"):
        local.plan(tmp_path, 0)


def test_cluster_json_round_trips_and_garbage_is_a_clear_error(tmp_path: Path) -> None:
    plan = local.plan(tmp_path, 2, 5070, base_port=7000)
    plan.nodes[0].pid = 1234
    local.write(plan)
    doc = json.loads((tmp_path / "cluster.json").read_text())
    assert doc["nodes"][0]["sip"] == "sip:127.0.0.1:7001" and doc["sip"] == "sip:<room>@127.0.0.1:5070"
    again = local.read(tmp_path)
    assert again.nodes[0].pid == 1234 and again.nodes[1].admin == "http://127.0.0.1:7102"
    (tmp_path / "cluster.json").write_text("{not json")
    with pytest.raises(local.ClusterError, match="not a cluster description"):
        local.read(tmp_path)
    with pytest.raises(local.ClusterError, match="no cluster in"):
        local.read(tmp_path / "elsewhere")


def test_a_node_config_is_a_valid_mcu_config_with_its_cluster_section(tmp_path: Path) -> None:
    plan = local.plan(tmp_path, 2, 5060, base_port=7000)
    plan.extra["node-2"] = "max_rooms = 3\n"
    node = plan.nodes[1]
    for name in local.CONF_FILES:
        shutil.copy(REPO / "conf" / name, tmp_path / name)
    (tmp_path / "mcu.toml").write_text(local.node_config(plan, node))
    config = load_config(tmp_path / "mcu.toml")
    cluster = config.mcu.cluster
    assert (cluster.node_id, cluster.advertise_sip, cluster.max_rooms) == ("node-2", "sip:127.0.0.1:7002", 3)
    assert config.mcu.rtp.port_min == node.rtp_min and config.mcu.admin.port == node.admin_port


def test_dispatcher_list_and_prometheus_targets(tmp_path: Path) -> None:
    plan = local.plan(tmp_path, 2, 5060, base_port=7000)
    lines = [line for line in local.dispatcher_list(plan).splitlines() if not line.startswith("#")]
    assert lines == ["1 sip:127.0.0.1:7001 0 0 node=node-1", "1 sip:127.0.0.1:7002 0 0 node=node-2"]
    targets = json.loads(local.prometheus_targets([("node-1", "127.0.0.1:7201"), ("node-2", "")]))
    assert targets == [{"targets": ["127.0.0.1:7201"], "labels": {"node": "node-1", "job": "mcu"}}]
    argv = local.kamailio_argv(plan, tmp_path / "k.cfg", "/mods")
    assert argv[:3] == ["kamailio", "-DD", "-E"] and "MCU_LISTEN_PORT=5060" in argv
    assert 'MCU_REDIS="name=reg;addr=127.0.0.1;port=7300;db=0"' in argv


def test_admin_route_forwards_only_to_another_live_node_that_hosts_the_room() -> None:
    other = NodeInfo("b", admin="http://127.0.0.1:8090/")
    assert admin_route.decide("a", False, other) == admin_route.Forward("b", "http://127.0.0.1:8090")
    assert admin_route.decide("a", True, other) is None  # members here: it is served here
    assert admin_route.decide("a", False, None) is None  # nobody hosts it
    assert admin_route.decide("a", False, NodeInfo("a", admin="http://x")) is None  # we do
    assert admin_route.decide("a", False, NodeInfo("b")) is None  # no address published: here
    assert admin_route.request_path("/rooms/{room}/members/{member}/mute", {"room": "41 00", "member": "3"},
                                    {}) == "/rooms/41%2000/members/3/mute"
    assert admin_route.request_path("/recordings", {}, {"room": "4100"}) == "/recordings?room=4100"
