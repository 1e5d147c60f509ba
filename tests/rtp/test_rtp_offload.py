"""A stream's audio offloaded to C (RtpTransport.offload): after the first packet latched the source
through Python, that source's packets of the codec are taken by the member's AudioInbound without
a Python callback, counted, timed and filed as the Python path would; DTMF, other sources, RTCP,
SRTP streams and a moved endpoint go through Python again; closing a stream stops it, on its own
port and on the shared port, without disturbing the other streams there."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from test_rtp_shared_port import free_pair, stream
from test_rtp_transport_shell import Sink, free_port_base, peer, rtp, settle

from mcu._jitter import AudioJitterBuffer
from mcu._rtp import AudioInbound, ReceiveStatistics
from mcu.io.rtp_transport import PortAllocator, RtpTransport, SharedPorts
from mcu.rtp.packet import RtpPacket
from mcu.rtp.session import OutboundStream, RtpSession
from mcu.sdp.crypto import SrtpKeys


class OffloadingSink(Sink):
    """What MediaPlane's on_rtp does: the packet to the member (statistics, then the jitter
    buffer for its codec), then offload to the member's C receiver."""

    def __init__(self) -> None:
        super().__init__()
        self.session = RtpSession(OutboundStream(1, 0, 8000), "test", statistics=ReceiveStatistics)
        self.statistics: dict[int, Any] = self.session.inbound
        self.inbound = AudioInbound(0, AudioJitterBuffer(8000), self.statistics, 8000)
        self.transport: RtpTransport | None = None

    def on_rtp(self, p: RtpPacket, addr: tuple[str, int], now: float) -> None:
        super().on_rtp(p, addr, now)
        self.session.receive_rtp(p, now)
        if p.payload_type == 0:
            self.inbound.jitter.put(p, now)
        assert self.transport is not None
        self.transport.offload(self.inbound)


def dtmf(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 101, seq, seq * 160, 0x42) + b"\x05\x0a\x00\xa0"


def test_after_latching_the_codec_s_packets_skip_python_and_the_rest_do_not() -> None:
    async def main() -> None:
        base = free_port_base()
        sink = OffloadingSink()
        t = await RtpTransport.open(PortAllocator(base, base + 15), sink.on_rtp)
        sink.transport = t
        site, stranger, moved = peer(), peer(), peer()
        port = ("127.0.0.1", t.rtp_port)
        site.sendto(rtp(0), port)
        await settle()
        for seq in range(1, 10):
            site.sendto(rtp(seq), port)
        site.sendto(dtmf(10), port)
        stranger.sendto(rtp(50), port)
        await settle()
        assert [seq for seq, _ in sink.rtp] == [0, 10]  # the first (latching) and the DTMF one
        assert sink.inbound.taken == 9 and sink.inbound.jitter.depth == 10  # 0 came by Python
        assert sink.statistics[0x42].packets == 11  # both paths update the same statistics
        assert t.counters.rtp_packets == 11 and t.counters.ignored_other_source == 1
        assert sink.inbound.last_arrival > 1e9  # the transport's clock: wall time
        # the endpoint moves (re-INVITE): Python latches the new source, then C takes it again
        t.relatch(moved.getsockname())
        moved.sendto(rtp(12), port)
        await settle()
        moved.sendto(rtp(13), port)
        await settle()
        assert [seq for seq, _ in sink.rtp] == [0, 10, 12] and sink.inbound.taken == 10
        assert sink.inbound.jitter.depth == 12
        site.sendto(rtp(11), port)  # the old address: neither path takes it now
        await settle()
        assert t.counters.ignored_other_source == 2 and sink.inbound.taken == 10
        # keyed for SRTP: plain packets no longer pass, in C or in Python
        t.set_srtp(SrtpKeys("AES_CM_128_HMAC_SHA1_80", remote_key=bytes(range(30)), local_key=bytes(30)))
        moved.sendto(rtp(14), port)
        await settle()
        assert sink.inbound.taken == 10 and t.counters.parse_errors["rtp srtp authentication"] == 1
        t.close()
        assert t._rtp_socket is None and sink.inbound.counters is None
        for s in (site, stranger, moved):
            s.close()

    asyncio.run(main())


def test_offloaded_media_keeps_the_inactivity_timeout_away_until_it_stops() -> None:
    async def main() -> None:
        base = free_port_base()
        sink = OffloadingSink()
        t = await RtpTransport.open(PortAllocator(base, base + 15), sink.on_rtp, None, sink.on_timeout,
                                    inactivity_timeout=0.25)
        sink.transport = t
        site = peer()
        for seq in range(15):
            site.sendto(rtp(seq), ("127.0.0.1", t.rtp_port))
            await asyncio.sleep(0.04)
        assert sink.inbound.taken >= 13 and not sink.timeouts and t.idle_seconds() < 0.2
        for _ in range(40):
            if sink.timeouts:
                break
            await asyncio.sleep(0.05)
        assert sink.timeouts == [t]
        t.close()
        site.close()

    asyncio.run(main())


def test_on_the_shared_port_each_stream_s_source_goes_to_its_own_receiver() -> None:
    async def main() -> None:
        shared = SharedPorts.open("127.0.0.1", free_pair())
        sites = [peer() for _ in range(3)]
        sinks = [OffloadingSink() for _ in sites]
        streams = [stream(shared, sink, site) for sink, site in zip(sinks, sites, strict=True)]
        for sink, t in zip(sinks, streams, strict=True):
            sink.transport = t
        port = ("127.0.0.1", shared.rtp.port)
        for seq in range(6):
            for i, site in enumerate(sites):
                site.sendto(rtp(100 * i + seq), port)
            await settle()
        assert [[seq for seq, _ in sink.rtp] for sink in sinks] == [[0], [100], [200]]
        assert [sink.inbound.taken for sink in sinks] == [5, 5, 5]
        assert len(shared.rtp.socket.offloaded) == 3
        streams[1].close()  # one call ends: its source is no longer taken, the others still are
        for seq in range(6, 8):
            for i, site in enumerate(sites):
                site.sendto(rtp(100 * i + seq), port)
        await settle()
        assert [sink.inbound.taken for sink in sinks] == [7, 5, 7] and len(shared.rtp.socket.offloaded) == 2
        assert shared.unmatched == 2  # the closed call's packets: nobody's now
        for t in (streams[0], streams[2]):
            t.close()
        assert not shared.rtp.socket.offloaded
        shared.close()
        for s in sites:
            s.close()

    asyncio.run(main())
