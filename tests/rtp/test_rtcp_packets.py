from __future__ import annotations

from pathlib import Path

import pytest

from mcu.rtp.errors import (
    RtcpBadLengthError,
    RtcpBadPaddingError,
    RtcpBadVersionError,
    RtcpParseError,
    RtcpShortPacketError,
)
from mcu.rtp.rtcp import (
    SDES_CNAME,
    Bye,
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    SdesChunk,
    SenderReport,
    SourceDescription,
    TmmbItem,
    Tmmbn,
    Tmmbr,
    UnknownRtcp,
    parse_compound,
    serialize_compound,
)

VECTORS = Path(__file__).parent / "vectors"


def vec(name: str) -> bytes:
    return (VECTORS / f"{name}.bin").read_bytes()


@pytest.mark.parametrize("size", range(4))
def test_empty_and_short(size: int) -> None:
    with pytest.raises(RtcpShortPacketError):
        parse_compound(b"\x80\xc8\x00\x06"[:size])


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("rtcp_sr_sdes_truncated", RtcpBadLengthError),
        ("rtcp_sr_sdes_invalid", RtcpBadVersionError),
        ("rtcp_rr_bye_truncated", RtcpBadLengthError),
        ("rtcp_nack_truncated", RtcpBadLengthError),
        ("rtcp_pli_truncated", RtcpBadLengthError),
        ("rtcp_remb_truncated", RtcpBadLengthError),
        ("rtcp_rr_padding_invalid", RtcpBadPaddingError),
    ],
)
def test_bad_vectors(name: str, error: type[RtcpParseError]) -> None:
    with pytest.raises(error):
        parse_compound(vec(name))


def test_feedback_without_media_ssrc_is_short() -> None:
    with pytest.raises(RtcpShortPacketError, match="feedback header"):
        parse_compound(bytes([0x81, 206, 0, 1]) + bytes(4))


def test_report_count_beyond_length_is_short() -> None:
    data = bytes([0x82, 201, 0, 1]) + bytes(4)  # says 2 report blocks, has none
    with pytest.raises(RtcpShortPacketError):
        parse_compound(data)


def test_sr_sdes_fields() -> None:
    sr, sdes = parse_compound(vec("rtcp_sr_sdes"))
    assert isinstance(sr, SenderReport) and isinstance(sdes, SourceDescription)
    assert sr.ssrc == 0xCAFEBABE and sr.ntp_timestamp == 0xE123456789ABCDEF
    assert (sr.rtp_timestamp, sr.packet_count, sr.octet_count) == (160000, 1000, 160000)
    assert sr.reports == [ReportBlock(0x11223344, 25, 3, 0x00011234, 17, 0x89ABCDEF, 0x20000)]
    assert sdes.chunks == [SdesChunk(0xCAFEBABE, [(SDES_CNAME, b"mcu@example")])]


def test_rr_bye_fields_negative_loss() -> None:
    rr, bye = parse_compound(vec("rtcp_rr_bye"))
    assert isinstance(rr, ReceiverReport) and isinstance(bye, Bye)
    assert rr.reports[0].fraction_lost == 255 and rr.reports[0].packets_lost == -1
    assert bye.sources == [0x55667788] and bye.reason == b"hangup"


def test_feedback_fields() -> None:
    assert parse_compound(vec("rtcp_nack")) == [Nack(1, 2, [100, 101, 103])]
    assert parse_compound(vec("rtcp_pli")) == [Pli(1, 2)]
    assert parse_compound(vec("rtcp_fir")) == [Fir(1, [(2, 9)])]
    assert parse_compound(vec("rtcp_tmmbr")) == [Tmmbr(1, [TmmbItem(2, 512000, 40)])]
    assert parse_compound(vec("rtcp_remb")) == [Remb(1, 1_000_000, [2])]


def test_padding_is_stripped() -> None:
    assert parse_compound(vec("rtcp_rr_padding")) == [ReceiverReport(9, [])]


@pytest.mark.parametrize(
    "name", ["rtcp_sr_sdes", "rtcp_rr_bye", "rtcp_nack", "rtcp_pli", "rtcp_fir", "rtcp_tmmbr", "rtcp_remb"]
)
def test_round_trip_byte_exact(name: str) -> None:
    data = vec(name)
    assert serialize_compound(parse_compound(data)) == data


def test_nack_builder_packs_bitmask_and_wrap() -> None:
    lost = [65534, 65535, 0, 1, 40]
    data = serialize_compound([Nack(7, 8, lost)])
    (nack,) = parse_compound(data)
    assert isinstance(nack, Nack)
    assert nack.lost == [65534, 65535, 0, 1, 40]
    assert len(data) == 12 + 8  # two FCI entries: 65534 + blp, and 40


def test_unknown_types_are_kept() -> None:
    app = bytes([0x80, 204, 0, 2]) + b"\x00\x00\x00\x01NAME"
    (pkt,) = parse_compound(app)
    assert pkt == UnknownRtcp(204, 0, b"\x00\x00\x00\x01NAME")
    assert serialize_compound([pkt]) == app


def test_tmmbn_and_large_remb_round_trip() -> None:
    pkts = [Tmmbn(3, [TmmbItem(4, 2_000_000, 28)]), Remb(5, 123_456_789 >> 4 << 4, [6, 7])]
    out = parse_compound(serialize_compound(pkts))
    assert isinstance(out[0], Tmmbn) and out[0].items[0].bitrate == 2_000_000
    assert isinstance(out[1], Remb) and abs(out[1].bitrate - 123_456_784) / 123_456_784 < 1e-4
