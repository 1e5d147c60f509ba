"""The UDP shell on 127.0.0.1: latching, second sources, inactivity, parse failure counters."""

from __future__ import annotations

import asyncio
import socket

import pytest

from mcu.io.rtp_transport import PortAllocator, PortRangeExhaustedError, RtpTransport
from mcu.rtp.packet import RtpPacket
from mcu.rtp.rtcp import Pli, parse_compound, serialize_compound


def free_port_base(pairs: int = 8) -> int:
    """An even port with `2 * pairs` free ports after it (probed by binding)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1] & ~1
        s.close()
        if base + 2 * pairs > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + 2 * pairs):
                t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(t)
                t.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    raise RuntimeError("no free UDP port range on 127.0.0.1")


def peer() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


def rtp(seq: int) -> bytes:
    return RtpPacket(0, seq, seq * 160, 0x42, False, b"\xff" * 160).serialize()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.005)


class Sink:
    def __init__(self) -> None:
        self.rtp: list[tuple[int, tuple[str, int]]] = []
        self.rtcp: list[list[object]] = []
        self.timeouts: list[RtpTransport] = []

    def on_rtp(self, p: RtpPacket, addr: tuple[str, int], now: float) -> None:
        assert now > 1e9  # wall clock, for NTP
        self.rtp.append((p.sequence_number, addr))

    def on_rtcp(self, packets: list[object], addr: tuple[str, int], now: float) -> None:
        self.rtcp.append(packets)

    def on_timeout(self, t: RtpTransport) -> None:
        self.timeouts.append(t)


def test_port_allocator_even_odd_and_exhaustion() -> None:
    alloc = PortAllocator(30001, 30006)
    assert [alloc.allocate(), alloc.allocate()] == [30002, 30004]
    with pytest.raises(PortRangeExhaustedError, match="widen"):
        alloc.allocate()
    alloc.release(30002)
    assert alloc.allocate() == 30002
    with pytest.raises(ValueError):
        PortAllocator(30001, 30002)


def test_latching_second_source_parse_failures_and_send_back() -> None:
    async def main() -> None:
        base = free_port_base()
        sink = Sink()
        sdp_addr = ("127.0.0.1", 9)  # what SDP said; the real source differs (NAT)
        t = await RtpTransport.open(
            PortAllocator(base, base + 15), sink.on_rtp, sink.on_rtcp, sink.on_timeout,
            remote_rtp=sdp_addr,
        )
        assert t.rtp_port % 2 == 0 and t.rtcp_port == t.rtp_port + 1
        assert t.remote_rtp == sdp_addr and t.remote_rtcp == ("127.0.0.1", 10)
        a, b, a_rtcp = peer(), peer(), peer()
        dst = ("127.0.0.1", t.rtp_port)
        a.sendto(b"\x80\x00", dst)  # short: does not latch
        a.sendto(b"\x40" + rtp(1)[1:], dst)  # bad version: does not latch
        await settle()
        assert not t.latched_rtp
        b.sendto(rtp(1), dst)  # first valid packet latches on b
        await settle()
        a.sendto(rtp(2), dst)  # another source: ignored
        b.sendto(rtp(3), dst)
        b.sendto(b"\x80" * 5, dst)
        await settle()
        assert t.latched_rtp and t.remote_rtp == b.getsockname()
        assert [s for s, _ in sink.rtp] == [1, 3]
        assert t.counters.ignored_other_source == 1
        assert t.counters.parse_errors == {"rtp short packet": 2, "rtp bad version": 1}
        # RTCP from the same host latches the RTCP address; garbage is counted
        a_rtcp.sendto(serialize_compound([Pli(1, 0x42)]), ("127.0.0.1", t.rtcp_port))
        a_rtcp.sendto(b"\x81\xc9\x00\x09", ("127.0.0.1", t.rtcp_port))
        await settle()
        assert sink.rtcp == [[Pli(1, 0x42)]]
        assert t.remote_rtcp == a_rtcp.getsockname()
        assert t.counters.parse_errors["rtcp bad length"] == 1
        # symmetric: we send back to where the media came from
        t.send_rtp(rtp(7))
        t.send_rtcp(serialize_compound([Pli(2, 3)]))
        await settle()
        assert RtpPacket.parse(b.recv(2000)).sequence_number == 7
        assert parse_compound(a_rtcp.recv(2000)) == [Pli(2, 3)]
        # after a re-INVITE the endpoint may move: relatch accepts a new source
        t.relatch(("127.0.0.1", 11))
        assert t.remote_rtp == ("127.0.0.1", 11) and not t.latched_rtp
        a.sendto(rtp(8), dst)
        await settle()
        assert t.remote_rtp == a.getsockname() and sink.rtp[-1][0] == 8
        t.close()
        for s in (a, b, a_rtcp):
            s.close()

    asyncio.run(main())


def test_rtcp_mux_single_socket() -> None:
    async def main() -> None:
        base = free_port_base()
        sink = Sink()
        t = await RtpTransport.open(
            PortAllocator(base, base + 15), sink.on_rtp, sink.on_rtcp, rtcp_mux=True,
        )
        assert t.rtcp_port == t.rtp_port
        a = peer()
        a.sendto(rtp(1), ("127.0.0.1", t.rtp_port))
        a.sendto(serialize_compound([Pli(9, 0x42)]), ("127.0.0.1", t.rtp_port))
        await settle()
        assert [s for s, _ in sink.rtp] == [1] and sink.rtcp == [[Pli(9, 0x42)]]
        t.send_rtcp(serialize_compound([Pli(2, 3)]))
        await settle()
        assert parse_compound(a.recv(2000)) == [Pli(2, 3)]
        t.close()
        a.close()

    asyncio.run(main())


def test_inactivity_timeout_fires_once_and_media_keeps_it_away() -> None:
    async def main() -> None:
        base = free_port_base()
        sink = Sink()
        alloc = PortAllocator(base, base + 15)
        quiet = await RtpTransport.open(alloc, sink.on_rtp, None, sink.on_timeout, inactivity_timeout=0.2)
        busy = await RtpTransport.open(alloc, sink.on_rtp, None, sink.on_timeout, inactivity_timeout=0.2)
        a = peer()
        for i in range(12):
            a.sendto(rtp(i), ("127.0.0.1", busy.rtp_port))
            await asyncio.sleep(0.04)
        assert sink.timeouts == [quiet] and quiet.timed_out and not busy.timed_out
        await asyncio.sleep(0.4)
        assert sink.timeouts == [quiet, busy]  # once each
        busy.set_inactivity_timeout(None)  # e.g. on hold
        assert not busy.timed_out
        quiet.close()
        busy.close()
        assert alloc.free == 8
        a.close()

    asyncio.run(main())


def test_bind_skips_ports_taken_by_someone_else() -> None:
    async def main() -> None:
        base = free_port_base()
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        blocker.bind(("127.0.0.1", base + 1))  # the RTCP port of the first pair
        t = await RtpTransport.open(PortAllocator(base, base + 15), lambda p, a, n: None)
        assert t.rtp_port == base + 2
        t.close()
        blocker.close()

    asyncio.run(main())



def test_srtp_both_ways_and_a_forged_packet_is_counted_and_dropped() -> None:
    """With SDES keys set, what arrives is authenticated and decrypted with the peer's key and
    what leaves is protected with ours; the peer (plain libsrtp here) sees the same packets."""
    from pylibsrtp import Policy, Session

    from mcu.sdp.crypto import SrtpKeys

    theirs, ours = bytes(range(30)), bytes(range(100, 130))
    profile = Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    peer_out = Session(policy=Policy(key=theirs, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    peer_in = Session(policy=Policy(key=ours, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile))

    async def main() -> None:
        base = free_port_base()
        sink = Sink()
        t = await RtpTransport.open(PortAllocator(base, base + 15), sink.on_rtp, sink.on_rtcp, rtcp_mux=True)
        t.set_srtp(SrtpKeys("AES_CM_128_HMAC_SHA1_80", remote_key=theirs, local_key=ours))
        a = peer()
        sent = peer_out.protect(rtp(7))
        assert sent[12:] != rtp(7)[12:]  # encrypted on the wire
        a.sendto(sent, ("127.0.0.1", t.rtp_port))
        a.sendto(sent[:-1] + bytes([sent[-1] ^ 1]), ("127.0.0.1", t.rtp_port))  # forged tag
        a.sendto(peer_out.protect_rtcp(serialize_compound([Pli(9, 0x42)])), ("127.0.0.1", t.rtp_port))
        await settle()
        assert [s for s, _ in sink.rtp] == [7] and sink.rtcp == [[Pli(9, 0x42)]]
        assert t.counters.parse_errors["rtp srtp authentication"] == 1
        t.send_rtp(rtp(8))
        t.send_rtp(rtp(8))  # sent again (a NACK): libsrtp must allow the repeat
        t.send_rtcp(serialize_compound([Pli(2, 3)]))
        await settle()
        first = a.recv(2000)
        assert a.recv(2000) == first  # identical on the wire
        assert RtpPacket.parse(peer_in.unprotect(first)).sequence_number == 8
        assert parse_compound(peer_in.unprotect_rtcp(a.recv(2000))) == [Pli(2, 3)]
        # a re-offer where only the peer changed its key: our direction keeps its packet indexes
        # (a fresh outbound session would restart SRTCP at index 0 and the peer drop it as replay)
        theirs2 = bytes(range(50, 80))
        t.set_srtp(SrtpKeys("AES_CM_128_HMAC_SHA1_80", remote_key=theirs2, local_key=ours))
        t.send_rtcp(serialize_compound([Pli(4, 5)]))
        await settle()
        assert parse_compound(peer_in.unprotect_rtcp(a.recv(2000))) == [Pli(4, 5)]
        peer2 = Session(policy=Policy(key=theirs2, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
        a.sendto(peer2.protect(rtp(9)), ("127.0.0.1", t.rtp_port))
        await settle()
        assert [s for s, _ in sink.rtp] == [7, 9]
        t.close()
        a.close()

    asyncio.run(main())
