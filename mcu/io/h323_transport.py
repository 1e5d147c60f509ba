"""Thin asyncio shell for H.323: TCP call-signalling connections (port 1720) and separate H.245
connections, each driving one sans-I/O `H323Call` core (mcu.h323.call).

Bytes in go to the core with `now`; what it returns is written; its timer is armed; its events go
to `on_event(connection, event)`. A core that raises fails its own connection only (counted).
The H.323 cores keep pycrate's module-level ASN.1 objects: everything here runs on the loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable

from mcu.h323.call import H323Call
from mcu.h323.events import Event
from mcu.log import event

log = logging.getLogger("mcu.h323")

Address = tuple[str, int]
MakeCore = Callable[[Address], H323Call]


class H323Connection(asyncio.Protocol):
    """One call: its signalling connection, its H.245 connection if separate, and its core."""

    def __init__(self, shell: H323Shell, core: H323Call | None = None) -> None:
        self.shell = shell
        self.core = core
        self.transport: asyncio.Transport | None = None
        self.h245: asyncio.Transport | None = None
        self.h245_server: asyncio.AbstractServer | None = None
        self.peer: Address = ("", 0)
        self.call_id = ""  # the leg id the adapter gives the call
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False

    # ------------------------------------------------------------------ signalling connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        if self.core is None:
            self.core = self.shell.make_core(self.peer)
        self.shell.connections.add(self)
        self.shell.pump(self)

    def data_received(self, data: bytes) -> None:
        self.shell.feed(self, lambda core, now: core.receive_data(data, now))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.core is not None and not self.closed:
            self.shell.feed(self, lambda core, now: core.connection_lost(now))
        self.close()

    # ------------------------------------------------------------------ H.245 connection

    def h245_protocol(self) -> asyncio.Protocol:
        connection = self

        class _H245(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                if connection.h245 is not None:  # one H.245 channel per call
                    transport.close()
                    return
                connection.h245 = transport  # type: ignore[assignment]
                connection.shell.feed(connection, lambda core, now: core.h245_connected(now))

            def data_received(self, data: bytes) -> None:
                connection.shell.feed(connection, lambda core, now: core.receive_h245_data(data, now))

            def connection_lost(self, exc: Exception | None) -> None:
                connection.h245 = None

        return _H245()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.shell.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        for t in (self.h245, self.transport):
            if t is not None:
                t.close()
        if self.h245_server is not None:
            self.h245_server.close()


class H323Shell:
    """Listens for H.323 calls and places them; pumps bytes, timers and events of every core."""

    def __init__(self, make_core: MakeCore, on_event: Callable[[H323Connection, Event], None]) -> None:
        self.make_core = make_core
        self.on_event = on_event
        self.connections: set[H323Connection] = set()
        self.errors: Counter[str] = Counter()
        self.on_error: Callable[[str], None] = lambda reason: None  # each failure, as it happens
        self.server: asyncio.AbstractServer | None = None
        self.loop = asyncio.get_running_loop()

    async def listen(self, host: str, port: int) -> Address:
        self.server = await self.loop.create_server(lambda: H323Connection(self), host, port)
        sockname = self.server.sockets[0].getsockname()
        return (str(sockname[0]), int(sockname[1]))

    async def connect(self, host: str, port: int, core: H323Call) -> H323Connection:
        """A signalling connection for a call we place (the core has its Setup ready)."""
        _, connection = await self.loop.create_connection(lambda: H323Connection(self, core), host, port)
        return connection

    async def open_h245(self, connection: H323Connection, address: Address) -> None:
        """The peer gave an h245Address: connect to it (H.225.0 clause 7.2.2)."""
        try:
            await self.loop.create_connection(connection.h245_protocol, address[0], address[1])
        except OSError as exc:
            self._count("h245 connect failed")
            event(log, "h323.h245_connect_failed", logging.WARNING, call_id=connection.call_id,
                  address=f"{address[0]}:{address[1]}", error=str(exc))

    async def listen_h245(self, connection: H323Connection, host: str) -> Address:
        """An ephemeral H.245 listener for one call; its address goes in our Connect."""
        server = await self.loop.create_server(connection.h245_protocol, host, 0)
        connection.h245_server = server
        sockname = server.sockets[0].getsockname()
        return (str(sockname[0]), int(sockname[1]))

    def feed(self, connection: H323Connection, step: Callable[[H323Call, float], object]) -> None:
        """Run one input through the core, then send what it produced; a core that raises
        ends its own call (its connection closes), never the others."""
        core = connection.core
        if core is None or connection.closed:
            return
        try:
            step(core, self.loop.time())
        except Exception as exc:  # noqa: BLE001 - one terminal's bytes must not stop the loop
            self._count("core error")
            event(log, "h323.core_error", logging.WARNING, call_id=connection.call_id,
                  error=f"{type(exc).__name__}: {exc}"[:300])
            connection.close()
            return
        self.pump(connection)

    def pump(self, connection: H323Connection) -> None:
        """Send the core's bytes, hand its events on, arm its timer."""
        core = connection.core
        if core is None:
            return
        while True:
            data = core.data_to_send()
            if data and connection.transport is not None and not connection.transport.is_closing():
                connection.transport.write(data)
            h245 = core.h245_data_to_send()
            if h245 and connection.h245 is not None and not connection.h245.is_closing():
                connection.h245.write(h245)
            e = core.next_event()
            if e is None:
                break
            try:
                self.on_event(connection, e)
            except Exception as exc:  # noqa: BLE001 - the adapter's bug fails this call alone
                self._count("adapter error")
                event(log, "h323.handler_error", logging.WARNING, call_id=connection.call_id,
                      event=type(e).__name__, error=f"{type(exc).__name__}: {exc}"[:300])
                with contextlib.suppress(Exception):
                    core.hangup(self.loop.time())
        if connection._timer is not None:
            connection._timer.cancel()
            connection._timer = None
        deadline = core.get_timer()
        if deadline is not None and not connection.closed:
            connection._timer = self.loop.call_at(
                deadline, lambda: self.feed(connection, lambda c, now: c.handle_timer(now)))
        if core.ended and not connection.closed:
            # the release is written: close once it has left
            self.loop.call_later(0.05, connection.close)

    def _count(self, reason: str) -> None:
        self.errors[reason] += 1
        self.on_error(reason)

    async def close(self) -> None:
        for connection in list(self.connections):
            connection.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
