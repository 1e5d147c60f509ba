"""The room registry in Redis: which node hosts which room, and how loaded each node is.

Keys (the front door's kamailio.cfg reads the first two with ndb_redis):

    room:<number>    the id of the node that hosts the room       SET NX PX <room_ttl>, renewed
    node:<id>        hash: sip, admin, metrics, load figures, full  PEXPIRE <node_ttl>, renewed
    roster:<number>  JSON {"owner": id, "sites": [...]}: the room's   PX <roster_ttl>: the node that
                     dialled/roster sites, by the node hosting it   takes a room over redials them

A node claims a room with `SET room:<r> <id> NX PX <ttl>` when its first caller arrives; every
heartbeat renews its claims (only the ones it still owns: a Lua compare-and-expire) and releases
(compare-and-delete) those of rooms that emptied. A node that dies stops renewing: its claims and
its node hash expire, and the next call to the room is placed afresh. A claim whose owner's node
hash is gone is taken over at once (the owner is dead even if the claim has not expired yet). A
room claimed afresh whose roster was left by another node (its claim expired with it) is a
takeover too. A room released because it emptied takes its roster with it.

`Registry` is the logic over a tiny client interface (`RedisLike`: the few commands of
redis.asyncio.Redis it uses), so tests can drive it with a fake as well as with a real Redis.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

ROOM_PREFIX = "room:"
NODE_PREFIX = "node:"
ROSTER_PREFIX = "roster:"

# KEYS[1] room key; ARGV[1] our id, ARGV[2] ttl ms. Renew only a claim that is still ours.
RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS[1] room key, KEYS[2] its roster key; ARGV[1] our id. Release only a claim that is still
# ours; the meeting is over, so its roster goes too.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] room key; ARGV[1] our id, ARGV[2] ttl ms, ARGV[3] node key prefix, ARGV[4] the owner the
# front door found dead ("" if none). Returns {owner, how}: how = "ours" | "new" | "other" |
# "takeover:<previous>" (the previous owner's node hash had expired, or it is the dead one).
CLAIM_SCRIPT = """
local owner = redis.call('GET', KEYS[1])
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {ARGV[1], 'new'}
end
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {owner, 'ours'}
end
if owner == ARGV[4] or redis.call('EXISTS', ARGV[3] .. owner) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {ARGV[1], 'takeover:' .. owner}
end
return {owner, 'other'}
"""


class RedisLike(Protocol):
    """The commands of redis.asyncio.Redis (decode_responses=True) the registry uses."""

    async def set(self, name: str, value: str, *, nx: bool = ..., px: int | None = ...) -> Any: ...
    async def get(self, name: str) -> Any: ...
    async def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any: ...
    async def hset(self, name: str, mapping: Mapping[str, Any]) -> Any: ...
    async def hgetall(self, name: str) -> Any: ...
    async def pexpire(self, name: str, time: int) -> Any: ...
    async def delete(self, *names: str) -> Any: ...


@dataclass(frozen=True)
class NodeInfo:
    """What a node publishes about itself under node:<id>."""

    node_id: str
    sip: str = ""  # the SIP address the front door routes to, e.g. sip:10.0.0.11:5060
    admin: str = ""  # its admin API base URL
    metrics: str = ""  # host:port of its Prometheus exporter
    predicted_cores: float = 0.0
    measured_cores: float = 0.0
    ceiling_cores: float = 0.0
    rooms: int = 0
    members: int = 0
    full: bool = False  # no new rooms: the front door's OPTIONS probe gets 503 too

    def to_hash(self) -> dict[str, str]:
        return {"sip": self.sip, "admin": self.admin, "metrics": self.metrics,
                "predicted_cores": f"{self.predicted_cores:.3f}", "measured_cores": f"{self.measured_cores:.3f}",
                "ceiling_cores": f"{self.ceiling_cores:.3f}", "rooms": str(self.rooms),
                "members": str(self.members), "full": "1" if self.full else "0"}

    @classmethod
    def from_hash(cls, node_id: str, data: Mapping[str, str]) -> NodeInfo:
        def number(key: str) -> float:
            try:
                return float(data.get(key) or 0)
            except ValueError:
                return 0.0
        return cls(node_id, sip=data.get("sip", ""), admin=data.get("admin", ""), metrics=data.get("metrics", ""),
                   predicted_cores=number("predicted_cores"), measured_cores=number("measured_cores"),
                   ceiling_cores=number("ceiling_cores"), rooms=int(number("rooms")),
                   members=int(number("members")), full=data.get("full") == "1")


@dataclass(frozen=True)
class Claim:
    """The answer to claiming a room: who owns it now, and how it came to."""

    room: str
    owner: str
    how: str  # "new", "ours", "other", "takeover"
    previous_owner: str = ""  # for a takeover: the dead node

    @property
    def ours(self) -> bool:
        return self.how != "other"


@dataclass(frozen=True)
class RosterSite:
    """A site the room's owner dialled (or matched to the roster): who the next owner redials."""

    uri: str
    name: str = ""
    site_id: str = ""


