"""The C receive path of mcu._rtp against its specification in mcu/rtp:

- ReceiveStatistics (C) against mcu.rtp.stats.ReceiveStatistics: the same packets (in order,
  lost, reordered, duplicated, 16-bit wrap, sender restarts, jumps), sender reports and report
  blocks, and after every step the same attributes and the same report block;
- AudioInbound.take against what the Python path does with the same datagram (RtpPacket.parse,
  rtcp-mux demultiplexing, RtpSession.receive_rtp, the jitter buffer's put): it takes exactly the
  well-formed packets of its payload type, declines the rest (RTCP, DTMF, other payload types,
  malformed packets, SSRCs whose statistics are Python's), and leaves the statistics, the jitter
  buffer and the transport's counters as the Python path leaves them;
- BatchReceiver.receive with offloaded sources: their packets are taken in C, everyone else's
  come back as datagrams.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import astuple
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcu._jitter import AudioJitterBuffer
from mcu._rtp import AudioInbound, BatchReceiver, pack_address
from mcu._rtp import ReceiveStatistics as CStats
from mcu.io.rtp_transport import TransportCounters
from mcu.rtp.errors import MediaParseError
from mcu.rtp.packet import RtpPacket, is_rtcp
from mcu.rtp.stats import ReceiveStatistics as PyStats

MANY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELDS = ("ssrc", "clock_rate", "max_seq", "cycles", "base_seq", "bad_seq", "probation", "received",
          "expected_prior", "received_prior", "transit", "jitter_q4", "packets", "octets", "valid",
          "started", "last_sr_ntp_middle", "last_sr_arrival", "extended_max", "expected",
          "cumulative_lost", "jitter")


def state(stats: Any) -> tuple[Any, ...]:
    return tuple(getattr(stats, name) for name in FIELDS)


@st.composite
def packet_steps(draw: Any) -> list[tuple[Any, ...]]:
    """A stream's events: ("rtp", seq, ts, length, now), ("sr", ntp, now) or ("report", now)."""
    seq = draw(st.sampled_from([0, 1, 65534, 65535, 32768]) | st.integers(0, 0xFFFF))
    ts = draw(st.integers(0, 0xFFFFFFFF))
    now = draw(st.floats(0, 2e9, allow_nan=False))
    steps: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 120))):
        kind = draw(st.sampled_from(["next"] * 6 + ["lost", "dup", "back", "jump", "restart", "sr", "report"]))
        if kind == "sr":
            steps.append(("sr", draw(st.integers(0, (1 << 64) - 1)), now))
            continue
        if kind == "report":
            steps.append(("report", now + draw(st.floats(0, 5))))
            continue
        if kind == "lost":
            seq += draw(st.integers(2, 40))
        elif kind == "back":
            seq -= draw(st.integers(1, 150))
        elif kind == "jump":
            seq += draw(st.integers(3000, 65000))
        elif kind == "restart":
            seq = draw(st.integers(0, 0xFFFF))
        elif kind == "next":
            seq += 1
        # "dup": the same sequence number again
        ts = (ts + draw(st.sampled_from([160, 320, 960, 0]) | st.integers(-5000, 5000))) & 0xFFFFFFFF
        now += draw(st.floats(0, 0.1)) if draw(st.booleans()) else 0.02
        steps.append(("rtp", seq & 0xFFFF, ts, draw(st.integers(0, 1400)), now))
    return steps


@MANY
@given(clock_rate=st.sampled_from([8000, 16000, 48000, 90000]), ssrc=st.integers(0, 0xFFFFFFFF),
       steps=packet_steps())
def test_statistics_match_the_specification(clock_rate: int, ssrc: int, steps: list[tuple[Any, ...]]) -> None:
    py, c = PyStats(ssrc, clock_rate), CStats(ssrc, clock_rate)
    assert state(c) == state(py)
    for step in steps:
        if step[0] == "rtp":
            assert c.update(*step[1:]) == py.update(*step[1:]), step
        elif step[0] == "sr":
            c.on_sender_report(step[1], step[2])
            py.on_sender_report(step[1], step[2])
        else:
            assert c.report_block(step[1]) == py.report_block(step[1])
        assert state(c) == state(py), step


