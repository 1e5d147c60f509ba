"""One node with a [cluster] section against a real redis-server that fails under it: the meeting
goes on, new calls are placed here, the failures are counted and logged once, and the node
claims its rooms again when Redis is back. Plus the config's refusals."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import redis

from mcu.synthetic import SyntheticEndpoint
from tests.cluster.peers import RedisServer
from tests.helpers import McuProcess, free_port, until, write_test_config

pytestmark = pytest.mark.peer
REPO = Path(__file__).resolve().parents[2]
TONE_PRESENT = 0.03


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_redis_going_away_never_breaks_the_meeting_and_the_node_reclaims_its_room(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    port = server.port
    metrics_port = free_port()
    extra = (f'[cluster]\nnode_id = "solo"\nredis_url = "redis://127.0.0.1:{port}/0"\nheartbeat = 0.3\n'
             f'redis_timeout = 0.3\n[admission]\nenabled = false\n')
    mcu = McuProcess(tmp_path / "mcu", extra=extra, metrics_port=metrics_port)
    client = redis.Redis(port=port, decode_responses=True)
    sites = [SyntheticEndpoint(1, "Điện Biên"), SyntheticEndpoint(2, "Cà Mau")]

    async def scenario() -> None:
        try:
            await meeting()
        finally:
            await _close(sites)

    async def meeting() -> None:
        nonlocal server
        # garbage in the registry (another writer): a room "hosted" by a node with no usable address
        client.hset("node:evil", mapping={"sip": "not a sip uri"})
        client.set("room:4200", "evil", px=60_000)
        probe = SyntheticEndpoint(9, "probe")
        await probe.call(f"sip:4200@127.0.0.1:{mcu.sip_port}")  # served here, not redirected into nowhere
        assert mcu.has("cluster.bad_owner_address")
        await probe.close()
        await sites[0].call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
        await until(lambda: client.get("room:4100") == "solo", 5, "room 4100 claimed")
        server.stop()  # the registry dies mid-meeting
        await until(lambda: mcu.has("cluster.registry_down"), 5, "the outage logged")
        await sites[1].call(f"sip:4100@127.0.0.1:{mcu.sip_port}", timeout=10)  # still placed here
        await until(lambda: all(me.heard_tone(them.tone_hz) > TONE_PRESENT  # the meeting goes on
                                 for me, them in ((sites[0], sites[1]), (sites[1], sites[0]))), 15,
                     "both sites hearing each other with the registry down")
        assert all(site.in_call for site in sites)
        errors = _metric(metrics_port, "mcu_cluster_registry_errors_total")
        assert errors >= 2  # the claim of the second call and heartbeats, counted
        assert _metric(metrics_port, "mcu_cluster_registry_up") == 0
        assert sum('"cluster.registry_down"' in line for line in mcu.lines) == 1  # logged once per outage
        server = _restart(tmp_path / "redis2", port)
        await until(lambda: client.get("room:4100") == "solo", 10, "room 4100 claimed again")
        assert mcu.has("cluster.registry_up")
        assert _metric(metrics_port, "mcu_cluster_registry_up") == 1
        assert client.hget("node:solo", "members") == "2"

    try:
        asyncio.run(asyncio.wait_for(scenario(), 60))
        assert not mcu.has("cluster.claim_lost")  # the room came back to us, nobody took it
        # a clean stop gives the room back at once
        assert mcu.stop() == 0
        assert client.get("room:4100") is None and client.exists("node:solo") == 0
    except BaseException:
        print(mcu.log()[-5000:])
        raise
    finally:
        mcu.stop()
        server.stop()


def _restart(folder: Path, port: int) -> RedisServer:
    """redis-server again on the same port (the URL in the node's config)."""
    server = RedisServer.__new__(RedisServer)
    folder.mkdir(parents=True, exist_ok=True)
    server.port = port
    import time

    from tests.cluster.peers import Peer

    Peer.__init__(server, "redis-server", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                           "--appendonly", "no", "--dir", str(folder)], folder)
    deadline = time.monotonic() + 10
    while not any("Ready to accept connections" in line for line in server.lines):
        assert server.proc.poll() is None and time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    return server


async def _close(sites: list[SyntheticEndpoint]) -> None:
    for site in sites:
        await site.close()



def test_bad_cluster_settings_are_refused_with_file_and_line(tmp_path: Path) -> None:
    path = write_test_config(tmp_path, free_port(), extra='[cluster]\nredis_url = "http://nope"\n')
    result = subprocess.run([sys.executable, "-m", "mcu", "check-config", "-c", str(path)], check=False, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "cluster.redis_url: must be a Redis URL" in result.stderr
    path.write_text(path.read_text().replace('redis_url = "http://nope"', 'node_id = "bad id!"'))
    result = subprocess.run([sys.executable, "-m", "mcu", "check-config", "-c", str(path)], check=False, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "cluster.node_id: must be letters" in result.stderr
    assert f"{path}:" in result.stderr  # file and line
    path.write_text(path.read_text().replace('node_id = "bad id!"', 'node_id = ""'))
    from mcu.config import load_config

    assert not load_config(path).mcu.cluster.enabled  # an empty node_id: a single MCU, as without the section
