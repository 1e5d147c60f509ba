"""Spoken-word-free prompts: short tone patterns a caller can tell apart, generated at any rate.

No recorded files are needed: an operator can describe them on the phone ("two rising
beeps: key your PIN and press #").
"""

from __future__ import annotations

import numpy as np

# (frequency Hz, milliseconds); 0 Hz is a pause.
PATTERNS: dict[str, list[tuple[float, int]]] = {
    "enter_pin": [(660, 150), (0, 80), (880, 150), (0, 1200)],
    "wrong_pin": [(330, 400), (0, 150), (330, 400), (0, 800)],
    "admitted": [(523, 120), (659, 120), (784, 200)],
    "refused": [(300, 700)],
}
AMPLITUDE = 0.25  # of full scale: clearly audible, far from clipping in the mix
RAMP_MS = 5  # fade in/out of each tone to avoid clicks


def prompt_pcm(name: str, rate: int) -> np.ndarray:
    """The int16 PCM of a named prompt at `rate`."""
    parts = []
    for freq, ms in PATTERNS[name]:
        n = rate * ms // 1000
        if freq == 0:
            parts.append(np.zeros(n, dtype=np.float64))
            continue
        t = np.arange(n) / rate
        wave = np.sin(2 * np.pi * freq * t)
        ramp = min(n // 2, rate * RAMP_MS // 1000)
        if ramp:
            envelope = np.ones(n)
            envelope[:ramp] = np.linspace(0, 1, ramp)
            envelope[-ramp:] = np.linspace(1, 0, ramp)
            wave *= envelope
        parts.append(wave)
    return np.round(np.concatenate(parts) * AMPLITUDE * 32767).astype(np.int16)


class PromptPlayer:
    """Hands out a prompt 20 ms at a time; silence once it has played."""

    def __init__(self, rate: int, frame_ms: int = 20):
        self.rate = rate
        self.samples = rate * frame_ms // 1000
        self._pcm = np.zeros(0, dtype=np.int16)
        self._pos = 0

    def play(self, name: str) -> None:
        self._pcm = prompt_pcm(name, self.rate)
        self._pos = 0

    @property
    def playing(self) -> bool:
        return self._pos < len(self._pcm)

    def next_frame(self) -> np.ndarray:
        frame = np.zeros(self.samples, dtype=np.int16)
        chunk = self._pcm[self._pos:self._pos + self.samples]
        frame[: len(chunk)] = chunk
        self._pos += self.samples
        return frame