def test_statistics_attributes_can_be_set_like_the_python_class() -> None:
    c = CStats(1, 8000)
    c.transit = 5
    c.last_sr_arrival = 12.5
    assert (c.transit, c.last_sr_arrival) == (5, 12.5)
    c.transit = None
    c.last_sr_arrival = None
    assert (c.transit, c.last_sr_arrival) == (None, None)


# ---------------------------------------------------------------- AudioInbound

AUDIO_PT, DTMF_PT = 0, 101


def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


@st.composite
def datagrams(draw: Any) -> list[tuple[bytes, float]]:
    """Audio of one or two SSRCs with loss, reordering and duplicates, mixed with DTMF, another
    payload type, RTCP, CSRCs, header extensions, padding and malformed packets."""
    ssrcs = [draw(st.integers(0, 0xFFFFFFFF)), draw(st.integers(0, 0xFFFFFFFF))]
    seq, ts, now = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFFFFFF)), 1000.0
    out: list[tuple[bytes, float]] = []
    for _ in range(draw(st.integers(1, 80))):
        kind = draw(st.sampled_from(["audio"] * 8 + ["dup", "lost", "ssrc", "dtmf", "other", "rtcp", "csrc",
                                      "extension", "padding", "short", "version", "bad padding",
                                      "bad extension", "garbage"]))
        ssrc = ssrcs[0]
        seq += 0 if kind == "dup" else draw(st.integers(2, 9)) if kind == "lost" else 1
        ts += 160
        now += draw(st.sampled_from([0.02, 0.0, 0.035, 0.005]))
        payload = draw(st.binary(min_size=0, max_size=200))
        if kind == "ssrc":
            ssrcs.reverse()
            ssrc = ssrcs[0]
        if kind in ("audio", "dup", "lost", "ssrc"):
            data = rtp(AUDIO_PT, seq, ts, ssrc, payload, draw(st.booleans()))
        elif kind == "dtmf":
            data = rtp(DTMF_PT, seq, ts, ssrc, b"\x05\x0a\x00\xa0")
        elif kind == "other":
            data = rtp(draw(st.sampled_from([8, 9, 96, 127])), seq, ts, ssrc, payload)
        elif kind == "rtcp":
            data = bytes([0x80, draw(st.integers(192, 223)), 0, 1]) + ssrc.to_bytes(4, "big")
        elif kind == "csrc":
            data = bytes([0x82]) + rtp(AUDIO_PT, seq, ts, ssrc, b"")[1:] + b"\x00" * 8 + payload
        elif kind == "extension":
            data = bytes([0x90]) + rtp(AUDIO_PT, seq, ts, ssrc, b"")[1:] + b"\xbe\xde\x00\x01\x10\xaa\x00\x00" + payload
        elif kind == "padding":
            data = bytes([0xA0]) + rtp(AUDIO_PT, seq, ts, ssrc, payload)[1:] + b"\x00\x00\x03"
        elif kind == "short":
            data = rtp(AUDIO_PT, seq, ts, ssrc, b"")[:draw(st.integers(0, 11))]
        elif kind == "version":
            data = bytes([0x40]) + rtp(AUDIO_PT, seq, ts, ssrc, payload)[1:]
        elif kind == "bad padding":
            data = bytes([0xA0]) + rtp(AUDIO_PT, seq, ts, ssrc, payload)[1:] + bytes([0])
        elif kind == "bad extension":
            data = bytes([0x90]) + rtp(AUDIO_PT, seq, ts, ssrc, b"")[1:] + b"\xbe\xde\x00\x40"
        else:
            data = draw(st.binary(min_size=0, max_size=40))
        out.append((data, now))
    return out


def python_path(data: bytes, now: float, statistics: dict[int, Any], jitter: AudioJitterBuffer,
                counters: TransportCounters) -> bool:
    """What RtpTransport._on_rtp_datagram -> RtpSession.receive_rtp -> AudioIn.receive do with an
    audio packet; False where the C path must decline (the Python path then handles it)."""
    if is_rtcp(data):
        return False
    try:
        packet = RtpPacket.parse(data)
    except MediaParseError:
        return False
    if packet.payload_type != AUDIO_PT:
        return False
    stats = statistics.get(packet.ssrc)
    if stats is None:
        stats = statistics[packet.ssrc] = PyStats(packet.ssrc, 8000)
    stats.update(packet.sequence_number, packet.timestamp, len(packet.payload), now)
    jitter.put(packet, now)
    counters.rtp_packets += 1
    counters.rtp_bytes += len(data)
    return True


