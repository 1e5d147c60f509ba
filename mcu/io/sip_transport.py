"""asyncio shell around mcu.sip.ua.UserAgent: UDP, TCP and TLS listeners, IPv4 and IPv6.

Feeds bytes, address and loop time into the core, sends what it returns and arms one timer.
Call `transmit()` after any API call made on the UserAgent outside an event callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import Counter
from collections.abc import Callable

from mcu.sip.errors import REFUSAL_TCP_CONNECTIONS
from mcu.sip.events import Event
from mcu.sip.transport import (
    DEFAULT_TCP_CONNECTIONS_PER_ADDRESS,
    TCP,
    TLS,
    UDP,
    Address,
    ConnectionLimit,
    TransportInfo,
)
from mcu.sip.ua import UserAgent

ListenSpec = tuple[str, str, int]  # (proto, host, port); port 0 picks a free one
EventHandler = Callable[[Event], None]
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024


def _addr2(addr: tuple) -> Address:  # type: ignore[type-arg]
    return (addr[0], addr[1])  # IPv6 sockets give 4-tuples


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, shell: SipTransportShell) -> None:
        self.shell = shell
        self.info: TransportInfo | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[type-arg]
        if self.info is not None:
            shell = self.shell
            shell.ua.receive_datagram(data, _addr2(addr), shell.loop.time(), self.info)
            shell.after_input()

    def error_received(self, exc: Exception) -> None:
        self.shell.send_errors += 1


class _Stream(asyncio.Protocol):
    def __init__(self, shell: SipTransportShell, info: TransportInfo, inbound: bool = False) -> None:
        self.shell = shell
        self.info = info
        self.inbound = inbound  # accepted by our listener (counted per address), not dialled
        self.admitted = False
        self.addr: Address = ("", 0)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport = stream
        self.addr = _addr2(stream.get_extra_info("peername"))
        shell = self.shell
        if self.inbound:
            if not shell.connection_limit.admit(self.addr[0]):
                shell.refusals[REFUSAL_TCP_CONNECTIONS] += 1
                stream.abort()  # at once: nothing read, nothing kept
                return
            self.admitted = True
        shell.connections[(self.info, self.addr)] = self

    def data_received(self, data: bytes) -> None:
        if self.inbound and not self.admitted:
            return
        shell = self.shell
        shell.ua.receive_stream_data(data, self.addr, shell.loop.time(), self.info)
        shell.after_input()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inbound:
            if not self.admitted:
                return
            self.admitted = False
            self.shell.connection_limit.release(self.addr[0])
        key = (self.info, self.addr)
        if self.shell.connections.get(key) is self:
            del self.shell.connections[key]
        self.shell.ua.connection_lost(self.addr, self.info)


class SipTransportShell:
    """Refusals (connections closed at once, over `tcp_connections_per_address` from one
    source address) are counted in `refusals["tcp_connections"]`; the UA counts the messages
    it refuses in `ua.counters.refusals`."""

    def __init__(self, ua: UserAgent, on_event: EventHandler | None = None,
                 advertise_host: str | None = None,
                 tcp_connections_per_address: int = DEFAULT_TCP_CONNECTIONS_PER_ADDRESS) -> None:
        self.ua = ua
        self.on_event = on_event
        self.advertise_host = advertise_host
        self.loop = asyncio.get_running_loop()
        ua.clock = self.loop.time
        self.udp: dict[TransportInfo, _Udp] = {}
        self.servers: list[asyncio.base_events.Server] = []
        self.connections: dict[tuple[TransportInfo, Address], _Stream] = {}
        self._pending: dict[tuple[TransportInfo, Address], list[bytes]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._client_ssl: ssl.SSLContext | None = None
        self.send_errors = 0
        self.connection_limit = ConnectionLimit(tcp_connections_per_address)
        self.refusals: Counter[str] = Counter()
        self.closed = False

    async def listen(self, specs: list[ListenSpec], tls_cert: str | None = None,
                     tls_key: str | None = None, tls_verify_peer: bool = False) -> None:
        server_ssl: ssl.SSLContext | None = None
        if any(proto == TLS for proto, _, _ in specs):
            if not (tls_cert and tls_key):
                raise ValueError("a TLS listener needs tls_cert and tls_key (PEM file paths)")
            server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_ssl.load_cert_chain(tls_cert, tls_key)
            self._client_ssl = ssl.create_default_context()
            if not tls_verify_peer:  # room systems mostly carry self-signed certificates
                self._client_ssl.check_hostname = False
                self._client_ssl.verify_mode = ssl.CERT_NONE
        for proto, host, port in specs:
            if proto == UDP:
                transport, protocol = await self.loop.create_datagram_endpoint(
                    lambda: _Udp(self), local_addr=(host, port))
                sock = transport.get_extra_info("socket")
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
                bound = transport.get_extra_info("sockname")
                info = TransportInfo(UDP, self.advertise_host or host, bound[1])
                protocol.info = info
                self.udp[info] = protocol
            elif proto in (TCP, TLS):
                holder: list[TransportInfo] = []
                server = await self.loop.create_server(
                    lambda holder=holder: _Stream(self, holder[0], inbound=True), host, port,
                    ssl=server_ssl if proto == TLS else None)
                bound = server.sockets[0].getsockname()
                info = TransportInfo(proto, self.advertise_host or host, bound[1])
                holder.append(info)
                self.servers.append(server)
            else:
                raise ValueError(f"unknown SIP transport {proto!r}: use udp, tcp or tls")
            self.ua.add_transport(info)

    def transport_info(self, proto: str) -> TransportInfo:
        for info in self.ua.transports:
            if info.proto == proto:
                return info
        raise KeyError(f"no {proto} listener")

    # -- the five-line loop of the aioquic shells, plus events --
    def after_input(self) -> None:
        if self.on_event is not None:
            while (event := self.ua.next_event()) is not None:
                try:
                    self.on_event(event)
                except Exception:  # noqa: BLE001 - an app bug must not stop SIP
                    self.ua.counters.internal_errors += 1
        self.transmit()

    def transmit(self) -> None:
        if self.closed:
            return
        for data, addr, info in self.ua.datagrams_to_send(self.loop.time()):
            self._send(data, addr, info)
        for addr, info in self.ua.connections_to_close():
            conn = self.connections.get((info, addr))
            if conn is not None and conn.transport is not None:
                conn.transport.close()
        self._arm_timer()

    def _send(self, data: bytes, addr: Address, info: TransportInfo) -> None:
        if info.proto == UDP:
            proto = self.udp.get(info)
            if proto is not None and proto.transport is not None:
                try:
                    proto.transport.sendto(data, addr)
                except (OSError, ValueError):  # ValueError: a Via/Contact of the other family or a name
                    self.send_errors += 1
            return
        conn = self.connections.get((info, addr))
        if conn is not None and conn.transport is not None:
            conn.transport.write(data)
            return
        key = (info, addr)
        if key in self._pending:
            self._pending[key].append(data)
            return
        self._pending[key] = [data]
        self.loop.create_task(self._connect(info, addr))

    async def _connect(self, info: TransportInfo, addr: Address) -> None:
        key = (info, addr)
        try:
            transport, protocol = await self.loop.create_connection(
                lambda: _Stream(self, info), addr[0], addr[1],
                ssl=self._client_ssl if info.proto == TLS else None,
                server_hostname=addr[0] if info.proto == TLS else None)
        except OSError:
            self.send_errors += 1
            self._pending.pop(key, None)
            return
        # our requests name the address we dialled, so map the flow by it too
        protocol.addr = addr
        self.connections[key] = protocol
        for data in self._pending.pop(key, []):
            transport.write(data)

    def _arm_timer(self) -> None:
        when = self.ua.get_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = None if when is None else self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.ua.handle_timer(self.loop.time())
        self.after_input()

    async def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        for proto in self.udp.values():
            if proto.transport is not None:
                proto.transport.close()
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        for server in self.servers:
            server.close()
            await server.wait_closed()


async def start_sip(ua: UserAgent, listen: list[ListenSpec], tls_cert: str | None = None,
                    tls_key: str | None = None, on_event: EventHandler | None = None,
                    advertise_host: str | None = None,
                    tcp_connections_per_address: int = DEFAULT_TCP_CONNECTIONS_PER_ADDRESS,
                    ) -> SipTransportShell:
    """Bind every listener, register it with `ua` and return the running shell."""
    shell = SipTransportShell(ua, on_event, advertise_host, tcp_connections_per_address)
    await shell.listen(listen, tls_cert, tls_key)
    return shell
