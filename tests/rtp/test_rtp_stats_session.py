from __future__ import annotations

import itertools
import random

import pytest

from mcu.rtp.packet import RtpPacket
from mcu.rtp.rtcp import (
    Bye,
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    SenderReport,
    SourceDescription,
    TmmbItem,
    Tmmbr,
    ntp_from_unix,
    ntp_middle32,
    parse_compound,
)
from mcu.rtp.session import (
    MAX_RESEND,
    BitrateLimit,
    KeyframeRequested,
    NackReceived,
    OutboundStream,
    RtpSession,
    RttMeasured,
    SourceLeft,
)
from mcu.rtp.stats import (
    ReceiveStatistics,
    RtcpIntervalParams,
    RtcpScheduler,
    round_trip_time,
    rtcp_interval,
)

T0 = 1_700_000_000.0


def feed(stats: ReceiveStatistics, seqs: list[int], spacing: float = 0.02, jitter: list[float] | None = None) -> None:
    for i, s in enumerate(seqs):
        extra = jitter[i] if jitter else 0.0
        stats.update(s & 0xFFFF, (1000 + 160 * i) & 0xFFFFFFFF, 160, T0 + i * spacing + extra)


def test_probation_needs_two_in_sequence() -> None:
    st = ReceiveStatistics(1, 8000)
    assert st.update(10, 0, 160, T0) is False
    assert st.update(20, 160, 160, T0) is False  # out of sequence: probation restarts
    assert st.update(21, 320, 160, T0) is True
    assert st.valid and st.expected == 1 and st.cumulative_lost == 0


def test_loss_fraction_and_cumulative_across_wrap() -> None:
    st = ReceiveStatistics(1, 8000)
    seqs = [65530 + i for i in range(100) if i not in (10, 11, 50)]  # wraps at i == 6
    feed(st, seqs)
    block = st.report_block(T0 + 3)
    assert block.packets_lost == 3
    assert block.highest_sequence == (1 << 16) + (65530 + 99 - 65536)
    # second interval: 20 more, 5 lost -> 5/20 * 256 = 64
    more = [65530 + 100 + i for i in range(20) if i not in (1, 3, 5, 7, 9)]
    for i, s in enumerate(more):
        st.update(s & 0xFFFF, 0, 160, T0 + 4 + i * 0.02)
    block2 = st.report_block(T0 + 5)
    assert block2.fraction_lost == 64
    assert block2.packets_lost == 8


def test_duplicates_make_cumulative_loss_negative() -> None:
    st = ReceiveStatistics(1, 8000)
    feed(st, [1, 2, 3, 3, 3, 4])
    assert st.cumulative_lost < 0
    assert st.report_block(T0).packets_lost == st.cumulative_lost


def test_jitter_zero_when_regular_and_grows_with_jitter() -> None:
    regular = ReceiveStatistics(1, 8000)
    feed(regular, list(range(200)))
    assert regular.jitter == 0
    noisy = ReceiveStatistics(1, 8000)
    rng = random.Random(1)
    feed(noisy, list(range(200)), jitter=[rng.uniform(0, 0.03) for _ in range(200)])
    # uniform 0..30 ms: mean |D| = 10 ms = 80 timestamp units
    assert 40 < noisy.jitter < 120


def test_sequence_restart_resyncs_after_two_packets() -> None:
    st = ReceiveStatistics(1, 8000)
    feed(st, list(range(100, 150)))
    assert st.update(30000, 0, 160, T0 + 2) is False
    assert st.update(30001, 0, 160, T0 + 2) is True
    assert st.extended_max == 30001


def test_rtt_from_lsr_dlsr() -> None:
    now = T0 + 10
    lsr = ntp_middle32(ntp_from_unix(now - 0.35))
    block = ReportBlock(ssrc=5, lsr=lsr, dlsr=int(0.25 * 65536))
    rtt = round_trip_time(block, now)
    assert rtt == pytest.approx(0.1, abs=1e-3)
    assert round_trip_time(ReportBlock(ssrc=5), now) is None


