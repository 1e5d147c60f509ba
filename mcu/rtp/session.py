"""Per-member RTP session state: inbound statistics, outbound rewriting, RTCP in and out.

Sans-I/O: `now` is wall-clock Unix time in seconds (one clock for NTP and intervals).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcu.rtp.packet import HeaderExtension, RtpPacket
from mcu.rtp.rtcp import (
    SDES_CNAME,
    Bye,
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    RtcpPacket,
    SdesChunk,
    SenderReport,
    SourceDescription,
    Tmmbr,
    ntp_from_unix,
    serialize_compound,
)
from mcu.rtp.stats import ReceiveStatistics, RtcpIntervalParams, RtcpScheduler, round_trip_time

_HEADER = struct.Struct("!BBHII")
MAX_REPORT_BLOCKS = 31
RESEND_INTERVAL = 0.1  # s: a packet is sent again at most this often, whatever the NACKs say
MAX_RESEND = 64  # packets one NACK may have sent again


class OutboundStream:
    """One member's outgoing stream: own SSRC, sequence and timestamp space.

    A shared encoder hands out (payload, media timestamp); each member's OutboundStream maps
    the media timestamp into its own space, so many members can share one encode.

    With `history` > 0 it keeps the last `history` packets (their shared payloads and this
    stream's header fields, not copies) so that a receiver's generic NACK (RFC 4585) can be
    answered by sending the same packets again.
    """

    __slots__ = (
        "_history",
        "_media_base",
        "_resent",
        "_ts_base",
        "clock_rate",
        "last_send_time",
        "last_timestamp",
        "octet_count",
        "packet_count",
        "payload_type",
        "retransmitted",
        "sequence",
        "ssrc",
    )

    def __init__(
        self,
        ssrc: int,
        payload_type: int,
        clock_rate: int,
        sequence_start: int | None = None,
        timestamp_start: int | None = None,
        rng: random.Random | None = None,
        history: int = 0,
    ) -> None:
        r = rng or random.Random()
        self._history: list[tuple[int, int, bool, bytes] | None] | None = [None] * history if history else None
        self._resent = [-1e9] * history  # when each history slot was last sent again
        self.retransmitted = 0
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.sequence = r.getrandbits(16) if sequence_start is None else sequence_start & 0xFFFF
        self._ts_base = r.getrandbits(32) if timestamp_start is None else timestamp_start
        self._media_base: int | None = None
        self.last_timestamp = self._ts_base
        self.last_send_time: float | None = None
        self.packet_count = 0
        self.octet_count = 0

    def timestamp_for(self, media_timestamp: int) -> int:
        if self._media_base is None:
            self._media_base = media_timestamp
        return (self._ts_base + media_timestamp - self._media_base) & 0xFFFFFFFF

    def switch_source(self, now: float) -> None:
        """The next media timestamp comes from another encoder: continue the timeline from
        the time elapsed since the last packet rather than jumping."""
        elapsed = 0.0 if self.last_send_time is None else now - self.last_send_time
        self._ts_base = (self.last_timestamp + round(elapsed * self.clock_rate)) & 0xFFFFFFFF
        self._media_base = None

    def packetize(
        self,
        payload: bytes,
        media_timestamp: int,
        now: float,
        marker: bool = False,
        extensions: list[HeaderExtension] | None = None,
    ) -> bytes:
        """Bytes of the next RTP packet of this stream."""
        ts = self.timestamp_for(media_timestamp)
        seq = self.sequence
        self.sequence = (seq + 1) & 0xFFFF
        self.last_timestamp = ts
        self.last_send_time = now
        self.packet_count += 1
        self.octet_count += len(payload)
        history = self._history
        if history is not None and not extensions:
            slot = seq % len(history)
            history[slot] = (seq, ts, marker, payload)
            self._resent[slot] = -1e9
        if extensions:
            pkt = RtpPacket(self.payload_type, seq, ts, self.ssrc, marker, payload)
            pkt.set_header_extensions(extensions)
            return pkt.serialize()
        b1 = self.payload_type | 0x80 if marker else self.payload_type
        return _HEADER.pack(0x80, b1, seq, ts, self.ssrc) + payload

    def retransmit(self, sequence_numbers: list[int], now: float) -> list[bytes]:
        """The packets a receiver reported lost, as first sent, for those still kept: each at
        most once per RESEND_INTERVAL and at most MAX_RESEND per NACK (a forged or looping NACK
        cannot make us flood)."""
        history = self._history
        out: list[bytes] = []
        if history is None:
            return out
        resent = self._resent
        for seq in dict.fromkeys(sequence_numbers):
            slot = seq % len(history)
            kept = history[slot]
            if kept is None or kept[0] != seq or now - resent[slot] < RESEND_INTERVAL:
                continue
            resent[slot] = now
            _, ts, marker, payload = kept
            b1 = self.payload_type | 0x80 if marker else self.payload_type
            out.append(_HEADER.pack(0x80, b1, seq, ts, self.ssrc) + payload)
            if len(out) == MAX_RESEND:
                break
        self.retransmitted += len(out)
        return out

    def sender_report(self, now: float, reports: list[ReportBlock] | None = None) -> SenderReport:
        rtp_ts = self.last_timestamp
        if self.last_send_time is not None:
            rtp_ts = (rtp_ts + round((now - self.last_send_time) * self.clock_rate)) & 0xFFFFFFFF
        return SenderReport(
            ssrc=self.ssrc,
            ntp_timestamp=ntp_from_unix(now),
            rtp_timestamp=rtp_ts,
            packet_count=self.packet_count,
            octet_count=self.octet_count,
            reports=list(reports or []),
        )


# Events the session reports to its owner (conference layer).


@dataclass(frozen=True, slots=True)
class RttMeasured:
    ssrc: int  # the remote reporter
    rtt: float


@dataclass(frozen=True, slots=True)
class KeyframeRequested:
    """PLI or FIR from the member for our stream."""

    ssrc: int
    kind: str  # "pli" or "fir"


@dataclass(frozen=True, slots=True)
class NackReceived:
    ssrc: int
    sequence_numbers: list[int]


@dataclass(frozen=True, slots=True)
class BitrateLimit:
    """TMMBR or REMB: the member asks us to send at most `bitrate` bit/s."""

    bitrate: int
    kind: str


@dataclass(frozen=True, slots=True)
class SourceLeft:
    ssrc: int
    reason: str


SessionEvent = RttMeasured | KeyframeRequested | NackReceived | BitrateLimit | SourceLeft


@dataclass(slots=True)
class RtpSession:
    """RTCP bookkeeping of one member stream (one local SSRC, any number of remote SSRCs)."""

    outbound: OutboundStream
    cname: str
    params: RtcpIntervalParams = field(default_factory=lambda: RtcpIntervalParams(64_000))
    rng: random.Random = field(default_factory=random.Random)
    inbound: dict[int, ReceiveStatistics] = field(default_factory=dict)
    statistics: Callable[[int, int], Any] = ReceiveStatistics  # the class of `inbound`'s values (or its C port)
    last_rtt: float | None = None
    scheduler: RtcpScheduler | None = None

    def __post_init__(self) -> None:
        if self.scheduler is None:
            self.scheduler = RtcpScheduler(self.params, self.rng)

    def receive_rtp(self, packet: RtpPacket, now: float) -> ReceiveStatistics:
        stats = self.inbound.get(packet.ssrc)
        if stats is None:
            stats = self.inbound[packet.ssrc] = self.statistics(packet.ssrc, self.outbound.clock_rate)
        stats.update(packet.sequence_number, packet.timestamp, len(packet.payload), now)
        return stats

    def receive_rtcp(self, packets: list[RtcpPacket], now: float) -> list[SessionEvent]:
        events: list[SessionEvent] = []
        me = self.outbound.ssrc
        for p in packets:
            if isinstance(p, (SenderReport, ReceiverReport)):
                if isinstance(p, SenderReport) and p.ssrc in self.inbound:
                    self.inbound[p.ssrc].on_sender_report(p.ntp_timestamp, now)
                for block in p.reports:
                    if block.ssrc == me:
                        rtt = round_trip_time(block, now)
                        if rtt is not None:
                            self.last_rtt = rtt
                            events.append(RttMeasured(p.ssrc, rtt))
            elif isinstance(p, Pli) and p.media_ssrc == me:
                events.append(KeyframeRequested(p.sender_ssrc, "pli"))
            elif isinstance(p, Fir) and any(ssrc == me for ssrc, _ in p.entries):
                events.append(KeyframeRequested(p.sender_ssrc, "fir"))
            elif isinstance(p, Nack) and p.media_ssrc == me:
                events.append(NackReceived(p.sender_ssrc, list(p.lost)))
            elif isinstance(p, Tmmbr):
                for item in p.items:
                    if item.ssrc == me:
                        events.append(BitrateLimit(item.bitrate, "tmmbr"))
            elif isinstance(p, Remb) and (not p.ssrcs or me in p.ssrcs):
                events.append(BitrateLimit(p.bitrate, "remb"))
            elif isinstance(p, Bye):
                for ssrc in p.sources:
                    if self.inbound.pop(ssrc, None) is not None:
                        events.append(SourceLeft(ssrc, p.reason.decode("utf-8", "replace")))
        return events

    def report_blocks(self, now: float) -> list[ReportBlock]:
        return [s.report_block(now) for s in self.inbound.values() if s.valid][:MAX_REPORT_BLOCKS]

    def build_report(self, now: float) -> bytes:
        """A compound SR (or RR if we sent nothing) + SDES CNAME."""
        blocks = self.report_blocks(now)
        first: RtcpPacket
        if self.outbound.packet_count:
            first = self.outbound.sender_report(now, blocks)
        else:
            first = ReceiverReport(self.outbound.ssrc, blocks)
        sdes = SourceDescription([SdesChunk(self.outbound.ssrc, [(SDES_CNAME, self.cname.encode())])])
        return serialize_compound([first, sdes])

    def poll_rtcp(self, now: float) -> bytes | None:
        """The compound report if one is due now (RFC 3550 A.7 interval), else None."""
        assert self.scheduler is not None
        self.scheduler.members = 1 + len(self.inbound)
        self.scheduler.senders = (1 if self.outbound.packet_count else 0) + len(self.inbound)
        self.scheduler.we_sent = self.outbound.packet_count > 0
        if not self.scheduler.due(now):
            return None
        data = self.build_report(now)
        self.scheduler.sent(now, len(data) + 28)  # + IP/UDP headers, as A.7 counts them
        return data

    def bye(self, reason: str = "") -> bytes:
        blocks: list[RtcpPacket] = [ReceiverReport(self.outbound.ssrc, [])]
        blocks.append(Bye([self.outbound.ssrc], reason.encode()))
        return serialize_compound(blocks)
