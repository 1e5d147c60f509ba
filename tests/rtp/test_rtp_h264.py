from __future__ import annotations

import fractions
import functools

import av
import numpy as np
import pytest

from mcu.rtp.errors import (
    FragmentationError,
    NalTooLargeError,
    PayloadParseError,
    PayloadShortError,
)
from mcu.rtp.h264 import (
    FU_END,
    FU_START,
    NAL_TYPE_FU_A,
    NAL_TYPE_IDR,
    NAL_TYPE_STAP_A,
    H264Depacketizer,
    H264Payloader,
    join_annexb,
    split_annexb,
)
from mcu.rtp.jitterbuffer import (
    FrameDropped,
    FrameReady,
    KeyframeRequest,
    NackRequest,
    VideoJitterBuffer,
)
from mcu.rtp.packet import RtpPacket

MTU = 1200
WIDTH, HEIGHT = 320, 240


def encode(count: int, options: dict[str, str], key_at: tuple[int, ...] = ()) -> list[bytes]:
    """Real libx264 access units (Annex B) of generated moving, noisy pictures."""
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 30)
    ctx.framerate = 30
    ctx.options = {"tune": "zerolatency", "preset": "ultrafast", **options}
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    out: list[bytes] = []
    for i in range(count):
        img = np.stack([(xx + 4 * i) % 256, (yy + 2 * i) % 256, (xx + yy) % 256], axis=-1)
        img = (img + rng.integers(0, 60, img.shape)).clip(0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        if i in key_at:
            frame.pict_type = av.video.frame.PictureType.I
        out.extend(bytes(p) for p in ctx.encode(frame))
    out.extend(bytes(p) for p in ctx.encode(None))
    return out


@functools.cache
def mode1_stream() -> tuple[bytes, ...]:
    return tuple(encode(12, {}, key_at=(8,)))


@functools.cache
def mode0_stream() -> tuple[bytes, ...]:
    return tuple(encode(6, {"x264-params": f"slice-max-size={MTU}"}))


def to_packets(payloads_per_frame: list[list[bytes]], ssrc: int = 0x1234, seq0: int = 65500) -> list[RtpPacket]:
    pkts = []
    seq = seq0
    for n, payloads in enumerate(payloads_per_frame):
        ts = (0xFFFFF000 + n * 3000) & 0xFFFFFFFF  # timestamps wrap too
        for i, payload in enumerate(payloads):
            pkts.append(RtpPacket(96, seq & 0xFFFF, ts, ssrc, i == len(payloads) - 1, payload))
            seq += 1
    return pkts


# ---- negative cases first


def test_empty_and_truncated_payloads() -> None:
    d = H264Depacketizer()
    with pytest.raises(PayloadShortError):
        d.nal_units([b""])
    with pytest.raises(PayloadShortError):
        d.nal_units([bytes([NAL_TYPE_FU_A])])
    with pytest.raises(PayloadShortError):
        d.nal_units([bytes([NAL_TYPE_STAP_A, 0x00])])
    with pytest.raises(PayloadShortError):
        d.nal_units([bytes([NAL_TYPE_STAP_A, 0x00, 0x09, 0x65])])


def test_fu_a_without_start_or_end_is_fragmentation_error() -> None:
    d = H264Depacketizer()
    with pytest.raises(FragmentationError):
        d.nal_units([bytes([NAL_TYPE_FU_A, NAL_TYPE_IDR, 1, 2])])  # continuation only
    with pytest.raises(FragmentationError):
        d.nal_units([bytes([NAL_TYPE_FU_A, FU_START | NAL_TYPE_IDR, 1, 2])])  # end lost
    with pytest.raises(FragmentationError):
        d.nal_units(
            [bytes([NAL_TYPE_FU_A, FU_START | NAL_TYPE_IDR, 1]), bytes([0x67, 1])]
        )  # interrupted


def test_mode0_rejects_nal_larger_than_mtu() -> None:
    big = join_annexb([bytes([0x65]) + bytes(range(256)) * 8])
    with pytest.raises(NalTooLargeError, match="slice-max-size"):
        H264Payloader(0).payload(MTU, big)


def test_mode0_rejects_unsliced_libx264_keyframe() -> None:
    with pytest.raises(NalTooLargeError):
        H264Payloader(0).payload(MTU, mode1_stream()[0])


# ---- round trips on real encoder output


def test_mode1_round_trip_real_libx264() -> None:
    pay, dep = H264Payloader(1), H264Depacketizer()
    kinds = set()
    for au in mode1_stream():
        payloads = pay.payload(MTU, au)
        assert all(len(p) <= MTU for p in payloads)
        kinds.update(p[0] & 0x1F for p in payloads)
        out = dep.assemble(payloads)
        assert split_annexb(out) == split_annexb(au)
        assert out == join_annexb(split_annexb(au))
    assert {NAL_TYPE_FU_A, NAL_TYPE_STAP_A} <= kinds  # both aggregation and fragmentation ran


def test_mode0_round_trip_real_libx264_every_nal_fits() -> None:
    pay, dep = H264Payloader(0), H264Depacketizer()
    total = 0
    for au in mode0_stream():
        nals = split_annexb(au)
        assert max(len(n) for n in nals) <= MTU
        payloads = pay.payload(MTU, au)
        assert payloads == nals  # single NAL unit packets only
        assert not any(p[0] & 0x1F in (NAL_TYPE_FU_A, NAL_TYPE_STAP_A) for p in payloads)
        assert split_annexb(dep.assemble(payloads)) == nals
        total += len(nals)
    assert total > len(mode0_stream())  # the encoder really sliced


def test_fu_a_flags() -> None:
    nal = bytes([0x65]) + bytes([0xAB]) * 3000
    payloads = H264Payloader(1).payload(MTU, join_annexb([nal]))
    assert len(payloads) == 3
    assert payloads[0][1] & FU_START and not payloads[0][1] & FU_END
    assert payloads[-1][1] & FU_END and not payloads[-1][1] & FU_START
    assert H264Depacketizer().is_partition_head(payloads[0])
    assert not H264Depacketizer().is_partition_head(payloads[1])


# ---- loss through the video jitter buffer, then a real decoder


def run_buffer(packets: list[RtpPacket], drop: set[int]) -> tuple[list, float]:
    jb = VideoJitterBuffer(H264Depacketizer(), nack_wait=0.1)
    events: list = []
    now = 1000.0
    for i, p in enumerate(packets):
        if i in drop:
            continue
        now += 0.001
        events.extend(jb.push(p, now))
        if p.marker:
            now += 0.033
            events.extend(jb.handle_timer(now))
    now += 1.0
    events.extend(jb.handle_timer(now))
    return events, now


def decode_all(frames: list[bytes]) -> int:
    dec = av.CodecContext.create("h264", "r")
    decoded = 0
    for data in frames:
        for _ in dec.decode(av.Packet(data)):
            decoded += 1
    for _ in dec.decode(None):
        decoded += 1
    return decoded


def test_no_loss_hands_on_every_frame_and_decodes() -> None:
    aus = list(mode1_stream())
    pay = H264Payloader(1)
    packets = to_packets([pay.payload(MTU, au) for au in aus])
    events, _ = run_buffer(packets, set())
    ready = [e for e in events if isinstance(e, FrameReady)]
    assert [split_annexb(e.frame) for e in ready] == [split_annexb(a) for a in aus]
    assert not [e for e in events if isinstance(e, (KeyframeRequest, FrameDropped, NackRequest))]
    assert decode_all([e.frame for e in ready]) == len(aus)


def test_lost_fu_a_fragment_requests_nack_then_keyframe_never_hands_on_corrupt_frame() -> None:
    aus = list(mode1_stream())
    pay = H264Payloader(1)
    per_frame = [pay.payload(MTU, au) for au in aus]
    packets = to_packets(per_frame)
    # drop the middle FU-A fragment of frame 3 (a P frame)
    first_of_frame3 = sum(len(p) for p in per_frame[:3])
    fu_idx = [
        first_of_frame3 + i
        for i, p in enumerate(per_frame[3])
        if p[0] & 0x1F == NAL_TYPE_FU_A and not p[1] & (FU_START | FU_END)
    ]
    assert fu_idx, "frame 3 must be fragmented for this test"
    lost = fu_idx[0]
    events, _ = run_buffer(packets, {lost})
    nacks = [e for e in events if isinstance(e, NackRequest)]
    assert nacks and packets[lost].sequence_number in nacks[0].sequence_numbers
    assert any(isinstance(e, KeyframeRequest) for e in events)
    ready = [e for e in events if isinstance(e, FrameReady)]
    ts_lost = packets[lost].timestamp
    assert ts_lost not in [e.timestamp for e in ready]  # never handed on
    # frames 0..2 pass, 3..7 are dropped (3 broken, 4..7 reference it), keyframe 8.. pass
    assert [e.keyframe for e in ready][:4] == [True, False, False, True]
    assert len(ready) == 3 + (len(aus) - 8)
    dropped = [e for e in events if isinstance(e, FrameDropped)]
    assert {e.reason for e in dropped} >= {"packet lost", "waiting for keyframe"}
    # what was handed on decodes cleanly, frame for frame
    assert decode_all([e.frame for e in ready]) == len(ready)


def test_retransmission_fills_the_hole() -> None:
    aus = list(mode1_stream())[:4]
    pay = H264Payloader(1)
    packets = to_packets([pay.payload(MTU, au) for au in aus])
    jb = VideoJitterBuffer(H264Depacketizer(), nack_wait=0.5)
    now = 5.0
    events: list = []
    held = packets[5]
    for i, p in enumerate(packets):
        if i == 5:
            continue
        now += 0.001
        events.extend(jb.push(p, now))
    assert any(isinstance(e, NackRequest) and held.sequence_number in e.sequence_numbers for e in events)
    events.extend(jb.push(held, now + 0.02))  # the retransmission
    ready = [e for e in events if isinstance(e, FrameReady)]
    assert len(ready) == 4 and not any(isinstance(e, KeyframeRequest) for e in events)


def test_bad_payload_in_complete_frame_is_dropped_not_handed_on() -> None:
    jb = VideoJitterBuffer(H264Depacketizer())
    sps = bytes([0x67, 1, 2])
    events = jb.push(RtpPacket(96, 1, 10, 5, False, sps), 0.0)
    events += jb.push(RtpPacket(96, 2, 10, 5, True, bytes([NAL_TYPE_FU_A, NAL_TYPE_IDR, 9])), 0.0)
    assert not [e for e in events if isinstance(e, FrameReady)]
    assert any(isinstance(e, FrameDropped) and "bad payload" in e.reason for e in events)
    assert issubclass(FragmentationError, PayloadParseError)


def test_mode0_stream_through_buffer_decodes() -> None:
    aus = list(mode0_stream())
    pay = H264Payloader(0)
    packets = to_packets([pay.payload(MTU, au) for au in aus], seq0=10)
    events, _ = run_buffer(packets, set())
    ready = [e for e in events if isinstance(e, FrameReady)]
    assert [split_annexb(e.frame) for e in ready] == [split_annexb(a) for a in aus]
    assert decode_all([e.frame for e in ready]) == len(aus)
