"""Thin asyncio (uvloop) UDP shell for one member's RTP stream.

One RTP+RTCP socket pair (even/odd ports) or one socket with rtcp-mux, from a configured
port range. Symmetric RTP: the remote address is the one in SDP until the first valid
packet arrives, then the source actually seen (NAT); packets from other sources are then
ignored and counted. Unparseable packets are counted per reason and dropped. A media
inactivity timeout is reported to a callback once.

Sockets are read in recvmmsg batches from one reader callback per socket and written with
sendto/sendmmsg from C (mcu._rtp): one Python call drains a keyframe's datagrams, and a video
frame goes to a viewer in one system call (`send_rtp_many`). A stream can offload its audio to
C (`offload`): once its source is latched and it is plain RTP, the socket hands that source's
packets of the member's codec to the member's AudioInbound without a Python call per packet;
everything else (the first packets, RTCP, DTMF, SRTP, other sources) comes through here.

Nothing a member does raises out of here: a remote address that is not an IP literal of the
socket's family is never handed to the socket (the stream waits for latching instead), send
failures and asynchronous socket errors are counted, and an exception in a callback is counted
and reported to `on_error` (the server charges it to the member).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from mcu._rtp import (
    AudioInbound,
    BatchReceiver,
    enable_arrival_times,
    pack_address,
    parse_rtp,
    send_batch_to,
    send_to,
)
from mcu.rtp.errors import MediaParseError
from mcu.rtp.packet import RtpPacket, is_rtcp
from mcu.rtp.rtcp import RtcpPacket, parse_compound
from mcu.rtp.srtp import SrtpContext
from mcu.sdp.crypto import SrtpKeys

Address = tuple[str, int]
DEFAULT_INACTIVITY_TIMEOUT = 30.0
MAX_TIMEOUT_CHECK_INTERVAL = 1.0
BIND_ATTEMPTS = 50
RECEIVE_BUFFER = 1 << 20  # a 1080p keyframe is ~200 datagrams; the kernel default holds ~90
READ_LIMIT = 256  # datagrams one readable callback takes, so that one busy socket cannot hog the loop


class PortRangeExhaustedError(RuntimeError):
    """No free even/odd port pair is left in the configured RTP port range."""


class PortAllocator:
    """Hands out even RTP ports (RTCP = RTP + 1) from [port_min, port_max], round robin."""

    def __init__(self, port_min: int, port_max: int) -> None:
        first = port_min + (port_min & 1)
        if first + 1 > port_max:
            raise ValueError(f"RTP port range {port_min}-{port_max} holds no even/odd pair")
        self._ports = list(range(first, port_max, 2))
        self._free = set(self._ports)
        self._cursor = 0

    def allocate(self) -> int:
        for _ in range(len(self._ports)):
            port = self._ports[self._cursor]
            self._cursor = (self._cursor + 1) % len(self._ports)
            if port in self._free:
                self._free.discard(port)
                return port
        raise PortRangeExhaustedError(
            f"all {len(self._ports)} RTP port pairs are in use; widen the rtp port range"
        )

    def release(self, port: int) -> None:
        if port in self._ports:
            self._free.add(port)

    @property
    def free(self) -> int:
        return len(self._free)


@dataclass
class TransportCounters:
    rtp_packets: int = 0
    rtp_bytes: int = 0
    rtcp_packets: int = 0
    sent_rtp: int = 0
    sent_rtcp: int = 0
    ignored_other_source: int = 0
    parse_errors: Counter[str] = field(default_factory=Counter)
    send_errors: Counter[str] = field(default_factory=Counter)  # by errno name (EACCES, ...)
    handler_errors: Counter[str] = field(default_factory=Counter)  # exceptions in our callbacks


RtpCallback = Callable[[RtpPacket, Address, float], None]
DatagramCallback = Callable[..., None]  # (data, addr) or, read by TickReads, (data, addr, arrival)
RtcpCallback = Callable[[list[RtcpPacket], Address, float], None]
TimeoutCallback = Callable[["RtpTransport"], None]
ErrorCallback = Callable[[str, BaseException], None]


def usable_address(addr: Address | None, family: int) -> Address | None:
    """`addr` if its host is an IP literal of `family` and its port is valid, else None: a host
    name would make the socket resolve (blocking, or refused by uvloop) and a wrong family raises."""
    if addr is None:
        return None
    host, port = addr
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    wanted = 4 if family == socket.AF_INET else 6
    if ip.version != wanted or not 0 < port < 65536 or ip.is_multicast or ip.is_unspecified:
        return None
    return addr


def _error_name(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, f"errno {exc.errno}")
    return type(exc).__name__


class TickReads:
    """Per-call sockets whose audio is all taken in C, read once per audio tick instead of on
    every packet's wake-up: a room's packets are only needed when its tick pulls the jitter
    buffers, and each packet's arrival comes from the kernel's stamp (SO_TIMESTAMPNS), so the
    statistics and jitter buffers see the times they would have seen. The event loop then wakes
    for the tick, not for each of the hundreds of packets between two ticks. What the C path
    declines (RTCP, DTMF, another source) is handled at the read as before, with its arrival."""

    def __init__(self) -> None:
        self.sockets: set[MediaSocket] = set()
        self.reads = 0
        self.errors = 0  # reads that raised (a bug): that socket's turn is lost, not the others'

    def read_all(self) -> None:
        """Read every socket; the audio ticker calls this before the rooms' ticks."""
        self.reads += 1
        for sock in list(self.sockets):
            try:
                sock.read_stamped()
            except Exception:  # noqa: BLE001 - one member's socket never stops the others' reads
                self.errors += 1


