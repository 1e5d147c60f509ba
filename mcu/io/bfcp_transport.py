"""The BFCP listeners: one UDP socket and one TCP server for every room, a thin shell over
mcu.bfcp (the registry routes by conference id, the cores decide everything).

Peers are keyed ("udp", (host, port)) or ("tcp", connection number). A TCP peer that sends
bytes which cannot be framed as BFCP is disconnected and counted; it never affects another peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections.abc import Callable

from mcu.bfcp.constants import COMMON_HEADER
from mcu.bfcp.message import message_length, peek_header
from mcu.bfcp.registry import FloorRegistry
from mcu.bfcp.transaction import Peer
from mcu.log import event

log = logging.getLogger("mcu.bfcp")

MAX_TCP_MESSAGE = 16 * 1024  # far above any message a terminal sends; more is garbage
MAX_TCP_BUFFER = 64 * 1024


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, shell: BfcpShell) -> None:
        self.shell = shell
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.shell.received(data, ("udp", (addr[0], addr[1])))

    def error_received(self, exc: Exception) -> None:
        self.shell.send_errors += 1


class _Tcp(asyncio.Protocol):
    def __init__(self, shell: BfcpShell) -> None:
        self.shell = shell
        self.peer: Peer = ("tcp", next(shell.connection_ids))
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.shell.connections[self.peer] = self
        for callback in self.shell.on_connect:
            callback(self.peer, transport.get_extra_info("peername"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            length = message_length(bytes(self.buffer[:COMMON_HEADER]))
            if length is None:
                if len(self.buffer) > MAX_TCP_BUFFER:
                    self._garbage("buffer overflow")
                return
            try:
                header = peek_header(bytes(self.buffer[:COMMON_HEADER]))
            except ValueError:
                self._garbage("header")
                return
            if header.version not in (1, 2) or length > MAX_TCP_MESSAGE:
                self._garbage("not BFCP")
                return
            if len(self.buffer) < length:
                return
            message = bytes(self.buffer[:length])
            del self.buffer[:length]
            self.shell.received(message, self.peer)
            if self.transport is None or self.transport.is_closing():
                return

    def _garbage(self, why: str) -> None:
        self.shell.registry.dropped[f"tcp {why}"] += 1
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.shell.connections.pop(self.peer, None)
        self.transport = None


class BfcpShell:
    """Feeds both listeners' messages into the registry and sends what it returns."""

    def __init__(self, registry: FloorRegistry, clock: Callable[[], float],
                 after_receive: Callable[[], None] | None = None) -> None:
        self.registry = registry
        self.clock = clock
        self.after_receive = after_receive  # the server reads the cores' events here
        self.udp: _Udp | None = None
        self.tcp_server: asyncio.AbstractServer | None = None
        self.connections: dict[Peer, _Tcp] = {}
        self.connection_ids = itertools.count(1)
        self.on_connect: list[Callable[[Peer, object], None]] = []
        self.send_errors = 0
        self.handler_errors = 0
        self._timer: asyncio.TimerHandle | None = None
        self.udp_port = 0
        self.tcp_port = 0
        self.tls_port = 0
        self.tls_server: asyncio.AbstractServer | None = None

    async def start(self, host: str, udp_port: int, tcp_port: int, transports: list[str],
                    tls_port: int = 0, tls_context: ssl.SSLContext | None = None) -> None:
        loop = asyncio.get_running_loop()
        if "udp" in transports:
            _, protocol = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(host, udp_port))
            self.udp = protocol
            assert protocol.transport is not None
            self.udp_port = protocol.transport.get_extra_info("sockname")[1]
        if "tcp" in transports:
            self.tcp_server = await loop.create_server(lambda: _Tcp(self), host, tcp_port)
            self.tcp_port = self.tcp_server.sockets[0].getsockname()[1]
        if "tls" in transports and tls_context is not None:
            self.tls_server = await loop.create_server(lambda: _Tcp(self), host, tls_port, ssl=tls_context)
            self.tls_port = self.tls_server.sockets[0].getsockname()[1]
        event(log, "bfcp.listening", host=host, udp=self.udp_port or "off", tcp=self.tcp_port or "off",
              tls=self.tls_port or "off")

    async def connect(self, host: str, port: int) -> Peer:
        """We are the TCP active side (the peer answered or offered setup:passive)."""
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: _Tcp(self), host, port)
        return protocol.peer

    def received(self, data: bytes, peer: Peer) -> None:
        try:
            self.registry.receive(data, peer, self.clock())
        except Exception:
            self.handler_errors += 1
            self.registry.dropped["handler error"] += 1
            if self.handler_errors == 1:
                log.exception("bfcp.handler_error")
        self.transmit()
        if self.after_receive is not None:
            self.after_receive()

    def transmit(self) -> None:
        for peer, data in self.registry.datagrams_to_send():
            self.send(peer, data)
        self._arm_timer()

    def send(self, peer: Peer, data: bytes) -> None:
        kind, where = peer  # type: ignore[misc]
        if kind == "udp":
            if self.udp is not None and self.udp.transport is not None:
                try:
                    self.udp.transport.sendto(data, where)
                except OSError:
                    self.send_errors += 1
        else:
            connection = self.connections.get(peer)
            if connection is not None and connection.transport is not None:
                connection.transport.write(data)

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self.registry.get_timer()
        if when is None:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(max(when, loop.time()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.registry.handle_timer(self.clock())
        self.transmit()

    def close_peer(self, peer: Peer) -> None:
        connection = self.connections.pop(peer, None)
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.udp is not None and self.udp.transport is not None:
            self.udp.transport.close()
        for connection in list(self.connections.values()):
            if connection.transport is not None:
                connection.transport.close()
        for server in (self.tcp_server, self.tls_server):
            if server is not None:
                server.close()
                with contextlib.suppress(Exception):
                    await server.wait_closed()
