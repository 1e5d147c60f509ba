"""Offline rendering of layouts to RGB pictures and PNG files (previews, contact sheets).

Composes on an RGB numpy canvas with numpy only; the live path does the same on
I420 with the _mix kernels. Placeholder tiles get distinct colours, the floor
region its active border, and every tile the display name from sites.toml.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from mcu.layout.engine import Assignment, Member, new_room, observe, shared_picture
from mcu.layout.geometry import Rect, draw_order, place
from mcu.layout.labels import place_label
from mcu.layout.model import ROLE_PARTICIPANT, Layout, LayoutConfig, Region, Rgb, RoomMode, Style

EMPTY_TILE: Rgb = (48, 48, 48)
SHEET_COLUMNS = 4
SHEET_THUMB = (320, 180)
SHEET_CAPTION_PX = 24
SHEET_GAP_PX = 8
SHEET_BACKGROUND: Rgb = (0, 0, 0)
_GOLDEN_RATIO = 0.618033988749895


def placeholder_color(index: int) -> Rgb:
    """Distinct, mid-bright colours for placeholder tiles (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((index * _GOLDEN_RATIO) % 1.0, 0.55, 0.75)
    return (round(r * 255), round(g * 255), round(b * 255))


def _fill(canvas: np.ndarray, rect: Rect, color: Rgb) -> None:
    canvas[rect.y : rect.bottom, rect.x : rect.right] = color


def _border(canvas: np.ndarray, rect: Rect, width: int, color: Rgb) -> None:
    width = min(width, rect.w // 2, rect.h // 2)
    if width <= 0:
        return
    y0, y1, x0, x1 = rect.y, rect.bottom, rect.x, rect.right
    canvas[y0 : y0 + width, x0:x1] = color
    canvas[y1 - width : y1, x0:x1] = color
    canvas[y0:y1, x0 : x0 + width] = color
    canvas[y0:y1, x1 - width : x1] = color


def _blend(canvas: np.ndarray, x: int, y: int, alpha: np.ndarray, color: Rgb) -> None:
    """canvas = canvas * (1 - alpha) + color * alpha over alpha's box at (x, y)."""
    h, w = alpha.shape
    if h == 0 or w == 0:
        return
    region = canvas[y : y + h, x : x + w].astype(np.float32)
    a = alpha[..., None]
    region = region * (1.0 - a) + np.asarray(color, np.float32) * a
    canvas[y : y + h, x : x + w] = np.rint(region).astype(np.uint8)


def draw_label(canvas: np.ndarray, rect: Rect, text: str, style: Style) -> None:
    """Draw `text` in a box inside `rect` as `style` says; never outside the tile."""
    placed = place_label(rect, text, style)
    if placed is None:
        return
    box = np.full((placed.box.h, placed.box.w), style.label_opacity, np.float32)
    _blend(canvas, placed.box.x, placed.box.y, box, style.label_background)
    _blend(canvas, placed.text_x, placed.text_y, placed.mask.astype(np.float32) / 255.0,
           style.label_color)


def compose_rgb(
    layout: Layout,
    slots: Sequence[str | None],
    size: tuple[int, int],
    labels: dict[str, str],
    colors: dict[str, Rgb],
    reserved_labels: dict[str, str] | None = None,
) -> np.ndarray:
    """RGB uint8 picture of `layout` with placeholder tiles for the members in `slots`.

    `labels` maps member id -> display name; `colors` member id -> tile colour.
    An empty reserved region shows the reserved site's name (from `reserved_labels`,
    keyed by the region's `reserved` value) on a grey tile.
    """
    w, h = size
    canvas = np.empty((h, w, 3), np.uint8)
    canvas[:] = layout.background
    rects = place(layout, w, h)
    for i in draw_order(layout):
        region, rect, member = layout.regions[i], rects[i], slots[i]
        _fill(canvas, rect, colors.get(member, EMPTY_TILE) if member else EMPTY_TILE)
        _border(canvas, rect, region.style.border, _border_color(region))
        if region.style.label:
            text = labels.get(member, member) if member else _reserved_text(region, reserved_labels)
            draw_label(canvas, rect, text, region.style)
    return canvas


def _border_color(region: Region) -> Rgb:
    return region.style.active_border_color if region.floor else region.style.border_color


def _reserved_text(region: Region, reserved_labels: dict[str, str] | None) -> str:
    if region.reserved is None:
        return ""
    return (reserved_labels or {}).get(region.reserved, region.reserved)


def roster_members(config: LayoutConfig, count: int) -> list[Member]:
    """`count` synthetic members for previews: the roster's sites in order, then extras."""
    members = [
        Member(f"site-{i}", s.id, s.role) for i, s in enumerate(config.sites[:count])
    ]
    members += [Member(f"site-{i}", None, ROLE_PARTICIPANT) for i in range(len(members), count)]
    return members


def _names(config: LayoutConfig, members: Sequence[Member]) -> dict[str, str]:
    names: dict[str, str] = {}
    for i, m in enumerate(members):
        site = config.site(m.site_id) if m.site_id else None
        names[m.id] = site.name if site else f"Site {i + 1}"
    return names


def _reserved_names(config: LayoutConfig) -> dict[str, str]:
    names = {s.id: s.name for s in config.sites}
    chair = next((s for s in config.sites if s.role == "chair"), None)
    names["chair"] = chair.name if chair else "chair"
    return names


def preview_picture(
    config: LayoutConfig, name: str, members: int, mode: RoomMode = RoomMode.AUTO
) -> tuple[Layout, Assignment, list[Member]]:
    """What a viewer who is not on screen sees with `members` roster sites in the room."""
    if members < 0:
        raise ValueError(f"members must be >= 0, got {members}")
    roster = roster_members(config, members)
    state = observe(new_room(config, 0.0, mode, name), roster, 0.0)
    assignment = shared_picture(state, 0.0)
    return config.layouts[assignment.layout], assignment, roster


def render_layout(
    config: LayoutConfig,
    name: str,
    members: int,
    size: tuple[int, int] = (1280, 720),
    mode: RoomMode = RoomMode.AUTO,
) -> np.ndarray:
    """RGB picture of layout or group `name` with `members` roster sites in the room."""
    layout, assignment, roster = preview_picture(config, name, members, mode)
    colors = {m.id: placeholder_color(i) for i, m in enumerate(roster)}
    return compose_rgb(
        layout, assignment.slots, size, _names(config, roster), colors, _reserved_names(config)
    )


def render_layout_png(
    layout_or_group: str,
    members: int,
    size: tuple[int, int],
    config: LayoutConfig,
    out_path: Path | str,
) -> np.ndarray:
    """Render like render_layout and write a PNG to `out_path`; returns the RGB array."""
    canvas = render_layout(config, layout_or_group, members, size)
    Image.fromarray(canvas, "RGB").save(out_path)
    return canvas


def render_contact_sheet_rgb(
    config: LayoutConfig, thumb: tuple[int, int] = SHEET_THUMB, columns: int = SHEET_COLUMNS
) -> np.ndarray:
    """Every layout as a thumbnail, full of roster sites, with its name under it."""
    names = list(config.layouts)
    rows = max(1, -(-len(names) // columns))
    tw, th = thumb
    cell_w, cell_h = tw + SHEET_GAP_PX, th + SHEET_CAPTION_PX + SHEET_GAP_PX
    sheet = np.empty((rows * cell_h + SHEET_GAP_PX, columns * cell_w + SHEET_GAP_PX, 3), np.uint8)
    sheet[:] = SHEET_BACKGROUND
    caption_style = Style(border=0, label_height=1.0, label_min_px=SHEET_CAPTION_PX - 6,
                          label_max_px=SHEET_CAPTION_PX - 6, label_opacity=0.0,
                          label_position="top-left")
    for k, name in enumerate(names):
        x = SHEET_GAP_PX + (k % columns) * cell_w
        y = SHEET_GAP_PX + (k // columns) * cell_h
        # capacity + 1 members: everyone else fits, so every tile is filled
        picture = render_layout(config, name, config.layouts[name].capacity + 1, thumb)
        sheet[y : y + th, x : x + tw] = picture
        draw_label(sheet, Rect(x, y + th + 3, tw, SHEET_CAPTION_PX - 3), name, caption_style)
    return sheet


def render_contact_sheet(config: LayoutConfig, out_path: Path | str) -> np.ndarray:
    """Write the contact sheet of every layout to `out_path` (PNG); returns the RGB array."""
    sheet = render_contact_sheet_rgb(config)
    Image.fromarray(sheet, "RGB").save(out_path)
    return sheet
