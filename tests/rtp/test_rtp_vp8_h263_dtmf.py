from __future__ import annotations

import fractions
import functools

import av
import numpy as np
import pytest

from mcu.rtp.dtmf import DtmfBegin, DtmfEnd, DtmfReceiver, TelephoneEvent, dtmf_packets
from mcu.rtp.errors import FragmentationError, PayloadShortError, PayloadUnsupportedError
from mcu.rtp.h263 import (
    H263Rfc2190Depacketizer,
    H263Rfc2190Payloader,
    H263Rfc4629Depacketizer,
    H263Rfc4629Payloader,
    check_mode_a,
    parse_picture_header,
)
from mcu.rtp.vp8 import Vp8Depacketizer, Vp8Payloader, parse_descriptor

MTU = 1000


def encode(codec: str, count: int, width: int = 352, height: int = 288) -> list[tuple[bytes, bool]]:
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 15)
    ctx.framerate = 15
    ctx.gop_size = 5
    ctx.bit_rate = 400_000
    rng = np.random.default_rng(3)
    out = []
    for i in range(count):
        img = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out.extend((bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame))
    out.extend((bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None))
    return out


@functools.cache
def vp8_frames() -> list[tuple[bytes, bool]]:
    return encode("libvpx", 6)


@functools.cache
def h263_frames(codec: str) -> list[tuple[bytes, bool]]:
    return encode(codec, 6)


# ---- VP8


@pytest.mark.parametrize("payload", [b"", b"\x80", b"\x80\x80", b"\x80\x80\x80", b"\x90"])
def test_vp8_short_descriptors(payload: bytes) -> None:
    with pytest.raises(PayloadShortError):
        parse_descriptor(payload)


def test_vp8_descriptor_fields() -> None:
    d = parse_descriptor(bytes([0x90, 0xF0, 0x81, 0x23, 0x07, 0x65, 0xAA]))
    assert d.start_of_partition and d.partition_id == 0
    assert (d.picture_id, d.tl0_pic_idx, d.tid, d.layer_sync, d.key_idx) == (0x123, 7, 1, True, 5)
    assert d.size == 6


def test_vp8_round_trip_real_libvpx() -> None:
    pay, dep = Vp8Payloader(picture_id=0x7FFE), Vp8Depacketizer()
    for frame, key in vp8_frames():
        payloads = pay.payload(MTU, frame)
        assert all(len(p) <= MTU for p in payloads)
        assert dep.is_partition_head(payloads[0]) and not any(dep.is_partition_head(p) for p in payloads[1:])
        assert dep.assemble(payloads) == frame
        assert dep.is_keyframe(payloads) == key
    assert pay.picture_id == (0x7FFE + len(vp8_frames())) & 0x7FFF  # wrapped


def test_vp8_frame_without_start_is_rejected() -> None:
    payloads = Vp8Payloader().payload(100, bytes(300))
    with pytest.raises(FragmentationError):
        Vp8Depacketizer().assemble(payloads[1:])


# ---- H.263


def test_h263_short_payloads() -> None:
    with pytest.raises(PayloadShortError):
        H263Rfc4629Depacketizer().assemble([b"\x04"])
    with pytest.raises(PayloadShortError):
        H263Rfc4629Depacketizer().assemble([bytes([0x01, 0xF8, 0])])  # PLEN 63 overruns
    with pytest.raises(PayloadShortError):
        H263Rfc2190Depacketizer().assemble([b"\x00\x00\x00"])
    with pytest.raises(PayloadShortError):
        H263Rfc2190Depacketizer().assemble([b"\x80" + bytes(7)])  # mode B header, no data
    with pytest.raises(PayloadUnsupportedError):
        check_mode_a(b"\x80" + bytes(8))


def test_h263_plus_round_trip_real_encoder() -> None:
    pay, dep = H263Rfc4629Payloader(), H263Rfc4629Depacketizer()
    for frame, key in h263_frames("h263p"):
        payloads = pay.payload(MTU, frame)
        assert all(len(p) <= MTU for p in payloads)
        assert dep.is_partition_head(payloads[0])
        assert dep.assemble(payloads) == frame
        assert dep.is_keyframe(payloads) == key


