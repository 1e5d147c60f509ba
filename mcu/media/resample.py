"""Stateful mono int16 resampling between the 8, 16 and 48 kHz members and the room rate.

Wraps av.AudioResampler (libswresample), which keeps its filter state across calls, so a stream
resampled 20 ms at a time is continuous. swresample holds back a few samples as filter delay;
the first call is padded with leading zeros so every call returns exactly one output frame,
which is what the 20 ms mix tick needs."""

from __future__ import annotations

import av
import numpy as np

from mcu.media import pcm as _pcm
from mcu.media.base import FRAME_MS
from mcu.media.errors import PcmFormatError

SUPPORTED_RATES = (8000, 16000, 32000, 48000)


class Resampler:
    def __init__(self, from_rate: int, to_rate: int, frame_ms: int = FRAME_MS) -> None:
        for rate in (from_rate, to_rate):
            if rate not in SUPPORTED_RATES:
                raise PcmFormatError(f"unsupported sample rate {rate}; use one of {SUPPORTED_RATES}")
        self.from_rate = from_rate
        self.to_rate = to_rate
        self.in_samples = from_rate * frame_ms // 1000
        self.out_samples = to_rate * frame_ms // 1000
        self._av = None if from_rate == to_rate else av.AudioResampler(
            format=_pcm.SAMPLE_FORMAT, layout="mono", rate=to_rate)
        self._pending = np.zeros(0, dtype=np.int16)
        self._primed = False
        self.delay_samples = 0  # output samples of latency added by priming (filter delay)
        self.underruns = 0  # calls that had to be padded after priming (should stay 0)

    def process(self, pcm: np.ndarray) -> np.ndarray:
        """Resample one frame (in_samples int16) into exactly out_samples int16."""
        pcm = _pcm.as_mono_int16(pcm, self.in_samples)
        if self._av is None:
            return pcm
        out = [self._pending]
        for frame in self._av.resample(_pcm.make_frame(pcm, self.from_rate)):
            out.append(frame.to_ndarray().reshape(-1))
        data = np.concatenate(out)
        n = self.out_samples
        if data.size < n:
            pad = np.zeros(n - data.size, dtype=np.int16)
            if self._primed:
                self.underruns += 1
                data = np.concatenate([data, pad])
            else:
                self.delay_samples = pad.size
                data = np.concatenate([pad, data])
        self._primed = True
        self._pending = data[n:]
        return data[:n]
