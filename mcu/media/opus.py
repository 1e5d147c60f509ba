"""Opus via PyAV "libopus": 48 kHz, 20 ms frames, mono or stereo in, mono int16 out.

Lost packets use Opus's own PLC: a packet holding only the last TOC byte with code 0 carries
one zero-length frame, which libopus treats as lost (opus_decode with len 0) and extrapolates."""

from __future__ import annotations

import numpy as np

from mcu.media import pcm as _pcm
from mcu.media.base import AudioCodecInfo, AudioDecoder, AudioEncoder
from mcu.media.errors import CorruptAudioError, PcmFormatError

OPUS_RATE = 48000
OPUS_MONO = AudioCodecInfo("opus", OPUS_RATE, OPUS_RATE, 1, None)
OPUS_STEREO = AudioCodecInfo("opus", OPUS_RATE, OPUS_RATE, 2, None)
DEFAULT_BITRATE = {1: 32_000, 2: 64_000}
TOC_CODE_MASK = 0xFC  # clears the frame-count code: code 0 = one frame


class OpusEncoder(AudioEncoder):
    def __init__(self, channels: int = 1, bitrate: int | None = None,
                 application: str = "voip") -> None:
        if channels not in (1, 2):
            raise PcmFormatError(f"Opus encoder takes 1 or 2 channels, not {channels}")
        self.info = OPUS_MONO if channels == 1 else OPUS_STEREO
        layout = "mono" if channels == 1 else "stereo"
        self._layout = layout
        self._ctx = _pcm.open_encoder(
            "libopus", OPUS_RATE, layout, bitrate or DEFAULT_BITRATE[channels],
            {"application": application, "frame_duration": "20"},
        )

    def encode(self, pcm: np.ndarray) -> bytes:
        """pcm: (960,) mono or (960, 2) interleaved stereo int16; converted to the encoder's layout."""
        n = self.info.frame_samples
        if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16:
            raise PcmFormatError(f"expected int16 PCM, got {getattr(pcm, 'dtype', type(pcm))}")
        if pcm.shape == (n, 2):
            if self.info.channels == 1:
                pcm = ((pcm[:, 0].astype(np.int32) + pcm[:, 1]) // 2).astype(np.int16)
        elif pcm.shape == (n,):
            if self.info.channels == 2:
                pcm = np.repeat(pcm, 2).reshape(n, 2)
        else:
            raise PcmFormatError(f"expected ({n},) or ({n}, 2) samples, got {pcm.shape}")
        pcm = np.ascontiguousarray(pcm)
        return _pcm.encode_packets(self._ctx, _pcm.make_frame(pcm, OPUS_RATE, self._layout))


class OpusDecoder(AudioDecoder):
    info = OPUS_MONO

    def __init__(self) -> None:
        super().__init__()
        self._ctx = _pcm.open_decoder("libopus", OPUS_RATE)
        self._toc: int | None = None

    def _decode(self, payload: bytes) -> np.ndarray:
        out = _pcm.decode_payload(self._ctx, payload)
        self._toc = payload[0]
        return out

    def conceal(self, samples: int) -> np.ndarray:
        if self._toc is None:
            return super().conceal(samples)
        self.concealed += 1
        try:
            out = _pcm.decode_payload(self._ctx, bytes([self._toc & TOC_CODE_MASK]))
        except CorruptAudioError:
            return np.zeros(samples, dtype=np.int16)
        if out.size >= samples:
            return out[:samples]
        return np.concatenate([out, np.zeros(samples - out.size, dtype=np.int16)])