def test_rtcp_interval_reduced_minimum_and_scaling() -> None:
    params = RtcpIntervalParams(session_bandwidth=1_000_000, reduced_minimum=True)
    lo = RtcpIntervalParams(session_bandwidth=1_000_000, reduced_minimum=False)
    fixed = random.Random(0)
    # r = 0.5 -> t * 1.0 / 1.21828; reduced minimum 360 / 1000 kbps = 0.36 s
    fixed.random = lambda: 0.5  # type: ignore[method-assign]
    assert rtcp_interval(2, 1, True, 100, False, params, fixed) == pytest.approx(0.36 / 1.21828)
    assert rtcp_interval(2, 1, True, 100, False, lo, fixed) == pytest.approx(5.0 / 1.21828)
    assert rtcp_interval(2, 1, True, 100, True, lo, fixed) == pytest.approx(2.5 / 1.21828)
    # many members at low bandwidth: the bandwidth term dominates
    slow = RtcpIntervalParams(session_bandwidth=64_000)
    big = rtcp_interval(1000, 1, False, 100, False, slow, fixed)
    assert big == pytest.approx(100 * 999 / (64_000 * 0.05 / 8 * 0.75) / 1.21828)
    randomised = {rtcp_interval(2, 1, True, 100, False, params, random.Random(s)) for s in range(20)}
    assert min(randomised) >= 0.36 * 0.5 / 1.21828 and max(randomised) <= 0.36 * 1.5 / 1.21828


def test_scheduler_spacing() -> None:
    sch = RtcpScheduler(RtcpIntervalParams(64_000), random.Random(4))
    times = []
    now = 0.0
    while now < 60:
        if sch.due(now):
            times.append(now)
            sch.sent(now, 100)
        now += 0.01
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 8 < len(times) < 40
    assert min(gaps) >= 360 / 64 * 0.5 / 1.21828 - 0.011


def test_outbound_rewrites_shared_encoder_output_per_member() -> None:
    a = OutboundStream(0xA, 0, 8000, sequence_start=65535, timestamp_start=0xFFFFFF00)
    b = OutboundStream(0xB, 0, 8000, sequence_start=100, timestamp_start=5000)
    payload = b"\x7f" * 160
    for k in range(3):
        media_ts = 777_000 + 160 * k  # the shared encoder's clock
        pa = RtpPacket.parse(a.packetize(payload, media_ts, T0 + 0.02 * k, marker=k == 0))
        pb = RtpPacket.parse(b.packetize(payload, media_ts, T0 + 0.02 * k))
        assert pa.payload == pb.payload == payload
        assert (pa.ssrc, pb.ssrc) == (0xA, 0xB)
        assert pa.sequence_number == (65535 + k) & 0xFFFF and pb.sequence_number == 100 + k
        assert pa.timestamp == (0xFFFFFF00 + 160 * k) & 0xFFFFFFFF and pb.timestamp == 5000 + 160 * k
        assert pa.marker == (k == 0)
    sr = a.sender_report(T0 + 0.05)
    assert sr.packet_count == 3 and sr.octet_count == 480
    assert sr.ntp_timestamp == ntp_from_unix(T0 + 0.05)
    assert sr.rtp_timestamp == (0xFFFFFF00 + 320 + 80) & 0xFFFFFFFF  # extrapolated 10 ms


def test_nacked_packets_are_sent_again_as_first_sent() -> None:
    out = OutboundStream(0xAAAA, 96, 90000, sequence_start=65534, timestamp_start=1000, history=4)
    sent = [out.packetize(bytes([i]) * 10, 3000 * i, 0.0, marker=i % 2 == 1) for i in range(6)]
    # 6 packets, seq 65534, 65535, 0, 1, 2, 3: a history of 4 keeps the last four
    again = out.retransmit([0, 65535, 3, 7, 0, 3], now=1.0)
    assert again == [sent[2], sent[5]]  # 65535 fell out of the history; 7 was never sent; no repeats
    assert out.retransmitted == 2 and out.packet_count == 6  # a resend is not a new packet
    assert RtpPacket.parse(again[0]).sequence_number == 0
    assert out.retransmit([0], now=1.05) == []  # the same packet again within 100 ms: not yet
    assert out.retransmit([0], now=1.2) == [sent[2]]
    assert OutboundStream(1, 96, 90000).retransmit([0], now=1.0) == []  # no history: nothing kept


