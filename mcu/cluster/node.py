"""This MCU as one node of a cluster: the asyncio shell around the registry (mcu.cluster.registry).

* place(room) before a call joins: claim the room, or say which node hosts it (the SIP adapter
  redirects the caller there with 302); a node that takes a room over from a dead one redials
  the room's roster sites.
* a heartbeat task: publish this node's load (from the capacity model), renew the claims of
  rooms with members, release the ones that emptied, save each room's roster.

The registry never holds a meeting up: every Redis call has a timeout; a failure is counted
(mcu_cluster_registry_errors_total), logged once per outage, and retried on the next heartbeat,
and while Redis is away a call is placed here (a single node's behaviour).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from mcu.cluster.registry import Claim, NodeInfo, RedisLike, Registry, RosterSite
from mcu.config import ClusterSection
from mcu.log import event

log = logging.getLogger("mcu.cluster")

REDIRECTED = "elsewhere"


@dataclass(frozen=True)
class Placement:
    """Where a new call to a room goes: here, or to the node that hosts the room."""

    here: bool
    owner: str = ""
    sip: str = ""  # the owner's SIP address (sip:host:port) when not here
    note: str = ""  # why here without a claim (registry unavailable), for the log


@dataclass
class NodeHooks:
    """What the node asks of the server (callables, so the shell stays testable alone)."""

    describe: Callable[[], NodeInfo]  # this node's published figures, now
    active_rooms: Callable[[], set[str]]  # rooms with members here
    rosters: Callable[[], dict[str, list[RosterSite]]]  # room -> its dialled/roster sites
    redial: Callable[[str, list[RosterSite]], Awaitable[None]]  # a room taken over: call these back
    set_full: Callable[[bool], None] = lambda full: None  # the OPTIONS answer follows it


def connect(settings: ClusterSection) -> RedisLike:
    """A redis.asyncio client for [cluster] redis_url; connects lazily (never fails here)."""
    import redis.asyncio as aioredis

    return aioredis.from_url(settings.redis_url, decode_responses=True,  # type: ignore[no-any-return]
                             socket_timeout=settings.redis_timeout,
                             socket_connect_timeout=settings.redis_timeout)


class ClusterNode:
    def __init__(self, settings: ClusterSection, hooks: NodeHooks, client: RedisLike | None = None) -> None:
        self.settings = settings
        self.hooks = hooks
        self.client = client if client is not None else connect(settings)
        ttl_ms = max(1, int(settings.ttl * 1000))
        self.registry = Registry(self.client, settings.node_id, room_ttl_ms=ttl_ms, node_ttl_ms=ttl_ms)
        self.up = False  # the last registry call succeeded
        self.errors: Counter[str] = Counter()  # by operation
        self.placements: Counter[str] = Counter()  # new, ours, other, takeover, unavailable, full
        self.lost: Counter[str] = Counter()  # rooms whose claim another node took while we hosted it
        self.full = False
        self.admin_token = ""  # the cluster's shared admin token: forwarded commands carry it
        self.forwarded: Counter[str] = Counter()  # admin commands sent to the room's owner, by command
        self._down_logged = False
        self._lost_logged: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._redials: set[asyncio.Task[None]] = set()

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        event(log, "cluster.node", node=self.node_id, redis=_redacted(self.settings.redis_url),
              heartbeat=self.settings.heartbeat, claim_ttl=self.settings.ttl)
        self._task = asyncio.create_task(self._heartbeats(), name="cluster-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._redials):
            task.cancel()
        await self._call("withdraw", self.registry.withdraw())
        with contextlib.suppress(Exception):
            await self.client.aclose()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ placement

    async def place(self, room: str, owner_failed: str = "") -> Placement:
        """Before a call to `room` joins here: claim it, or learn where it is hosted.
        `owner_failed`: the node the front door tried first and found not answering."""
        claim: Claim | None = await self._call("claim", self.registry.claim(room, owner_failed))
        if claim is None:
            self.placements["unavailable"] += 1
            return Placement(True, note="registry unavailable: placed here")
        if claim.how == "new" and self.full:
            # A full node takes no new rooms: give the claim back so the front door tries another.
            await self._call("release", self.registry.release(room))
            self.placements["full"] += 1
            return Placement(False, note="full")
        self.placements[claim.how] += 1
        if claim.how == "other":
            info = await self._call("node", self.registry.node(claim.owner))
            if info is not None and info.sip:
                return Placement(False, owner=claim.owner, sip=info.sip)
            return Placement(True, owner=claim.owner, note=f"owner {claim.owner} has no address: placed here")
        if claim.how == "takeover":
            self._took_over(claim)
        return Placement(True, owner=self.node_id)

    async def node_address(self, node_id: str) -> NodeInfo | None:
        """What node `node_id` publishes (None: unknown, or the registry does not answer)."""
        info: NodeInfo | None = await self._call("node", self.registry.node(node_id))
        return info

    async def room_owner(self, room: str) -> NodeInfo | None:
        """The node that hosts `room` when it is another live node; None: here, nobody, or unknown."""
        owner = await self._call("owner", self.registry.owner(room))
        if owner is None or owner == self.node_id:
            return None
        info: NodeInfo | None = await self._call("node", self.registry.node(owner))
        return info

    def _took_over(self, claim: Claim) -> None:
        event(log, "cluster.takeover", logging.WARNING, room=claim.room, previous=claim.previous_owner)
        task = asyncio.create_task(self._redial(claim.room), name=f"cluster-redial-{claim.room}")
        self._redials.add(task)
        task.add_done_callback(self._redials.discard)

    async def _redial(self, room: str) -> None:
        sites = await self._call("roster", self.registry.roster(room))
        if sites:
            event(log, "cluster.redial", room=room, sites=len(sites))
            try:
                await self.hooks.redial(room, sites)
            except Exception:
                log.exception("cluster.redial_failed", extra={"fields": {"room": room}})

    # ------------------------------------------------------------------ heartbeat

    async def heartbeat(self) -> None:
        """One renewal round (the task runs it every [cluster] heartbeat seconds)."""
        info = self.hooks.describe()
        if info.full != self.full:
            self.full = info.full
            self.hooks.set_full(info.full)
            event(log, "cluster.full" if info.full else "cluster.not_full", node=self.node_id, rooms=info.rooms,
                  predicted_cores=info.predicted_cores)
        result = await self._call("heartbeat", self.registry.heartbeat(
            self.hooks.active_rooms(), info, self.hooks.rosters()))
        if result is None:
            return
        for room in result.lost:
            self.lost[room] += 1
            if room not in self._lost_logged:  # once, until the room is ours again
                self._lost_logged.add(room)
                event(log, "cluster.claim_lost", logging.WARNING, room=room,
                      note="another node holds the room now; the calls here go on")
        self._lost_logged -= set(result.renewed) | {c.room for c in result.claimed}
        for claim in result.claimed:
            if claim.how == "takeover":
                self._took_over(claim)

    async def _heartbeats(self) -> None:
        while True:
            try:
                await self.heartbeat()
            except Exception:
                self.errors["heartbeat"] += 1
                log.exception("cluster.heartbeat_failed")
            await asyncio.sleep(self.settings.heartbeat)

    # ------------------------------------------------------------------ one guarded registry call

    async def _call(self, op: str, coro: Awaitable[Any]) -> Any:
        """Await a registry call within redis_timeout; None on any failure (counted, logged once
        per outage)."""
        try:
            result = await asyncio.wait_for(coro, timeout=self.settings.redis_timeout * 2)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - redis.RedisError, OSError, TimeoutError, bad replies
            self.errors[op] += 1
            self.up = False
            if not self._down_logged:
                self._down_logged = True
                event(log, "cluster.registry_down", logging.ERROR, op=op, error=f"{type(exc).__name__}: {exc}",
                      note="calls are placed on this node until it is back; retried every heartbeat")
            return None
        if not self.up:
            self.up = True
            if self._down_logged:
                self._down_logged = False
                event(log, "cluster.registry_up", node=self.node_id)
        return result

    # ------------------------------------------------------------------ metrics

    def collector(self) -> Collector:
        return _ClusterCollector(self)


class _ClusterCollector(Collector):
    """mcu_cluster_*; the node's name is the `node` label Prometheus adds from file_sd."""

    def __init__(self, node: ClusterNode) -> None:
        self.node = node

    def collect(self) -> Iterator[Any]:
        n = self.node
        up = GaugeMetricFamily("mcu_cluster_registry_up", "1 while the last call to the Redis room registry "
                               "succeeded, 0 while it fails (calls are then placed on this node).")
        up.add_metric([], 1 if n.up else 0)
        yield up
        errors = CounterMetricFamily("mcu_cluster_registry_errors", "Failed calls to the Redis room registry, "
                                     "by operation (each retried on the next heartbeat).", labels=["op"])
        for op in ("claim", "heartbeat", "node", "owner", "release", "roster", "withdraw"):
            errors.add_metric([op], n.errors[op])
        yield errors
        placements = CounterMetricFamily("mcu_cluster_placements", "Calls placed through the registry, by "
                                         "outcome: new (room claimed), ours, other (redirected to its node), "
                                         "takeover (from a dead node), full, unavailable.", labels=["outcome"])
        for outcome in ("new", "ours", "other", "takeover", "full", "unavailable"):
            placements.add_metric([outcome], n.placements[outcome])
        yield placements
        owned = GaugeMetricFamily("mcu_cluster_rooms_owned", "Rooms whose registry claim this node holds.")
        owned.add_metric([], len(n.registry.owned))
        yield owned
        full = GaugeMetricFamily("mcu_cluster_node_full", "1 while this node takes no new rooms (OPTIONS get 503).")
        full.add_metric([], 1 if n.full else 0)
        yield full
        forwarded = CounterMetricFamily("mcu_cluster_admin_forwarded", "Admin API commands this node sent on "
                                        "to the node that hosts the room, by command.", labels=["command"])
        for command, count in sorted(n.forwarded.items()):
            forwarded.add_metric([command], count)
        yield forwarded


def _redacted(url: str) -> str:
    """A Redis URL without its password, for the log."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