class MediaSocket:
    """One bound non-blocking UDP socket: the loop's reader callback drains it in recvmmsg
    batches into `on_datagram(data, (host, port))`; sends go out from C. A socket error (e.g. an
    ICMP port unreachable seen on read, EACCES on send) goes to `on_error` as an OSError."""

    def __init__(self, loop: asyncio.AbstractEventLoop, family: int, host: str, port: int,
                 on_datagram: DatagramCallback, on_error: Callable[[Exception], None]) -> None:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((host, port))
            with contextlib.suppress(OSError):  # room for a sender's keyframe while the loop is busy
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.fd = sock.fileno()
        self.loop = loop
        self.on_datagram = on_datagram
        self.on_error = on_error
        self.offloaded: dict[bytes, AudioInbound] = {}  # packed source -> its stream's C receiver
        self.clock: Callable[[], float] = time.time  # `now` of offloaded packets (the streams' clock)
        self.tick_reads: TickReads | None = None  # read by the audio tick while all its audio is in C
        self._receiver = BatchReceiver(self.fd)
        loop.add_reader(self.fd, self._readable)

    @classmethod
    async def open(cls, loop: asyncio.AbstractEventLoop, family: int, host: str, port: int,
                   on_datagram: DatagramCallback,
                   on_error: Callable[[Exception], None]) -> MediaSocket:
        return cls(loop, family, host, port, on_datagram, on_error)

    def _readable(self) -> None:
        batch: list[tuple[bytes, Address]] = []
        offloaded = self.offloaded
        error = self._receiver.receive(batch, READ_LIMIT, offloaded, self.clock() if offloaded else 0.0)
        for data, addr in batch:
            self.on_datagram(data, addr)
        if error:
            self.on_error(OSError(error, os.strerror(error)))

    def read_stamped(self) -> None:
        """Read what waits, each datagram at its kernel-stamped arrival (TickReads)."""
        batch: list[tuple[bytes, Address]] = []
        times: list[float] = []
        error = self._receiver.receive(batch, READ_LIMIT, self.offloaded, self.clock(), times)
        for (data, addr), arrival in zip(batch, times):
            self.on_datagram(data, addr, arrival)
        if error:
            self.on_error(OSError(error, os.strerror(error)))

    def send(self, data: bytes, destination: bytes) -> bool:
        error = send_to(self.fd, data, destination)
        if error:
            self.on_error(OSError(error, os.strerror(error)))
        return not error

    def send_many(self, packets: list[bytes], destination: bytes) -> int:
        sent, error = send_batch_to(self.fd, packets, [destination] * len(packets))
        if error:  # the rest would go to the same refusing destination
            self.on_error(OSError(error, os.strerror(error)))
        return sent

    @property
    def sockname(self) -> Address:
        name = self.sock.getsockname()
        return (str(name[0]), int(name[1]))

    def offload(self, source: bytes, inbound: AudioInbound, clock: Callable[[], float]) -> None:
        self.offloaded[source] = inbound
        self.clock = clock
        reads = self.tick_reads
        if reads is not None and self not in reads.sockets and not enable_arrival_times(self.fd):
            self.loop.remove_reader(self.fd)
            reads.sockets.add(self)

    def withdraw(self, source: bytes) -> None:
        self._drain()
        self.offloaded.pop(source, None)
        if not self.offloaded:
            self._back_to_reader()

    def relatched(self) -> None:
        """The stream forgot its source (a per-call socket has nothing else to forget)."""
        self._drain()
        self.offloaded.clear()
        self._back_to_reader()

    def _drain(self) -> None:
        """Read what waits for the tick before the stream's state changes under it: a packet
        that came before a re-INVITE moved the source is taken as it was on arrival, and does
        not latch the old source again after the move."""
        reads = self.tick_reads
        if reads is not None and self in reads.sockets:
            reads.sockets.discard(self)  # once: what the read does to the stream cannot recurse here
            try:
                self.read_stamped()
            except Exception:  # noqa: BLE001 - as in read_all: counted, and the change goes on
                reads.errors += 1
            finally:
                reads.sockets.add(self)

    def _back_to_reader(self) -> None:
        reads = self.tick_reads
        if reads is not None and self in reads.sockets:
            reads.sockets.discard(self)
            self.loop.add_reader(self.fd, self._readable)  # level-triggered: what waits is read next

    def close(self) -> None:
        self.offloaded.clear()
        if self.tick_reads is not None:
            self.tick_reads.sockets.discard(self)
        self.loop.remove_reader(self.fd)
        self.sock.close()


