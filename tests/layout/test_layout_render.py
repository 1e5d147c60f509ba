"""Offline rendering against committed golden PNGs (mean absolute difference)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mcu.layout.errors import LayoutNotFound
from mcu.layout.geometry import Rect, place
from mcu.layout.labels import render_label
from mcu.layout.loader import load_config_dir
from mcu.layout.model import Style
from mcu.layout.render import (
    compose_rgb,
    draw_label,
    placeholder_color,
    preview_picture,
    render_contact_sheet,
    render_contact_sheet_rgb,
    render_layout,
    render_layout_png,
)
from tests.layout.layout_fixtures import CONF, GOLDEN

SHIPPED = load_config_dir(CONF)
# Tolerance: rasteriser noise across FreeType builds stays well under both limits; a moved
# tile, a changed colour or a lost diacritic (a few hundred pixels off by > 64 levels) does not.
MAX_MEAN_ABS_DIFF = 0.5
MAX_FAR_OFF_FRACTION = 0.0005  # of pixels differing by more than FAR_OFF_LEVELS
FAR_OFF_LEVELS = 64
UPDATE = os.environ.get("MCU_UPDATE_GOLDEN") == "1"  # regenerate: MCU_UPDATE_GOLDEN=1 pytest ...

VIETNAMESE = "ả ẫ ệ ờ ự đ Ư – UBND tỉnh Lào Cai, Bộ Thông tin và Truyền thông"


def vietnamese_label() -> np.ndarray:
    return np.array(render_label(VIETNAMESE, 40, 2000))


def tile_with_label() -> np.ndarray:
    canvas = np.zeros((120, 480, 3), np.uint8)
    canvas[:] = (40, 90, 160)
    draw_label(canvas, Rect(0, 0, 480, 120), "Đắk Lắk: Ư ự ờ ẫ ả ệ đ – UBND tỉnh Thừa Thiên Huế",
               Style(label_height=0.3, label_max_px=40))
    return canvas


GOLDENS: dict[str, Callable[[], np.ndarray]] = {
    "label_vietnamese.png": vietnamese_label,
    "tile_label_vietnamese.png": tile_with_label,
    "speaker_10_1280x720.png": lambda: render_layout(SHIPPED, "speaker", 10, (1280, 720)),
    "grid_26_640x360.png": lambda: render_layout(SHIPPED, "grid", 26, (640, 360)),
    "chair_1_8_1280x720.png": lambda: render_layout(SHIPPED, "chair+1+8", 12, (1280, 720)),
    "pip_2_1280x720.png": lambda: render_layout(SHIPPED, "pip", 3, (1280, 720)),
    "contact_sheet.png": lambda: render_contact_sheet_rgb(SHIPPED),
}


@pytest.mark.parametrize("name", list(GOLDENS))
def test_render_matches_golden(name: str) -> None:
    picture = GOLDENS[name]()
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        Image.fromarray(picture).save(path)
    assert path.is_file(), f"missing golden {path}; run with MCU_UPDATE_GOLDEN=1 and review it"
    mean, far = compare(np.asarray(Image.open(path)), picture)
    assert mean <= MAX_MEAN_ABS_DIFF, f"{name}: mean abs diff {mean:.3f}"
    assert far <= MAX_FAR_OFF_FRACTION, f"{name}: {far:.4%} of pixels far off"


def compare(golden: np.ndarray, picture: np.ndarray) -> tuple[float, float]:
    """(mean absolute difference, fraction of pixels off by more than FAR_OFF_LEVELS)."""
    assert golden.shape == picture.shape
    diff = np.abs(golden.astype(np.int16) - picture.astype(np.int16))
    per_pixel = diff.max(axis=2) if diff.ndim == 3 else diff
    return float(diff.mean()), float((per_pixel > FAR_OFF_LEVELS).mean())


def test_golden_comparison_detects_a_changed_label() -> None:
    golden = np.asarray(Image.open(GOLDEN / "tile_label_vietnamese.png"))
    canvas = np.zeros((120, 480, 3), np.uint8)
    canvas[:] = (40, 90, 160)
    draw_label(canvas, Rect(0, 0, 480, 120), "Dak Lak: U u o a a e d – UBND tinh Thua Thien Hue",
               Style(label_height=0.3, label_max_px=40))
    mean, far = compare(golden, canvas)
    assert mean > MAX_MEAN_ABS_DIFF or far > MAX_FAR_OFF_FRACTION


def test_negative_member_count_is_refused() -> None:
    with pytest.raises(ValueError):
        render_layout(SHIPPED, "speaker", -1)


def test_unknown_layout_is_refused() -> None:
    with pytest.raises(LayoutNotFound):
        render_layout(SHIPPED, "6x6", 3)


def test_labels_never_leave_their_tile() -> None:
    layout = SHIPPED.layouts["5x5"]
    size = (640, 360)
    long = {f"m{i}": "Bộ Nông nghiệp và Phát triển nông thôn " * 3 for i in range(25)}
    colors = {f"m{i}": (0, 0, 0) for i in range(25)}
    slots = [f"m{i}" for i in range(25)]
    labelled = compose_rgb(layout, slots, size, long, colors)
    plain = compose_rgb(layout, slots, size, {m: "" for m in slots}, colors)
    changed = np.any(labelled != plain, axis=2)
    for rect in place(layout, *size):
        inside = changed[rect.y : rect.bottom, rect.x : rect.right]
        assert inside.any(), "each tile has a label"
        # the label box stays inside the tile's border
        border = layout.regions[0].style.border
        assert not inside[:, :border].any() and not inside[:, rect.w - border :].any()


def test_empty_reserved_region_shows_the_reserved_site_name() -> None:
    layout, assignment, _ = preview_picture(SHIPPED, "chair+1+8", 0)
    assert assignment.slots == (None,) * layout.capacity
    picture = render_layout(SHIPPED, "chair+1+8", 0, (1280, 720))
    rect = place(layout, 1280, 720)[0]
    tile = picture[rect.y : rect.bottom, rect.x : rect.right]
    assert len(np.unique(tile.reshape(-1, 3), axis=0)) > 3  # grey tile, border, label


def test_placeholder_colours_are_distinct() -> None:
    colors = {placeholder_color(i) for i in range(70)}
    assert len(colors) == 70


def test_png_files_are_written(tmp_path: Path) -> None:
    out = tmp_path / "one.png"
    picture = render_layout_png("1+5", 6, (640, 360), SHIPPED, out)
    assert np.array_equal(np.asarray(Image.open(out)), picture)
    sheet = render_contact_sheet(SHIPPED, tmp_path / "sheet.png")
    assert Image.open(tmp_path / "sheet.png").size == (sheet.shape[1], sheet.shape[0])