@dataclass
class HeartbeatResult:
    renewed: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # another node holds the claim now
    released: list[str] = field(default_factory=list)
    claimed: list[Claim] = field(default_factory=list)


class Registry:
    """One node's view of the registry: its claims, its node hash, the rooms' rosters.

    Every method raises whatever the client raises (redis.RedisError, OSError): the caller
    (mcu.cluster.node.ClusterNode) counts, logs and retries; the meetings never wait on it.
    """

    def __init__(self, client: RedisLike, node_id: str, *, room_ttl_ms: int, node_ttl_ms: int,
                 roster_ttl_ms: int = 600_000) -> None:
        self.client = client
        self.node_id = node_id
        self.room_ttl_ms = room_ttl_ms
        self.node_ttl_ms = node_ttl_ms
        self.roster_ttl_ms = roster_ttl_ms
        self.owned: set[str] = set()  # rooms whose claim we hold (as of the last answer)

    # -- rooms

    async def claim(self, room: str, failed_owner: str = "") -> Claim:
        """Claim `room` for this node (SET NX PX), or learn its owner; take it over from a dead one
        (its node hash expired, or it is `failed_owner`: the front door found it not answering)."""
        key = ROOM_PREFIX + room
        if await self.client.set(key, self.node_id, nx=True, px=self.room_ttl_ms):
            self.owned.add(room)
            left_by = await self.roster_owner(room)
            if left_by and left_by != self.node_id:  # its host died and the claim expired with it
                return Claim(room, self.node_id, "takeover", left_by)
            return Claim(room, self.node_id, "new")
        owner, how = await self.client.eval(CLAIM_SCRIPT, 1, key, self.node_id, self.room_ttl_ms, NODE_PREFIX,
                                            failed_owner)
        owner, how = _text(owner), _text(how)
        previous = ""
        if how.startswith("takeover:"):
            how, previous = "takeover", how.removeprefix("takeover:")
        if how == "other":
            self.owned.discard(room)
        else:
            self.owned.add(room)
        return Claim(room, owner, how, previous)

    async def owner(self, room: str) -> str | None:
        value = await self.client.get(ROOM_PREFIX + room)
        return _text(value) if value is not None else None

    async def renew(self, room: str) -> bool:
        """Extend our claim; False if it is no longer ours (it expired, or another node took it)."""
        ok = bool(await self.client.eval(RENEW_SCRIPT, 1, ROOM_PREFIX + room, self.node_id, self.room_ttl_ms))
        if not ok:
            self.owned.discard(room)
        return ok

    async def release(self, room: str) -> bool:
        """Give the room up (it emptied); False if it was not ours any more."""
        self.owned.discard(room)
        return bool(await self.client.eval(RELEASE_SCRIPT, 2, ROOM_PREFIX + room, ROSTER_PREFIX + room,
                                           self.node_id))

    async def heartbeat(self, active_rooms: set[str], info: NodeInfo,
                        rosters: Mapping[str, list[RosterSite]] | None = None) -> HeartbeatResult:
        """Publish our load; renew the claims of rooms with members, claim the ones we host
        without a claim (joined while the registry was away), release the ones that emptied."""
        result = HeartbeatResult()
        await self.publish(info)
        for room in sorted(self.owned - active_rooms):
            if await self.release(room):
                result.released.append(room)
        for room in sorted(active_rooms):
            if room in self.owned and await self.renew(room):
                result.renewed.append(room)
                continue
            # never claimed, or the claim lapsed (Redis restarted, a long outage): claim it again;
            # lost only when another node holds it now
            claim = await self.claim(room)
            if claim.ours:
                result.claimed.append(claim)
            else:
                result.lost.append(room)
        for room, sites in (rosters or {}).items():
            if room in self.owned:
                await self.save_roster(room, sites)
        return result

    # -- nodes

    async def publish(self, info: NodeInfo) -> None:
        key = NODE_PREFIX + self.node_id
        await self.client.hset(key, mapping=info.to_hash())
        await self.client.pexpire(key, self.node_ttl_ms)

    async def node(self, node_id: str) -> NodeInfo | None:
        data = await self.client.hgetall(NODE_PREFIX + node_id)
        if not data:
            return None
        return NodeInfo.from_hash(node_id, {_text(k): _text(v) for k, v in data.items()})

    async def withdraw(self) -> None:
        """A clean stop: our node hash and every claim go at once (no waiting for the TTL)."""
        for room in sorted(self.owned):
            await self.release(room)
        await self.client.delete(NODE_PREFIX + self.node_id)

    # -- rosters

    async def save_roster(self, room: str, sites: list[RosterSite]) -> None:
        doc = json.dumps({"owner": self.node_id,
                          "sites": [{"uri": x.uri, "name": x.name, "site": x.site_id} for x in sites]})
        await self.client.set(ROSTER_PREFIX + room, doc, px=self.roster_ttl_ms)

    async def roster(self, room: str) -> list[RosterSite]:
        raw = await self.client.get(ROSTER_PREFIX + room)
        return parse_roster(_text(raw))[1] if raw is not None else []

    async def roster_owner(self, room: str) -> str:
        raw = await self.client.get(ROSTER_PREFIX + room)
        return parse_roster(_text(raw))[0] if raw is not None else ""


