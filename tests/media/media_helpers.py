"""Signal generators and analysers shared by the media tests (not a test module)."""

from __future__ import annotations

import numpy as np

from mcu.media import I420, alloc_i420


def tone(freq: float, rate: int, samples: int, amplitude: float = 8000.0,
         start: int = 0) -> np.ndarray:
    t = (np.arange(samples) + start) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_frequency(pcm: np.ndarray, rate: int) -> float:
    x = pcm.astype(np.float64) * np.hanning(pcm.size)
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(pcm.size, 1.0 / rate)[int(np.argmax(spectrum))])


def moving_picture(width: int, height: int, index: int) -> I420:
    """Smooth gradients plus a bright square moving 4 px per frame: motion an encoder must code."""
    planes = alloc_i420(width, height)
    yy, xx = np.mgrid[0:height, 0:width]
    planes.y[...] = (40 + (xx * 160) // width + (yy * 40) // height).astype(np.uint8)
    side = height // 4
    x0 = (index * 4) % (width - side)
    planes.y[side : 2 * side, x0 : x0 + side] = 230
    cy, cx = np.mgrid[0 : height // 2, 0 : width // 2]
    planes.u[...] = (64 + (cx * 128) // (width // 2)).astype(np.uint8)
    planes.v[...] = (64 + (cy * 128) // (height // 2)).astype(np.uint8)
    return planes


def noise_picture(width: int, height: int, seed: int) -> I420:
    rng = np.random.default_rng(seed)
    planes = alloc_i420(width, height)
    for plane in planes:
        plane[...] = rng.integers(0, 256, plane.shape, dtype=np.uint8)
    return planes
