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
from mcu.layout.model import Fit, Layout, Rgb, Style

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
    """One finished tile: a member's picture (or name card) scaled into a region of a given size,
    with its border and label. The same member at the same size looks the same in every view, so
    the tile is drawn once per frame and copied into each view that shows it."""

    member: str
    picture: int  # id() of the decoded picture; 0 for a name card
    width: int
    height: int
    fit: Fit
    style: Style
    name: str
    active: bool  # the floor holder's border colour
    background: Rgb


class TileJob(NamedTuple):
    key: TileKey
    picture: Planes | None


def plan_tiles(width: int, height: int, layout: Layout, slots: Sequence[str | None],
               pictures: Mapping[str, Planes | None], names: Mapping[str, str], floor: str | None = None,
               fit_mode: Fit | None = None) -> list[TileJob]:
    """The tiles a picture of `layout` at width x height needs (drawn by `render_tile`)."""
    rects = place(layout, width, height)
    jobs = []
    for index, member in enumerate(slots):
        if member is not None:
            picture = pictures.get(member)
            key = _tile_key(layout, index, rects[index], member, picture, names, floor, fit_mode)
            jobs.append(TileJob(key, picture))
    return jobs


def render_tile(job: TileJob) -> CanvasPlanes:
    """Draw one tile into its own buffer (on a worker thread: the kernels release the GIL)."""
    key, picture = job
    tile = new_canvas(key.width, key.height)
    local = Rect(0, 0, key.width, key.height)
    if picture is None:
        _name_card(tile, local, key.name)
    else:
        src_h, src_w = picture.y.shape
        crop, dst = fit(src_w, src_h, local, key.fit)
        if dst != local:
            mix.fill_rect_i420(tile, _xywh(local), rgb_to_yuv(key.background))
        source = CanvasPlanes(
            picture.y[crop.y: crop.bottom, crop.x: crop.right],
            picture.u[crop.y // 2: crop.bottom // 2, crop.x // 2: crop.right // 2],
            picture.v[crop.y // 2: crop.bottom // 2, crop.x // 2: crop.right // 2])
        shrink = crop.w >= 2 * dst.w or crop.h >= 2 * dst.h
        mix.scale_i420(source, tile, _xywh(dst), mix.ScaleMethod.AREA if shrink else mix.ScaleMethod.BILINEAR)
        if key.style.label:
            _label(tile, local, key.name, key.style)
    style = key.style
    if style.border:
        colour = style.active_border_color if key.active else style.border_color
        mix.draw_border_i420(tile, _xywh(local), min(style.border, key.width // 2, key.height // 2),
                             rgb_to_yuv(colour))
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
    background_drawn: bool = False,
) -> None:
    """Draw `layout` with `slots[i]` (member id or None) in region i onto `canvas`.

    `pictures` maps member id -> its latest decoded picture, or None when it has none
    (audio-only, stalled, waiting for a keyframe): that member gets a name card.
    `tiles` holds tiles already drawn by `render_tile` (shared between views); a tile not
    there is drawn here. `background_drawn`: the canvas already holds this layout from an
    earlier frame, so only the regions are drawn again.
    """
    height, width = canvas.y.shape
    if not background_drawn:
        mix.fill_rect_i420(canvas, (0, 0, width, height), rgb_to_yuv(layout.background))
    rects = place(layout, width, height)
    for index in draw_order(layout):
        rect, member = rects[index], slots[index]
        if member is None:
            mix.fill_rect_i420(canvas, _xywh(rect), rgb_to_yuv(EMPTY_TILE))
            style = layout.regions[index].style
            if style.border:
                mix.draw_border_i420(canvas, _xywh(rect), min(style.border, rect.w // 2, rect.h // 2),
                                     rgb_to_yuv(style.border_color))
            continue
        picture = pictures.get(member)
        key = _tile_key(layout, index, rect, member, picture, names, floor, fit_mode)
        tile = tiles.get(key) if tiles is not None else None
        _blit(canvas, tile if tile is not None else render_tile(TileJob(key, picture)), rect)


def _xywh(rect: Rect) -> tuple[int, int, int, int]:
    return (rect.x, rect.y, rect.w, rect.h)


def _tile_key(layout: Layout, index: int, rect: Rect, member: str, picture: Planes | None,
              names: Mapping[str, str], floor: str | None, fit_mode: Fit | None) -> TileKey:
    style = layout.regions[index].style
    return TileKey(member, 0 if picture is None else id(picture), rect.w, rect.h, fit_mode or style.fit, style,
                   names.get(member, member), member == floor, layout.background)


def _blit(canvas: Planes, tile: Planes, dst: Rect) -> None:
    """Copy a tile to `dst` (even-aligned, so chroma lands at dst // 2)."""
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