@MANY
@given(stream=datagrams(), pops=st.lists(st.booleans(), min_size=80, max_size=80))
def test_audio_inbound_takes_what_the_python_path_would(stream: list[tuple[bytes, float]], pops: list[bool]) -> None:
    py_stats: dict[int, Any] = {}
    py_jitter, c_jitter = AudioJitterBuffer(8000), AudioJitterBuffer(8000)
    py_counters, c_counters = TransportCounters(), TransportCounters()
    c_stats: dict[int, Any] = {}
    inbound = AudioInbound(AUDIO_PT, c_jitter, c_stats, 8000)
    inbound.counters = c_counters
    for (data, now), pop in zip(stream, pops, strict=False):
        assert inbound.take(data, now) == python_path(data, now, py_stats, py_jitter, py_counters), data
        assert {k: state(v) for k, v in c_stats.items()} == {k: state(v) for k, v in py_stats.items()}
        assert astuple(c_jitter.stats) == astuple(py_jitter.stats)
        assert (c_jitter.depth, c_jitter.jitter) == (py_jitter.depth, py_jitter.jitter)
        assert c_counters == py_counters
        if pop:
            assert c_jitter.pop(now) == py_jitter.pop(now)
    assert inbound.taken == py_counters.rtp_packets
    if py_counters.rtp_packets:
        assert inbound.last_arrival == max(now for data, now in stream if python_path(
            data, now, {}, AudioJitterBuffer(8000), TransportCounters()))


def test_audio_inbound_declines_ssrcs_the_python_statistics_keep_and_when_retired() -> None:
    statistics: dict[int, Any] = {7: PyStats(7, 8000)}
    inbound = AudioInbound(AUDIO_PT, AudioJitterBuffer(8000), statistics, 8000)
    assert not inbound.take(rtp(AUDIO_PT, 1, 160, 8, b"x" * 160), 1.0)  # no counters: not offloaded
    inbound.counters = TransportCounters()
    assert not inbound.take(rtp(AUDIO_PT, 1, 160, 7, b"x" * 160), 1.0)
    assert inbound.take(rtp(AUDIO_PT, 1, 160, 8, b"x" * 160), 1.0)
    assert type(statistics[8]) is CStats
    inbound.active = False
    assert not inbound.take(rtp(AUDIO_PT, 2, 320, 8, b"x" * 160), 1.02)
    assert inbound.taken == 1 and inbound.counters.rtp_packets == 1


def test_batch_receiver_takes_offloaded_sources_in_c_and_returns_the_rest() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    offloaded_site, other_site = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    try:
        for s in (offloaded_site, other_site):
            s.bind(("127.0.0.1", 0))
        inbound = AudioInbound(AUDIO_PT, AudioJitterBuffer(8000), {}, 8000)
        inbound.counters = TransportCounters()
        host, port = offloaded_site.getsockname()
        offloaded = {pack_address(socket.AF_INET, host, port): inbound}
        for n in range(10):
            offloaded_site.sendto(rtp(AUDIO_PT, n, n * 160, 1, b"a" * 160), server.getsockname())
            other_site.sendto(rtp(AUDIO_PT, n, n * 160, 2, b"b" * 160), server.getsockname())
        offloaded_site.sendto(rtp(DTMF_PT, 10, 1600, 1, b"\x05\x0a\x00\xa0"), server.getsockname())
        receiver, out = BatchReceiver(server.fileno()), []
        assert receiver.receive(out, 256, offloaded, 50.0) == 0
        assert inbound.taken == 10 and inbound.jitter.depth == 10 and inbound.last_arrival == 50.0
        assert [addr for _, addr in out] == [other_site.getsockname()] * 10 + [offloaded_site.getsockname()]
        assert RtpPacket.parse(out[-1][0]).payload_type == DTMF_PT
    finally:
        for s in (server, offloaded_site, other_site):
            s.close()
