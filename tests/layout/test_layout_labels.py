"""Labels: Vietnamese names rasterised with the shipped font, shortened, cached."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mcu.layout.labels import (
    ELLIPSIS,
    FONT_PATH,
    LabelError,
    _fit_font,
    _font,
    render_label,
    shorten,
)

DIACRITICS = "ả ẫ ệ ờ ự đ Ư"
MAX_FONT_BYTES = 1_000_000


@pytest.mark.parametrize(("height", "width"), [(0, 100), (20, 0), (-1, -1)])
def test_non_positive_box_is_refused(height: int, width: int) -> None:
    with pytest.raises(LabelError):
        render_label("Lào Cai", height, width)


def test_box_narrower_than_an_ellipsis_gives_an_empty_mask() -> None:
    mask = render_label("UBND tỉnh Lào Cai", 20, 3)
    assert mask.shape == (20, 0)


def test_empty_text_gives_an_empty_mask() -> None:
    assert render_label("   ", 20, 100).shape == (20, 0)


def test_font_is_shipped_small_with_its_licence() -> None:
    assert FONT_PATH.is_file() and FONT_PATH.stat().st_size < MAX_FONT_BYTES
    assert (FONT_PATH.parent / "LICENSE-DejaVu.txt").is_file()


def test_mask_shape_dtype_and_read_only() -> None:
    mask = render_label("Bộ Thông tin và Truyền thông", 24, 1000)
    assert mask.dtype == np.uint8 and mask.shape[0] == 24 and 0 < mask.shape[1] <= 1000
    assert mask.max() == 255 and mask.min() == 0
    assert not mask.flags.writeable


def test_cached_by_text_height_and_width() -> None:
    a = render_label("UBND tỉnh Sơn La", 20, 300)
    assert render_label("UBND tỉnh Sơn La", 20, 300) is a
    assert render_label("UBND tỉnh Sơn La", 20, 301) is not a


def test_nfd_input_renders_like_nfc() -> None:
    nfc = "UBND tỉnh Thừa Thiên Huế"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    assert np.array_equal(render_label(nfd, 22, 400), render_label(nfc, 22, 400))


@pytest.mark.parametrize("letter", DIACRITICS.split())
def test_every_vietnamese_letter_has_a_real_glyph(letter: str) -> None:
    base = unicodedata.normalize("NFD", letter)[0].replace("đ", "d")
    missing = render_label("\U000f0000", 40, 200)  # private use: the font's .notdef box
    glyph = render_label(letter, 40, 200)
    assert glyph.any()
    assert not np.array_equal(glyph, missing)
    assert not np.array_equal(glyph, render_label(base, 40, 200)), f"{letter} lost its marks"


@pytest.mark.parametrize("height", [12, 14, 20, 28, 36, 48])
def test_stacked_marks_and_descenders_are_not_clipped(height: int) -> None:
    text = "ẪỮỶ gjpqỵ Ư"
    size, baseline = _fit_font(height)
    mask = render_label(text, height, 2000)
    # the same text drawn on a roomy canvas: total ink must match (nothing cut off)
    free = Image.new("L", (mask.shape[1] + 40, height * 4), 0)
    ImageDraw.Draw(free).text((0, height * 2), text, font=_font(size), fill=255, anchor="ls")
    ink = np.asarray(free, dtype=np.int64).sum()
    assert abs(int(mask.astype(np.int64).sum()) - ink) <= ink * 0.002
    assert 0 < baseline < height


@pytest.mark.parametrize("width", [30, 41, 57, 80, 120, 163, 200, 260])
def test_long_names_get_an_ellipsis_and_never_overflow(width: int) -> None:
    name = "Bộ Nông nghiệp và Phát triển nông thôn"
    mask = render_label(name, 20, width)
    assert mask.shape[1] <= width
    size, _ = _fit_font(20)
    shown = shorten(name, size, width)
    assert shown.endswith(ELLIPSIS)
    assert name.startswith(shown[:-1].rstrip())


def test_short_name_is_not_shortened() -> None:
    size, _ = _fit_font(20)
    assert shorten("Bộ Y tế", size, 500) == "Bộ Y tế"


def test_cut_never_separates_a_letter_from_its_combining_mark() -> None:
    # a mark with no precomposed form stays combining after NFC
    text = "x\u0323\u0302" * 30
    size, _ = _fit_font(20)
    cuts = set()
    for width in range(10, 200, 3):
        body = shorten(text, size, width).removesuffix(ELLIPSIS)
        assert len(body) % 3 == 0, f"width {width}: cut inside a cluster"
        cuts.add(len(body))
    assert len(cuts) > 5


# ----- placement inside a tile ----------------------------------------------------------------


def test_label_off_empty_or_too_small_is_not_placed() -> None:
    from mcu.layout.geometry import Rect
    from mcu.layout.labels import place_label
    from mcu.layout.model import Style

    assert place_label(Rect(0, 0, 400, 200), "Bộ Y tế", Style(label=False)) is None
    assert place_label(Rect(0, 0, 400, 200), "  ", Style()) is None
    assert place_label(Rect(0, 0, 400, 16), "Bộ Y tế", Style()) is None  # 14 px + borders
    assert place_label(Rect(0, 0, 400, 18), "Bộ Y tế", Style()) is not None
    assert place_label(Rect(0, 0, 12, 200), "Bộ Y tế", Style()) is None


@pytest.mark.parametrize(
    ("position", "x", "y"),
    [("bottom-left", 102, 270), ("top-left", 102, 22), ("top-right", None, 22),
     ("bottom-center", None, 270), ("top-center", None, 22), ("bottom-right", None, 270)],
)
def test_label_positions_stay_inside_the_border(position: str, x: int | None, y: int) -> None:
    from mcu.layout.geometry import Rect
    from mcu.layout.labels import place_label
    from mcu.layout.model import Style

    rect = Rect(100, 20, 400, 280)
    placed = place_label(rect, "UBND tỉnh Lào Cai", Style(label_position=position))
    assert placed is not None
    box = placed.box
    assert box.h == 28 and box.y == y
    assert all(v % 2 == 0 for v in (box.x, box.y, box.w, box.h))
    if x is not None:
        assert box.x == x
    assert rect.x + 2 <= box.x and box.right <= rect.right - 2
    assert placed.text_x > box.x and placed.text_x + placed.mask.shape[1] < box.right
    if position.endswith("right"):
        assert box.right == rect.right - 2
    if position.endswith("center"):
        assert abs((box.x + box.right) / 2 - (rect.x + rect.right) / 2) <= 1
