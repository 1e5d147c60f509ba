"""Pixel geometry: regions on the 360 grid to even-aligned rectangles, and source fitting.

I420 stores chroma at half resolution, so every x, y, w, h returned here is even:
a tile then starts and ends on a chroma sample and blits need no edge cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mcu.layout.errors import GeometryError
from mcu.layout.model import GRID, Fit, Layout, Region


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def empty(self) -> bool:
        return self.w <= 0 or self.h <= 0


def _even(v: float) -> int:
    """Nearest even integer; a tie (an odd integer) goes down. Deterministic, no banker's rounding."""
    return 2 * math.ceil(v / 2 - 0.5)


def _check_canvas(w: int, h: int) -> None:
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise GeometryError(f"canvas {w}x{h} must have positive even sides for I420")


def place_region(region: Region, canvas_w: int, canvas_h: int) -> Rect:
    """Pixel rectangle of one region; edges are rounded, so neighbours share edges."""
    _check_canvas(canvas_w, canvas_h)
    x0 = _even(region.x * canvas_w / GRID)
    x1 = _even((region.x + region.w) * canvas_w / GRID)
    y0 = _even(region.y * canvas_h / GRID)
    y1 = _even((region.y + region.h) * canvas_h / GRID)
    return Rect(x0, y0, x1 - x0, y1 - y0)


def place(layout: Layout, canvas_w: int, canvas_h: int) -> list[Rect]:
    """Pixel rectangles of every region of `layout`, in region order."""
    return [place_region(r, canvas_w, canvas_h) for r in layout.regions]


def draw_order(layout: Layout) -> list[int]:
    """Region indices from bottom to top: by z, then by position in the file."""
    return sorted(range(len(layout.regions)), key=lambda i: (layout.regions[i].z, i))


def fit(src_w: int, src_h: int, dst: Rect, mode: Fit = Fit.CROP) -> tuple[Rect, Rect]:
    """Fit a src_w x src_h picture into `dst` keeping its aspect.

    Returns (source crop rectangle, destination rectangle), both even-aligned.
    CROP: the destination is all of `dst`; the crop is the centred part of the source
    with the tile's aspect. LETTERBOX: the crop is the whole source; the destination is
    centred in `dst` (the caller fills the bars with the background).
    """
    if src_w < 2 or src_h < 2:
        raise GeometryError(f"source {src_w}x{src_h} is too small to fit")
    if dst.empty:
        raise GeometryError(f"destination {dst} is empty")
    src_w -= src_w % 2
    src_h -= src_h % 2
    if mode is Fit.CROP:
        # scale = max(dst.w/src_w, dst.h/src_h): the crop is dst's size divided by scale
        if dst.w * src_h >= dst.h * src_w:  # tile wider than source: cut top and bottom
            cw, ch = src_w, min(src_h, max(2, _even(src_w * dst.h / dst.w)))
        else:
            cw, ch = min(src_w, max(2, _even(src_h * dst.w / dst.h))), src_h
        crop = Rect(_even((src_w - cw) / 2), _even((src_h - ch) / 2), cw, ch)
        return crop, dst
    if dst.w * src_h >= dst.h * src_w:  # tile wider: bars left and right
        dw, dh = min(dst.w, max(2, _even(dst.h * src_w / src_h))), dst.h
    else:
        dw, dh = dst.w, min(dst.h, max(2, _even(dst.w * src_h / src_w)))
    dest = Rect(dst.x + _even((dst.w - dw) / 2), dst.y + _even((dst.h - dh) / 2), dw, dh)
    return Rect(0, 0, src_w, src_h), dest
