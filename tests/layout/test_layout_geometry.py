"""Geometry: grid regions to even pixel rectangles, and aspect-preserving fit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcu.layout.errors import GeometryError
from mcu.layout.geometry import Rect, draw_order, fit, place
from mcu.layout.loader import load_config_dir
from mcu.layout.model import Fit, Layout, Region
from tests.layout.layout_fixtures import CONF

SHIPPED = load_config_dir(CONF)
SIZES = [(1280, 720), (1920, 1080), (640, 360), (352, 288), (176, 144), (1024, 576), (854, 480)]


@pytest.mark.parametrize(("w", "h"), [(0, 720), (1280, 0), (1281, 720), (1280, 719), (-2, 2)])
def test_bad_canvas_is_refused(w: int, h: int) -> None:
    with pytest.raises(GeometryError, match="even"):
        place(SHIPPED.layouts["2x2"], w, h)


@pytest.mark.parametrize("name", list(SHIPPED.layouts))
@pytest.mark.parametrize(("w", "h"), SIZES)
def test_shipped_layouts_place_even_rects_inside_the_canvas(name: str, w: int, h: int) -> None:
    layout = SHIPPED.layouts[name]
    rects = place(layout, w, h)
    assert len(rects) == layout.capacity
    cover = np.zeros((h, w), np.int32)
    for rect, region in zip(rects, layout.regions, strict=True):
        assert all(v % 2 == 0 for v in (rect.x, rect.y, rect.w, rect.h)), rect
        assert rect.w > 0 and rect.h > 0
        assert 0 <= rect.x and rect.right <= w and 0 <= rect.y and rect.bottom <= h
        if region.z == 0:
            cover[rect.y : rect.bottom, rect.x : rect.right] += 1
    assert cover.max() == 1, "regions at the same z must not overlap in pixels"
    if name != "pip":  # every shipped layout but the inset tiles the canvas without gaps
        assert cover.min() == 1, "neighbouring grid edges must meet in pixels"


def test_grid_units_map_to_pixels() -> None:
    rects = place(SHIPPED.layouts["3x3"], 1280, 720)
    assert rects[0] == Rect(0, 0, 426, 240)
    assert rects[4] == Rect(426, 240, 428, 240)
    assert rects[8] == Rect(854, 480, 426, 240)


def test_draw_order_puts_overlays_last() -> None:
    layout = Layout("t", (Region(0, 0, 360, 360, z=2), Region(0, 0, 10, 10, z=0),
                          Region(0, 0, 20, 20, z=2), Region(0, 0, 30, 30, z=-1)))
    assert draw_order(layout) == [3, 1, 0, 2]


# ----- fit ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "dst", "mode", "crop", "dest"),
    [
        ((1280, 720), Rect(0, 0, 640, 360), Fit.CROP, Rect(0, 0, 1280, 720), Rect(0, 0, 640, 360)),
        ((640, 480), Rect(0, 0, 426, 240), Fit.CROP, Rect(0, 60, 640, 360), Rect(0, 0, 426, 240)),
        ((352, 288), Rect(10, 20, 200, 200), Fit.CROP, Rect(32, 0, 288, 288), Rect(10, 20, 200, 200)),
        ((640, 480), Rect(10, 20, 426, 240), Fit.LETTERBOX, Rect(0, 0, 640, 480),
         Rect(62, 20, 320, 240)),
        ((1920, 1080), Rect(0, 0, 300, 300), Fit.LETTERBOX, Rect(0, 0, 1920, 1080),
         Rect(0, 66, 300, 168)),
        ((641, 481), Rect(0, 0, 640, 480), Fit.CROP, Rect(0, 0, 640, 480), Rect(0, 0, 640, 480)),
    ],
)
def test_fit_table(src: tuple[int, int], dst: Rect, mode: Fit, crop: Rect, dest: Rect) -> None:
    assert fit(*src, dst, mode) == (crop, dest)


@pytest.mark.parametrize(("src", "dst"), [((1, 720), Rect(0, 0, 2, 2)), ((640, 480), Rect(0, 0, 0, 2))])
def test_fit_refuses_empty_input(src: tuple[int, int], dst: Rect) -> None:
    with pytest.raises(GeometryError):
        fit(*src, dst)


even = st.integers(1, 960).map(lambda v: 2 * v)


@given(sw=even, sh=even, dw=even, dh=even, mode=st.sampled_from(list(Fit)))
def test_fit_is_even_inside_and_keeps_aspect(sw: int, sh: int, dw: int, dh: int, mode: Fit) -> None:
    dst = Rect(4, 6, dw, dh)
    crop, dest = fit(sw, sh, dst, mode)
    for r in (crop, dest):
        assert all(v % 2 == 0 for v in (r.x, r.y, r.w, r.h)) and r.w > 0 and r.h > 0
    assert 0 <= crop.x and crop.right <= sw and 0 <= crop.y and crop.bottom <= sh
    assert dst.x <= dest.x and dest.right <= dst.right and dst.y <= dest.y and dest.bottom <= dst.bottom
    # one scale factor in both directions: the computed side is within 1 px of exact
    # (or at the 2 px minimum)
    if mode is Fit.CROP:
        assert dest == dst
        assert (crop.w == sw and (abs(crop.h - sw * dh / dw) <= 1 or crop.h in (2, sh))) or (
            crop.h == sh and (abs(crop.w - sh * dw / dh) <= 1 or crop.w == 2)
        )
    else:
        assert crop == Rect(0, 0, sw, sh)
        assert (dest.h == dh and (abs(dest.w - dh * sw / sh) <= 1 or dest.w in (2, dw))) or (
            dest.w == dw and (abs(dest.h - dw * sh / sw) <= 1 or dest.h == 2)
        )