def test_one_nack_cannot_make_us_flood() -> None:
    out = OutboundStream(0xAAAA, 96, 90000, sequence_start=0, history=512)
    for i in range(512):
        out.packetize(b"x" * 1000, 3000 * i, 0.0)
    assert len(out.retransmit(list(range(512)) * 4, now=1.0)) == MAX_RESEND


def test_switch_source_keeps_timeline_continuous() -> None:
    out = OutboundStream(1, 96, 90000, sequence_start=0, timestamp_start=0)
    out.packetize(b"x", 123_456, T0)
    out.switch_source(T0 + 0.1)
    p = RtpPacket.parse(out.packetize(b"y", 9_999_999, T0 + 0.1))
    assert p.timestamp == 9000


def test_session_handles_feedback_and_reports() -> None:
    out = OutboundStream(0xAAAA, 0, 8000, rng=random.Random(1))
    sess = RtpSession(out, cname="mcu@test", rng=random.Random(2))
    for i in range(50):
        sess.receive_rtp(RtpPacket(0, i, 160 * i, 0xBBBB, False, bytes(160)), T0 + 0.02 * i)
    out.packetize(bytes(160), 0, T0)
    sr_from_peer = SenderReport(0xBBBB, ntp_from_unix(T0 + 1), 8000, 50, 8000)
    now = T0 + 1.2
    lsr = ntp_middle32(ntp_from_unix(now - 0.3))
    events = sess.receive_rtcp(
        [
            sr_from_peer,
            ReceiverReport(0xBBBB, [ReportBlock(0xAAAA, lsr=lsr, dlsr=int(0.2 * 65536))]),
            Pli(0xBBBB, 0xAAAA),
            Pli(0xBBBB, 0x1234),  # not for us
            Fir(0xBBBB, [(0xAAAA, 1)]),
            Nack(0xBBBB, 0xAAAA, [5, 6]),
            Tmmbr(0xBBBB, [TmmbItem(0xAAAA, 256_000, 40)]),
            Remb(0xBBBB, 500_000, [0xAAAA]),
        ],
        now,
    )
    assert events[0] == RttMeasured(0xBBBB, pytest.approx(0.1, abs=1e-3))  # type: ignore[arg-type]
    assert events[1:] == [
        KeyframeRequested(0xBBBB, "pli"),
        KeyframeRequested(0xBBBB, "fir"),
        NackReceived(0xBBBB, [5, 6]),
        BitrateLimit(256_000, "tmmbr"),
        BitrateLimit(500_000, "remb"),
    ]
    report = parse_compound(sess.build_report(now + 0.5))
    assert isinstance(report[0], SenderReport) and isinstance(report[1], SourceDescription)
    block = report[0].reports[0]
    assert block.ssrc == 0xBBBB and block.packets_lost == 0 and block.highest_sequence == 49
    assert block.lsr == ntp_middle32(sr_from_peer.ntp_timestamp)
    assert block.dlsr == pytest.approx(0.5 * 65536, abs=2)  # SR arrived 0.5 s before
    assert sess.receive_rtcp([Bye([0xBBBB], b"bye")], now) == [SourceLeft(0xBBBB, "bye")]
    assert isinstance(parse_compound(sess.bye("done"))[1], Bye)


def test_poll_rtcp_follows_interval() -> None:
    out = OutboundStream(1, 0, 8000)
    sess = RtpSession(out, cname="x", params=RtcpIntervalParams(64_000), rng=random.Random(3))
    sent = [t / 100 for t in range(3000) if sess.poll_rtcp(T0 + t / 100) is not None]
    assert 2 <= len(sent) <= 15  # about every 5.6 s x [0.5, 1.5] / 1.22 over 30 s
    assert isinstance(parse_compound(sess.build_report(T0))[0], ReceiverReport)
