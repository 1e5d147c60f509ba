"""The live I420 compositor: tiles land in their regions with their colours, name cards otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcu.layout import load_config_dir
from mcu.layout.compose import CanvasPlanes as Planes
from mcu.layout.compose import compose, new_canvas, rgb_to_yuv
from mcu.layout.geometry import place
from mcu.layout.model import Fit

CONF = Path(__file__).resolve().parents[2] / "conf"


def solid(width: int, height: int, rgb: tuple[int, int, int]) -> Planes:
    y, u, v = rgb_to_yuv(rgb)
    return Planes(np.full((height, width), y, np.uint8), np.full((height // 2, width // 2), u, np.uint8),
                  np.full((height // 2, width // 2), v, np.uint8))


def centre_yuv(canvas: Planes, rect) -> tuple[int, int, int]:
    cx, cy = rect.x + rect.w // 2, rect.y + rect.h // 2
    return (int(canvas.y[cy, cx]), int(canvas.u[cy // 2, cx // 2]), int(canvas.v[cy // 2, cx // 2]))


def test_each_member_in_its_region_and_name_card_for_no_picture() -> None:
    config = load_config_dir(CONF)
    layout = config.layouts["2x2"]
    colours = {"a": (200, 30, 30), "b": (30, 200, 30), "c": (30, 30, 200)}
    pictures = {m: solid(640, 360, rgb) for m, rgb in colours.items()} | {"d": None}
    canvas = new_canvas(1280, 720)
    compose(canvas, layout, ["a", "b", "c", "d"], pictures, {"d": "Hà Giang"}, floor="a")
    rects = place(layout, 1280, 720)
    for member, rect in zip("abc", rects):
        got = np.array(centre_yuv(canvas, rect))
        assert np.abs(got - np.array(rgb_to_yuv(colours[member]))).max() <= 2, member
    card = rects[3]
    text_rows = canvas.y[card.y: card.y + card.h, card.x: card.x + card.w]
    assert (text_rows > 200).sum() > 200, "the name card carries the name in white"


def test_letterbox_leaves_bars_and_crop_fills() -> None:
    config = load_config_dir(CONF)
    layout = config.layouts["1x1"]
    tall = solid(360, 640, (250, 250, 250))
    for mode, expect_bar in ((Fit.LETTERBOX, True), (Fit.CROP, False)):
        canvas = new_canvas(1280, 720)
        compose(canvas, layout, ["a"], {"a": tall}, {}, fit_mode=mode)
        assert (canvas.y[360, 100] < 100) == expect_bar, mode


def test_empty_slot_and_odd_source_sizes() -> None:
    config = load_config_dir(CONF)
    layout = config.layouts["3x3"]
    canvas = new_canvas(640, 360)
    odd = solid(352, 288, (10, 200, 200))
    compose(canvas, layout, ["a"] + [None] * 8, {"a": odd}, {})
    rect = place(layout, 640, 360)[0]
    assert np.abs(np.array(centre_yuv(canvas, rect)) - np.array(rgb_to_yuv((10, 200, 200)))).max() <= 2