def test_h263_rfc2190_mode_a_round_trip_real_encoder() -> None:
    pay, dep = H263Rfc2190Payloader(), H263Rfc2190Depacketizer()
    for frame, key in h263_frames("h263"):
        info = parse_picture_header(frame)
        assert info is not None and info[0] == 3  # CIF
        payloads = pay.payload(MTU, frame)
        for p in payloads:
            check_mode_a(p)
            assert len(p) <= MTU
            assert (p[1] >> 5) == 3 and bool(p[1] & 0x10) != key  # SRC and I bits
        assert dep.is_partition_head(payloads[0])
        assert dep.assemble(payloads) == frame
        assert dep.is_keyframe(payloads) == key


def test_rfc2190_sbit_ebit_merge() -> None:
    # 0b1010_1xxx | 0bxxxx_x110 -> one byte 0b1010_1110
    first = bytes([0x00 | 3, 0, 0, 0, 0xFF, 0xA8])  # EBIT 3
    second = bytes([5 << 3, 0, 0, 0, 0x06, 0x11])  # SBIT 5
    assert H263Rfc2190Depacketizer().assemble([first, second]) == bytes([0xFF, 0xAE, 0x11])
    with pytest.raises(FragmentationError):
        H263Rfc2190Depacketizer().assemble([first, bytes([0, 0, 0, 0, 1])])


# ---- DTMF (RFC 4733)


def test_telephone_event_short() -> None:
    with pytest.raises(PayloadShortError):
        TelephoneEvent.parse(b"\x01\x8a\x03")


def test_telephone_event_fields_and_round_trip() -> None:
    data = bytes([11, 0x80 | 10, 0x03, 0x20])
    ev = TelephoneEvent.parse(data)
    assert ev == TelephoneEvent(event=11, end=True, volume=10, duration=800)
    assert ev.serialize() == data


def test_digit_reported_once_despite_updates_and_three_end_packets() -> None:
    packets = dtmf_packets("5", 0.2)
    assert packets[0].marker and sum(p.marker for p in packets) == 1
    assert sum(TelephoneEvent.parse(p.payload).end for p in packets) == 3
    rx = DtmfReceiver()
    events = []
    now = 0.0
    for p in packets:
        events += rx.receive(8000, p.payload, now)
        now += 0.05
    assert events == [DtmfBegin("5", 8000), DtmfEnd("5", 8000, 1600, True)]
    assert rx.duplicates == 2
    # a retransmitted end arriving late is still not a second digit
    assert rx.receive(8000, packets[-1].payload, now) == []


def test_two_presses_of_the_same_digit_are_two_events() -> None:
    rx = DtmfReceiver()
    events = []
    for ts in (1000, 5000):
        for p in dtmf_packets("#", 0.1):
            events += rx.receive(ts, p.payload, 0.0)
    assert [e for e in events if isinstance(e, DtmfEnd)] == [DtmfEnd("#", 1000, 800, True), DtmfEnd("#", 5000, 800, True)]


def test_lost_end_packets_close_by_timeout_or_next_event() -> None:
    rx = DtmfReceiver(timeout=0.5)
    start = dtmf_packets("1", 0.2)[0].payload
    assert rx.receive(100, start, 0.0) == [DtmfBegin("1", 100)]
    assert rx.handle_timer(0.3) == []
    assert rx.handle_timer(0.6) == [DtmfEnd("1", 100, 400, False)]
    assert rx.receive(900, dtmf_packets("2", 0.2)[0].payload, 1.0) == [DtmfBegin("2", 900)]
    assert rx.receive(2000, dtmf_packets("3", 0.2)[0].payload, 1.1) == [
        DtmfEnd("2", 900, 400, False),
        DtmfBegin("3", 2000),
    ]
