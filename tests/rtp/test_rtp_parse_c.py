"""The C RTP parse (mcu._rtp.parse_rtp) against its specification, RtpPacket.parse: for random
bytes, for packets we build with every header feature, and for the vectors cut and flipped,
the same packet or the same error class and message."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rtp_fuzz import mutated

from mcu._rtp import parse_rtp
from mcu.rtp.errors import RtpParseError
from mcu.rtp.packet import RtpPacket

MANY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(parse, data: bytes) -> object:  # type: ignore[no-untyped-def]
    try:
        return parse(data)
    except RtpParseError as exc:
        return (type(exc), str(exc), exc.reason)


@st.composite
def packets(draw: st.DrawFn) -> bytes:
    padding = draw(st.integers(0, 8))
    packet = RtpPacket(
        payload_type=draw(st.integers(0, 127)), sequence_number=draw(st.integers(0, 0xFFFF)),
        timestamp=draw(st.integers(0, 0xFFFFFFFF)), ssrc=draw(st.integers(0, 0xFFFFFFFF)),
        marker=draw(st.booleans()), payload=draw(st.binary(max_size=200)),
        csrc=draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=15)),
        extension_profile=draw(st.none() | st.integers(0, 0xFFFF)),
        extension_data=draw(st.binary(max_size=12).map(lambda b: b[: len(b) // 4 * 4])),
        padding=bytes(padding - 1) + bytes([padding]) if padding else b"")
    return packet.serialize()


@MANY
@given(packets())
def test_every_well_formed_packet_parses_the_same(data: bytes) -> None:
    assert parse_rtp(data) == RtpPacket.parse(data)


@MANY
@given(st.one_of(mutated("rtp"), packets().flatmap(
    lambda p: st.tuples(st.integers(0, len(p)), st.integers(0, 255), st.integers(0, len(p)))
    .map(lambda cut: (p[: cut[0]] + bytes([cut[1]]) + p[cut[0] + 1:])[: cut[2]]))))
def test_malformed_and_truncated_packets_fail_the_same(data: bytes) -> None:
    assert outcome(parse_rtp, data) == outcome(RtpPacket.parse, data)


def test_the_edges() -> None:
    for data in (b"", b"\x80" * 11, b"\x40" + bytes(11), b"\x8f" + bytes(11), b"\x90" + bytes(13),
                 b"\x90" + bytes(11) + b"\xbe\xde\x00\x05", b"\xa0" + bytes(11) + b"\x00",
                 b"\xa0" + bytes(11) + b"\x0d", b"\xa0" + bytes(11) + b"\x01"):
        assert outcome(parse_rtp, data) == outcome(RtpPacket.parse, data), data