class SharedPort:
    """One UDP socket that many calls' streams use ([rtp] shared_port): datagrams go to the
    stream that latched their source; a source not seen yet goes to the one unlatched stream
    whose SDP address it matches (exactly; for RTCP, else the stream whose RTP came from that host
    and the port below or the same; else by host alone; else by port alone, as a NAT that keeps
    ports or a terminal advertising another interface sends; else the only stream waiting), and
    is dropped and counted when none or several match. What the streams send in one loop iteration leaves in sendmmsg
    batches (one system call for a whole audio tick instead of one per member)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, family: int, host: str, port: int) -> None:
        self.socket = MediaSocket(loop, family, host, port, self._datagram, self._socket_error)
        self.loop = loop
        self.port = self.socket.sockname[1]
        self.by_source: dict[Address, PortView] = {}
        self.views: set[PortView] = set()
        self.unmatched = 0  # datagrams from a source no stream expects (or more than one does)
        self.socket_errors: Counter[str] = Counter()
        self._packets: list[bytes] = []
        self._destinations: list[bytes] = []
        self._senders: list[PortView] = []

    def view(self, transport: RtpTransport, kind: str,
             on_datagram: Callable[[bytes, Address], None], on_error: Callable[[Exception], None]) -> PortView:
        view = PortView(self, transport, kind, on_datagram, on_error)
        self.views.add(view)
        return view

    def _datagram(self, data: bytes, addr: Address) -> None:
        view = self.by_source.get(addr)
        if view is None:
            view = self._match(addr)
            if view is None:
                self.unmatched += 1
                return
            self.by_source[addr] = view
            view.sources.add(addr)
        view.on_datagram(data, addr)

    def _match(self, addr: Address) -> PortView | None:
        waiting = [v for v in self.views if not v.latched]
        for candidates in ([v for v in waiting if v.expected == addr],
                           [v for v in waiting if v.rtcp_of_latched(addr)],
                           [v for v in waiting if v.expected is not None and v.expected[0] == addr[0]],
                           [v for v in waiting if v.expected is not None and v.expected[1] == addr[1]]):
            if candidates:
                return candidates[0] if len(candidates) == 1 else None
        return waiting[0] if len(waiting) == 1 else None  # behind a NAT: the one call waiting

    def _socket_error(self, exc: Exception) -> None:  # a read error: nobody's in particular
        self.socket_errors[_error_name(exc)] += 1

    def queue(self, view: PortView, packets: list[bytes], destination: bytes) -> None:
        if not self._packets:
            self.loop.call_soon(self.flush)
        self._packets.extend(packets)
        self._destinations.extend([destination] * len(packets))
        self._senders.extend([view] * len(packets))

    def flush(self) -> None:
        packets, destinations, senders = self._packets, self._destinations, self._senders
        self._packets, self._destinations, self._senders = [], [], []
        start = 0
        while start < len(packets):
            stopped, error = send_batch_to(self.socket.fd, packets, destinations, start)
            if not error:
                break
            senders[stopped].on_error(OSError(error, os.strerror(error)))  # that stream's fault
            start = stopped + 1

    def forget(self, view: PortView) -> None:
        for source in view.sources:
            if self.by_source.get(source) is view:
                del self.by_source[source]
        view.sources.clear()
        for packed in view.offloaded:
            self.socket.withdraw(packed)
        view.offloaded.clear()

    def close(self) -> None:
        self.socket.close()


class PortView:
    """One stream's share of a SharedPort, with MediaSocket's interface."""

    def __init__(self, port: SharedPort, transport: RtpTransport, kind: str,
                 on_datagram: Callable[[bytes, Address], None], on_error: Callable[[Exception], None]) -> None:
        self.port = port
        self.transport = transport
        self.kind = kind  # "rtp" (with RTCP if muxed) or "rtcp"
        self.on_datagram = on_datagram
        self.on_error = on_error
        self.sources: set[Address] = set()
        self.offloaded: set[bytes] = set()  # packed sources whose packets go to C

    @property
    def latched(self) -> bool:
        return self.transport.latched_rtp if self.kind == "rtp" else self.transport.latched_rtcp

    @property
    def expected(self) -> Address | None:
        """Where SDP said this stream's packets come from (symmetric RTP)."""
        return self.transport.remote_rtp if self.kind == "rtp" else self.transport.remote_rtcp

    def rtcp_of_latched(self, addr: Address) -> bool:
        """RTCP from where this stream's RTP comes from, or from the port above it (RFC 3550)."""
        rtp = self.transport.remote_rtp
        return (self.kind == "rtcp" and self.transport.latched_rtp and rtp is not None
                and addr[0] == rtp[0] and addr[1] in (rtp[1], rtp[1] + 1))

    def offload(self, source: bytes, inbound: AudioInbound, clock: Callable[[], float]) -> None:
        self.port.socket.offload(source, inbound, clock)
        self.offloaded.add(source)

    def withdraw(self, source: bytes) -> None:
        if source in self.offloaded:
            self.offloaded.discard(source)
            self.port.socket.withdraw(source)

    def send(self, data: bytes, destination: bytes) -> bool:
        self.port.queue(self, [data], destination)
        return True  # a kernel refusal at the flush is counted as the stream's send error

    def send_many(self, packets: list[bytes], destination: bytes) -> int:
        self.port.queue(self, packets, destination)
        return len(packets)

    @property
    def sockname(self) -> Address:
        return self.port.socket.sockname

    def relatched(self) -> None:
        self.port.forget(self)

    def close(self) -> None:
        self.port.forget(self)
        self.port.views.discard(self)


