"""Per-call sockets read by the audio tick (TickReads): once a stream's audio is all taken in C,
its socket leaves the event loop and waits for `read_all`; every packet keeps its own arrival
time (the kernel's stamp), in C and on the Python path (DTMF, RTCP); a stream that needs Python
again (a moved endpoint, SRTP, closing) is back on the loop's reader; one socket that fails a
read never stops the others being read."""

from __future__ import annotations

import asyncio
import time

from test_rtp_offload import OffloadingSink, dtmf
from test_rtp_transport_shell import free_port_base, peer, rtp, settle

from mcu.io.rtp_transport import PortAllocator, RtpTransport, TickReads
from mcu.rtp.packet import RtpPacket
from mcu.rtp.rtcp import ReceiverReport, serialize_compound
from mcu.sdp.crypto import SrtpKeys


class TimedSink(OffloadingSink):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[tuple[int, float]] = []  # (sequence, now given) of what came via Python
        self.rtcp_times: list[float] = []

    def on_rtp(self, p: RtpPacket, addr: tuple[str, int], now: float) -> None:
        self.times.append((p.sequence_number, now))
        super().on_rtp(p, addr, now)

    def on_rtcp(self, packets: list[object], addr: tuple[str, int], now: float) -> None:
        super().on_rtcp(packets, addr, now)
        self.rtcp_times.append(now)


async def open_stream(reads: TickReads, sink: TimedSink, **kw: object) -> RtpTransport:
    base = free_port_base()
    t = await RtpTransport.open(PortAllocator(base, base + 15), sink.on_rtp, sink.on_rtcp,
                                tick_reads=reads, **kw)  # type: ignore[arg-type]
    sink.transport = t
    return t


async def latched_and_offloaded() -> tuple:
    """A per-call stream latched on `site` (so tick-read), and a second peer to move it to."""
    reads, sink = TickReads(), TimedSink()
    t = await open_stream(reads, sink)
    site, moved = peer(), peer()
    port = ("127.0.0.1", t.rtp_port)
    site.sendto(rtp(0), port)
    await settle()
    assert reads.sockets == {t._rtp_socket}
    return reads, sink, t, site, moved, port


def test_an_offloaded_socket_waits_for_the_tick_and_keeps_each_packet_s_arrival() -> None:
    async def main() -> None:
        reads, sink = TickReads(), TimedSink()
        t = await open_stream(reads, sink, rtcp_mux=True)
        site = peer()
        port = ("127.0.0.1", t.rtp_port)
        site.sendto(rtp(0), port)  # latches through Python, then the stream is offloaded
        await settle()
        assert [seq for seq, _ in sink.rtp] == [0]
        assert reads.sockets == {t._rtp_socket}
        sent = time.time()
        for seq in range(1, 4):
            site.sendto(rtp(seq), port)
        site.sendto(dtmf(4), port)
        site.sendto(serialize_compound([ReceiverReport(0x42, [])]), port)
        await asyncio.sleep(0.15)  # nobody reads in the meantime: the loop no longer wakes for them
        assert sink.inbound.taken == 0 and [seq for seq, _ in sink.rtp] == [0] and not sink.rtcp
        read_at = time.time()
        reads.read_all()
        assert sink.inbound.taken == 3 and sink.inbound.jitter.depth == 4
        # the arrivals are the packets', not the read's (which came >= 150 ms later)
        assert sent - 0.01 <= sink.inbound.last_arrival <= sent + 0.05 < read_at - 0.09
        (seq, dtmf_at), = [(s, w) for s, w in sink.times if s == 4]
        assert sent - 0.01 <= dtmf_at <= sent + 0.05
        assert len(sink.rtcp) == 1 and sent - 0.01 <= sink.rtcp_times[0] <= sent + 0.05
        assert t.counters.rtp_packets == 5 and t.counters.rtcp_packets == 1
        t.close()
        assert not reads.sockets
        site.close()

    asyncio.run(main())


def test_a_stream_that_needs_python_again_is_back_on_the_loop_s_reader() -> None:
    async def main() -> None:
        reads, sink, t, site, moved, port = await latched_and_offloaded()
        t.relatch(moved.getsockname())  # a re-INVITE moved the endpoint: latch again in Python
        assert not reads.sockets
        moved.sendto(rtp(1), port)
        await settle()  # read by the loop, no tick needed
        assert [seq for seq, _ in sink.rtp] == [0, 1]
        assert reads.sockets == {t._rtp_socket}  # latched again, so offloaded and tick-read again
        moved.sendto(rtp(2), port)
        await settle()
        assert sink.inbound.taken == 0
        reads.read_all()
        assert sink.inbound.taken == 1
        # SRTP is unprotected in Python: its socket stays with the loop
        t.set_srtp(SrtpKeys("AES_CM_128_HMAC_SHA1_80", remote_key=bytes(range(30)), local_key=bytes(30)))
        assert not reads.sockets
        moved.sendto(rtp(3), port)  # plain RTP on a keyed stream: refused, read without a tick
        await settle()
        assert t.counters.parse_errors and sink.inbound.taken == 1
        t.close()
        site.close()
        moved.close()

    asyncio.run(main())


def test_packets_waiting_for_the_tick_are_taken_before_a_move_and_do_not_latch_the_old_source() -> None:
    """sipp -rtp_echo: the old port's echoes wait in the socket when the re-INVITE arrives; read
    after the relatch they would latch the old source again and take our audio back there."""
    async def main() -> None:
        _, sink, t, site, moved, port = await latched_and_offloaded()
        site.sendto(rtp(1), port)
        site.sendto(rtp(2), port)
        await settle()
        assert sink.inbound.taken == 0  # waiting for the tick
        t.relatch(moved.getsockname())
        assert sink.inbound.taken == 2  # taken from the old source, as on arrival, before the move
        assert not t.latched_rtp and t.remote_rtp == moved.getsockname()
        moved.sendto(rtp(3), port)
        await settle()
        assert t.latched_rtp and t.remote_rtp == moved.getsockname()
        t.close()
        site.close()
        moved.close()

    asyncio.run(main())


def test_one_socket_failing_its_read_does_not_stop_the_others() -> None:
    async def main() -> None:
        reads = TickReads()
        sinks = [TimedSink() for _ in range(3)]
        streams = [await open_stream(reads, sink) for sink in sinks]
        sites = [peer() for _ in streams]
        for site, t in zip(sites, streams):
            site.sendto(rtp(0), ("127.0.0.1", t.rtp_port))
        await settle()
        assert len(reads.sockets) == 3
        broken = streams[1]._rtp_socket

        def fail() -> None:
            raise RuntimeError("a bug in one member's read")

        broken.read_stamped = fail  # type: ignore[union-attr, method-assign]
        for site, t in zip(sites, streams):
            site.sendto(rtp(1), ("127.0.0.1", t.rtp_port))
        await settle()
        reads.read_all()
        assert [s.inbound.taken for s in sinks] == [1, 0, 1] and reads.errors == 1
        for t, site in zip(streams, sites):
            t.close()
            site.close()

    asyncio.run(main())
