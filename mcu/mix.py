"""Python face of the Cython media kernels (``mcu._mix``).

The functions here validate shapes, dtypes, indices and rectangles, allocate outputs and
precompute lookup tables, then call a kernel that trusts them. Every check raises
:class:`KernelInputError` (a ``ValueError``) whose message names what is wrong.

Audio works on int16 frames of N members (N x S); video works on uint8 I420 planes that may be
numpy views into a larger array (any row stride, pixels contiguous within a row).
"""

from __future__ import annotations

import enum
import functools
import operator
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from mcu import _mix  # type: ignore[attr-defined]  # Cython extension, no stub
from mcu import mix_reference as _ref

__all__ = [
    "GAIN_MAX_Q14",
    "GAIN_ONE_Q14",
    "LEVEL_SILENCE",
    "KernelInputError",
    "Levels",
    "MixResult",
    "Rect",
    "ScaleMethod",
    "alaw_decode",
    "alaw_encode",
    "audio_levels",
    "blend_mask_i420",
    "chroma_rect",
    "draw_border",
    "draw_border_i420",
    "fill_rect",
    "fill_rect_i420",
    "gains_to_q14",
    "mix_minus",
    "mix_minus_levels",
    "scale_i420",
    "scale_plane",
    "ulaw_decode",
    "ulaw_encode",
]

I16 = npt.NDArray[np.int16]
U8 = npt.NDArray[np.uint8]
Planes = Sequence[U8]  # (Y, U, V)
Colour = tuple[int, int, int]

GAIN_ONE_Q14 = _ref.GAIN_ONE_Q14
GAIN_MAX_Q14 = 65535  # ~4.0 (+12 dB); keeps sample * gain inside int32
LEVEL_SILENCE = _ref.LEVEL_SILENCE

# ms > _LEVEL_THRESHOLDS[L]  <=>  -10*log10(ms / 32768**2) < L + 0.5
_LEVEL_THRESHOLDS = np.ascontiguousarray(
    _ref.FULL_SCALE**2 * 10.0 ** (-(np.arange(LEVEL_SILENCE) + 0.5) / 10.0)
)


class KernelInputError(ValueError):
    """An argument of a media kernel has the wrong type, shape, dtype or range."""


# Audio ---------------------------------------------------------------------------------------


class MixResult(NamedTuple):
    """One tick of the N-1 mixer for K mixed members."""

    sum32: npt.NDArray[np.int32]  # (S,) exact sum of the K contributions
    everyone: I16  # (S,) saturated mix for every member not among the K
    minus_self: I16  # (K, S) row k: saturated mix without members[k]


class Levels(NamedTuple):
    """Per-member loudness for speaker detection."""

    level: U8  # (N,) RFC 6464 -dBov, 0 = full scale, 127 = silence
    mean_square: npt.NDArray[np.float64]  # (N,) mean of sample**2 (int16 units)


def gains_to_q14(gains: npt.ArrayLike) -> npt.NDArray[np.int32]:
    """Linear float gains to the Q14 integers the mixer uses (1.0 -> 16384), rounded."""
    g = np.asarray(gains, dtype=np.float64)
    if not np.all(np.isfinite(g)) or np.any(g < 0):
        raise KernelInputError("gains must be finite and >= 0")
    q = np.floor(g * GAIN_ONE_Q14 + 0.5)
    if np.any(q > GAIN_MAX_Q14):
        raise KernelInputError(f"gains must be <= {GAIN_MAX_Q14 / GAIN_ONE_Q14:.4f} (Q14 65535)")
    return q.astype(np.int32)


def _check_frames(frames: object) -> I16:
    if not isinstance(frames, np.ndarray):
        raise KernelInputError(f"frames must be a numpy array, got {type(frames).__name__}")
    if frames.dtype != np.int16:
        raise KernelInputError(f"frames must be int16, got {frames.dtype}")
    if frames.ndim != 2 or frames.shape[0] == 0 or frames.shape[1] == 0:
        raise KernelInputError(
            f"frames must be a non-empty (members, samples) array, got {frames.shape}"
        )
    if not frames.flags.c_contiguous:
        raise KernelInputError("frames must be C-contiguous (np.ascontiguousarray)")
    return frames


