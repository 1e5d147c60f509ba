"""pytest-benchmark runs of the sans-I/O hot cores and the remaining kernels.

SIP parse, RTP parse/serialize, audio and video jitter buffers, H.264 packetize/depacketize,
label rendering and blending, audio levels and G.711 decode. Each benchmark checks its
result, so with the project default (``--benchmark-disable``) it still runs once as a test.
Run timed: ``python -m bench micro`` or
``.venv/bin/pytest bench/test_bench_cores.py --benchmark-enable -o addopts=``. Nothing here
asserts a time.
"""

from __future__ import annotations

import numpy as np
import pytest

from mcu import mix
from mcu.layout.labels import render_label
from mcu.rtp.h264 import H264Depacketizer, H264Payloader
from mcu.rtp.jitterbuffer import AudioJitterBuffer, FrameReady, VideoJitterBuffer
from mcu.rtp.packet import RtpPacket
from mcu.sip.message import SipRequest, parse_message

INVITE = (
    "INVITE sip:4100@mcu.example.gov SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Max-Forwards: 70\r\n"
    'From: "UBND tỉnh Hà Nội" <sip:ha-noi@sites.example.net>;tag=1928301774\r\n'
    "To: <sip:4100@mcu.example.gov>\r\n"
    "Call-ID: a84b4c76e66710@pc33.example.net\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:ha-noi@192.0.2.10:5060>\r\n"
    "User-Agent: Cisco-SX80/CE9.15\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE\r\n"
    "Supported: timer, replaces\r\n"
    "Session-Expires: 1800\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: {length}\r\n\r\n{body}"
)
SDP = (
    "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    "m=audio 49170 RTP/AVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    "m=video 49172 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
    "a=fmtp:97 profile-level-id=42e01f;packetization-mode=1\r\na=rtcp-fb:97 nack pli\r\n"
)


def _invite() -> bytes:
    body = SDP.encode()
    return INVITE.format(length=len(body), body=SDP).encode()


