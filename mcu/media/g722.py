"""G.722 via PyAV "g722": 16 kHz PCM, 64 kbit/s, RTP clock 8000 (RFC 3551's historical quirk)."""

from __future__ import annotations

import numpy as np

from mcu.media import pcm as _pcm
from mcu.media.base import AudioCodecInfo, AudioDecoder, AudioEncoder

G722_SAMPLE_RATE = 16000
G722_CLOCK_RATE = 8000
G722 = AudioCodecInfo("G722", G722_SAMPLE_RATE, G722_CLOCK_RATE, 1, 9)


class G722Encoder(AudioEncoder):
    info = G722

    def __init__(self) -> None:
        self._ctx = _pcm.open_encoder("g722", G722_SAMPLE_RATE)

    def encode(self, pcm: np.ndarray) -> bytes:
        pcm = _pcm.as_mono_int16(pcm, self.info.frame_samples)
        return _pcm.encode_packets(self._ctx, _pcm.make_frame(pcm, G722_SAMPLE_RATE))


class G722Decoder(AudioDecoder):
    info = G722

    def __init__(self) -> None:
        super().__init__()
        self._ctx = _pcm.open_decoder("g722", G722_SAMPLE_RATE)

    def _decode(self, payload: bytes) -> np.ndarray:
        return _pcm.decode_payload(self._ctx, payload)
