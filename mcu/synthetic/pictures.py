"""The synthetic site's picture (a solid colour with its number drawn large) and the
assertion helpers that look for colours in decoded or composed frames."""

from __future__ import annotations

import numpy as np

from mcu.layout.labels import render_label
from mcu.media.frames import I420, alloc_i420
from mcu.synthetic.identity import YUV, contrast_yuv

DIGIT_HEIGHT_FRACTION = 0.5
DIGIT_WIDTH_FRACTION = 0.8
BLOCK = 8  # luma pixels per side of the blocks find_colour compares
DEFAULT_TOLERANCE = (12, 6, 6)  # |dY|, |dU|, |dV|: codec and scaling error. Identity colours of
# any 16 consecutive numbers differ by >= 25 in max(|dY|/2, |dU|, |dV|), any 64 by >= 10
MIN_MATCH_FRACTION = 0.01  # of the frame's blocks


def make_picture(width: int, height: int, colour: YUV, number: int | str) -> I420:
    """I420 planes: `colour` everywhere, `number` centred in a contrasting colour."""
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError(f"picture size {width}x{height} must be even and at least 16x16")
    planes = alloc_i420(width, height, colour)
    mask = render_label(str(number), max(8, int(height * DIGIT_HEIGHT_FRACTION)),
                        int(width * DIGIT_WIDTH_FRACTION))
    mh, mw = mask.shape
    if mw == 0:
        return planes
    top = (height - mh) // 2 & ~1
    left = (width - mw) // 2 & ~1
    ink = contrast_yuv(colour)
    alpha = mask.astype(np.float32) / 255.0
    region = planes.y[top : top + mh, left : left + mw]
    region[...] = np.round(region * (1 - alpha) + ink[0] * alpha).astype(np.uint8)
    # chroma: 2x2 mean of the mask (pad odd sizes)
    a = np.pad(alpha, ((0, mh % 2), (0, mw % 2)))
    a2 = a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean(axis=(1, 3))
    ch, cw = a2.shape
    for plane, value in ((planes.u, ink[1]), (planes.v, ink[2])):
        reg = plane[top // 2 : top // 2 + ch, left // 2 : left // 2 + cw]
        reg[...] = np.round(reg * (1 - a2[: reg.shape[0], : reg.shape[1]])
                            + value * a2[: reg.shape[0], : reg.shape[1]]).astype(np.uint8)
    return planes


def tile_colour_at(frame: I420, x: int, y: int, w: int, h: int) -> tuple[float, float, float]:
    """Mean (Y, U, V) of the luma rectangle (x, y, w, h) and its chroma counterpart."""
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > frame.width or y + h > frame.height:
        raise ValueError(f"rectangle {x},{y} {w}x{h} is outside the {frame.width}x{frame.height} frame")
    ys = frame.y[y : y + h, x : x + w]
    cx, cy = x // 2, y // 2
    cw, ch = max(1, w // 2), max(1, h // 2)
    us = frame.u[cy : cy + ch, cx : cx + cw]
    vs = frame.v[cy : cy + ch, cx : cx + cw]
    return float(ys.mean()), float(us.mean()), float(vs.mean())


def _block_means(plane: np.ndarray, block: int) -> np.ndarray:
    h = plane.shape[0] // block * block
    w = plane.shape[1] // block * block
    p = plane[:h, :w].astype(np.float32)
    return p.reshape(h // block, block, w // block, block).mean(axis=(1, 3))


def colour_fraction(frame: I420, colour: YUV,
                    tolerance: tuple[int, int, int] = DEFAULT_TOLERANCE) -> float:
    """Fraction of BLOCK x BLOCK blocks whose mean colour is within `tolerance` of `colour`."""
    ym = _block_means(frame.y, BLOCK)
    um = _block_means(frame.u, BLOCK // 2)
    vm = _block_means(frame.v, BLOCK // 2)
    rows = min(ym.shape[0], um.shape[0], vm.shape[0])
    cols = min(ym.shape[1], um.shape[1], vm.shape[1])
    if rows == 0 or cols == 0:
        return 0.0
    ok = ((np.abs(ym[:rows, :cols] - colour[0]) <= tolerance[0])
          & (np.abs(um[:rows, :cols] - colour[1]) <= tolerance[1])
          & (np.abs(vm[:rows, :cols] - colour[2]) <= tolerance[2]))
    return float(ok.mean())


def find_colour(frame: I420, colour: YUV, tolerance: tuple[int, int, int] = DEFAULT_TOLERANCE,
                min_fraction: float = MIN_MATCH_FRACTION) -> bool:
    """True when at least `min_fraction` of the frame's blocks show `colour`."""
    return colour_fraction(frame, colour, tolerance) >= min_fraction
