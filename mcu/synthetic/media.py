"""Pre-encoded media cycles (what a synthetic site sends) and receivers (what it records).

Content is static, so each endpoint encodes once and loops: audio is a 1 s cycle of tone and
one of room noise (integer tone frequencies make the cycle seamless); video is a cycle that
starts with an IDR/keyframe followed by inter frames of the same picture. Cycles are cached
by their parameters, so endpoints with the same number and format share one encode.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache

from mcu.media.errors import CorruptAudioError, CorruptVideoError
from mcu.media.frames import I420
from mcu.media.registry import get_audio_codec, get_video_decoder, get_video_encoder
from mcu.rtp.dtmf import DtmfEnd, DtmfReceiver
from mcu.rtp.h264 import H264Depacketizer, H264Payloader
from mcu.rtp.jitterbuffer import FrameReady, KeyframeRequest, VideoJitterBuffer
from mcu.rtp.packet import RtpPacket
from mcu.rtp.payload import Depacketizer
from mcu.rtp.vp8 import Vp8Depacketizer, Vp8Payloader
from mcu.synthetic.identity import YUV
from mcu.synthetic.pictures import make_picture
from mcu.synthetic.sound import AudioRing, noise_samples, tone_samples

AUDIO_CYCLE_FRAMES = 50  # 1 s of 20 ms frames
FRAME_SECONDS = 0.020
VIDEO_MTU = 1200
VIDEO_BITRATE = 600_000
LOSS_RESET_GAP = 1000  # a sequence jump this large is a restarted stream, not loss
CACHE_SIZE = 256


class CodecSetupError(ValueError):
    """The negotiated codec cannot be produced by the synthetic endpoint."""


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class AudioCycle:
    """Payloads of one second of tone and one of noise, and the per-frame timestamp step."""

    tone: tuple[bytes, ...]
    noise: tuple[bytes, ...]
    timestamp_step: int
    sample_rate: int


@lru_cache(maxsize=CACHE_SIZE)
def audio_cycle(codec: str, clock_rate: int, freq: int, seed: int) -> AudioCycle:
    """Encode the cycles twice over with one encoder and keep the second pass, so a stateful
    codec (G.722, Opus) loops from a steady state."""
    info = get_audio_codec(codec, clock_rate)
    rate = info.info.sample_rate
    n = info.info.frame_samples
    total = n * AUDIO_CYCLE_FRAMES
    out = []
    for pcm in (tone_samples(freq, rate, total), noise_samples(total, seed=seed)):
        encoder = info.encoder()
        frames = [pcm[i * n : (i + 1) * n] for i in range(AUDIO_CYCLE_FRAMES)]
        for frame in frames:
            encoder.encode(frame)
        out.append(tuple(encoder.encode(frame) for frame in frames))
    return AudioCycle(out[0], out[1], info.info.frame_timestamp_step, rate)


@dataclass(frozen=True)
class VideoCycle:
    """frames[i] holds the RTP payloads of picture i; frames[0] is a keyframe."""

    frames: tuple[tuple[bytes, ...], ...]
    keyframe: tuple[bool, ...]
    timestamp_step: int  # 90 kHz ticks per picture
    bytes_per_cycle: int


@lru_cache(maxsize=CACHE_SIZE)
def video_cycle(codec: str, width: int, height: int, fps: int, colour: YUV, number: str,
                frames: int, packetization_mode: int = 1) -> VideoCycle:
    """Encode `frames` pictures (IDR first, no other keyframe) and packetize them."""
    name = codec.upper()
    if name not in ("H264", "VP8"):
        raise CodecSetupError(f"synthetic endpoints send H264 or VP8 video, not {codec!r}")
    picture = make_picture(width, height, colour, number)
    options: dict[str, object] = {"keyint": 0}
    if name == "H264":
        options.update(profile="constrained-baseline", packetization_mode=packetization_mode,
                       max_payload_size=VIDEO_MTU)
    encoder = get_video_encoder(name, width, height, fps, VIDEO_BITRATE, **options)
    step = 90000 // fps
    payloads: list[tuple[bytes, ...]] = []
    keys: list[bool] = []
    for i in range(max(1, frames)):
        for encoded in encoder.encode(picture, i * step, force_keyframe=i == 0):
            if name == "H264":
                packer = H264Payloader(packetization_mode)
                payloads.append(tuple(packer.payload_nals(VIDEO_MTU, list(encoded.nals))))
            else:
                payloads.append(tuple(Vp8Payloader(picture_id=None).payload(VIDEO_MTU,
                                                                           encoded.data)))
            keys.append(encoded.keyframe)
    if not keys or not keys[0]:
        raise CodecSetupError(f"{name} encoder did not start the cycle with a keyframe")
    size = sum(len(p) for frame in payloads for p in frame)
    return VideoCycle(tuple(payloads), tuple(keys), step, size)


# --------------------------------------------------------------------------- receiving


def _sequence_gap(last: int | None, seq: int) -> int:
    """Packets missing between `last` and `seq` (0 for in-order, reordered or restarted)."""
    if last is None:
        return 0
    gap = (seq - last - 1) & 0xFFFF
    return gap if gap < LOSS_RESET_GAP else 0


@dataclass
class StreamCounters:
    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    lost: int = 0
    rtcp_in: int = 0
    rtcp_out: int = 0


class _ArrivalCounting:
    """Packet, byte and loss counts shared by the receivers; a new SSRC restarts loss tracking."""

    counters: StreamCounters
    ssrc: int | None
    _last_seq: int | None

    def _count_arrival(self, packet: RtpPacket, size: int) -> None:
        c = self.counters
        c.packets_in += 1
        c.bytes_in += size
        if packet.ssrc != self.ssrc:
            self.ssrc = packet.ssrc
            self._last_seq = None
        c.lost += _sequence_gap(self._last_seq, packet.sequence_number)
        self._last_seq = packet.sequence_number


@dataclass
class AudioReceiver(_ArrivalCounting):
    """Decodes every packet at once (no jitter buffer: loopback) into a ring buffer."""

    codec: str
    clock_rate: int
    payload_type: int
    dtmf_payload_type: int | None
    ring_seconds: float = 10.0
    arrivals_kept: int = 2000
    counters: StreamCounters = field(default_factory=StreamCounters)
    decode_errors: int = 0
    dtmf_digits: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._decoder = get_audio_codec(self.codec, self.clock_rate).decoder()
        self.sample_rate = self._decoder.info.sample_rate
        self.ring = AudioRing(self.sample_rate, self.ring_seconds)
        # (arrival time, RTP timestamp, sequence number) of every voice packet
        self.arrivals: deque[tuple[float, int, int]] = deque(maxlen=self.arrivals_kept)
        self._dtmf = DtmfReceiver()
        self._last_seq: int | None = None
        self.ssrc: int | None = None

    def receive(self, packet: RtpPacket, size: int, now: float) -> None:
        self._count_arrival(packet, size)
        if packet.payload_type == self.dtmf_payload_type:
            self._on_dtmf(self._dtmf.receive(packet.timestamp, packet.payload, now))
            return
        if packet.payload_type != self.payload_type:
            return
        self.arrivals.append((now, packet.timestamp, packet.sequence_number))
        try:
            pcm = self._decoder.decode(packet.payload)
        except CorruptAudioError:
            self.decode_errors += 1
            return
        self.ring.append(pcm, now)

    def handle_timer(self, now: float) -> None:
        self._on_dtmf(self._dtmf.handle_timer(now))

    def _on_dtmf(self, events: list) -> None:  # type: ignore[type-arg]
        for e in events:
            if isinstance(e, DtmfEnd):
                self.dtmf_digits.append(e.digit)


def _depacketizer(codec: str) -> Depacketizer:
    name = codec.upper()
    if name == "H264":
        return H264Depacketizer()
    if name == "VP8":
        return Vp8Depacketizer()
    raise CodecSetupError(f"synthetic endpoints receive H264 or VP8 video, not {codec!r}")


@dataclass
class VideoReceiver(_ArrivalCounting):
    """Assembles frames; decodes them when `decode` is set (else only counts them)."""

    codec: str
    payload_type: int
    decode: bool = True
    frames_kept: int = 3
    counters: StreamCounters = field(default_factory=StreamCounters)
    frames_received: int = 0  # complete access units
    keyframes_received: int = 0
    frames_decoded: int = 0
    decode_errors: int = 0
    frames_dropped: int = 0

    def __post_init__(self) -> None:
        self._buffer = VideoJitterBuffer(_depacketizer(self.codec), nack=False)
        self._decoder = get_video_decoder(self.codec) if self.decode else None
        self.frames: deque[tuple[float, I420]] = deque(maxlen=self.frames_kept)
        self._last_seq: int | None = None
        self.ssrc: int | None = None
        self.first_keyframe_at: float | None = None

    def receive(self, packet: RtpPacket, size: int, now: float) -> bool:
        """Returns True when the sender should be asked for a keyframe."""
        self._count_arrival(packet, size)
        if packet.payload_type != self.payload_type:
            return False
        want_keyframe = False
        for event in self._buffer.push(packet, now):
            if isinstance(event, FrameReady):
                want_keyframe |= self._on_frame(event, now)
            elif isinstance(event, KeyframeRequest):
                want_keyframe = True
        self.frames_dropped = self._buffer.stats.frames_dropped
        return want_keyframe

    def _on_frame(self, event: FrameReady, now: float) -> bool:
        self.frames_received += 1
        if event.keyframe:
            self.keyframes_received += 1
            if self.first_keyframe_at is None:
                self.first_keyframe_at = now
        if self._decoder is None:
            return False
        try:
            pictures = self._decoder.decode(event.frame, event.keyframe)
        except CorruptVideoError:
            self.decode_errors += 1
            return True
        for picture in pictures:
            self.frames_decoded += 1
            self.frames.append((now, picture))
        return False
