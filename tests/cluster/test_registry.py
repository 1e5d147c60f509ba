"""The room registry against a real redis-server: claims, renewals, releases, takeovers, rosters,
and a node that keeps placing calls while Redis is away."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mcu.cluster.node import ClusterNode, NodeHooks
from mcu.cluster.registry import (
    NodeInfo,
    Registry,
    RosterSite,
    list_nodes,
    list_rooms,
    parse_roster,
)
from mcu.config import ClusterSection
from tests.cluster.peers import RedisServer
from tests.helpers import free_port

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def run(coro):
    return asyncio.run(coro)


async def _client(url: str) -> aioredis.Redis:
    client = aioredis.from_url(url, decode_responses=True)
    await client.flushdb()
    return client


def _registry(client, node_id: str, ttl_ms: int = 2000) -> Registry:
    return Registry(client, node_id, room_ttl_ms=ttl_ms, node_ttl_ms=ttl_ms)


def test_one_room_has_one_owner_and_only_the_owner_renews_or_releases(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = await _client(redis_server.url)
        a, b = _registry(client, "a"), _registry(client, "b")
        await a.publish(NodeInfo("a", sip="sip:127.0.0.1:5071"))
        await b.publish(NodeInfo("b", sip="sip:127.0.0.1:5072"))
        first = await a.claim("4100")
        assert (first.owner, first.how) == ("a", "new")
        second = await b.claim("4100")
        assert (second.owner, second.how, second.ours) == ("a", "other", False)
        assert (await a.claim("4100")).how == "ours"
        assert await b.renew("4100") is False and await b.release("4100") is False
        assert await client.get("room:4100") == "a"  # b's attempts changed nothing
        assert await a.renew("4100") is True
        assert 0 < await client.pttl("room:4100") <= 2000
        assert await list_rooms(client) == {"4100": "a"}
        assert await a.release("4100") is True
        assert await client.get("room:4100") is None
        assert (await b.claim("4100")).how == "new"  # free again: the next caller's node gets it
        await client.aclose()

    run(scenario())


def test_a_dead_owners_claim_expires_and_is_taken_over_once_its_node_hash_is_gone(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = await _client(redis_server.url)
        dead = _registry(client, "dead", ttl_ms=300)
        alive = _registry(client, "alive", ttl_ms=5000)
        await dead.publish(NodeInfo("dead", sip="sip:127.0.0.1:1"))
        await alive.publish(NodeInfo("alive", sip="sip:127.0.0.1:2"))
        await dead.claim("4100")
        assert (await alive.claim("4100")).how == "other"  # its node hash still lives
        await asyncio.sleep(0.5)  # no heartbeat: the node hash and the claim expire
        claim = await alive.claim("4100")
        assert claim.ours and claim.owner == "alive"
        # the node hash went first while the claim lived on (a longer claim_ttl): taken over at once
        await client.set("room:4200", "ghost", px=60_000)
        claim = await alive.claim("4200")
        assert (claim.how, claim.previous_owner, claim.owner) == ("takeover", "ghost", "alive")
        assert await client.get("room:4200") == "alive"
        await client.aclose()

    run(scenario())


def test_heartbeat_renews_active_rooms_releases_empty_ones_and_reports_a_lost_claim(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = await _client(redis_server.url)
        node = _registry(client, "a")
        await node.claim("4100")
        await node.claim("4200")
        sites = [RosterSite("sip:lao-cai@127.0.0.1:5090", "UBND tỉnh Lào Cai", "laocai")]
        result = await node.heartbeat({"4100", "4300"}, NodeInfo("a", sip="sip:x", rooms=2, full=True),
                                      {"4100": sites})
        assert result.renewed == ["4100"] and result.released == ["4200"]
        assert [c.room for c in result.claimed] == ["4300"]  # hosted without a claim: claimed now
        assert await client.get("room:4200") is None
        info = await node.node("a")
        assert info is not None and info.full and info.rooms == 2 and info.sip == "sip:x"
        assert 0 < await client.pttl("node:a") <= 2000
        assert await node.roster("4100") == sites  # UTF-8 names survive the round trip
        await client.set("room:4100", "b", px=5000)  # another node took it (split brain)
        await client.hset("node:b", mapping={"sip": "sip:y"})
        result = await node.heartbeat({"4100", "4300"}, NodeInfo("a"))
        assert result.lost == ["4100"] and "4100" not in node.owned
        assert [n.node_id for n in await list_nodes(client)] == ["a", "b"]
        await client.aclose()

    run(scenario())


def test_roster_garbage_is_ignored() -> None:
    assert parse_roster("not json") == ("", [])
    assert parse_roster('{"uri": "sip:a@b"}') == ("", [])
    assert parse_roster('[{"uri": "sip:a@b"}]') == ("", [])
    assert parse_roster('{"owner": 3, "sites": [{"uri": ""}, 3, {"uri": "sip:a@b", "name": 7}]}') == (
        "", [RosterSite("sip:a@b", "7", "")])


def test_a_room_claimed_afresh_with_another_nodes_roster_is_a_takeover_and_a_release_ends_the_roster(
        redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = await _client(redis_server.url)
        a, b = _registry(client, "a"), _registry(client, "b")
        await a.claim("4100")
        await a.save_roster("4100", [RosterSite("sip:s@h", "S", "s")])
        await client.delete("room:4100")  # a died and its claim expired; its roster lives longer
        claim = await b.claim("4100")
        assert (claim.how, claim.previous_owner) == ("takeover", "a")
        await b.save_roster("4100", [])
        await b.release("4100")  # the meeting ended: nobody is to be redialled
        assert await client.get("roster:4100") is None
        assert (await a.claim("4100")).how == "new"
        await client.aclose()

    run(scenario())


def _hooks(active: set[str], full: bool = False) -> NodeHooks:
    async def redial(room: str, sites: list[RosterSite]) -> None:
        redialled.append((room, sites))

    redialled: list[tuple[str, list[RosterSite]]] = []
    hooks = NodeHooks(describe=lambda: NodeInfo("n", sip="sip:127.0.0.1:5071", full=full),
                      active_rooms=lambda: set(active), rosters=dict, redial=redial)
    hooks.redialled = redialled  # type: ignore[attr-defined]
    return hooks


def test_node_places_calls_here_while_redis_is_away_and_counts_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        dead_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
        node = ClusterNode(ClusterSection(node_id="n", redis_url=dead_url, heartbeat=0.1, redis_timeout=0.2),
                           _hooks({"4100"}))
        placement = await node.place("4100")
        assert placement.here and "registry unavailable" in placement.note
        await node.heartbeat()  # fails, counted, no exception
        assert node.errors["claim"] == 1 and node.errors["heartbeat"] == 1 and not node.up
        metrics = {m.name: m for m in node.collector().collect()}
        assert metrics["mcu_cluster_registry_up"].samples[0].value == 0
        await node.stop()

    run(scenario())


def test_node_redirects_to_the_owner_refuses_new_rooms_when_full_and_redials_after_takeover(
        redis_server: RedisServer) -> None:
    async def scenario() -> None:
        client = await _client(redis_server.url)
        other = _registry(client, "other")
        await other.publish(NodeInfo("other", sip="sip:127.0.0.1:5072"))
        await other.claim("4100")
        settings = ClusterSection(node_id="n", redis_url=redis_server.url, heartbeat=0.1)
        hooks = _hooks({"4300"})
        node = ClusterNode(settings, hooks)
        placement = await node.place("4100")
        assert (placement.here, placement.owner, placement.sip) == (False, "other", "sip:127.0.0.1:5072")
        assert (await node.place("4300")).here
        await client.set("roster:4200", '{"owner": "gone", "sites": [{"uri": "sip:site@127.0.0.1:5099", '
                                        '"name": "Site", "site": "s1"}]}')
        await client.set("room:4200", "gone", px=10_000)  # its node hash expired: dead
        assert (await node.place("4200")).here
        for _ in range(50):
            if hooks.redialled:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.02)
        assert hooks.redialled == [("4200", [RosterSite("sip:site@127.0.0.1:5099", "Site", "s1")])]  # type: ignore[attr-defined]
        full = ClusterNode(ClusterSection(node_id="f", redis_url=redis_server.url), _hooks(set(), full=True))
        await full.heartbeat()
        placement = await full.place("4999")
        assert not placement.here and placement.note == "full"
        assert await client.get("room:4999") is None  # the claim went back: another node can take the room
        assert node.up and node.placements["other"] == 1 and node.placements["takeover"] == 1
        await node.stop()
        await full.stop()
        assert await client.exists("node:n") == 0  # a clean stop withdraws at once
        await client.aclose()

    run(scenario())
