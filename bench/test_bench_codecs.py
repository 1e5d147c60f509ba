"""Unit costs of the codec layer for the view planner.

Run: .venv/bin/pytest bench/test_bench_codecs.py --benchmark-enable -q
Prints a summary: median cost per call and its ratio to the 720p H.264 ultrafast encode
measured in the same run (absolute figures move 20-30% run to run on this box)."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from mcu.media import Resampler, get_audio_codec, get_video_decoder, get_video_encoder
from mcu.media.frames import I420, planes_to_frame
from tests.media.media_helpers import moving_picture, tone

REFERENCE = "h264 720p ultrafast encode"
RESULTS: dict[str, float] = {}
ROUNDS_VIDEO = 60
ROUNDS_AUDIO = 2000


@pytest.fixture(scope="module", autouse=True)
def summary(request):
    yield
    if not RESULTS:
        _say(request, "codec bench: run with --benchmark-enable for figures")
        return
    ref = RESULTS.get(REFERENCE)
    lines = ["", f"codec unit costs (median per call; ratio to '{REFERENCE}')"]
    for name, seconds in RESULTS.items():
        ratio = f"{seconds / ref:8.4f}x" if ref else ""
        unit = f"{seconds * 1e3:9.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:9.1f} us"
        lines.append(f"  {name:42s} {unit} {ratio}")
    _say(request, "\n".join(lines))


def _say(request, text: str) -> None:
    """Print past pytest's output capture (works without -s)."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    with capture.global_and_fixture_disabled():
        reporter.write_line(text)


def _record(benchmark, name: str) -> None:
    if benchmark.stats is not None:
        RESULTS[name] = benchmark.stats.stats.median


