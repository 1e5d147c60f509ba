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


class TileKey(NamedTuple):
    """One scaled picture: the same member's same decoded picture at the same crop and size looks
    the same in every view, so it is scaled once per frame and copied into each view."""

    member: str
    picture: int  # id() of the decoded picture
    crop: tuple[int, int, int, int]
    width: int
    height: int


class TileJob(NamedTuple):
    key: TileKey
    picture: Planes


def plan_tiles(width: int, height: int, layout: Layout, slots: Sequence[str | None],
               pictures: Mapping[str, Planes | None], fit_mode: Fit | None = None) -> list[TileJob]:
    """The scaled tiles a picture of `layout` needs (see `scale_tile`)."""
    rects = place(layout, width, height)
    jobs = []
    for index, member in enumerate(slots):
        picture = pictures.get(member) if member else None
        if member is not None and picture is not None:
            key, _ = _tile_key(member, picture, rects[index], fit_mode or layout.regions[index].style.fit)
            jobs.append(TileJob(key, picture))
    return jobs


def scale_tile(job: TileJob) -> CanvasPlanes:
    """Scale one tile into its own buffer (runs on a worker thread; the kernel releases the GIL)."""
    x, y, w, h = job.key.crop
    picture = job.picture
    source = CanvasPlanes(picture.y[y: y + h, x: x + w], picture.u[y // 2: (y + h) // 2, x // 2: (x + w) // 2],
                          picture.v[y // 2: (y + h) // 2, x // 2: (x + w) // 2])
    tile = new_canvas(job.key.width, job.key.height)
    shrink = w >= 2 * job.key.width or h >= 2 * job.key.height
    mix.scale_i420(source, tile, (0, 0, job.key.width, job.key.height),
                   mix.ScaleMethod.AREA if shrink else mix.ScaleMethod.BILINEAR)
    return tile


def compose(
    canvas: Planes,
    layout: Layout,
    slots: Sequence[str | None],
    pictures: Mapping[str, Planes | None],
    names: Mapping[str, str],
    floor: str | None = None,
    fit_mode: Fit | None = None,
    tiles: Mapping[TileKey, Planes] | None = None,
) -> None:
    """Draw `layout` with `slots[i]` (member id or None) in region i onto `canvas`.

    `pictures` maps member id -> its latest decoded picture, or None when it has none
    (audio-only, stalled, waiting for a keyframe): that member gets a name card.
    `tiles` holds pictures already scaled by `scale_tile` (shared between views); a tile not
    there is scaled here.
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
            key, dst = _tile_key(member, picture, rect, fit_mode or style.fit)
            if dst != rect:
                mix.fill_rect_i420(canvas, _xywh(rect), background)
            tile = tiles.get(key) if tiles is not None else None
            if tile is None:
                tile = scale_tile(TileJob(key, picture))
            _blit(canvas, tile, dst)
        if style.border:
            active = member is not None and member == floor
            colour = style.active_border_color if active else style.border_color
            mix.draw_border_i420(canvas, _xywh(rect), min(style.border, rect.w // 2, rect.h // 2), rgb_to_yuv(colour))
        if member is not None and picture is not None and style.label:
            _label(canvas, rect, names.get(member, member), style)


def _xywh(rect: Rect) -> tuple[int, int, int, int]:
    return (rect.x, rect.y, rect.w, rect.h)


def _tile_key(member: str, picture: Planes, rect: Rect, mode: Fit) -> tuple[TileKey, Rect]:
    src_h, src_w = picture.y.shape
    crop, dst = fit(src_w, src_h, rect, mode)
    return TileKey(member, id(picture), _xywh(crop), dst.w, dst.h), dst


def _blit(canvas: Planes, tile: Planes, dst: Rect) -> None:
    """Copy a scaled tile to `dst` (even-aligned, so chroma lands at dst // 2)."""
    canvas.y[dst.y: dst.y + dst.h, dst.x: dst.x + dst.w] = tile.y
    cy, cx = dst.y // 2, dst.x // 2
    canvas.u[cy: cy + tile.u.shape[0], cx: cx + tile.u.shape[1]] = tile.u
    canvas.v[cy: cy + tile.v.shape[0], cx: cx + tile.v.shape[1]] = tile.v


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
