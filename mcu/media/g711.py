"""G.711 mu-law (PCMU) and A-law (PCMA), 8 kHz.

Uses the Cython kernels in mcu.mix when they are importable, else PyAV's pcm_mulaw/pcm_alaw;
both are bit-exact (tests compare them over every input value)."""

from __future__ import annotations

import numpy as np

from mcu.media import pcm as _pcm
from mcu.media.base import AudioCodecInfo, AudioDecoder, AudioEncoder
from mcu.media.errors import CorruptAudioError

try:  # the single switch between kernel and PyAV paths
    from mcu.mix import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
except ImportError:  # kernels not built yet: PyAV fallback
    ulaw_encode = ulaw_decode = alaw_encode = alaw_decode = None  # type: ignore[assignment]

KERNELS_AVAILABLE = ulaw_encode is not None

G711_RATE = 8000
PCMU = AudioCodecInfo("PCMU", G711_RATE, G711_RATE, 1, 0)
PCMA = AudioCodecInfo("PCMA", G711_RATE, G711_RATE, 1, 8)
_AV_CODEC = {"PCMU": "pcm_mulaw", "PCMA": "pcm_alaw"}


def _kernels(name: str) -> tuple:
    return (ulaw_encode, ulaw_decode) if name == "PCMU" else (alaw_encode, alaw_decode)


class G711Encoder(AudioEncoder):
    def __init__(self, info: AudioCodecInfo, use_kernels: bool | None = None) -> None:
        """use_kernels: None = kernels if available; False forces the PyAV path."""
        self.info = info
        self.uses_kernels = KERNELS_AVAILABLE if use_kernels is None else use_kernels
        if self.uses_kernels:
            self._kernel = _kernels(info.name)[0]
        else:
            self._ctx = _pcm.open_encoder(_AV_CODEC[info.name], G711_RATE)

    def encode(self, pcm: np.ndarray) -> bytes:
        pcm = _pcm.as_mono_int16(pcm)  # G.711 has no framing: any length is valid
        if self.uses_kernels:
            return bytes(np.asarray(self._kernel(pcm), dtype=np.uint8))
        return _pcm.encode_packets(self._ctx, _pcm.make_frame(pcm, G711_RATE))


class G711Decoder(AudioDecoder):
    def __init__(self, info: AudioCodecInfo, use_kernels: bool | None = None) -> None:
        super().__init__()
        self.info = info
        self.uses_kernels = KERNELS_AVAILABLE if use_kernels is None else use_kernels
        if self.uses_kernels:
            self._kernel = _kernels(info.name)[1]
        else:
            self._ctx = _pcm.open_decoder(_AV_CODEC[info.name], G711_RATE)

    def _decode(self, payload: bytes) -> np.ndarray:
        if not payload:
            raise CorruptAudioError("empty G.711 payload; conceal this frame instead")
        if self.uses_kernels:
            out = np.asarray(self._kernel(np.frombuffer(payload, dtype=np.uint8)), dtype=np.int16)
        else:
            out = _pcm.decode_payload(self._ctx, payload)
        return out
