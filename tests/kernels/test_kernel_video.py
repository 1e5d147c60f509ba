"""I420 scale, fill, border and label blending against the numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcu import mix
from mcu import mix_reference as ref

FAST = settings(max_examples=100, deadline=None)
METHODS = [m.value for m in mix.ScaleMethod]


def _plane(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def _i420(h: int, w: int, seed: int = 0, pad: int = 0) -> tuple[np.ndarray, ...]:
    """Random I420 planes, each a view into a larger array when ``pad`` > 0 (row stride > width)."""
    rng = np.random.default_rng(seed)
    planes = []
    for ph, pw in ((h, w), ((h + 1) // 2, (w + 1) // 2), ((h + 1) // 2, (w + 1) // 2)):
        big = rng.integers(0, 256, (ph + 2 * pad, pw + 3 * pad), dtype=np.uint8)
        planes.append(big[pad : pad + ph, 2 * pad : 2 * pad + pw])
    return tuple(planes)


def _copy(planes: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    return [p.copy() for p in planes]


# Negative cases ------------------------------------------------------------------------------

CANVAS = (np.zeros((10, 16), np.uint8), np.zeros((5, 8), np.uint8), np.zeros((5, 8), np.uint8))
SRC = (np.zeros((4, 6), np.uint8), np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.uint8))


def _bad_scale(
    message: str,
    *,
    src: np.ndarray | None = None,
    dst: np.ndarray | None = None,
    rect: tuple[int, ...] = (0, 0, 2, 2),
    method: str = "bilinear",
) -> tuple[object, ...]:
    """One rejected scale_plane call: a valid 4x4 -> 8x8 call with one argument spoiled."""
    return (
        np.zeros((4, 4), np.uint8) if src is None else src,
        np.zeros((8, 8), np.uint8) if dst is None else dst,
        rect,
        method,
        message,
    )


@pytest.mark.parametrize(
    ("src", "dst", "rect", "method", "message"),
    [
        _bad_scale("src must be uint8", src=np.zeros((4, 4), np.uint16)),
        _bad_scale("2-D", src=np.zeros((4, 4, 3), np.uint8)),
        _bad_scale("non-empty", src=np.zeros((0, 4), np.uint8)),
        _bad_scale("contiguous pixels", src=np.zeros((4, 8), np.uint8)[:, ::2]),
        _bad_scale("outside the 8x8", rect=(0, 0, 9, 2)),
        _bad_scale("outside", rect=(-1, 0, 2, 2), method="area"),
        _bad_scale("outside", rect=(0, 7, 2, 2), method="area"),
        _bad_scale("positive width", rect=(0, 0, 0, 2), method="area"),
        _bad_scale(r"\(x, y, w, h\)", rect=(0, 0, 2), method="area"),
        _bad_scale("unknown scale method", method="bicubic"),
        _bad_scale("contiguous pixels", dst=np.zeros((8, 8), np.uint8)[::-1]),
    ],
)
def test_scale_plane_rejects(
    src: object, dst: object, rect: object, method: str, message: str
) -> None:
    with pytest.raises(mix.KernelInputError, match=message):
        mix.scale_plane(src, dst, rect, method)  # type: ignore[arg-type]


def test_scale_rejects_read_only_destination() -> None:
    dst = np.zeros((8, 8), np.uint8)
    dst.flags.writeable = False
    with pytest.raises(mix.KernelInputError, match="writable"):
        mix.scale_plane(np.zeros((4, 4), np.uint8), dst, (0, 0, 4, 4))


def test_i420_rejects_bad_planes() -> None:
    with pytest.raises(mix.KernelInputError, match="tuple of planes"):
        mix.scale_i420(SRC[:2], CANVAS, (0, 0, 4, 4))  # type: ignore[arg-type]
    bad_canvas = (CANVAS[0], np.zeros((4, 8), np.uint8), CANVAS[2])
    with pytest.raises(mix.KernelInputError, match=r"chroma planes must be \(5, 8\)"):
        mix.scale_i420(SRC, bad_canvas, (0, 0, 4, 4))
    with pytest.raises(mix.KernelInputError, match="outside the 16x10"):
        mix.scale_i420(SRC, CANVAS, (14, 0, 4, 4))


@pytest.mark.parametrize(
    ("colour", "message"), [((0, 0), "three values"), ((0, 0, 256), "0..255"), (None, "colour")]
)
def test_fill_rejects_bad_colour(colour: object, message: str) -> None:
    with pytest.raises(mix.KernelInputError, match=message):
        mix.fill_rect_i420(_copy(CANVAS), (0, 0, 4, 4), colour)  # type: ignore[arg-type]


def test_border_and_blend_reject_bad_args() -> None:
    with pytest.raises(mix.KernelInputError, match="thickness"):
        mix.draw_border_i420(_copy(CANVAS), (0, 0, 4, 4), 0, (1, 2, 3))
    with pytest.raises(mix.KernelInputError, match="value"):
        mix.draw_border(CANVAS[0].copy(), (0, 0, 4, 4), 2, 300)
    with pytest.raises(mix.KernelInputError, match="mask must be uint8"):
        mix.blend_mask_i420(_copy(CANVAS), np.zeros((2, 2), np.float32), 0, 0, (1, 2, 3))
    with pytest.raises(mix.KernelInputError, match="mask rect .* outside"):
        mix.blend_mask_i420(_copy(CANVAS), np.zeros((4, 4), np.uint8), 13, 0, (1, 2, 3))


# Scaling -------------------------------------------------------------------------------------


def test_identity_scale_copies_exactly() -> None:
    src = _plane(17, 23, seed=3)
    for method in METHODS:
        dst = np.zeros((17, 23), np.uint8)
        mix.scale_plane(src, dst, (0, 0, 23, 17), method)
        np.testing.assert_array_equal(dst, src)


def test_flat_source_stays_flat() -> None:
    for method in METHODS:
        dst = np.zeros((50, 50), np.uint8)
        mix.scale_plane(np.full((7, 9), 201, np.uint8), dst, (1, 2, 37, 5), method)
        assert (dst[2:7, 1:38] == 201).all()
        assert dst.sum() == 201 * 37 * 5


@FAST
@given(
    sh=st.integers(1, 40),
    sw=st.integers(1, 40),
    data=st.data(),
    method=st.sampled_from(METHODS),
    seed=st.integers(0, 2**32 - 1),
)
def test_scale_plane_matches_reference(
    sh: int, sw: int, data: st.DataObject, method: str, seed: int
) -> None:
    ch = data.draw(st.integers(1, 60))
    cw = data.draw(st.integers(1, 60))
    h = data.draw(st.integers(1, ch))
    w = data.draw(st.integers(1, cw))
    y = data.draw(st.integers(0, ch - h))
    x = data.draw(st.integers(0, cw - w))
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 256, (sh + 3, sw + 5), dtype=np.uint8)[2 : 2 + sh, 1 : 1 + sw]
    big = rng.integers(0, 256, (ch + 4, cw + 7), dtype=np.uint8)
    canvas = big[1 : 1 + ch, 3 : 3 + cw]  # a strided view
    before = big.copy()
    mix.scale_plane(src, canvas, (x, y, w, h), method)
    got = canvas[y : y + h, x : x + w].astype(np.int16)
    want = ref.scale_plane(src, w, h, method).astype(np.int16)
    assert np.abs(got - want).max() <= 1
    outside = np.ones(big.shape, bool)
    outside[1 + y : 1 + y + h, 3 + x : 3 + x + w] = False
    np.testing.assert_array_equal(big[outside], before[outside])


@FAST
@given(
    sh=st.integers(1, 30),
    sw=st.integers(1, 30),
    ch=st.integers(1, 40),
    cw=st.integers(1, 40),
    data=st.data(),
    method=st.sampled_from(METHODS),
    seed=st.integers(0, 2**32 - 1),
)
def test_scale_i420_into_canvas_rect(
    sh: int, sw: int, ch: int, cw: int, data: st.DataObject, method: str, seed: int
) -> None:
    h = data.draw(st.integers(1, ch))
    w = data.draw(st.integers(1, cw))
    rect = mix.Rect(data.draw(st.integers(0, cw - w)), data.draw(st.integers(0, ch - h)), w, h)
    src = _i420(sh, sw, seed=seed, pad=2)
    canvas = _i420(ch, cw, seed=seed + 1, pad=1)
    before = _copy(canvas)
    mix.scale_i420(src, canvas, rect, method)
    crect = mix.chroma_rect(rect)
    for plane, (r, s, old) in enumerate(zip((rect, crect, crect), src, before)):
        got = canvas[plane][r.y : r.y + r.h, r.x : r.x + r.w].astype(np.int16)
        want = ref.scale_plane(s, r.w, r.h, method).astype(np.int16)
        assert np.abs(got - want).max() <= 1, f"plane {plane}"
        inside = np.zeros(old.shape, bool)
        inside[r.y : r.y + r.h, r.x : r.x + r.w] = True
        np.testing.assert_array_equal(canvas[plane][~inside], old[~inside])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("src_size", "dst_size"),
    [
        ((640, 360), (426, 240)),
        ((640, 360), (17, 11)),
        ((7, 5), (640, 360)),
        ((333, 257), (40, 31)),
    ],
)
@pytest.mark.parametrize("pattern", ["checker", "stripes"])
def test_scale_extreme_patterns_within_one(
    method: str, src_size: tuple[int, int], dst_size: tuple[int, int], pattern: str
) -> None:
    """Full-contrast patterns maximise the fixed-point error; large factors mean many taps."""
    (sw, sh), (dw, dh) = src_size, dst_size
    yy, xx = np.indices((sh, sw))
    bits = (yy + xx) % 2 if pattern == "checker" else (xx % 3 == 0)
    src = (bits * 255).astype(np.uint8)
    dst = np.zeros((dh, dw), np.uint8)
    mix.scale_plane(src, dst, (0, 0, dw, dh), method)
    want = ref.scale_plane(src, dw, dh, method).astype(np.int16)
    assert np.abs(dst.astype(np.int16) - want).max() <= 1


def test_chroma_rect_rounds_sizes_up() -> None:
    assert mix.chroma_rect((3, 5, 7, 9)) == mix.Rect(1, 2, 4, 5)
    assert mix.chroma_rect((0, 0, 426, 240)) == mix.Rect(0, 0, 213, 120)


# Fill, border, blend -------------------------------------------------------------------------


@FAST
@given(
    ch=st.integers(1, 30),
    cw=st.integers(1, 30),
    data=st.data(),
    colour=st.tuples(*[st.integers(0, 255)] * 3),
    thickness=st.integers(1, 6),
)
def test_fill_and_border_match_reference(
    ch: int, cw: int, data: st.DataObject, colour: tuple[int, int, int], thickness: int
) -> None:
    h = data.draw(st.integers(1, ch))
    w = data.draw(st.integers(1, cw))
    rect = mix.Rect(data.draw(st.integers(0, cw - w)), data.draw(st.integers(0, ch - h)), w, h)
    crect = mix.chroma_rect(rect)
    for draw in ("fill", "border"):
        canvas = _i420(ch, cw, seed=ch * cw, pad=1)
        want = _copy(canvas)
        for plane, r, t in (
            (0, rect, thickness),
            (1, crect, (thickness + 1) // 2),
            (2, crect, (thickness + 1) // 2),
        ):
            region = want[plane][r.y : r.y + r.h, r.x : r.x + r.w]
            if draw == "fill":
                region[:] = colour[plane]
            else:
                region[ref.border(r.h, r.w, t)] = colour[plane]
        if draw == "fill":
            mix.fill_rect_i420(canvas, rect, colour)
        else:
            mix.draw_border_i420(canvas, rect, thickness, colour)
        for got, exp in zip(canvas, want):
            np.testing.assert_array_equal(got, exp)


def test_border_on_a_single_plane() -> None:
    plane = np.zeros((6, 8), np.uint8)
    mix.draw_border(plane, (1, 1, 6, 4), 1, 9)
    assert plane.tolist()[1] == [0, 9, 9, 9, 9, 9, 9, 0]
    assert plane.tolist()[2] == [0, 9, 0, 0, 0, 0, 9, 0]
    assert int((plane == 9).sum()) == 16
    mix.fill_rect(plane, (0, 0, 8, 6), 4)
    assert (plane == 4).all()


@FAST
@given(
    ch=st.integers(1, 30),
    cw=st.integers(1, 30),
    data=st.data(),
    colour=st.tuples(*[st.integers(0, 255)] * 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_blend_mask_matches_reference(
    ch: int, cw: int, data: st.DataObject, colour: tuple[int, int, int], seed: int
) -> None:
    h = data.draw(st.integers(1, ch))
    w = data.draw(st.integers(1, cw))
    x = data.draw(st.integers(0, cw - w))
    y = data.draw(st.integers(0, ch - h))
    rng = np.random.default_rng(seed)
    mask = rng.integers(0, 256, (h, w + 2), dtype=np.uint8)[:, 1 : 1 + w]
    mask[rng.random(mask.shape) < 0.3] = 255  # fully covered pixels
    mask[rng.random(mask.shape) < 0.3] = 0
    canvas = _i420(ch, cw, seed=seed, pad=1)
    want = _copy(canvas)
    want[0][y : y + h, x : x + w] = ref.blend_luma(want[0][y : y + h, x : x + w], mask, colour[0])
    alpha = ref.chroma_alpha(mask, x, y)
    cy, cx = y // 2, x // 2
    for plane in (1, 2):
        region = want[plane][cy : cy + alpha.shape[0], cx : cx + alpha.shape[1]]
        region[:] = ref.blend_luma(region, alpha, colour[plane])
    mix.blend_mask_i420(canvas, mask, x, y, colour)
    for got, exp in zip(canvas, want):
        np.testing.assert_array_equal(got, exp)


def test_opaque_mask_paints_colour_and_clear_mask_changes_nothing() -> None:
    canvas = _i420(8, 8, seed=5)
    before = _copy(canvas)
    mix.blend_mask_i420(canvas, np.zeros((8, 8), np.uint8), 0, 0, (10, 20, 30))
    for got, old in zip(canvas, before):
        np.testing.assert_array_equal(got, old)
    mix.blend_mask_i420(canvas, np.full((8, 8), 255, np.uint8), 0, 0, (10, 20, 30))
    assert (canvas[0] == 10).all() and (canvas[1] == 20).all() and (canvas[2] == 30).all()