class SharedPorts:
    """The shared RTP port and, for streams without rtcp-mux, RTCP on the port above it."""

    def __init__(self, rtp: SharedPort, rtcp: SharedPort) -> None:
        self.rtp = rtp
        self.rtcp = rtcp

    @classmethod
    def open(cls, host: str, port: int) -> SharedPorts:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        rtp = SharedPort(loop, family, host, port)
        try:
            rtcp = SharedPort(loop, family, host, port + 1)
        except OSError:
            rtp.close()
            raise
        return cls(rtp, rtcp)

    @property
    def unmatched(self) -> int:
        return self.rtp.unmatched + self.rtcp.unmatched

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()


class RtpTransport:
    """One member stream. Create with `await RtpTransport.open(...)`."""

    socket_class: type[MediaSocket] = MediaSocket  # bench/rtp_load.py swaps in the asyncio path to compare

    def __init__(
        self,
        allocator: PortAllocator | None,
        rtp_port: int,
        rtcp_mux: bool,
        remote_rtp: Address | None,
        remote_rtcp: Address | None,
        on_rtp: RtpCallback,
        on_rtcp: RtcpCallback | None,
        on_timeout: TimeoutCallback | None,
        inactivity_timeout: float | None,
        clock: Callable[[], float],
        family: int = socket.AF_INET,
        on_error: ErrorCallback | None = None,
    ) -> None:
        self.allocator = allocator
        self.family = family
        self.on_error = on_error
        self.rtp_port = rtp_port
        self.rtcp_port = rtp_port if rtcp_mux else rtp_port + 1
        self.rtcp_mux = rtcp_mux
        self.remote_rtp: Address | None = None
        self.remote_rtcp: Address | None = None
        self._rtp_destination: bytes | None = None  # remote_rtp as a packed sockaddr
        self._rtcp_destination: bytes | None = None
        self._point(remote_rtp, remote_rtcp)
        self.latched_rtp = False
        self.latched_rtcp = False
        self.on_rtp = on_rtp
        self.on_rtcp = on_rtcp
        self.on_timeout = on_timeout
        self.inactivity_timeout = inactivity_timeout
        self.clock = clock
        self.counters = TransportCounters()
        self.timed_out = False
        self._rtp_socket: MediaSocket | PortView | None = None
        self._rtcp_socket: MediaSocket | PortView | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_activity = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.srtp: SrtpContext | None = None
        self._inbound: AudioInbound | None = None  # what `offload` gave
        self._offloaded_source: bytes | None = None  # the packed source the socket hands to it

    @classmethod
    async def open(
        cls,
        allocator: PortAllocator,
        on_rtp: RtpCallback,
        on_rtcp: RtcpCallback | None = None,
        on_timeout: TimeoutCallback | None = None,
        host: str = "127.0.0.1",
        rtcp_mux: bool = False,
        remote_rtp: Address | None = None,
        remote_rtcp: Address | None = None,
        inactivity_timeout: float | None = DEFAULT_INACTIVITY_TIMEOUT,
        clock: Callable[[], float] = time.time,
        on_error: ErrorCallback | None = None,
        tick_reads: TickReads | None = None,
    ) -> RtpTransport:
        """`tick_reads`: read the RTP socket once per audio tick while all its audio is in C."""
        loop = asyncio.get_running_loop()
        last_error: OSError | None = None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(BIND_ATTEMPTS):
            port = allocator.allocate()
            self = cls(
                allocator, port, rtcp_mux, remote_rtp, remote_rtcp, on_rtp, on_rtcp,
                on_timeout, inactivity_timeout, clock, family, on_error,
            )
            try:
                await self._bind(loop, host)
            except OSError as exc:  # taken by another process: try the next pair
                last_error = exc
                self.close()
                continue
            if isinstance(self._rtp_socket, MediaSocket):
                self._rtp_socket.tick_reads = tick_reads
            return self
        raise PortRangeExhaustedError(f"could not bind an RTP port pair on {host}: {last_error}")

    @classmethod
    def on_shared_port(
        cls,
        shared: SharedPorts,
        on_rtp: RtpCallback,
        on_rtcp: RtcpCallback | None = None,
        on_timeout: TimeoutCallback | None = None,
        rtcp_mux: bool = False,
        remote_rtp: Address | None = None,
        remote_rtcp: Address | None = None,
        inactivity_timeout: float | None = DEFAULT_INACTIVITY_TIMEOUT,
        clock: Callable[[], float] = time.time,
        on_error: ErrorCallback | None = None,
    ) -> RtpTransport:
        """A stream on the shared port (no port of its own: every call's SDP names the same one)."""
        port = shared.rtp
        self = cls(None, port.port, rtcp_mux, remote_rtp, remote_rtcp, on_rtp, on_rtcp, on_timeout,
                   inactivity_timeout, clock, port.socket.sock.family, on_error)
        self.rtcp_port = port.port if rtcp_mux else shared.rtcp.port
        self._loop = port.loop
        handler = self._on_mux_datagram if rtcp_mux else self._on_rtp_datagram
        self._rtp_socket = port.view(self, "rtp", handler, self._socket_error)
        if not rtcp_mux:
            self._rtcp_socket = shared.rtcp.view(self, "rtcp", self._on_rtcp_datagram, self._socket_error)
        self._last_activity = port.loop.time()
        self._arm_timer()
        return self

    async def _bind(self, loop: asyncio.AbstractEventLoop, host: str) -> None:
        self._loop = loop
        handler = self._on_mux_datagram if self.rtcp_mux else self._on_rtp_datagram
        self._rtp_socket = await self.socket_class.open(loop, self.family, host, self.rtp_port, handler,
                                                        self._socket_error)
        if not self.rtcp_mux:
            self._rtcp_socket = await self.socket_class.open(loop, self.family, host, self.rtcp_port,
                                                             self._on_rtcp_datagram, self._socket_error)
        self._last_activity = loop.time()
        self._arm_timer()

    # ------------------------------------------------------------ receive

    def _on_mux_datagram(self, data: bytes, addr: Address, arrival: float | None = None) -> None:
        if is_rtcp(data):
            self._on_rtcp_datagram(data, addr, arrival)
        else:
            self._on_rtp_datagram(data, addr, arrival)

    def set_srtp(self, keys: SrtpKeys | None) -> None:
        """Protect this stream with these SDES keys from now on (None: plain RTP)."""
        if keys is None:
            self.srtp = None
        elif self.srtp is None:
            self.srtp = SrtpContext(keys)
        else:
            self.srtp.rekey(keys)
        self._update_offload()

    def offload(self, inbound: AudioInbound | None) -> None:
        """Hand this stream's audio packets to `inbound` in C from now on, whenever the source is
        latched and the stream is plain RTP (SRTP is unprotected here); None: all through Python.
        The C path counts, times and files them as `_on_rtp_datagram` and `on_rtp` would."""
        if inbound is not self._inbound:
            self._withdraw()
            self._inbound = inbound
        self._update_offload()

    def _update_offload(self) -> None:
        inbound, sock, source = self._inbound, self._rtp_socket, self._rtp_destination
        wanted = (inbound is not None and inbound.active and sock is not None and self.latched_rtp
                  and self.srtp is None and source is not None and not self._closed)
        if not wanted:
            self._withdraw()
        elif source != self._offloaded_source:
            self._withdraw()
            assert inbound is not None and sock is not None and source is not None
            inbound.counters = self.counters
            sock.offload(source, inbound, self.clock)
            self._offloaded_source = source

    def _withdraw(self) -> None:
        if self._offloaded_source is not None and self._rtp_socket is not None:
            self._rtp_socket.withdraw(self._offloaded_source)
        self._offloaded_source = None
        if self._inbound is not None:
            self._inbound.counters = None

    def _on_rtp_datagram(self, data: bytes, addr: Address, arrival: float | None = None) -> None:
        """`arrival`: when it came on `clock` (a TickReads socket read it later); else now."""
        counters = self.counters
        if self.latched_rtp and addr != self.remote_rtp:
            counters.ignored_other_source += 1
            return
        try:
            if self.srtp is not None:
                data = self.srtp.unprotect_rtp(data)
            packet = parse_rtp(data)  # RtpPacket.parse in C
        except MediaParseError as exc:
            counters.parse_errors["rtp " + exc.reason] += 1
            return
        if not self.latched_rtp:
            self.latched_rtp = True
            self.remote_rtp = addr
            if self.rtcp_mux:
                self.latched_rtcp = True
                self.remote_rtcp = addr
            self._pack_destinations()
            self._update_offload()
        counters.rtp_packets += 1
        counters.rtp_bytes += len(data)
        assert self._loop is not None
        self._last_activity = self._loop.time()
        try:
            self.on_rtp(packet, addr, self.clock() if arrival is None else arrival)
        except Exception as exc:  # noqa: BLE001 - one member's packet must not escape into the loop
            self._handler_error("rtp", exc)

    def _on_rtcp_datagram(self, data: bytes, addr: Address, arrival: float | None = None) -> None:
        counters = self.counters
        if self.latched_rtcp and addr != self.remote_rtcp:
            counters.ignored_other_source += 1
            return
        if self.latched_rtp and not self.latched_rtcp and addr[0] != self.remote_rtp[0]:  # type: ignore[index]
            counters.ignored_other_source += 1
            return
        try:
            if self.srtp is not None:
                data = self.srtp.unprotect_rtcp(data)
            packets = parse_compound(data)
        except MediaParseError as exc:
            counters.parse_errors["rtcp " + exc.reason] += 1
            return
        if not self.latched_rtcp:
            self.latched_rtcp = True
            self.remote_rtcp = addr
            self._pack_destinations()
        counters.rtcp_packets += 1
        if self.on_rtcp is not None:
            try:
                self.on_rtcp(packets, addr, self.clock() if arrival is None else arrival)
            except Exception as exc:  # noqa: BLE001 - as for RTP
                self._handler_error("rtcp", exc)

    def _handler_error(self, what: str, exc: Exception) -> None:
        self.counters.handler_errors[f"{what} {type(exc).__name__}"] += 1
        if self.on_error is not None:
            self.on_error(f"{what} handler", exc)

    def _socket_error(self, exc: Exception) -> None:
        self.counters.send_errors[_error_name(exc)] += 1

    def relatch(self, remote_rtp: Address | None = None, remote_rtcp: Address | None = None) -> None:
        """Forget the latched source (e.g. after a re-INVITE moved the endpoint): send to the
        new SDP address and latch again on the next valid packet."""
        self._withdraw()
        self.latched_rtp = self.latched_rtcp = False
        for sock in (self._rtp_socket, self._rtcp_socket):
            if sock is not None:
                sock.relatched()
        if remote_rtp is not None:
            self._point(remote_rtp, remote_rtcp)

    def _point(self, remote_rtp: Address | None, remote_rtcp: Address | None) -> None:
        """Send to these addresses, those of them that are usable: an unusable one (a host name,
        another family) leaves the stream waiting for latching on the member's first packet."""
        rtp = usable_address(remote_rtp, self.family)
        if remote_rtcp is None and rtp is not None:
            remote_rtcp = (rtp[0], rtp[1] + 1)  # RFC 3550: RTP port + 1
        self.remote_rtp = rtp
        self.remote_rtcp = rtp if self.rtcp_mux else usable_address(remote_rtcp, self.family)
        self._pack_destinations()

    def _pack_destinations(self) -> None:
        self._rtp_destination = self._packed(self.remote_rtp)
        self._rtcp_destination = self._packed(self.remote_rtcp)

    def _packed(self, addr: Address | None) -> bytes | None:
        if addr is None:
            return None
        try:
            return pack_address(self.family, addr[0], addr[1])  # type: ignore[no-any-return]
        except (OSError, ValueError):  # a source address the kernel gave us always packs
            return None

    # ------------------------------------------------------------ send

    def _protect(self, data: bytes, rtcp: bool) -> bytes | None:
        """`data` as it goes on the wire (SRTP/SRTCP when keyed); None: libsrtp refused it (counted)."""
        if self.srtp is None:
            return data
        protected = self.srtp.protect_rtcp(data) if rtcp else self.srtp.protect_rtp(data)
        if protected is None:
            self.counters.parse_errors["srtcp protect" if rtcp else "srtp protect"] += 1
        return protected

    def send_rtp(self, data: bytes) -> None:
        destination = self._rtp_destination
        if destination is None or self._rtp_socket is None:
            return
        protected = self._protect(data, rtcp=False)
        if protected is not None and self._rtp_socket.send(protected, destination):
            self.counters.sent_rtp += 1

    def send_rtp_many(self, packets: list[bytes]) -> None:
        """Several packets (a video frame) in one system call; counted as `send_rtp` would."""
        destination = self._rtp_destination
        if destination is None or self._rtp_socket is None:
            return
        if self.srtp is not None:
            packets = [p for p in (self._protect(p, rtcp=False) for p in packets) if p is not None]
        self.counters.sent_rtp += self._rtp_socket.send_many(packets, destination)

    def send_rtcp(self, data: bytes) -> None:
        sock = self._rtp_socket if self.rtcp_mux else self._rtcp_socket
        destination = self._rtcp_destination
        if destination is None or sock is None:
            return
        protected = self._protect(data, rtcp=True)
        if protected is not None and sock.send(protected, destination):
            self.counters.sent_rtcp += 1

    # ------------------------------------------------------------ inactivity

    def _arm_timer(self) -> None:
        if self.inactivity_timeout is None or self._loop is None or self._closed:
            return
        interval = min(MAX_TIMEOUT_CHECK_INTERVAL, self.inactivity_timeout / 4)
        self._timer = self._loop.call_later(interval, self._check_timeout)

    def _check_timeout(self) -> None:
        self._timer = None
        if self._closed or self.timed_out or self.inactivity_timeout is None:
            return
        assert self._loop is not None
        if self.idle_seconds() >= self.inactivity_timeout:
            self.timed_out = True
            if self.on_timeout is not None:
                self.on_timeout(self)
            return
        self._arm_timer()

    def idle_seconds(self) -> float:
        """Seconds since the last RTP packet, whichever path (Python or C) took it."""
        assert self._loop is not None
        idle = self._loop.time() - self._last_activity
        inbound = self._inbound
        if inbound is not None and inbound.taken:
            idle = min(idle, self.clock() - inbound.last_arrival)
        return idle

    def set_inactivity_timeout(self, timeout: float | None) -> None:
        """Change or disable (None, e.g. while on hold) the timeout; restarts the count."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.inactivity_timeout = timeout
        self.timed_out = False
        if self._loop is not None:
            self._last_activity = self._loop.time()
        self._arm_timer()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._withdraw()
        if self._timer is not None:
            self._timer.cancel()
        for sock in (self._rtp_socket, self._rtcp_socket):
            if sock is not None:
                sock.close()
        self._rtp_socket = self._rtcp_socket = None
        if self.allocator is not None:
            self.allocator.release(self.rtp_port)

    @property
    def local_rtp(self) -> Address | None:
        if self._rtp_socket is None:
            return None
        return self._rtp_socket.sockname
