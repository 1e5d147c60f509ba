"""Small abstract bases shared by every codec wrapper (aiortc style) and the values they return.

Each codec object is meant to be driven by ONE thread at a time (PyAV releases the GIL inside
libavcodec, so parallelism comes from running different codec objects on different threads)."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from mcu.media.errors import CorruptAudioError
from mcu.media.frames import I420

FRAME_MS = 20
# Repeat-and-fade concealment: each further lost frame is attenuated by this factor; after
# CONCEAL_MAX_REPEATS lost frames in a row the output is silence.
CONCEAL_FADE = 0.5
CONCEAL_MAX_REPEATS = 3


@dataclass(frozen=True)
class AudioCodecInfo:
    """What the rest of the MCU needs to know about an audio codec."""

    name: str  # RTP encoding name as in SDP: "PCMU", "PCMA", "G722", "opus"
    sample_rate: int  # rate of the PCM the codec consumes/produces
    clock_rate: int  # RTP timestamp clock (G.722: 8000 although it samples at 16 kHz)
    channels: int  # channels of the PCM fed to the encoder
    static_payload_type: int | None  # RFC 3551 static PT, None for dynamic

    @property
    def frame_samples(self) -> int:
        """PCM samples (per channel) in one 20 ms frame."""
        return self.sample_rate * FRAME_MS // 1000

    @property
    def frame_timestamp_step(self) -> int:
        """RTP timestamp increment per 20 ms frame."""
        return self.clock_rate * FRAME_MS // 1000


class AudioEncoder(abc.ABC):
    info: AudioCodecInfo

    @abc.abstractmethod
    def encode(self, pcm: np.ndarray) -> bytes:
        """Encode one 20 ms frame of int16 PCM at info.sample_rate into one RTP payload."""


class AudioDecoder(abc.ABC):
    """Decodes RTP payloads to mono int16 at info.sample_rate; conceal() fills a lost frame."""

    info: AudioCodecInfo

    def __init__(self) -> None:
        self._last = np.zeros(0, dtype=np.int16)
        self._lost_in_row = 0
        self.errors = 0  # payloads that failed to decode
        self.concealed = 0  # frames produced by conceal()

    def decode(self, payload: bytes) -> np.ndarray:
        """Decode one payload to mono int16; raises CorruptAudioError (counted) if it cannot."""
        try:
            pcm = self._decode(payload)
        except CorruptAudioError:
            self.errors += 1
            raise
        self._last = pcm
        self._lost_in_row = 0
        return pcm

    @abc.abstractmethod
    def _decode(self, payload: bytes) -> np.ndarray:
        """Codec-specific decode; raise CorruptAudioError on bad input."""

    def conceal(self, samples: int) -> np.ndarray:
        """Stand-in for a lost frame of `samples` samples: the last good frame repeated with a fade,
        silence after a few losses in a row (codecs with their own PLC override this)."""
        self.concealed += 1
        self._lost_in_row += 1
        if self._lost_in_row > CONCEAL_MAX_REPEATS or self._last.size == 0:
            return np.zeros(samples, dtype=np.int16)
        reps = -(-samples // self._last.size)
        src = np.tile(self._last, reps)[:samples].astype(np.float32)
        start = CONCEAL_FADE ** (self._lost_in_row - 1)
        ramp = np.linspace(start, start * CONCEAL_FADE, samples, dtype=np.float32)
        return (src * ramp).astype(np.int16)


@dataclass(frozen=True)
class EncodedFrame:
    """One encoded picture. `data` is what the codec produced (Annex-B for H.264); `nals` holds
    the H.264 NAL units without start codes (empty for other codecs)."""

    data: bytes
    pts: int  # the caller's pts (90 kHz RTP clock by convention)
    keyframe: bool
    nals: tuple[bytes, ...] = field(default=())


@dataclass(frozen=True)
class VideoEncoderConfig:
    """Everything that makes two encoders produce the same stream; hashable, so it can key the
    shared-encoder table (one encoder per distinct view)."""

    codec: str  # "H264", "VP8", "H263-1998", "H263"
    width: int
    height: int
    fps: int = 30
    bitrate: int = 1_500_000  # bit/s
    keyint: int = 300  # frames between periodic keyframes; 0 = only on demand
    preset: str = "ultrafast"  # libx264 preset; VP8 maps it to a cpu-used speed
    profile: str | None = None  # H.264: "constrained-baseline", "baseline", "main", "high"
    level: str | None = None  # H.264 level such as "3.1"
    packetization_mode: int = 1  # H.264: 0 caps every NAL at max_payload_size
    max_payload_size: int = 1200  # bytes: H.264 mode-0 NAL cap, H.263 GOB/slice target
    threads: int = 1  # codec threads; we want 1 and parallelism across encoders


class VideoEncoder(abc.ABC):
    config: VideoEncoderConfig

    @abc.abstractmethod
    def encode(self, planes: I420, pts: int, force_keyframe: bool = False) -> list[EncodedFrame]:
        """Encode one picture; returns the encoded frames now available (zero or one here)."""


class VideoDecoder(abc.ABC):
    @abc.abstractmethod
    def decode(self, access_unit: bytes, keyframe_hint: bool | None = None) -> list[I420]:
        """Decode one access unit; raises CorruptVideoError (counted) if it is not decodable."""