def parse_roster(raw: str) -> tuple[str, list[RosterSite]]:
    """(the node that wrote it, its sites) of roster:<room>; garbage (another writer, a truncated
    value) gives ("", [])."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return "", []
    if not isinstance(doc, dict) or not isinstance(doc.get("sites"), list):
        return "", []
    owner = doc.get("owner") if isinstance(doc.get("owner"), str) else ""
    out = []
    for item in doc["sites"]:
        if isinstance(item, dict) and isinstance(item.get("uri"), str) and item["uri"]:
            out.append(RosterSite(item["uri"], str(item.get("name") or ""), str(item.get("site") or "")))
    return owner, out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def list_nodes(client: Any) -> list[NodeInfo]:
    """Every node with a live hash (SCAN node:*), by id; for `mcu cluster status` and file_sd."""
    nodes = []
    async for key in client.scan_iter(match=NODE_PREFIX + "*"):
        node_id = _text(key).removeprefix(NODE_PREFIX)
        data = await client.hgetall(_text(key))
        if data:
            nodes.append(NodeInfo.from_hash(node_id, {_text(k): _text(v) for k, v in data.items()}))
    return sorted(nodes, key=lambda n: n.node_id)


async def list_rooms(client: Any) -> dict[str, str]:
    """room number -> owning node id, for every live claim."""
    rooms = {}
    async for key in client.scan_iter(match=ROOM_PREFIX + "*"):
        owner = await client.get(_text(key))
        if owner is not None:
            rooms[_text(key).removeprefix(ROOM_PREFIX)] = _text(owner)
    return dict(sorted(rooms.items()))
