"""Compose one picture of a layout on an I420 canvas with the `_mix` kernels.

The live counterpart of render.compose_rgb: same geometry, draw order, borders and labels,
but the tiles are decoded pictures (I420 planes), scaled with aspect kept (crop or
letterbox as the region's style says), and members without a picture get a name card.
Pure: no clock, no I/O; the caller owns the canvas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

import numpy as np

from mcu import mix
from mcu.layout.geometry import Rect, draw_order, fit, place
from mcu.layout.labels import place_label, render_label
from mcu.layout.model import Fit, Layout, Rgb

NAME_CARD: Rgb = (40, 52, 70)
EMPTY_TILE: Rgb = (24, 24, 24)


class Planes(Protocol):
    """I420 planes: mcu.media.frames.I420 (decoded pictures, encoder canvases) or the NamedTuple below."""

    @property
    def y(self) -> np.ndarray: ...
    @property
    def u(self) -> np.ndarray: ...
    @property
    def v(self) -> np.ndarray: ...


class CanvasPlanes(NamedTuple):
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray


def rgb_to_yuv(rgb: Rgb) -> tuple[int, int, int]:
    """BT.601 limited range, as H.264 encoders assume by default."""
    r, g, b = rgb
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return tuple(int(max(0, min(255, round(c)))) for c in (y, u, v))  # type: ignore[return-value]


def new_canvas(width: int, height: int) -> CanvasPlanes:
    """An I420 canvas in one buffer (planes are views), so encoders can read it without a copy."""
    buffer = np.empty(width * height * 3 // 2, np.uint8)
    y = buffer[: width * height].reshape(height, width)
    u = buffer[width * height: width * height * 5 // 4].reshape(height // 2, width // 2)
    v = buffer[width * height * 5 // 4:].reshape(height // 2, width // 2)
    return CanvasPlanes(y, u, v)


def compose(
    canvas: Planes,
    layout: Layout,
    slots: Sequence[str | None],
    pictures: Mapping[str, Planes | None],
    names: Mapping[str, str],
    floor: str | None = None,
    fit_mode: Fit | None = None,
) -> None:
    """Draw `layout` with `slots[i]` (member id or None) in region i onto `canvas`.

    `pictures` maps member id -> its latest decoded picture, or None when it has none
    (audio-only, stalled, waiting for a keyframe): that member gets a name card.
    """
    height, width = canvas.y.shape
    background = rgb_to_yuv(layout.background)
    mix.fill_rect_i420(canvas, (0, 0, width, height), background)
    rects = place(layout, width, height)
    for index in draw_order(layout):
        region, rect, member = layout.regions[index], rects[index], slots[index]
        style = region.style
        picture = pictures.get(member) if member else None
        if member is None:
            mix.fill_rect_i420(canvas, _xywh(rect), rgb_to_yuv(EMPTY_TILE))
        elif picture is None:
            _name_card(canvas, rect, names.get(member, member))
        else:
            _tile(canvas, rect, picture, fit_mode or style.fit, background)
        if style.border:
            active = member is not None and member == floor
            colour = style.active_border_color if active else style.border_color
            mix.draw_border_i420(canvas, _xywh(rect), min(style.border, rect.w // 2, rect.h // 2), rgb_to_yuv(colour))
        if member is not None and picture is not None and style.label:
            _label(canvas, rect, names.get(member, member), style)


def _xywh(rect: Rect) -> tuple[int, int, int, int]:
    return (rect.x, rect.y, rect.w, rect.h)


def _tile(canvas: Planes, rect: Rect, picture: Planes, mode: Fit, background: tuple[int, int, int]) -> None:
    src_h, src_w = picture.y.shape
    crop, dst = fit(src_w, src_h, rect, mode)
    if dst != rect:
        mix.fill_rect_i420(canvas, _xywh(rect), background)
    source = CanvasPlanes(
        picture.y[crop.y: crop.y + crop.h, crop.x: crop.x + crop.w],
        picture.u[crop.y // 2: (crop.y + crop.h) // 2, crop.x // 2: (crop.x + crop.w) // 2],
        picture.v[crop.y // 2: (crop.y + crop.h) // 2, crop.x // 2: (crop.x + crop.w) // 2],
    )
    shrink = crop.w >= 2 * dst.w or crop.h >= 2 * dst.h
    mix.scale_i420(source, canvas, (dst.x, dst.y, dst.w, dst.h),
                   mix.ScaleMethod.AREA if shrink else mix.ScaleMethod.BILINEAR)


def _label(canvas: Planes, rect: Rect, text: str, style) -> None:  # type: ignore[no-untyped-def]
    placed = place_label(rect, text, style)
    if placed is None:
        return
    box = placed.box
    coverage = np.full((box.h, box.w), round(255 * style.label_opacity), np.uint8)
    mix.blend_mask_i420(canvas, coverage, box.x, box.y, rgb_to_yuv(style.label_background))
    mix.blend_mask_i420(canvas, placed.mask, placed.text_x, placed.text_y, rgb_to_yuv(style.label_color))


def _name_card(canvas: Planes, rect: Rect, name: str) -> None:
    """A tile for a member without a picture: its name, large, on a plain card."""
    mix.fill_rect_i420(canvas, _xywh(rect), rgb_to_yuv(NAME_CARD))
    height = max(12, min(48, rect.h // 6))
    height -= height % 2
    if rect.w < 16 or rect.h < height + 4:
        return
    mask = render_label(name, height, rect.w - 8)
    if mask.shape[1] == 0:
        return
    x = rect.x + (rect.w - mask.shape[1]) // 2
    y = rect.y + (rect.h - mask.shape[0]) // 2
    mix.blend_mask_i420(canvas, mask, x, y, rgb_to_yuv((255, 255, 255)))
