"""Tile labels: site names rasterised to 8-bit coverage masks with a shipped font.

The font is DejaVu Sans (mcu/fonts/, Bitstream Vera licence), which covers every
Vietnamese letter. Text is NFC-normalised first so that a name typed with
combining marks renders the same as a precomposed one. Masks are cached by
(text, height, max width) and returned read-only: the blend kernel only reads them.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mcu.layout.geometry import Rect
from mcu.layout.model import Style

FONT_PATH = Path(__file__).resolve().parent.parent / "fonts" / "DejaVuSans.ttf"
ELLIPSIS = "\u2026"
LABEL_CACHE_SIZE = 1024
LABEL_PAD_FRACTION = 0.3  # horizontal padding of the label box, as a fraction of its height
# the tallest and deepest Vietnamese letters: the font size is chosen so these fit
_PROBE = "ẪẴỄỖỠỮỶẬǗgjpqyƯỵ"
_MAX_FONT_PX = 400


class LabelError(ValueError):
    """A label that cannot be rendered (non-positive height or width)."""


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH), size, layout_engine=ImageFont.Layout.BASIC)


@lru_cache(maxsize=256)
def _fit_font(height_px: int) -> tuple[int, int]:
    """(font size, baseline y) of the largest font whose probe letters fit `height_px`."""
    lo, hi = 1, min(_MAX_FONT_PX, height_px * 2)
    best = (1, height_px)
    while lo <= hi:
        size = (lo + hi) // 2
        _, top_f, _, bottom_f = _font(size).getbbox(_PROBE, anchor="ls")
        top, bottom = math.floor(top_f), math.ceil(bottom_f)
        if bottom - top <= height_px:
            best = (size, -top + (height_px - (bottom - top)) // 2)
            lo = size + 1
        else:
            hi = size - 1
    return best


def _text_width(font: ImageFont.FreeTypeFont, text: str) -> int:
    if not text:
        return 0
    left, _, right, _ = font.getbbox(text, anchor="ls")
    return max(math.ceil(font.getlength(text)), math.ceil(right)) - min(0, math.floor(left))


def shorten(text: str, font_size: int, max_width_px: int) -> str:
    """`text`, or its longest prefix plus an ellipsis, that fits `max_width_px`."""
    font = _font(font_size)
    if _text_width(font, text) <= max_width_px:
        return text
    # cut points that do not split a base letter from its combining marks
    cuts = [i for i in range(len(text)) if not unicodedata.combining(text[i])]
    lo, hi, best = 0, len(cuts) - 1, ""
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = text[: cuts[mid]].rstrip() + ELLIPSIS
        if _text_width(font, candidate) <= max_width_px:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    if not best and _text_width(font, ELLIPSIS) <= max_width_px:
        best = ELLIPSIS
    return best


def render_label(text: str, height_px: int, max_width_px: int) -> np.ndarray:
    """Coverage mask (uint8, 0..255, shape (height_px, w) with w <= max_width_px) of `text`.

    The text is NFC-normalised, sized so that stacked Vietnamese diacritics and
    descenders fit the height, and shortened with an ellipsis to fit the width.
    A width too small even for the ellipsis gives a (height_px, 0) mask.
    """
    if height_px <= 0 or max_width_px <= 0:
        raise LabelError(f"label box {max_width_px}x{height_px} px must be positive")
    return _render(unicodedata.normalize("NFC", text).strip(), height_px, max_width_px)


@lru_cache(maxsize=LABEL_CACHE_SIZE)
def _render(text: str, height_px: int, max_width_px: int) -> np.ndarray:
    size, baseline = _fit_font(height_px)
    font = _font(size)
    shown = shorten(text, size, max_width_px)
    width = min(_text_width(font, shown), max_width_px)
    if width <= 0:
        mask = np.zeros((height_px, 0), np.uint8)
    else:
        left = math.floor(font.getbbox(shown, anchor="ls")[0])
        image = Image.new("L", (width, height_px), 0)
        ImageDraw.Draw(image).text((-min(0, left), baseline), shown, font=font, fill=255, anchor="ls")
        mask = np.asarray(image, dtype=np.uint8).copy()
    mask.setflags(write=False)
    return mask


def label_cache_info() -> object:
    return _render.cache_info()


@dataclass(frozen=True)
class PlacedLabel:
    """Where a tile's label goes: the background box and the text mask's top-left corner."""

    box: Rect
    text_x: int
    text_y: int
    mask: np.ndarray  # uint8 coverage, read-only, shape (box.h, <= box.w - 2 * padding)


def place_label(rect: Rect, text: str, style: Style) -> PlacedLabel | None:
    """Size and place the label of a tile `rect` per `style`, inside its border.

    The box has even x, y, w, h (I420 chroma) when `rect` does.
    None when the label is off, empty, or the tile is too small for it. The live
    compositor blends `box` with style.label_background at style.label_opacity,
    then `mask` with style.label_color.
    """
    if not style.label or not text.strip():
        return None
    inner = max(0, style.border)
    height = round(style.label_height * rect.h)
    height = max(style.label_min_px, min(style.label_max_px, height))
    height -= height % 2  # the box is even-aligned for I420, like the tiles
    avail_w = rect.w - 2 * inner - inner % 2 * 2
    pad = max(2, round(height * LABEL_PAD_FRACTION))
    pad += pad % 2
    if height > rect.h - 2 * inner or avail_w - 2 * pad <= 0:
        return None
    mask = render_label(text, height, avail_w - 2 * pad)
    if mask.shape[1] == 0:
        return None
    box_w = mask.shape[1] + 2 * pad
    box_w += box_w % 2
    inner += inner % 2
    vertical, horizontal = style.label_position.split("-")
    y = rect.y + inner if vertical == "top" else rect.bottom - inner - height
    if horizontal == "left":
        x = rect.x + inner
    elif horizontal == "right":
        x = rect.right - inner - box_w
    else:
        x = rect.x + (rect.w - box_w) // 4 * 2
    return PlacedLabel(Rect(x, y, box_w, height), x + pad, y, mask)
