"""Audio content of a synthetic site (tone or room noise) and what we measure in received audio."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

TONE_AMPLITUDE = 0.3  # of full scale
NOISE_DBFS = -55.0
FULL_SCALE = 32768.0


def tone_samples(freq: float, rate: int, samples: int, amplitude: float = TONE_AMPLITUDE,
                 start: int = 0) -> np.ndarray:
    t = (np.arange(samples) + start) / rate
    return np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def noise_samples(samples: int, dbfs: float = NOISE_DBFS, seed: int = 0) -> np.ndarray:
    """An idle room's microphone: Gaussian noise at `dbfs` RMS (never digital silence)."""
    rms = FULL_SCALE * 10 ** (dbfs / 20)
    return np.round(np.random.default_rng(seed).normal(0, rms, samples)).astype(np.int16)


def goertzel_power(pcm: np.ndarray, rate: int, freq: float) -> float:
    """Power of `freq` in `pcm`, normalised so a full-scale sine gives about 1.0 (one DFT bin,
    the Goertzel measure the tests use)."""
    n = len(pcm)
    if n == 0:
        return 0.0
    x = np.asarray(pcm, dtype=np.float64) / FULL_SCALE
    k = round(n * freq / rate)
    phase = np.exp(-2j * math.pi * k * np.arange(n) / n)
    value = complex(np.dot(x, phase))
    return 4.0 * (value.real ** 2 + value.imag ** 2) / (n * n)


def rms_dbfs(pcm: np.ndarray) -> float:
    if len(pcm) == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.asarray(pcm, dtype=np.float64) ** 2)))
    return -math.inf if rms == 0 else 20 * math.log10(rms / FULL_SCALE)


class AudioRing:
    """The last `seconds` of received audio at one sample rate, with chunk arrival times."""

    def __init__(self, rate: int, seconds: float = 10.0) -> None:
        self.rate = rate
        self.size = max(1, int(rate * seconds))
        self._buf = np.zeros(self.size, dtype=np.int16)
        self.written = 0  # samples ever written
        self.chunks: deque[tuple[float, int]] = deque(maxlen=int(seconds * 100) + 1)  # (time, index)

    def append(self, pcm: np.ndarray, now: float) -> None:
        n = len(pcm)
        if n == 0:
            return
        if n >= self.size:
            pcm = pcm[-self.size :]
            n = self.size
        start = self.written % self.size
        end = start + n
        if end <= self.size:
            self._buf[start:end] = pcm
        else:
            cut = self.size - start
            self._buf[start:] = pcm[:cut]
            self._buf[: n - cut] = pcm[cut:]
        self.chunks.append((now, self.written))
        self.written += n

    def last(self, seconds: float) -> np.ndarray:
        """A copy of the most recent `seconds` (less if fewer were received)."""
        n = min(int(seconds * self.rate), self.written, self.size)
        if n <= 0:
            return np.zeros(0, dtype=np.int16)
        end = self.written % self.size
        if n <= end:
            return self._buf[end - n : end].copy()
        return np.concatenate([self._buf[self.size - (n - end) :], self._buf[:end]])