def _pictures(width: int, height: int, count: int = 30) -> list[I420]:
    """Camera-like content: a detailed texture panning 2 px per frame plus sensor noise, so
    encoders do real motion search and residual coding (a static test card is unrealistically
    cheap)."""
    rng = np.random.default_rng(1)
    coarse = rng.integers(0, 256, (height // 8 + 1, (width + 2 * count) // 8 + 1), dtype=np.uint8)
    texture = np.kron(coarse, np.ones((8, 8), dtype=np.uint8))
    out = []
    for i in range(count):
        planes = moving_picture(width, height, i)
        pan = texture[:height, 2 * i : 2 * i + width].astype(np.int16)
        noise = rng.integers(-3, 4, (height, width), dtype=np.int16)
        planes.y[...] = np.clip((planes.y.astype(np.int16) + pan) // 2 + noise, 0, 255)
        out.append(planes)
    return out


VIDEO_ENCODES = [
    ("h264 720p ultrafast encode", "H264", 1280, 720, 2_500_000, {"preset": "ultrafast"}),
    ("h264 720p superfast encode", "H264", 1280, 720, 2_500_000, {"preset": "superfast"}),
    (
        "h264 720p ultrafast mode0 encode",
        "H264",
        1280,
        720,
        2_500_000,
        {"preset": "ultrafast", "packetization_mode": 0, "profile": "constrained-baseline"},
    ),
    ("h264 360p ultrafast encode", "H264", 640, 360, 800_000, {"preset": "ultrafast"}),
    ("vp8 720p realtime encode", "VP8", 1280, 720, 2_500_000, {}),
    ("vp8 360p realtime encode", "VP8", 640, 360, 800_000, {}),
    ("h263+ 360p encode", "H263-1998", 640, 360, 800_000, {}),
    ("h263 CIF encode", "H263", 352, 288, 512_000, {}),
]


@pytest.mark.parametrize(
    "name,codec,width,height,bitrate,options", VIDEO_ENCODES, ids=[v[0] for v in VIDEO_ENCODES]
)
def test_video_encode(benchmark, name, codec, width, height, bitrate, options):
    enc = get_video_encoder(codec, width, height, 30, bitrate, keyint=300, **options)
    frames = itertools.cycle(_pictures(width, height))
    pts = itertools.count(0, 3000)
    out = benchmark.pedantic(
        lambda: enc.encode(next(frames), next(pts)), rounds=ROUNDS_VIDEO, warmup_rounds=5
    )
    assert out and out[0].data
    _record(benchmark, name)


@pytest.mark.parametrize("width,height,bitrate", [(640, 360, 1_500_000), (1280, 720, 1_500_000)])
def test_h264_decode(benchmark, width, height, bitrate):
    enc = get_video_encoder(
        "H264", width, height, 30, bitrate, keyint=60, profile="constrained-baseline"
    )
    units = [enc.encode(p, i)[0].data for i, p in enumerate(_pictures(width, height, 60))]
    dec = get_video_decoder("H264")
    stream = itertools.cycle(units)
    out = benchmark.pedantic(lambda: dec.decode(next(stream)), rounds=120, warmup_rounds=5)
    assert len(out) == 1
    _record(benchmark, f"h264 {height}p decode ({bitrate // 1000} kbit/s)")


@pytest.mark.parametrize("zero_copy", [True, False], ids=["zero-copy", "copy"])
def test_planes_to_frame_720p(benchmark, zero_copy):
    planes = moving_picture(1280, 720, 0)
    frame = benchmark(planes_to_frame, planes, zero_copy)
    assert frame.width == 1280
    _record(benchmark, f"planes->VideoFrame 720p {'zero-copy' if zero_copy else 'copy'}")


@pytest.mark.parametrize(
    "codec,rate", [("PCMU", 8000), ("PCMA", 8000), ("G722", 8000), ("opus", 48000)]
)
def test_audio_encode_20ms(benchmark, codec, rate):
    enc = get_audio_codec(codec, rate).encoder()
    pcm = tone(440, enc.info.sample_rate, enc.info.frame_samples)
    payload = benchmark.pedantic(enc.encode, (pcm,), rounds=ROUNDS_AUDIO, warmup_rounds=10)
    assert payload
    _record(benchmark, f"{codec} encode 20 ms")


@pytest.mark.parametrize("codec,rate", [("PCMU", 8000), ("G722", 8000), ("opus", 48000)])
def test_audio_decode_20ms(benchmark, codec, rate):
    c = get_audio_codec(codec, rate)
    enc, dec = c.encoder(), c.decoder()
    payloads = itertools.cycle(
        [
            enc.encode(
                tone(440, c.info.sample_rate, c.info.frame_samples, start=i * c.info.frame_samples)
            )
            for i in range(50)
        ]
    )
    pcm = benchmark.pedantic(
        lambda: dec.decode(next(payloads)), rounds=ROUNDS_AUDIO, warmup_rounds=10
    )
    assert pcm.size
    _record(benchmark, f"{codec} decode 20 ms")


@pytest.mark.parametrize(
    "from_rate,to_rate", [(8000, 48000), (16000, 48000), (48000, 8000), (48000, 16000)]
)
def test_resample_20ms(benchmark, from_rate, to_rate):
    r = Resampler(from_rate, to_rate)
    pcm = tone(440, from_rate, r.in_samples)
    out = benchmark.pedantic(r.process, (pcm,), rounds=ROUNDS_AUDIO, warmup_rounds=10)
    assert out.size == r.out_samples
    _record(benchmark, f"resample {from_rate // 1000}k->{to_rate // 1000}k 20 ms")


def test_two_encoder_threads_speedup(request):
    """Parallelism across single-threaded encoders: PyAV releases the GIL inside libx264."""
    pictures = _pictures(1280, 720, 10)
    frames = 40

    def run(enc) -> None:
        for i in range(frames):
            enc.encode(pictures[i % len(pictures)], i)

    def make():
        return get_video_encoder("H264", 1280, 720, 30, 2_500_000, threads=1)

    a, b = make(), make()
    t0 = time.perf_counter()
    run(a)
    run(b)
    serial = time.perf_counter() - t0
    a, b = make(), make()
    threads = [threading.Thread(target=run, args=(enc,)) for enc in (a, b)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    parallel = time.perf_counter() - t0
    assert a.frames_in == b.frames_in == frames
    speedup = serial / parallel
    _say(request, f"\n2 x 720p encoders on 2 threads: {speedup:.2f}x the serial rate")
    assert np.isfinite(speedup)
