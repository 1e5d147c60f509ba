"""The console's live feed: snapshots of the rooms pushed over a WebSocket a few times a second.

The page never polls per member: every tick the feed builds each subscribed view once (the
rooms list, and one room's members and roster, through the same command handlers the API
uses, with the client's principal) and offers the JSON text to every client that wants it.

A slow or stuck browser must never hold up the loop or the other operators: each client has
a bounded queue that keeps the newest snapshots (a snapshot is the whole state, so dropping an
old one loses nothing) and its own sender task; a send that does not finish within
SEND_TIMEOUT seconds closes that client alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcu.admin.auth import Principal
from mcu.admin.commands import BY_NAME, AdminContext
from mcu.admin.errors import CommandError
from mcu.log import event

log = logging.getLogger("mcu.admin")

FEED_HZ = 4.0  # snapshots per second: the speaking indicator moves within 1/FEED_HZ s
QUEUE_SIZE = 4  # snapshots waiting per client before the oldest is dropped
SEND_TIMEOUT = 5.0  # s one send may take before that client is closed
MAX_CLIENTS = 64
BUILD_TIMEOUT = 1.0  # s one view may take to build before this tick goes on without it

Send = Callable[[str], Awaitable[None]]
Snapshot = Callable[[Principal, "str | None"], Awaitable[dict[str, Any]]]


class ClientQueue:
    """Bounded, newest wins: put() never blocks and never grows past `limit`. Sans-I/O."""

    def __init__(self, limit: int = QUEUE_SIZE):
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.items: deque[str] = deque()
        self.dropped = 0

    def put(self, item: str) -> None:
        if len(self.items) >= self.limit:
            self.items.popleft()
            self.dropped += 1
        self.items.append(item)

    def take(self) -> str | None:
        return self.items.popleft() if self.items else None

    def __len__(self) -> int:
        return len(self.items)


@dataclass(eq=False)
class LiveClient:
    """One browser: what it watches, its queue, and the task that sends to it."""

    principal: Principal
    room: str | None
    send: Send
    queue: ClientQueue = field(default_factory=ClientQueue)
    sent: int = 0
    closed: bool = False
    close_reason: str = ""
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, text: str) -> None:
        if not self.closed:
            self.queue.put(text)
            self._wake.set()

    async def run(self, timeout: float = SEND_TIMEOUT) -> None:
        """Send what is queued until closed; a send slower than `timeout` closes this client."""
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            while not self.closed and (text := self.queue.take()) is not None:
                try:
                    await asyncio.wait_for(self.send(text), timeout)
                except TimeoutError:
                    self.close("slow")
                    return
                except (ConnectionError, RuntimeError):  # the browser went away mid-send
                    self.close("gone")
                    return
                self.sent += 1

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed, self.close_reason = True, reason
            self._wake.set()


class LiveFeed:
    """Ticks at `hz`, builds each distinct view once per tick, offers it to its clients."""

    def __init__(self, snapshot: Snapshot, hz: float = FEED_HZ, max_clients: int = MAX_CLIENTS):
        self.snapshot = snapshot
        self.period = 1.0 / hz
        self.max_clients = max_clients
        self.build_timeout = BUILD_TIMEOUT
        self.clients: set[LiveClient] = set()
        self.ticks = 0
        self.dropped = 0  # snapshots dropped by clients that closed (live ones: their queue)
        self.slow_closed = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, client: LiveClient) -> bool:
        if len(self.clients) >= self.max_clients:
            return False
        self.clients.add(client)
        return True

    def remove(self, client: LiveClient) -> None:
        if client in self.clients:
            self.clients.discard(client)
            self.dropped += client.queue.dropped
            if client.close_reason == "slow":
                self.slow_closed += 1

    async def tick(self, now: float) -> int:
        """One round: each distinct view built once, all views side by side, each within
        BUILD_TIMEOUT (in a cluster a view may ask another node); returns how many were built."""
        self.ticks += 1
        wanted: dict[tuple[str, str | None], list[LiveClient]] = {}
        for client in list(self.clients):
            if not client.closed:
                wanted.setdefault((client.principal.name, client.room), []).append(client)

        async def build(clients: list[LiveClient]) -> str | None:
            try:
                doc = await asyncio.wait_for(self.snapshot(clients[0].principal, clients[0].room),
                                             self.build_timeout)
            except TimeoutError:
                event(log, "admin.live_slow_view", logging.WARNING, room=clients[0].room or "")
                return None
            except Exception:  # one bad view must not stop the feed for everyone
                log.exception("admin.live_error")
                return None
            doc["t"] = round(now, 3)
            doc["seq"] = self.ticks
            return json.dumps(doc, ensure_ascii=False, default=str)

        texts = await asyncio.gather(*(build(clients) for clients in wanted.values()))
        for clients, text in zip(wanted.values(), texts, strict=True):
            if text is not None:
                for client in clients:
                    client.offer(text)
        return sum(text is not None for text in texts)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            if self.clients:
                await self.tick(time.time())
            next_at += self.period
            delay = next_at - loop.time()
            if delay < 0:  # late (a busy loop): skip ahead rather than burst
                next_at, delay = loop.time(), 0.0
            await asyncio.sleep(delay)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="admin-live-feed")

    async def stop(self) -> None:
        for client in list(self.clients):
            client.close("stopping")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def command_snapshot(context: AdminContext) -> Snapshot:
    """The feed's view builder: the rooms list, plus one room's members and roster, all from the
    command table with the client's principal (so what a principal may see is decided there)."""

    async def call(name: str, principal: Principal, **args: Any) -> Any:
        return await BY_NAME[name].handler(context, {**args, "_principal": principal, "_who": principal.name})

    async def content(principal: Principal, room: str) -> dict[str, Any] | None:
        if "content-status" not in BY_NAME or getattr(context.server, "content", None) is None:
            return None  # an MCU without content sharing
        try:
            return await call("content-status", principal, room=room)  # type: ignore[no-any-return]
        except (CommandError, LookupError):
            return None

    async def snapshot(principal: Principal, room: str | None) -> dict[str, Any]:
        rooms = await call("rooms", principal)
        manager = getattr(context.server, "content", None)
        for info in rooms:  # who presents, for the rooms list: rooms meeting on this node only,
            status = None   # read here (the list is already the principal's; nothing is forwarded)
            if manager is not None and info.get("members"):
                try:
                    status = manager.status(info["number"])
                except LookupError:
                    status = None
            info["content"] = (None if status is None or status.get("holder") is None
                               else "operator" if status["holder"] == "operator" else status.get("holder_name"))
        doc: dict[str, Any] = {"type": "snapshot", "rooms": rooms}
        if room is not None:
            try:
                doc["room"] = {"number": room, "members": await call("members", principal, room=room),
                               "roster": await call("roster", principal, room=room),
                               "content": await content(principal, room)}
            except CommandError as exc:
                doc["room"] = {"number": room, "error": exc.message}
        return doc

    return snapshot


def log_closed(client: LiveClient, peer: str) -> None:
    if client.close_reason == "slow":
        event(log, "admin.live_slow_client", logging.WARNING, peer=peer, sent=client.sent,
              dropped=client.queue.dropped)
