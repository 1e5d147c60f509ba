"""Thin asyncio shell for H.323 RAS: one UDP socket driving one sans-I/O `RasEndpoint`
(mcu.h323.ras). Datagrams in go to the core with `now`; what it returns is sent; its timer is
armed; its events go to `on_event`. A core that raises is counted and logged, never the loop's
problem. pycrate's ASN.1 objects are module singletons: this runs on the loop thread only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from mcu.h323.ras import RasEndpoint, RasEvent
from mcu.log import event

log = logging.getLogger("mcu.h323.ras")

Address = tuple[str, int]
STOP_POLL = 0.05  # s between looks at a stopping core


class RasShell(asyncio.DatagramProtocol):
    """The RAS socket. Open it first (the core needs its address), then `run(core)`."""

    def __init__(self, on_event: Callable[[RasEvent], None]) -> None:
        self.on_event = on_event
        self.core: RasEndpoint | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.address: Address = ("", 0)
        self.errors: Counter[str] = Counter()
        self.on_dropped: Callable[[str, int], None] | None = None  # datagrams the core ignored
        self.loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._dropped_seen: Counter[str] = Counter()

    @classmethod
    async def open(cls, host: str, port: int, on_event: Callable[[RasEvent], None]) -> RasShell:
        shell = cls(on_event)
        await shell.loop.create_datagram_endpoint(lambda: shell, local_addr=(host, port))
        return shell

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sockname = transport.get_extra_info("sockname")
        self.address = (str(sockname[0]), int(sockname[1]))

    def datagram_received(self, data: bytes, addr: tuple[str | Any, ...]) -> None:
        peer = (str(addr[0]), int(addr[1]))  # IPv6 tuples have 4 items
        self.feed(lambda core, now: core.receive_datagram(data, peer, now))
        if self.core is not None and self.on_dropped is not None:
            for reason, count in self.core.dropped.items():
                if count > self._dropped_seen[reason]:
                    self.on_dropped(reason, count - self._dropped_seen[reason])
                    self._dropped_seen[reason] = count

    def error_received(self, exc: Exception) -> None:
        self.errors["socket " + type(exc).__name__] += 1  # e.g. ICMP port unreachable

    def run(self, core: RasEndpoint) -> None:
        self.core = core
        self.feed(lambda c, now: c.start(now))

    def feed(self, step: Callable[[RasEndpoint, float], object]) -> None:
        """One input through the core, then send what it produced."""
        if self.core is None:
            return
        try:
            step(self.core, self.loop.time())
        except Exception as exc:  # noqa: BLE001 - a gatekeeper's bytes must not stop the MCU
            self.errors[type(exc).__name__] += 1
            event(log, "h323.ras_core_error", logging.WARNING, error=f"{type(exc).__name__}: {exc}"[:300])
        self.pump()

    def pump(self) -> None:
        core = self.core
        if core is None:
            return
        if self.transport is not None and not self.transport.is_closing():
            for data, addr in core.datagrams_to_send():
                self.transport.sendto(data, addr)
        while (e := core.next_event()) is not None:
            try:
                self.on_event(e)
            except Exception as exc:  # noqa: BLE001 - the adapter's bug is logged, RAS goes on
                self.errors["handler " + type(exc).__name__] += 1
                event(log, "h323.ras_handler_error", logging.WARNING, event=type(e).__name__,
                      error=f"{type(exc).__name__}: {exc}"[:300])
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = core.get_timer()
        if deadline is not None and self.transport is not None:
            self._timer = self.loop.call_at(deadline, lambda: self.feed(lambda c, now: c.handle_timer(now)))

    async def close(self, grace: float) -> None:
        """URQ (if registered), wait up to `grace` seconds for its answer, close the socket."""
        if self.core is not None:
            self.feed(lambda core, now: core.stop(now))
            deadline = self.loop.time() + grace
            while not self.core.stopped and self.loop.time() < deadline:
                await asyncio.sleep(STOP_POLL)
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.transport.close()
