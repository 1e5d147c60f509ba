"""A real cluster on 127.0.0.1 (`mcu cluster up`): Kamailio as the front door, redis-server as the
registry, two MCU nodes. Sites are sipp, baresip and synthetic endpoints; they dial
sip:<room>@front-door only.

node-1 takes at most one room (max_rooms = 1), so it shows what a full node does; the tests run
in order on one cluster (placement, admin across nodes, in-dialog requests, failover)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis

from mcu.synthetic import SyntheticEndpoint
from tests.e2e.test_e2e_baresip import CONFIG as BARESIP_CONFIG
from tests.e2e.test_e2e_baresip import MODULES as BARESIP_MODULES
from tests.helpers import free_port, until, wait_for

pytestmark = pytest.mark.peer

REPO = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).parent / "scenarios" / "uac_routed.xml"
ROOMS = ("5001", "5002", "5003", "5004", "5005")
TONE_PRESENT = 0.03
TONE_ABSENT = 0.001


class Cluster:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sip_port = free_port()
        conf = folder / "conf"
        conf.mkdir(parents=True)
        for name in ("layouts.toml", "endpoints.toml", "calibration.toml"):
            shutil.copy(REPO / "conf" / name, conf / name)
        (conf / "kamailio").mkdir()
        shutil.copy(REPO / "conf" / "kamailio" / "kamailio.cfg", conf / "kamailio" / "kamailio.cfg")
        (conf / "rooms.toml").write_text("".join(f'[[room]]\nnumber = "{r}"\nname = "Room {r}"\n' for r in ROOMS))
        self.roster_port = free_port()
        sites = (REPO / "conf" / "sites.toml").read_text(encoding="utf-8")
        (conf / "sites.toml").write_text(sites + f'\n[[sites]]\nid = "test-roster"\nuri = "sip:test-roster@127.0.0.1:'
                                         f'{self.roster_port}"\nname = "Điểm cầu thử nghiệm"\n', encoding="utf-8")
        # node-1 takes one room at most. Admission is off on both nodes: these tests are about
        # placement, and a box shared with other test runs may fall behind (admission then refuses
        # joins with 503, tested in tests/admission).
        (folder / "max1.toml").write_text("max_rooms = 1\n[admission]\nenabled = false\n")
        (folder / "noadmission.toml").write_text("[admission]\nenabled = false\n")
        self.dir = folder / "cluster"
        result = subprocess.run(
            [sys.executable, "-m", "mcu", "cluster", "up", "--dir", str(self.dir), "--nodes", "2",
             "--sip-port", str(self.sip_port), "--base-port", "0", "--rtp-base", str(20000 + (self.sip_port % 40) * 1000),
             "--heartbeat", "0.5", "--ping-interval", "1", "--fr-timer-ms", "2000", "--conf", str(conf),
             "--node-config", f"node-1={folder / 'max1.toml'}", "--node-config",
             f"node-2={folder / 'noadmission.toml'}"],
            check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise AssertionError(f"mcu cluster up failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        self.up_output = result.stdout
        self.info = json.loads((self.dir / "cluster.json").read_text())
        self.nodes = {n["node_id"]: n for n in self.info["nodes"]}
        self.token = (self.dir / "node-1" / "admin.token").read_text().strip()
        self.redis = redis.Redis.from_url(self.info["redis_url"], decode_responses=True)

    @property
    def uri(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def room_uri(self, room: str) -> str:
        return f"sip:{room}@{self.uri}"

    def owner(self, room: str) -> str | None:
        return self.redis.get(f"room:{room}")

    def admin(self, node: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        url = self.nodes[node]["admin"] + path
        data = json.dumps(body or {}).encode() if method == "POST" else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json", "X-Operator": "pytest"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def members(self, node: str, room: str) -> list[dict]:
        status, doc = self.admin(node, "GET", f"/rooms/{room}/members")
        assert status == 200, doc
        return doc["result"]

    def logs(self) -> str:
        out = []
        for name in ("kamailio", "node-1", "node-2"):
            path = self.dir / f"{name}.log"
            lines = path.read_text(errors="replace").splitlines()[-80:] if path.exists() else []
            out.append(f"--- {name}.log ---\n" + "\n".join(lines))
        return "\n".join(out)

    def down(self) -> str:
        result = subprocess.run([sys.executable, "-m", "mcu", "cluster", "down", "--dir", str(self.dir)],
                                check=False, cwd=REPO, capture_output=True, text=True, timeout=60)
        return result.stdout + result.stderr


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.down()


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def sipp_caller(cluster: Cluster, room: str, seconds: float, folder: Path) -> subprocess.Popen:
    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed: `bash .ci/setup.sh test` installs sip-tester")
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["sipp", "-sf", str(SCENARIO), "-s", room, cluster.uri, "-i", "127.0.0.1",
                             "-p", str(free_port()), "-mp", str(free_port()), "-m", "1", "-d", str(int(seconds * 1000)),
                             "-nostdin", "-timeout", str(int(seconds + 20)), "-trace_err"],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def baresip_caller(cluster: Cluster, room: str, seconds: int, folder: Path) -> subprocess.Popen:
    binary = shutil.which("baresip")
    if binary is None or not (BARESIP_MODULES / "avcodec.so").exists():
        pytest.fail("baresip with avcodec not found: the test setup installs baresip and baresip-ffmpeg")
    folder.mkdir(parents=True)
    (folder / "config").write_text(BARESIP_CONFIG.format(modules=BARESIP_MODULES, tone=660, heard=folder / "heard.wav"))
    (folder / "accounts").write_text("<sip:baresip@127.0.0.1>;regint=0\n")
    return subprocess.Popen([binary, "-f", str(folder), "-e", f"/dial {cluster.room_uri(room)}", "-t", str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_up_prints_where_everything_listens_and_status_sees_both_nodes(cluster: Cluster) -> None:
    assert f"sip:<room>@127.0.0.1:{cluster.sip_port}" in cluster.up_output
    for node in cluster.nodes.values():
        assert node["sip"] in cluster.up_output and node["admin"] in cluster.up_output
    status = subprocess.run([sys.executable, "-m", "mcu", "cluster", "status", "--dir", str(cluster.dir), "--json"],
                            check=False, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert [n["registered"] for n in report["nodes"]] == [True, True], report
    targets = json.loads((cluster.dir / "prometheus" / "targets.json").read_text())
    assert {t["labels"]["node"]: t["targets"][0] for t in targets} == {
        n: cluster.nodes[n]["metrics"] for n in cluster.nodes}


def test_prometheus_scrapes_every_node_from_the_registry_with_a_node_label(cluster: Cluster, tmp_path: Path) -> None:
    from tests.metrics.promcheck import prometheus_binary

    targets = tmp_path / "mcu-nodes.json"
    made = subprocess.run([sys.executable, "-m", "mcu", "cluster", "targets", "--redis", cluster.info["redis_url"],
                           "--out", str(targets)], check=False, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stdout + made.stderr
    assert json.loads(targets.read_text()) == json.loads((cluster.dir / "prometheus" / "targets.json").read_text())
    config = (REPO / "conf" / "prometheus" / "cluster.yml").read_text()
    config = config.replace("/etc/prometheus/mcu-nodes.json", str(targets)).replace("scrape_interval: 5s",
                                                                                     "scrape_interval: 1s")
    config = config.replace("  - mcu-alerts.yml", f"  - {REPO / 'conf' / 'prometheus' / 'mcu-alerts.yml'}")
    (tmp_path / "prometheus.yml").write_text(config)
    port = free_port()
    prom = subprocess.Popen([prometheus_binary(), f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def query(expr: str) -> list[dict]:
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())["data"]["result"]
        except OSError:
            return []

    try:
        up = wait_for(lambda: {r["metric"]["node"] for r in query('up{job="mcu"} == 1')} == set(cluster.nodes), 30,
                      "Prometheus scraping both nodes")
        assert up
        per_node = wait_for(lambda: query('sum by (node) (mcu_rooms{job="mcu"})'), 10, "mcu_rooms by node")
        assert {r["metric"]["node"] for r in per_node} == set(cluster.nodes)  # as the per-node panels group
        registry = query("mcu_cluster_registry_up")
        assert {(r["metric"]["node"], r["value"][1]) for r in registry} == {(n, "1") for n in cluster.nodes}
    finally:
        prom.terminate()
        prom.wait(10)


def test_one_room_lands_on_one_node_other_rooms_spread_and_a_full_node_gets_no_new_room(
        cluster: Cluster, loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    sipps = [sipp_caller(cluster, "5001", 12, tmp_path / f"sipp{i}") for i in range(2)]
    wait_for(lambda: cluster.owner("5001"), 10, "room 5001 claimed")
    owner = cluster.owner("5001")
    baresip = baresip_caller(cluster, "5001", 12, tmp_path / "baresip")
    sites = [SyntheticEndpoint(i, f"Site {i}") for i in (1, 2)]

    async def call_all() -> None:
        for site in sites:
            await site.call(cluster.room_uri("5001"), timeout=10)

    try:
        loop.run_until_complete(call_all())
        wait_for(lambda: len(cluster.members(owner, "5001")) == 5, 15,
                 "2 sipp + 1 baresip + 2 synthetic sites in room 5001 on its node")
        other = next(n for n in cluster.nodes if n != owner)
        def ids(node: str) -> list[tuple[int, str]]:
            return [(m["id"], m["call_id"]) for m in cluster.members(node, "5001")]

        assert ids(other) == ids(owner)  # the other node's API answered with the owner's room
        # the node counts each caller by its own address (X-MCU-Source), not the front door's
        remotes = {m["remote"] for m in cluster.members(owner, "5001")}
        assert {f"127.0.0.1:{s.sip_port}" for s in sites} <= remotes, remotes
        assert f"127.0.0.1:{cluster.sip_port}" not in remotes
        def hear_each_other_not_themselves() -> bool:
            return all(me.heard_tone(them.tone_hz) > TONE_PRESENT and me.heard_tone(me.tone_hz) < TONE_ABSENT
                       for me, them in ((sites[0], sites[1]), (sites[1], sites[0])))

        loop.run_until_complete(until(hear_each_other_not_themselves, 15,
                                       "both synthetic sites hearing each other and not themselves"))
        # node-1 takes one room at most: once it is full, every new room goes to node-2
        wait_for(lambda: any(cluster.redis.hget(f"node:{n}", "rooms") == "1" for n in cluster.nodes), 5,
                 "the first room published")
        others = [SyntheticEndpoint(10 + i, f"Room {r}") for i, r in enumerate(("5002", "5003", "5004"))]

        async def one_each() -> None:
            for site, room in zip(others, ("5002", "5003", "5004")):
                await site.call(cluster.room_uri(room), timeout=10)
                await asyncio.sleep(1.2)  # the node publishes its new load within a heartbeat

        loop.run_until_complete(one_each())
        owners = {r: cluster.owner(r) for r in ("5001", "5002", "5003", "5004")}
        assert set(owners.values()) == {"node-1", "node-2"}, owners  # the rooms spread
        assert list(owners.values()).count("node-1") == 1, owners  # ... and the full node got no other
        assert cluster.redis.hget("node:node-1", "full") == "1"
        for room, node in owners.items():
            assert cluster.members(node, room), f"room {room} has its members on {node}"
        for proc in sipps:  # their BYE went along the route set through Kamailio
            out, _ = proc.communicate(timeout=40)
            assert proc.returncode == 0, out[-3000:] + cluster.logs()
        baresip.communicate(timeout=40)  # it hangs up after its -t seconds
        assert "in-dialog BYE" in (cluster.dir / "kamailio.log").read_text()
        loop.run_until_complete(_all(*(s.close() for s in others)))
    finally:
        for proc in (*sipps, baresip):
            if proc.poll() is None:
                proc.kill()
        loop.run_until_complete(_all(*(s.close() for s in sites)))


def test_admin_on_one_node_mutes_and_removes_a_member_on_the_other(cluster: Cluster,
                                                                      loop: asyncio.AbstractEventLoop) -> None:
    site = SyntheticEndpoint(30, "Quảng Ninh")
    loop.run_until_complete(site.call(cluster.room_uri("5005"), timeout=10))
    try:
        owner = wait_for(lambda: cluster.owner("5005"), 5, "room 5005 claimed")
        other = next(n for n in cluster.nodes if n != owner)
        (member,) = wait_for(lambda: cluster.members(owner, "5005"), 5, "the member")
        status, doc = cluster.admin(other, "POST", f"/rooms/5005/members/{member['id']}/mute")
        assert status == 200, doc
        assert cluster.members(owner, "5005")[0]["muted"] is True
        # mcu ctl with a list of nodes: the first does not answer, the second answers for the room
        dead = f"http://127.0.0.1:{free_port()}"
        token_file = cluster.dir / "node-1" / "admin.token"
        ctl = subprocess.run([sys.executable, "-m", "mcu", "ctl", "unmute", "5005", str(member["id"]), "--node", dead,
                              "--node", cluster.nodes[other]["admin"], "--token-file", str(token_file), "--json"],
                             check=False, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert ctl.returncode == 0, ctl.stdout + ctl.stderr
        assert "does not answer; trying the next node" in ctl.stderr
        assert cluster.members(owner, "5005")[0]["muted"] is False
        status, doc = cluster.admin(other, "POST", "/rooms/5005/members/999/mute")
        assert status == 404 and "no member 999" in doc["error"], doc  # the owner's refusal, passed on
        status, doc = cluster.admin(other, "POST", f"/rooms/5005/members/{member['id']}/remove")
        assert status == 200, doc
        # the owner's BYE goes to the route set: through Kamailio to the site
        loop.run_until_complete(until(lambda: not site.in_call, 10, "the site hung up by the owner"))
        assert site.ended_reason == "remote hangup"
        text = (cluster.dir / "kamailio.log").read_text()
        assert f"in-dialog BYE from 127.0.0.1:{cluster.nodes[owner]['sip_port']}" in text, cluster.logs()
    finally:
        loop.run_until_complete(site.close())


async def _all(*coros) -> None:  # type: ignore[no-untyped-def]
    await asyncio.gather(*coros)


def test_killing_the_owner_moves_the_room_within_5_s_and_its_roster_is_redialled(
        cluster: Cluster, loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    # the roster site answers every call (sipp) and keeps each message in its trace
    roster = subprocess.Popen(["sipp", "-sf", str(Path(__file__).parent / "scenarios" / "uas_roster.xml"), "-i", "127.0.0.1", "-p", str(cluster.roster_port),
                               "-mp", str(free_port()), "-nostdin", "-trace_msg", "-message_file",
                               str(tmp_path / "roster.log")], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    caller = SyntheticEndpoint(40, "Hà Giang")
    again = SyntheticEndpoint(41, "Cao Bằng")
    try:
        wait_for(lambda: cluster.redis.hget("node:node-1", "full") == "0", 40,
                 "node-1 free again (its room emptied; a site gone without BYE leaves after 30 s)")
        wait_for(lambda: _kamailio_sees_active(cluster), 10, "node-1 active at the front door")
        loop.run_until_complete(caller.call(cluster.room_uri("5002"), timeout=10))
        owner = wait_for(lambda: cluster.owner("5002"), 5, "room 5002 claimed")
        survivor = next(n for n in cluster.nodes if n != owner)
        status, doc = cluster.admin(survivor, "POST", "/rooms/5002/dial", {"target": "test-roster"})  # forwarded
        assert status == 200, doc
        wait_for(lambda: any(m["name"] == "Điểm cầu thử nghiệm" for m in cluster.members(owner, "5002")), 10,
                 "the roster site in the room")
        wait_for(lambda: "test-roster" in (cluster.redis.get("roster:5002") or ""), 5, "the room's roster saved")
        os.kill(cluster.nodes[owner]["pid"], signal.SIGKILL)  # the node dies: no BYE, no release
        killed = time.monotonic()
        loop.run_until_complete(again.call(cluster.room_uri("5002"), timeout=5.0))
        moved_after = time.monotonic() - killed
        assert moved_after < 5.0
        assert cluster.owner("5002") == survivor
        wait_for(lambda: any(m["name"] == "Điểm cầu thử nghiệm" for m in cluster.members(survivor, "5002")), 10,
                 "the roster site redialled by the node that took the room over")
        invites = (tmp_path / "roster.log").read_text(errors="replace").count("INVITE sip:test-roster")
        assert invites == 2, f"the roster site got {invites} INVITE(s)"
    finally:
        roster.kill()
        loop.run_until_complete(_all(caller.close(), again.close()))


def _kamailio_sees_active(cluster: Cluster) -> bool:
    """Both nodes answer the front door's keep-alive with 200 again (no probe failed since)."""
    from mcu.cluster.local import options_ping

    return all(options_ping(n["sip_port"]) == 200 for n in cluster.nodes.values())