def test_bench_sip_parse_invite(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "SIP parse"
    data = _invite()
    msg = benchmark(parse_message, data)
    assert isinstance(msg, SipRequest) and msg.method == "INVITE"
    assert msg.body == SDP.encode()


def test_bench_sip_parse_torture(benchmark) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    benchmark.group = "SIP parse"
    path = Path("/work/shared/testdata/rfc4475/wsinv.dat")
    if not path.exists():
        pytest.fail(f"RFC 4475 vector missing: {path}")
    data = path.read_bytes()
    msg = benchmark(parse_message, data)
    assert isinstance(msg, SipRequest)


def _rtp(seq: int, payload_size: int = 160, marker: bool = False) -> RtpPacket:
    return RtpPacket(payload_type=0, sequence_number=seq & 0xFFFF, timestamp=seq * 160, ssrc=0x1234,
                     marker=marker, payload=bytes(payload_size))


def test_bench_rtp_parse(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "RTP"
    data = _rtp(7).serialize()
    packet = benchmark(RtpPacket.parse, data)
    assert packet.sequence_number == 7 and len(packet.payload) == 160


def test_bench_rtp_serialize(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "RTP"
    packet = _rtp(9)
    data = benchmark(packet.serialize)
    assert RtpPacket.parse(data) == packet


def test_bench_audio_jitter_buffer(benchmark) -> None:  # type: ignore[no-untyped-def]
    """One second of 20 ms packets in, and out again after the buffer's delay."""
    benchmark.group = "jitter buffer"
    payload = bytes(160)

    def run() -> int:
        jb = AudioJitterBuffer(8000)
        out = 0
        for i in range(50):
            now = i * 0.02
            jb.put_raw(0x1234, i, i * 160, payload, now)
            out += jb.pop(now) is not None
        for i in range(50, 60):
            out += jb.pop(i * 0.02) is not None
        return out

    assert benchmark(run) > 0


def _h264_frames() -> list[list[bytes]]:
    """30 access units of RTP payloads from a real libx264 encode (IDR first)."""
    from mcu.media.registry import get_video_encoder
    from mcu.synthetic.identity import yuv_for
    from mcu.synthetic.pictures import make_picture

    enc = get_video_encoder("H264", 640, 360, 30, 600_000, keyint=0)
    pic = make_picture(640, 360, yuv_for(3), "3")
    frames = []
    for i in range(30):
        for encoded in enc.encode(pic, i * 3000, force_keyframe=i == 0):
            frames.append(H264Payloader(1).payload_nals(1200, list(encoded.nals)))
    return frames


@pytest.fixture(scope="module")
def h264_frames() -> list[list[bytes]]:
    return _h264_frames()


def test_bench_video_jitter_buffer(benchmark, h264_frames) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "jitter buffer"
    packets = []
    seq = 0
    for i, frame in enumerate(h264_frames):
        for j, payload in enumerate(frame):
            packets.append(RtpPacket(payload_type=96, sequence_number=seq, timestamp=i * 3000,
                                     ssrc=0x99, marker=j == len(frame) - 1, payload=payload))
            seq += 1

    def run() -> int:
        jb = VideoJitterBuffer(H264Depacketizer(), nack=False)
        return sum(isinstance(e, FrameReady) for k, p in enumerate(packets)
                   for e in jb.push(p, k * 0.001))

    assert benchmark(run) == len(h264_frames)


def test_bench_h264_packetize_720p_idr(benchmark) -> None:  # type: ignore[no-untyped-def]
    from mcu.media.frames import alloc_i420
    from mcu.media.registry import get_video_encoder

    benchmark.group = "H.264 RTP"
    enc = get_video_encoder("H264", 1280, 720, 30, 1_500_000, keyint=0)
    rng = np.random.default_rng(1)
    pic = alloc_i420(1280, 720)
    for plane in pic:
        plane[...] = rng.integers(0, 256, plane.shape, dtype=np.uint8)
    nals = list(enc.encode(pic, 0, force_keyframe=True)[0].nals)
    payloads = benchmark(lambda: H264Payloader(1).payload_nals(1200, nals))
    assert len(payloads) > 1 and all(len(p) <= 1200 for p in payloads)


def test_bench_h264_depacketize(benchmark, h264_frames) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "H.264 RTP"
    frame = max(h264_frames, key=len)
    unit = benchmark(lambda: H264Depacketizer().assemble(list(frame)))
    assert unit.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01"))


@pytest.mark.parametrize("cached", [True, False])
def test_bench_label_render(benchmark, cached: bool) -> None:  # type: ignore[no-untyped-def]
    """Text to coverage mask (PIL); the compositor caches masks, a new name pays the render."""
    from mcu.layout import labels

    benchmark.group = "labels"
    counter = iter(range(10**9))

    def run() -> np.ndarray:
        if not cached:
            labels._render.cache_clear()
        return render_label(f"UBND tỉnh Thừa Thiên Huế {0 if cached else next(counter)}", 24, 400)

    mask = benchmark(run)
    assert mask.shape[0] == 24 and mask.max() > 0


def test_bench_label_blend(benchmark) -> None:  # type: ignore[no-untyped-def]
    from mcu.media.frames import alloc_i420

    benchmark.group = "labels"
    canvas = alloc_i420(1280, 720)
    mask = render_label("UBND tỉnh Thừa Thiên Huế", 24, 400)
    benchmark(mix.blend_mask_i420, canvas, mask, 10, 200, (235, 128, 128))
    assert canvas.y[200:224, 10:10 + mask.shape[1]].max() > 16


def test_bench_audio_levels_100(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "audio kernels"
    frames = np.random.default_rng(0).normal(0, 300, (100, 960)).astype(np.int16)
    levels = benchmark(mix.audio_levels, frames)
    assert len(levels.level) == 100


def test_bench_g711_decode(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "audio kernels"
    codes = np.arange(160, dtype=np.uint8)
    pcm = benchmark(mix.ulaw_decode, codes)
    assert pcm.shape == (160,) and pcm.dtype == np.int16


def test_bench_scale_720p_to_tile(benchmark) -> None:  # type: ignore[no-untyped-def]
    """One decoded 720p picture scaled into a 426x240 tile of a 720p canvas (kernel)."""
    from mcu.media.frames import alloc_i420

    benchmark.group = "video kernels"
    src = alloc_i420(1280, 720, (120, 90, 200))
    canvas = alloc_i420(1280, 720)
    benchmark(mix.scale_i420, src, canvas, (426, 240, 426, 240))
    assert int(canvas.y[300, 500]) == 120 and int(canvas.y[10, 10]) == 0
