"""An encoder canvas (I420, BT.601 limited range as the compositor writes it) as a PNG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mcu.layout.compose import Planes


def i420_to_rgb(planes: Planes) -> np.ndarray:
    """(height, width, 3) uint8 RGB of an I420 picture (chroma upsampled by repetition)."""
    y = planes.y.astype(np.float32)
    h, w = y.shape
    u = np.repeat(np.repeat(planes.u, 2, axis=0), 2, axis=1)[:h, :w].astype(np.float32) - 128.0
    v = np.repeat(np.repeat(planes.v, 2, axis=0), 2, axis=1)[:h, :w].astype(np.float32) - 128.0
    c = (y - 16.0) * 1.164
    rgb = np.empty((h, w, 3), dtype=np.float32)
    rgb[..., 0] = c + 1.596 * v
    rgb[..., 1] = c - 0.392 * u - 0.813 * v
    rgb[..., 2] = c + 2.017 * u
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def i420_to_png(planes: Planes) -> bytes:
    out = io.BytesIO()
    # a copy: the video thread may be composing into this canvas right now
    Image.fromarray(i420_to_rgb(planes), "RGB").save(out, format="PNG", compress_level=1)
    return out.getvalue()
