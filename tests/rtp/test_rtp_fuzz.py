"""Arbitrary bytes never raise anything but our parse errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcu.rtp.dtmf import DtmfReceiver, TelephoneEvent
from mcu.rtp.errors import MediaParseError, RtcpParseError, RtpParseError
from mcu.rtp.h263 import H263Rfc2190Depacketizer, H263Rfc4629Depacketizer
from mcu.rtp.h264 import H264Depacketizer
from mcu.rtp.jitterbuffer import VideoJitterBuffer
from mcu.rtp.packet import RtpPacket, parse_audio_level, parse_header_extensions
from mcu.rtp.rtcp import parse_compound, serialize_compound
from mcu.rtp.vp8 import Vp8Depacketizer, parse_descriptor

VECTORS = Path(__file__).parent / "vectors"
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def seeds(prefix: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted(VECTORS.glob(f"{prefix}*.bin"))]


def mutated(prefix: str) -> st.SearchStrategy[bytes]:
    """Random bytes, plus vectors with random byte flips and cuts (reach deeper branches)."""

    @st.composite
    def flip(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds(prefix))))
        for _ in range(draw(st.integers(0, 4))):
            if data:
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data[: draw(st.integers(0, len(data)))])

    return st.one_of(st.binary(max_size=300), flip())


@FUZZ
@given(mutated("rtp_"))
def test_rtp_parser(data: bytes) -> None:
    try:
        p = RtpPacket.parse(data)
    except RtpParseError:
        return
    assert bytes(p) == data  # whatever parses, round-trips exactly
    try:
        for ext in p.header_extensions():
            if ext.data:
                parse_audio_level(ext.data)
    except RtpParseError:
        pass


@FUZZ
@given(st.integers(0, 0xFFFF), st.binary(max_size=64))
def test_header_extension_parser(profile: int, data: bytes) -> None:
    try:
        parse_header_extensions(profile, data)
    except RtpParseError:
        pass


@FUZZ
@given(mutated("rtcp_"))
def test_rtcp_parser(data: bytes) -> None:
    try:
        packets = parse_compound(data)
    except RtcpParseError:
        return
    serialize_compound(packets)  # anything parsed can be written back


PAYLOAD_PARSERS: dict[str, Callable[[list[bytes]], object]] = {
    "h264": H264Depacketizer().assemble,
    "vp8": Vp8Depacketizer().assemble,
    "h263+": H263Rfc4629Depacketizer().assemble,
    "h263": H263Rfc2190Depacketizer().assemble,
    "vp8 descriptor": lambda ps: [parse_descriptor(p) for p in ps],
    "telephone-event": lambda ps: [TelephoneEvent.parse(p) for p in ps],
}


@pytest.mark.parametrize("name", list(PAYLOAD_PARSERS))
@FUZZ
@given(payloads=st.lists(st.binary(max_size=40), min_size=1, max_size=5))
def test_payload_parsers(name: str, payloads: list[bytes]) -> None:
    try:
        PAYLOAD_PARSERS[name](payloads)
    except RtpParseError:
        pass


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 3), st.booleans(), st.binary(max_size=12)), max_size=40))
def test_video_buffer_survives_garbage(packets: list[tuple[int, int, bool, bytes]]) -> None:
    jb = VideoJitterBuffer(H264Depacketizer(), nack_wait=0.01)
    now = 0.0
    for seq, ts, marker, payload in packets:
        now += 0.005
        jb.push(RtpPacket(96, seq, ts, 1, marker, payload), now)  # errors become drops
        jb.handle_timer(now)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 3), st.binary(max_size=6)), max_size=20))
def test_dtmf_receiver(packets: list[tuple[int, bytes]]) -> None:
    rx = DtmfReceiver()
    for ts, payload in packets:
        try:
            rx.receive(ts, payload, 0.0)
        except MediaParseError:
            pass
