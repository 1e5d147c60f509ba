"""One media stream's sockets: an RTP port and the RTCP port after it, both on 127.0.0.1.

Packets on either socket are told apart by RFC 5761 (RTCP types 192..223), so the pair
works whether or not the peer accepted rtcp-mux. No latching: we send where SDP says.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from mcu.rtp.packet import is_rtcp

Address = tuple[str, int]
BIND_ATTEMPTS = 50
RECEIVE_BUFFER = 1 << 20  # a 720p keyframe is ~100 datagrams; the kernel default holds ~90
Handler = Callable[[bytes, Address], None]


class MediaPortsError(OSError):
    """No RTP/RTCP port pair could be bound on the host."""


class _Proto(asyncio.DatagramProtocol):
    __slots__ = ("on_rtcp", "on_rtp")

    def __init__(self, on_rtp: Handler, on_rtcp: Handler) -> None:
        self.on_rtp = on_rtp
        self.on_rtcp = on_rtcp

    def datagram_received(self, data: bytes, addr: Address) -> None:  # type: ignore[override]
        if is_rtcp(data):
            self.on_rtcp(data, addr)
        else:
            self.on_rtp(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable from a peer that left: nothing to do


def _bind_pair(host: str) -> tuple[socket.socket, socket.socket]:
    last: OSError | None = None
    for _ in range(BIND_ATTEMPTS):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtp.bind((host, 0))
        except OSError as exc:
            rtp.close()
            last = exc
            continue
        port = rtp.getsockname()[1]
        if port >= 65535:
            rtp.close()
            continue
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtcp.bind((host, port + 1))
        except OSError as exc:
            rtp.close()
            rtcp.close()
            last = exc
            continue
        return rtp, rtcp
    raise MediaPortsError(f"could not bind an RTP/RTCP port pair on {host}: {last}")


class MediaSockets:
    """Create with `await MediaSockets.open(on_rtp, on_rtcp)`; set `remote_rtp`/`remote_rtcp`."""

    def __init__(self) -> None:
        self.remote_rtp: Address | None = None
        self.remote_rtcp: Address | None = None
        self.rtp_port = 0
        self.host = "127.0.0.1"
        self.enabled = True  # False: drop whatever arrives (vanish)
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtcp: asyncio.DatagramTransport | None = None
        self._mux = False

    @classmethod
    async def open(cls, on_rtp: Handler, on_rtcp: Handler,
                   host: str = "127.0.0.1") -> MediaSockets:
        self = cls()
        self.host = host
        loop = asyncio.get_running_loop()
        rtp_sock, rtcp_sock = _bind_pair(host)
        self.rtp_port = rtp_sock.getsockname()[1]
        with contextlib.suppress(OSError):  # an MCU's keyframe burst must not overflow us
            rtp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)

        def rtp_in(data: bytes, addr: Address) -> None:
            if self.enabled:
                on_rtp(data, addr)

        def rtcp_in(data: bytes, addr: Address) -> None:
            if self.enabled:
                on_rtcp(data, addr)

        self._rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Proto(rtp_in, rtcp_in), sock=rtp_sock)
        self._rtcp, _ = await loop.create_datagram_endpoint(
            lambda: _Proto(rtp_in, rtcp_in), sock=rtcp_sock)
        return self

    def set_remote(self, host: str, rtp_port: int, rtcp_port: int | None, rtcp_mux: bool) -> None:
        self.remote_rtp = (host, rtp_port)
        self.remote_rtcp = (host, rtp_port if rtcp_mux else (rtcp_port or rtp_port + 1))
        self._mux = rtcp_mux

    def send_rtp(self, data: bytes) -> bool:
        if self._rtp is None or self.remote_rtp is None:
            return False
        self._rtp.sendto(data, self.remote_rtp)
        return True

    def send_rtcp(self, data: bytes) -> bool:
        transport = self._rtp if self._mux else self._rtcp
        if transport is None or self.remote_rtcp is None:
            return False
        transport.sendto(data, self.remote_rtcp)
        return True

    def close(self) -> None:
        for t in (self._rtp, self._rtcp):
            if t is not None:
                t.close()
        self._rtp = self._rtcp = None
