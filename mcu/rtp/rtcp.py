"""RTCP (RFC 3550) with feedback: generic NACK, PLI, FIR (RFC 4585/5104), TMMBR/TMMBN, REMB."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from mcu.rtp.errors import (
    RtcpBadFieldError,
    RtcpBadLengthError,
    RtcpBadPaddingError,
    RtcpBadVersionError,
    RtcpShortPacketError,
)

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204
RTCP_RTPFB = 205
RTCP_PSFB = 206

RTPFB_NACK = 1
RTPFB_TMMBR = 3
RTPFB_TMMBN = 4
PSFB_PLI = 1
PSFB_FIR = 4
PSFB_AFB = 15  # application layer feedback, used by REMB
REMB_IDENTIFIER = b"REMB"

SDES_END = 0
SDES_CNAME = 1
SDES_NAME = 2
SDES_TOOL = 6

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01

_HDR = struct.Struct("!BBH")
_REPORT = struct.Struct("!IIIIII")
_SR = struct.Struct("!IIIIII")
_II = struct.Struct("!II")


def ntp_from_unix(now: float) -> int:
    """64-bit NTP timestamp for a Unix time in seconds."""
    return int((now + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_middle32(ntp: int) -> int:
    return (ntp >> 16) & 0xFFFFFFFF


@dataclass(slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int = 0  # 0..255, fixed point /256
    packets_lost: int = 0  # cumulative, signed 24-bit
    highest_sequence: int = 0  # extended
    jitter: int = 0  # timestamp units
    lsr: int = 0
    dlsr: int = 0  # 1/65536 s

    def serialize(self) -> bytes:
        lost = self.packets_lost
        lost = max(-0x800000, min(0x7FFFFF, lost)) & 0xFFFFFF
        return _REPORT.pack(
            self.ssrc,
            (self.fraction_lost & 0xFF) << 24 | lost,
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.lsr & 0xFFFFFFFF,
            self.dlsr & 0xFFFFFFFF,
        )

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, fl, hs, jit, lsr, dlsr = _REPORT.unpack_from(data, offset)
        lost = fl & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, fl >> 24, lost, hs, jit, lsr, dlsr)


@dataclass(slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)
    profile_extension: bytes = b""


@dataclass(slots=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)
    profile_extension: bytes = b""


@dataclass(slots=True)
class SdesChunk:
    ssrc: int
    items: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass(slots=True)
class SourceDescription:
    chunks: list[SdesChunk] = field(default_factory=list)


@dataclass(slots=True)
class Bye:
    sources: list[int] = field(default_factory=list)
    reason: bytes = b""


@dataclass(slots=True)
class Nack:
    """RTPFB generic NACK; `lost` lists the sequence numbers asked for."""

    sender_ssrc: int
    media_ssrc: int
    lost: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Pli:
    sender_ssrc: int
    media_ssrc: int


@dataclass(slots=True)
class Fir:
    sender_ssrc: int
    entries: list[tuple[int, int]] = field(default_factory=list)  # (ssrc, command seq nr)


@dataclass(slots=True)
class TmmbItem:
    ssrc: int
    bitrate: int  # bit/s
    overhead: int = 0  # bytes per packet


@dataclass(slots=True)
class Tmmbr:
    sender_ssrc: int
    items: list[TmmbItem] = field(default_factory=list)


@dataclass(slots=True)
class Tmmbn:
    sender_ssrc: int
    items: list[TmmbItem] = field(default_factory=list)


@dataclass(slots=True)
class Remb:
    sender_ssrc: int
    bitrate: int
    ssrcs: list[int] = field(default_factory=list)


@dataclass(slots=True)
class UnknownRtcp:
    """Any packet type or feedback format we do not interpret, kept verbatim."""

    packet_type: int
    count: int
    body: bytes


RtcpPacket = (
    SenderReport
    | ReceiverReport
    | SourceDescription
    | Bye
    | Nack
    | Pli
    | Fir
    | Tmmbr
    | Tmmbn
    | Remb
    | UnknownRtcp
)


def _header(count: int, packet_type: int, body_len: int) -> bytes:
    if body_len % 4:
        raise ValueError("RTCP body must be a multiple of 4 bytes")
    return _HDR.pack(0x80 | (count & 0x1F), packet_type, body_len // 4)


def _mantissa_exp(value: int, mantissa_bits: int) -> tuple[int, int]:
    exp = 0
    limit = 1 << mantissa_bits
    while value >= limit:
        value >>= 1
        exp += 1
    return value, exp


def _nack_fci(lost: list[int]) -> bytes:
    out = bytearray()
    seqs = sorted({s & 0xFFFF for s in lost})
    i = 0
    # Keep wrap order: when the set spans the wrap, start after the largest gap.
    if seqs and seqs[-1] - seqs[0] > 0x8000:
        split = max(range(len(seqs)), key=lambda k: (seqs[k] - seqs[k - 1]) & 0xFFFF)
        seqs = seqs[split:] + seqs[:split]
    while i < len(seqs):
        pid = seqs[i]
        blp = 0
        i += 1
        while i < len(seqs):
            d = (seqs[i] - pid) & 0xFFFF
            if not 1 <= d <= 16:
                break
            blp |= 1 << (d - 1)
            i += 1
        out += struct.pack("!HH", pid, blp)
    return bytes(out)


def _tmmb_items(items: list[TmmbItem]) -> bytes:
    out = bytearray()
    for it in items:
        mantissa, exp = _mantissa_exp(it.bitrate, 17)
        out += struct.pack("!II", it.ssrc, exp << 26 | mantissa << 9 | (it.overhead & 0x1FF))
    return bytes(out)


def serialize_packet(packet: RtcpPacket) -> bytes:
    if isinstance(packet, SenderReport):
        body = _SR.pack(
            packet.ssrc,
            packet.ntp_timestamp >> 32,
            packet.ntp_timestamp & 0xFFFFFFFF,
            packet.rtp_timestamp & 0xFFFFFFFF,
            packet.packet_count & 0xFFFFFFFF,
            packet.octet_count & 0xFFFFFFFF,
        )
        body += b"".join(r.serialize() for r in packet.reports) + packet.profile_extension
        return _header(len(packet.reports), RTCP_SR, len(body)) + body
    if isinstance(packet, ReceiverReport):
        body = struct.pack("!I", packet.ssrc)
        body += b"".join(r.serialize() for r in packet.reports) + packet.profile_extension
        return _header(len(packet.reports), RTCP_RR, len(body)) + body
    if isinstance(packet, SourceDescription):
        out = bytearray()
        for chunk in packet.chunks:
            out += struct.pack("!I", chunk.ssrc)
            for item_type, value in chunk.items:
                out += bytes((item_type, len(value))) + value
            out += b"\x00" * (4 - len(out) % 4)  # at least one null terminator
        return _header(len(packet.chunks), RTCP_SDES, len(out)) + bytes(out)
    if isinstance(packet, Bye):
        out = bytearray(b"".join(struct.pack("!I", s) for s in packet.sources))
        if packet.reason:
            out += bytes((len(packet.reason),)) + packet.reason
            out += b"\x00" * (-len(out) % 4)
        return _header(len(packet.sources), RTCP_BYE, len(out)) + bytes(out)
    if isinstance(packet, Nack):
        body = _II.pack(packet.sender_ssrc, packet.media_ssrc) + _nack_fci(packet.lost)
        return _header(RTPFB_NACK, RTCP_RTPFB, len(body)) + body
    if isinstance(packet, Pli):
        body = _II.pack(packet.sender_ssrc, packet.media_ssrc)
        return _header(PSFB_PLI, RTCP_PSFB, len(body)) + body
    if isinstance(packet, Fir):
        body = _II.pack(packet.sender_ssrc, 0) + b"".join(
            struct.pack("!IB3x", ssrc, seq & 0xFF) for ssrc, seq in packet.entries
        )
        return _header(PSFB_FIR, RTCP_PSFB, len(body)) + body
    if isinstance(packet, (Tmmbr, Tmmbn)):
        fmt = RTPFB_TMMBR if isinstance(packet, Tmmbr) else RTPFB_TMMBN
        body = _II.pack(packet.sender_ssrc, 0) + _tmmb_items(packet.items)
        return _header(fmt, RTCP_RTPFB, len(body)) + body
    if isinstance(packet, Remb):
        mantissa, exp = _mantissa_exp(packet.bitrate, 18)
        body = _II.pack(packet.sender_ssrc, 0) + REMB_IDENTIFIER
        body += struct.pack("!I", len(packet.ssrcs) << 24 | exp << 18 | mantissa)
        body += b"".join(struct.pack("!I", s) for s in packet.ssrcs)
        return _header(PSFB_AFB, RTCP_PSFB, len(body)) + body
    if isinstance(packet, UnknownRtcp):
        pad = -len(packet.body) % 4  # a parsed body had its padding removed: pad it again (RFC 3550)
        if not pad:
            return _header(packet.count, packet.packet_type, len(packet.body)) + packet.body
        body = packet.body + bytes(pad - 1) + bytes([pad])
        return _HDR.pack(0xA0 | (packet.count & 0x1F), packet.packet_type, len(body) // 4) + body
    raise TypeError(f"not an RTCP packet: {type(packet).__name__}")


def serialize_compound(packets: list[RtcpPacket]) -> bytes:
    return b"".join(serialize_packet(p) for p in packets)


def _need(body: bytes, size: int, what: str) -> None:
    if len(body) < size:
        raise RtcpShortPacketError(f"{what} needs {size} bytes, has {len(body)}")


def _parse_reports(body: bytes, offset: int, count: int, what: str) -> tuple[list[ReportBlock], int]:
    end = offset + 24 * count
    _need(body, end, what)
    return [ReportBlock.parse(body, offset + 24 * i) for i in range(count)], end


def _parse_one(count: int, pt: int, body: bytes) -> RtcpPacket:
    if pt == RTCP_SR:
        _need(body, 24, "sender report")
        ssrc, ntp_hi, ntp_lo, rtp_ts, pc, oc = _SR.unpack_from(body, 0)
        reports, end = _parse_reports(body, 24, count, "sender report blocks")
        return SenderReport(ssrc, ntp_hi << 32 | ntp_lo, rtp_ts, pc, oc, reports, body[end:])
    if pt == RTCP_RR:
        _need(body, 4, "receiver report")
        (ssrc,) = struct.unpack_from("!I", body, 0)
        reports, end = _parse_reports(body, 4, count, "receiver report blocks")
        return ReceiverReport(ssrc, reports, body[end:])
    if pt == RTCP_SDES:
        chunks = []
        pos = 0
        for _ in range(count):
            _need(body, pos + 4, "SDES chunk")
            (ssrc,) = struct.unpack_from("!I", body, pos)
            pos += 4
            items: list[tuple[int, bytes]] = []
            while True:
                _need(body, pos + 1, "SDES item")
                item_type = body[pos]
                if item_type == SDES_END:
                    pos += 4 - pos % 4  # skip the null and pad to a word
                    break
                _need(body, pos + 2, "SDES item")
                size = body[pos + 1]
                _need(body, pos + 2 + size, "SDES item value")
                items.append((item_type, bytes(body[pos + 2 : pos + 2 + size])))
                pos += 2 + size
            chunks.append(SdesChunk(ssrc, items))
        if pos > len(body):
            raise RtcpBadLengthError("SDES chunk padding overruns the packet")
        return SourceDescription(chunks)
    if pt == RTCP_BYE:
        _need(body, 4 * count, "BYE sources")
        sources = list(struct.unpack_from(f"!{count}I", body, 0))
        reason = b""
        pos = 4 * count
        if pos < len(body):
            size = body[pos]
            _need(body, pos + 1 + size, "BYE reason")
            reason = bytes(body[pos + 1 : pos + 1 + size])
        return Bye(sources, reason)
    if pt in (RTCP_RTPFB, RTCP_PSFB):
        _need(body, 8, "feedback header")
        sender, media = _II.unpack_from(body, 0)
        fci = body[8:]
        if pt == RTCP_RTPFB and count == RTPFB_NACK:
            lost: list[int] = []
            for pos in range(0, len(fci) - 3, 4):
                pid, blp = struct.unpack_from("!HH", fci, pos)
                lost.append(pid)
                lost.extend((pid + i + 1) & 0xFFFF for i in range(16) if blp >> i & 1)
            return Nack(sender, media, lost)
        if pt == RTCP_RTPFB and count in (RTPFB_TMMBR, RTPFB_TMMBN):
            tmmb: list[TmmbItem] = []
            for pos in range(0, len(fci) - 7, 8):
                ssrc, word = _II.unpack_from(fci, pos)
                tmmb.append(TmmbItem(ssrc, ((word >> 9) & 0x1FFFF) << (word >> 26), word & 0x1FF))
            return (Tmmbr if count == RTPFB_TMMBR else Tmmbn)(sender, tmmb)
        if pt == RTCP_PSFB and count == PSFB_PLI:
            return Pli(sender, media)
        if pt == RTCP_PSFB and count == PSFB_FIR:
            entries = []
            for pos in range(0, len(fci) - 7, 8):
                ssrc, word = _II.unpack_from(fci, pos)
                entries.append((ssrc, word >> 24))
            return Fir(sender, entries)
        if pt == RTCP_PSFB and count == PSFB_AFB and fci[:4] == REMB_IDENTIFIER:
            _need(fci, 8, "REMB")
            (word,) = struct.unpack_from("!I", fci, 4)
            num = word >> 24
            _need(fci, 8 + 4 * num, "REMB SSRC list")
            if media != 0:
                raise RtcpBadFieldError("REMB media SSRC must be 0")
            ssrcs = list(struct.unpack_from(f"!{num}I", fci, 8))
            return Remb(sender, (word & 0x3FFFF) << ((word >> 18) & 0x3F), ssrcs)
    return UnknownRtcp(pt, count, bytes(body))


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Parse an RTCP compound packet (or a single packet; reduced-size RTCP is accepted)."""
    if len(data) < 4:
        raise RtcpShortPacketError(f"RTCP packet of {len(data)} bytes is shorter than 4")
    packets: list[RtcpPacket] = []
    pos = 0
    n = len(data)
    while pos < n:
        if pos + 4 > n:
            raise RtcpShortPacketError("trailing bytes after the last RTCP packet")
        b0, pt, words = _HDR.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise RtcpBadVersionError(f"RTCP version {b0 >> 6}, expected 2")
        end = pos + 4 + 4 * words
        if end > n:
            raise RtcpBadLengthError(f"RTCP length {words} words overruns the {n}-byte compound")
        body = data[pos + 4 : end]
        if b0 & 0x20:
            if end != n:
                raise RtcpBadPaddingError("only the last RTCP packet of a compound may pad")
            pad = data[end - 1] if body else 0
            if pad == 0 or pad > len(body):
                raise RtcpBadPaddingError(f"RTCP padding count {pad} is invalid")
            body = body[: len(body) - pad]
        packets.append(_parse_one(b0 & 0x1F, pt, bytes(body)))
        pos = end
    return packets
