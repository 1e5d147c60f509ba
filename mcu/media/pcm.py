"""Shared PyAV plumbing for audio: validating int16 PCM and passing it through a codec context."""

from __future__ import annotations

import av
import numpy as np
from av.audio.frame import AudioFrame

from mcu.media.errors import CorruptAudioError, PcmFormatError

SAMPLE_FORMAT = "s16"


def as_mono_int16(pcm: np.ndarray, expected: int | None = None) -> np.ndarray:
    """Validate 1-D int16 PCM (optionally of an exact length) and return it C-contiguous."""
    if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16 or pcm.ndim != 1:
        got = (getattr(pcm, "dtype", type(pcm)), getattr(pcm, "shape", None))
        raise PcmFormatError(f"expected a 1-D int16 numpy array, got {got}")
    if expected is not None and pcm.size != expected:
        raise PcmFormatError(f"expected {expected} samples (one 20 ms frame), got {pcm.size}")
    return np.ascontiguousarray(pcm)


def make_frame(pcm: np.ndarray, rate: int, layout: str = "mono") -> AudioFrame:
    """An s16 AudioFrame over interleaved PCM of shape (n,) mono or (n, 2) stereo."""
    frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format=SAMPLE_FORMAT, layout=layout)
    frame.sample_rate = rate
    return frame


def open_encoder(codec: str, rate: int, layout: str = "mono", bitrate: int = 0,
                 options: dict[str, str] | None = None) -> av.AudioCodecContext:
    ctx = av.CodecContext.create(codec, "w")
    ctx.sample_rate = rate
    ctx.format = SAMPLE_FORMAT
    ctx.layout = layout
    if bitrate:
        ctx.bit_rate = bitrate
    ctx.options = options or {}
    ctx.open()
    return ctx


def open_decoder(codec: str, rate: int) -> av.AudioCodecContext:
    ctx = av.CodecContext.create(codec, "r")
    ctx.sample_rate = rate
    ctx.layout = "mono"
    ctx.format = SAMPLE_FORMAT  # honoured by decoders that can output s16 (libopus, g722, pcm)
    return ctx


def encode_packets(ctx: av.AudioCodecContext, frame: AudioFrame) -> bytes:
    return b"".join(bytes(p) for p in ctx.encode(frame))


def decode_payload(ctx: av.AudioCodecContext, payload: bytes) -> np.ndarray:
    """Decode one payload to mono int16; PyAV errors become CorruptAudioError."""
    if not payload:
        raise CorruptAudioError("empty audio payload; conceal this frame instead")
    try:
        frames = ctx.decode(av.Packet(payload))
    except av.FFmpegError as exc:
        raise CorruptAudioError(f"{ctx.name} could not decode {len(payload)} bytes: {exc}") from exc
    if not frames:
        return np.zeros(0, dtype=np.int16)
    parts = [_to_mono_int16(f) for f in frames]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _to_mono_int16(frame: AudioFrame) -> np.ndarray:
    arr = frame.to_ndarray()
    if frame.format.name == SAMPLE_FORMAT:
        return arr.reshape(-1)  # mono interleaved: (1, n)
    # planar float from decoders that ignore the s16 request: first row is mono/left
    return np.clip(arr[0] * 32768.0, -32768, 32767).astype(np.int16)
