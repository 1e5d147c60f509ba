from __future__ import annotations

from pathlib import Path

import pytest

from mcu.rtp.errors import (
    RtpBadExtensionLengthError,
    RtpBadPaddingError,
    RtpBadVersionError,
    RtpParseError,
    RtpShortPacketError,
)
from mcu.rtp.packet import (
    EXTENSION_PROFILE_ONE_BYTE,
    AudioLevel,
    HeaderExtension,
    RtpPacket,
    build_audio_level,
    build_header_extensions,
    is_rtcp,
    parse_audio_level,
    parse_header_extensions,
)

VECTORS = Path(__file__).parent / "vectors"


def vec(name: str) -> bytes:
    return (VECTORS / f"{name}.bin").read_bytes()


# ---- negative cases first


@pytest.mark.parametrize("size", range(12))
def test_empty_and_short_headers_raise_short_packet(size: int) -> None:
    with pytest.raises(RtpShortPacketError) as info:
        RtpPacket.parse(bytes([0x80]) * size)
    assert info.value.reason == "short packet"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("rtp_basic_truncated", RtpShortPacketError),
        ("rtp_basic_invalid", RtpBadVersionError),
        ("rtp_csrc_ext_padding_truncated", RtpBadExtensionLengthError),
        ("rtp_csrc_ext_padding_invalid", RtpBadPaddingError),
        ("rtp_ext_two_byte_invalid", RtpBadExtensionLengthError),
        ("rtp_ext_two_byte_truncated", RtpShortPacketError),
    ],
)
def test_bad_vectors_raise_named_errors(name: str, error: type[RtpParseError]) -> None:
    with pytest.raises(error):
        RtpPacket.parse(vec(name))


def test_csrc_count_beyond_packet_is_short() -> None:
    data = bytes([0x8F, 0, 0, 1]) + bytes(8) + bytes(8)  # 15 CSRCs, 2 present
    with pytest.raises(RtpShortPacketError):
        RtpPacket.parse(data)


def test_zero_padding_count_is_bad_padding() -> None:
    data = bytes([0xA0, 0, 0, 1]) + bytes(8) + b"ab\x00"
    with pytest.raises(RtpBadPaddingError):
        RtpPacket.parse(data)


# ---- field checks


def test_basic_fields() -> None:
    p = RtpPacket.parse(vec("rtp_basic"))
    assert (p.payload_type, p.sequence_number, p.timestamp, p.ssrc) == (
        0,
        0x1234,
        0xDEADBEEF,
        0x11223344,
    )
    assert p.marker is False and p.csrc == [] and p.extension_profile is None
    assert p.payload == bytes(range(160)) and p.padding == b""


def test_csrc_extension_padding_fields() -> None:
    p = RtpPacket.parse(vec("rtp_csrc_ext_padding"))
    assert p.marker and p.payload_type == 96
    assert p.sequence_number == 65535 and p.timestamp == 0xFFFFFFFF
    assert p.csrc == [0x01020304, 0x05060708]
    assert p.extension_profile == EXTENSION_PROFILE_ONE_BYTE
    exts = p.header_extensions()
    assert exts == [HeaderExtension(1, bytes([0x80 | 42])), HeaderExtension(2, b"\xaa\xbb")]
    assert parse_audio_level(exts[0].data) == AudioLevel(level=42, voice=True)
    assert p.payload == b"payload!" and len(p.padding) == 4


def test_two_byte_extension_fields() -> None:
    p = RtpPacket.parse(vec("rtp_ext_two_byte"))
    assert p.header_extensions() == [HeaderExtension(200, b"\x01\x02\x03"), HeaderExtension(5, b"")]
    assert p.get_extension(200) == b"\x01\x02\x03" and p.get_extension(7) is None
    assert p.payload == b"opus"


# ---- byte-exact round trips


@pytest.mark.parametrize("name", ["rtp_basic", "rtp_csrc_ext_padding", "rtp_ext_two_byte"])
def test_vectors_round_trip_byte_exact(name: str) -> None:
    data = vec(name)
    assert bytes(RtpPacket.parse(data)) == data


def test_build_one_byte_extensions_matches_vector() -> None:
    profile, data = build_header_extensions(
        [HeaderExtension(1, build_audio_level(42, True)), HeaderExtension(2, b"\xaa\xbb")]
    )
    assert profile == EXTENSION_PROFILE_ONE_BYTE
    assert data == bytes([0x10, 0x80 | 42, 0x21, 0xAA, 0xBB, 0, 0, 0])


def test_build_falls_back_to_two_byte_for_large_ids_and_empty_data() -> None:
    profile, data = build_header_extensions([HeaderExtension(200, b"\x01\x02\x03"), HeaderExtension(5, b"")])
    assert profile == 0x1000
    assert parse_header_extensions(profile, data) == [
        HeaderExtension(200, b"\x01\x02\x03"),
        HeaderExtension(5, b""),
    ]


def test_set_header_extensions_round_trip() -> None:
    p = RtpPacket(payload_type=0, sequence_number=1, timestamp=2, ssrc=3, payload=b"x")
    p.set_header_extensions([HeaderExtension(3, build_audio_level(127, False))])
    q = RtpPacket.parse(p.serialize())
    assert parse_audio_level(q.get_extension(3) or b"") == AudioLevel(127, False)


def test_audio_level_out_of_range() -> None:
    with pytest.raises(ValueError, match="outside 0..127"):
        build_audio_level(128, True)


def test_one_byte_stop_id_ends_parsing() -> None:
    assert parse_header_extensions(EXTENSION_PROFILE_ONE_BYTE, bytes([0x10, 1, 0xF0, 0x21])) == [
        HeaderExtension(1, b"\x01")
    ]


def test_rtcp_mux_demultiplexing() -> None:
    assert is_rtcp(vec("rtcp_sr_sdes"))
    assert not is_rtcp(vec("rtp_basic"))
    assert not is_rtcp(vec("rtp_csrc_ext_padding"))  # marker + PT 96 = 224, not RTCP