def _check_members(members: npt.ArrayLike, n: int) -> npt.NDArray[np.int32]:
    if isinstance(members, np.ndarray) and members.dtype == np.int32 and members.ndim == 1:
        idx = np.ascontiguousarray(members)
    else:
        arr = np.asarray(members)
        if arr.ndim != 1:
            raise KernelInputError(
                f"members must be a 1-D list of row indices, got shape {arr.shape}"
            )
        if arr.size and arr.dtype.kind not in "iu":
            raise KernelInputError(f"members must be integer row indices, got {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            raise KernelInputError(f"members must be row indices in 0..{n - 1}, got {arr.tolist()}")
        idx = arr.astype(np.int32)
    if idx.size and _mix.first_bad_index(idx, n) >= 0:
        raise KernelInputError(
            f"members must be distinct row indices in 0..{n - 1}, got {idx.tolist()}"
        )
    return idx


_UNITY: dict[int, npt.NDArray[np.int32]] = {}


def _check_gains(gains_q14: npt.ArrayLike | None, n: int) -> npt.NDArray[np.int32]:
    if gains_q14 is None:
        unity = _UNITY.get(n)
        if unity is None:
            unity = np.full(n, GAIN_ONE_Q14, dtype=np.int32)
            unity.flags.writeable = False
            _UNITY[n] = unity
        return unity
    g = np.asarray(gains_q14)
    if g.shape != (n,):
        raise KernelInputError(f"gains_q14 must have one entry per member row ({n}), got {g.shape}")
    if g.dtype.kind not in "iu":
        raise KernelInputError(f"gains_q14 must be integers (use gains_to_q14), got {g.dtype}")
    if g.min() < 0 or g.max() > GAIN_MAX_Q14:
        raise KernelInputError(f"gains_q14 must lie in 0..{GAIN_MAX_Q14}")
    return np.ascontiguousarray(g, dtype=np.int32)


def mix_minus(
    frames: I16, members: npt.ArrayLike, gains_q14: npt.ArrayLike | None = None
) -> MixResult:
    """N-1 mix of the K rows ``members`` of ``frames`` (N x S int16).

    ``gains_q14`` (optional, one per row of ``frames``) scales each contribution to
    ``(x * g + 8192) >> 14``; 16384 is unity. See ``mix_reference.mix_minus``.
    """
    frames = _check_frames(frames)
    n, s = frames.shape
    idx = _check_members(members, n)
    gains = _check_gains(gains_q14, n)
    sum32 = np.empty(s, np.int32)
    mixes = np.empty((idx.size + 1, s), np.int16)  # row 0: everyone, then minus-self rows
    _mix.mix_minus(frames, idx, gains, sum32, mixes)
    return MixResult(sum32, mixes[0], mixes[1:])


def audio_levels(frames: I16) -> Levels:
    """RFC 6464 level and mean-square energy of each row of ``frames`` (N x S int16)."""
    frames = _check_frames(frames)
    n, s = frames.shape
    sumsq = np.empty(n, np.int64)
    level = np.empty(n, np.uint8)
    _mix.energy_levels(frames, _LEVEL_THRESHOLDS, sumsq, level)
    return Levels(level, sumsq / s)


def mix_minus_levels(
    frames: I16, members: npt.ArrayLike, gains_q14: npt.ArrayLike | None = None
) -> tuple[MixResult, Levels]:
    """``mix_minus`` and ``audio_levels`` of the same tick in one kernel call."""
    frames = _check_frames(frames)
    n, s = frames.shape
    idx = _check_members(members, n)
    gains = _check_gains(gains_q14, n)
    sum32 = np.empty(s, np.int32)
    mixes = np.empty((idx.size + 1, s), np.int16)
    sumsq = np.empty(n, np.int64)
    level = np.empty(n, np.uint8)
    _mix.mix_minus_levels(frames, idx, gains, sum32, mixes, _LEVEL_THRESHOLDS, sumsq, level)
    return MixResult(sum32, mixes[0], mixes[1:]), Levels(level, sumsq / s)


# G.711 ---------------------------------------------------------------------------------------

_ALL_INT16 = np.arange(65536, dtype=np.uint16).view(np.int16)  # table index = uint16 bits
_ULAW_ENC = np.ascontiguousarray(_ref.ulaw_encode(_ALL_INT16))
_ALAW_ENC = np.ascontiguousarray(_ref.alaw_encode(_ALL_INT16))
_ALL_CODES = np.arange(256, dtype=np.uint8)
_ULAW_DEC = np.ascontiguousarray(_ref.ulaw_decode(_ALL_CODES))
_ALAW_DEC = np.ascontiguousarray(_ref.alaw_decode(_ALL_CODES))
for _table in (_LEVEL_THRESHOLDS, _ULAW_ENC, _ALAW_ENC, _ULAW_DEC, _ALAW_DEC):
    _table.flags.writeable = False  # shared by every thread that calls a kernel


def _check_1d(name: str, a: object, dtype: type) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise KernelInputError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise KernelInputError(f"{name} must be {np.dtype(dtype)}, got {a.dtype}")
    if a.ndim != 1:
        raise KernelInputError(f"{name} must be 1-D, got shape {a.shape}")
    return np.ascontiguousarray(a)


def _g711_lookup(name: str, data: npt.NDArray, in_dtype: type, table: npt.NDArray,
                 kernel: Callable[[np.ndarray, np.ndarray, np.ndarray], None],
                 out: npt.NDArray | None) -> npt.NDArray:
    """Validate `data`, allocate or check `out` (same dtype as `table`), then run the table kernel.

    Encode (int16 -> uint8) and decode (uint8 -> int16) differ only in dtypes, table and kernel.
    """
    data = _check_1d(name, data, in_dtype)
    out_dtype = table.dtype
    if out is None:
        out = np.empty(data.size, out_dtype)
    elif out.dtype != out_dtype or out.shape != data.shape or not out.flags.c_contiguous:
        raise KernelInputError(f"out must be contiguous {out_dtype} of shape {data.shape}")
    if data.size:
        kernel(data, table, out)
    return out


def _encode(pcm: I16, table: U8, out: U8 | None) -> U8:
    return _g711_lookup("pcm", pcm, np.int16, table, _mix.g711_encode, out)


def _decode(codes: U8, table: I16, out: I16 | None) -> I16:
    return _g711_lookup("codes", codes, np.uint8, table, _mix.g711_decode, out)


def ulaw_encode(pcm: I16, out: U8 | None = None) -> U8:
    """G.711 mu-law codes of int16 PCM (bit-exact with libavcodec's pcm_mulaw)."""
    return _encode(pcm, _ULAW_ENC, out)


def alaw_encode(pcm: I16, out: U8 | None = None) -> U8:
    """G.711 A-law codes of int16 PCM (bit-exact with libavcodec's pcm_alaw)."""
    return _encode(pcm, _ALAW_ENC, out)


def ulaw_decode(codes: U8, out: I16 | None = None) -> I16:
    """int16 PCM of G.711 mu-law codes."""
    return _decode(codes, _ULAW_DEC, out)


def alaw_decode(codes: U8, out: I16 | None = None) -> I16:
    """int16 PCM of G.711 A-law codes."""
    return _decode(codes, _ALAW_DEC, out)


# Video ---------------------------------------------------------------------------------------

WEIGHT_ONE = 1 << 12  # per-axis fixed-point unity of the resampler taps


class Rect(NamedTuple):
    """A pixel rectangle: top-left (x, y), width w, height h."""

    x: int
    y: int
    w: int
    h: int


class ScaleMethod(enum.Enum):
    BILINEAR = "bilinear"  # 2 taps, pixel centres aligned; aliases when shrinking over 2x
    AREA = "area"  # box filter: each output averages the source area it covers


def chroma_rect(rect: Rect | tuple[int, int, int, int]) -> Rect:
    """The I420 chroma rectangle of a luma rectangle: (x // 2, y // 2, ceil(w / 2), ceil(h / 2))."""
    x, y, w, h = rect
    return Rect(x // 2, y // 2, (w + 1) // 2, (h + 1) // 2)


def _check_plane(name: str, plane: object, writable: bool = False) -> U8:
    if not isinstance(plane, np.ndarray):
        raise KernelInputError(f"{name} must be a numpy array, got {type(plane).__name__}")
    if plane.dtype != np.uint8:
        raise KernelInputError(f"{name} must be uint8, got {plane.dtype}")
    if plane.ndim != 2 or plane.shape[0] == 0 or plane.shape[1] == 0:
        raise KernelInputError(f"{name} must be a non-empty 2-D plane, got shape {plane.shape}")
    if plane.strides[1] != 1 or plane.strides[0] <= 0:
        raise KernelInputError(
            f"{name} rows must be contiguous pixels, got strides {plane.strides}"
        )
    if writable and not plane.flags.writeable:
        raise KernelInputError(f"{name} must be writable")
    return plane


def _check_rect(name: str, rect: object, plane: U8) -> Rect:
    try:
        x, y, w, h = map(operator.index, rect)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise KernelInputError(f"{name} must be (x, y, w, h) integers, got {rect!r}") from None
    ph, pw = plane.shape
    if w <= 0 or h <= 0:
        raise KernelInputError(f"{name} {(x, y, w, h)} must have positive width and height")
    if x < 0 or y < 0 or x + w > pw or y + h > ph:
        raise KernelInputError(f"{name} {(x, y, w, h)} lies outside the {pw}x{ph} plane")
    return Rect(x, y, w, h)


def _check_i420(name: str, planes: object, writable: bool = False) -> tuple[U8, U8, U8]:
    if not isinstance(planes, (tuple, list)) or len(planes) != 3:
        raise KernelInputError(f"{name} must be a (Y, U, V) tuple of planes")
    y = _check_plane(f"{name} Y", planes[0], writable)
    u = _check_plane(f"{name} U", planes[1], writable)
    v = _check_plane(f"{name} V", planes[2], writable)
    chroma = ((y.shape[0] + 1) // 2, (y.shape[1] + 1) // 2)
    if u.shape != chroma or v.shape != chroma:
        raise KernelInputError(
            f"{name} chroma planes must be {chroma} for a {y.shape} luma plane,"
            f" got U {u.shape} V {v.shape}"
        )
    return y, u, v


def _check_colour(colour: object) -> Colour:
    try:
        yuv = tuple(int(c) for c in colour)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise KernelInputError(f"colour must be (Y, U, V) integers, got {colour!r}") from None
    if len(yuv) != 3 or not all(0 <= c <= 255 for c in yuv):
        raise KernelInputError(f"colour must be three values in 0..255, got {colour!r}")
    return yuv  # type: ignore[return-value]


def _fixed_weights(w: np.ndarray) -> np.ndarray:
    """Round float taps (rows sum to 1) to Q12 with every row summing to exactly 4096."""
    q = np.floor(w * WEIGHT_ONE + 0.5).astype(np.int64)
    err = WEIGHT_ONE - q.sum(axis=1)
    big = np.argmax(q, axis=1)
    q[np.arange(q.shape[0]), big] += err
    return np.ascontiguousarray(q, dtype=np.uint16)


@functools.lru_cache(maxsize=256)
def _taps(src: int, dst: int, method: ScaleMethod) -> tuple[np.ndarray, np.ndarray]:
    """Start index (dst,) int32 and Q12 weights (dst, ntaps) uint16 of one axis."""
    if method is ScaleMethod.BILINEAR:
        ntaps = min(2, src)
        pos = np.clip((np.arange(dst) + 0.5) * (src / dst) - 0.5, 0.0, src - 1.0)
        start = np.minimum(np.floor(pos).astype(np.int64), src - ntaps)
        frac = pos - start
        w = np.stack([1.0 - frac, frac], axis=1) if ntaps == 2 else np.ones((dst, 1))
    else:
        scale = src / dst
        lo = np.arange(dst) * scale
        hi = lo + scale
        first = np.floor(lo).astype(np.int64)
        last = np.minimum(np.ceil(hi).astype(np.int64), src)  # exclusive
        ntaps = int((last - first).max())
        start = np.minimum(first, src - ntaps)
        j = start[:, None] + np.arange(ntaps)[None, :]
        cover = np.minimum(hi[:, None], j + 1) - np.maximum(lo[:, None], j)
        w = np.clip(cover, 0.0, None) / scale
    wq = _fixed_weights(w)
    start32 = np.ascontiguousarray(start, dtype=np.int32)
    start32.flags.writeable = False
    wq.flags.writeable = False
    return start32, wq


def _as_method(method: ScaleMethod | str) -> ScaleMethod:
    if type(method) is ScaleMethod:
        return method
    try:
        return ScaleMethod(method)
    except ValueError:
        names = ", ".join(m.value for m in ScaleMethod)
        raise KernelInputError(f"unknown scale method {method!r}; use one of {names}") from None


class _Plan(NamedTuple):
    """Everything ``resample_i420`` needs besides the planes, for one (source, rect) pair."""

    lxi: np.ndarray
    lxw: np.ndarray
    lyi: np.ndarray
    lyw: np.ndarray
    cxi: np.ndarray
    cxw: np.ndarray
    cyi: np.ndarray
    cyw: np.ndarray
    scratch: int  # uint32 entries


@functools.lru_cache(maxsize=256)
def _i420_plan(src_w: int, src_h: int, w: int, h: int, method: ScaleMethod) -> _Plan:
    cw, ch = (src_w + 1) // 2, (src_h + 1) // 2
    return _Plan(
        *_taps(src_w, w, method),
        *_taps(src_h, h, method),
        *_taps(cw, (w + 1) // 2, method),
        *_taps(ch, (h + 1) // 2, method),
        _mix.scratch_size(src_w, w),
    )


def scale_plane(
    src: U8,
    dst: U8,
    rect: Rect | tuple[int, int, int, int],
    method: ScaleMethod | str = ScaleMethod.BILINEAR,
) -> None:
    """Scale all of ``src`` into ``rect`` of ``dst`` (both uint8 planes, any row stride)."""
    src = _check_plane("src", src)
    dst = _check_plane("dst", dst, writable=True)
    r = _check_rect("rect", rect, dst)
    m = _as_method(method)
    sh, sw = src.shape
    xi, xw = _taps(sw, r.w, m)
    yi, yw = _taps(sh, r.h, m)
    out = dst[r.y : r.y + r.h, r.x : r.x + r.w]
    _mix.resample_plane(src, out, xi, xw, yi, yw, np.empty(_mix.scratch_size(sw, r.w), np.uint32))


def scale_i420(
    src: Planes,
    canvas: Planes,
    rect: Rect | tuple[int, int, int, int],
    method: ScaleMethod | str = ScaleMethod.BILINEAR,
) -> None:
    """Scale a whole I420 frame (Y, U, V) into ``rect`` of an I420 canvas.

    Luma goes to ``rect``; chroma goes to ``chroma_rect(rect)`` of the canvas chroma planes.
    """
    sy, su, sv = _check_i420("src", src)
    cy, cu, cv = _check_i420("canvas", canvas, writable=True)
    r = _check_rect("rect", rect, cy)
    x, y, w, h = r
    x2, y2, w2, h2 = x // 2, y // 2, (w + 1) // 2, (h + 1) // 2  # chroma_rect(r)
    lxi, lxw, lyi, lyw, cxi, cxw, cyi, cyw, scratch = _i420_plan(
        sy.shape[1], sy.shape[0], w, h, _as_method(method)
    )
    _mix.resample_i420(
        sy,
        su,
        sv,
        cy[y : y + h, x : x + w],
        cu[y2 : y2 + h2, x2 : x2 + w2],
        cv[y2 : y2 + h2, x2 : x2 + w2],
        lxi,
        lxw,
        lyi,
        lyw,
        cxi,
        cxw,
        cyi,
        cyw,
        np.empty(scratch, np.uint32),
    )


def fill_rect(plane: U8, rect: Rect | tuple[int, int, int, int], value: int) -> None:
    """Set ``rect`` of ``plane`` to ``value``."""
    plane = _check_plane("plane", plane, writable=True)
    r = _check_rect("rect", rect, plane)
    if not 0 <= int(value) <= 255:
        raise KernelInputError(f"value must be in 0..255, got {value}")
    _mix.fill_plane(plane[r.y : r.y + r.h, r.x : r.x + r.w], int(value))


def fill_rect_i420(canvas: Planes, rect: Rect | tuple[int, int, int, int], colour: Colour) -> None:
    """Fill ``rect`` of an I420 canvas with ``colour`` (Y, U, V); chroma uses ``chroma_rect``."""
    y, u, v = _check_i420("canvas", canvas, writable=True)
    r = _check_rect("rect", rect, y)
    c = chroma_rect(r)
    cy, cu, cv = _check_colour(colour)
    _mix.fill_plane(y[r.y : r.y + r.h, r.x : r.x + r.w], cy)
    _mix.fill_plane(u[c.y : c.y + c.h, c.x : c.x + c.w], cu)
    _mix.fill_plane(v[c.y : c.y + c.h, c.x : c.x + c.w], cv)


def _check_thickness(thickness: int) -> int:
    t = int(thickness)
    if t < 1:
        raise KernelInputError(f"thickness must be >= 1 pixel, got {thickness}")
    return t


def draw_border(
    plane: U8, rect: Rect | tuple[int, int, int, int], thickness: int, value: int
) -> None:
    """Draw a ``thickness``-pixel outline just inside ``rect`` of ``plane``."""
    plane = _check_plane("plane", plane, writable=True)
    r = _check_rect("rect", rect, plane)
    t = _check_thickness(thickness)
    if not 0 <= int(value) <= 255:
        raise KernelInputError(f"value must be in 0..255, got {value}")
    _mix.border_plane(plane[r.y : r.y + r.h, r.x : r.x + r.w], t, int(value))


def draw_border_i420(
    canvas: Planes, rect: Rect | tuple[int, int, int, int], thickness: int, colour: Colour
) -> None:
    """Outline ``rect`` of an I420 canvas (active speaker frame).

    Luma gets ``thickness`` pixels inside ``rect``; chroma gets ``ceil(thickness / 2)`` inside
    ``chroma_rect(rect)``.
    """
    y, u, v = _check_i420("canvas", canvas, writable=True)
    r = _check_rect("rect", rect, y)
    t = _check_thickness(thickness)
    c = chroma_rect(r)
    tc = (t + 1) // 2
    cy, cu, cv = _check_colour(colour)
    _mix.border_plane(y[r.y : r.y + r.h, r.x : r.x + r.w], t, cy)
    _mix.border_plane(u[c.y : c.y + c.h, c.x : c.x + c.w], tc, cu)
    _mix.border_plane(v[c.y : c.y + c.h, c.x : c.x + c.w], tc, cv)


def blend_mask_i420(canvas: Planes, mask: U8, x: int, y: int, colour: Colour) -> None:
    """Alpha-blend ``colour`` onto an I420 canvas through an 8-bit coverage ``mask`` at (x, y).

    Luma: ``(d * (255 - a) + c * a + 127) // 255`` per pixel. Chroma: the same with ``a`` the
    rounded mean of the mask over each 2x2 luma block (mask pixels outside count as 0), over the
    chroma samples from ``(x // 2, y // 2)`` to ``((x + w - 1) // 2, (y + h - 1) // 2)``.
    """
    py, pu, pv = _check_i420("canvas", canvas, writable=True)
    m = _check_plane("mask", mask)
    h, w = m.shape
    r = _check_rect("mask rect", (x, y, w, h), py)
    cy, cu, cv = _check_colour(colour)
    c = Rect(r.x // 2, r.y // 2, (r.x % 2 + w + 1) // 2, (r.y % 2 + h + 1) // 2)
    _mix.blend_mask_luma(py[r.y : r.y + h, r.x : r.x + w], m, cy)
    ox, oy = r.x % 2, r.y % 2
    _mix.blend_mask_chroma(pu[c.y : c.y + c.h, c.x : c.x + c.w], m, ox, oy, cu)
    _mix.blend_mask_chroma(pv[c.y : c.y + c.h, c.x : c.x + c.w], m, ox, oy, cv)
