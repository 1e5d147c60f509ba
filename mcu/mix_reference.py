"""Plain numpy implementations of the media kernels: the truth the Cython kernels are tested against.

These are written for clarity (and, for the audio mix, as a fair vectorised baseline for the
benchmarks), not for speed. Integer semantics are exact and match ``mcu._mix`` bit for bit;
the video scalers are float references that the fixed-point kernels must match within one
code value.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

I16 = npt.NDArray[np.int16]
U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]

GAIN_SHIFT = 14
GAIN_ONE_Q14 = 1 << GAIN_SHIFT
FULL_SCALE = 32768.0
LEVEL_SILENCE = 127

# Audio mix ------------------------------------------------------------------------------------


def gained(frames: I16, members: npt.ArrayLike, gains_q14: npt.ArrayLike | None) -> np.ndarray:
    """Contributions ``c[k] = (frames[members[k]] * gain + 2**13) >> 14`` as int32 (K, S)."""
    idx = np.asarray(members, dtype=np.intp)
    rows = frames[idx].astype(np.int32)
    if gains_q14 is None:
        return rows
    g = np.asarray(gains_q14, dtype=np.int32)[idx][:, None]
    return (rows * g + (1 << (GAIN_SHIFT - 1))) >> GAIN_SHIFT


def mix_minus(
    frames: I16, members: npt.ArrayLike, gains_q14: npt.ArrayLike | None = None
) -> tuple[np.ndarray, I16, I16]:
    """Vectorised N-1 mix: (int32 sum of K, saturated everyone mix, saturated mix minus each)."""
    c = gained(frames, members, gains_q14)
    sum32 = c.sum(axis=0, dtype=np.int32)
    everyone = np.clip(sum32, -32768, 32767).astype(np.int16)
    minus_self = np.clip(sum32[None, :] - c, -32768, 32767).astype(np.int16)
    return sum32, everyone, minus_self


# Levels (RFC 6464) ----------------------------------------------------------------------------


def mean_square(frames: I16) -> F64:
    """Mean-square energy of each row: ``sum(x**2) / S`` with the sum exact in int64."""
    sumsq = (frames.astype(np.int64) ** 2).sum(axis=1)
    return sumsq / frames.shape[1]


def level_dbov(frames: I16) -> U8:
    """RFC 6464 level of each row: -dBov rounded half up, 0 (full scale) .. 127 (silence).

    dBov is relative to a full-scale square wave (RMS 32768), so a full-scale sine is 3 and
    room noise at -55 dBFS RMS is 55; digital silence and anything at or below -127 dBov is 127.
    """
    ms = mean_square(frames)
    out = np.full(ms.shape, LEVEL_SILENCE, dtype=np.uint8)
    live = ms > 0
    db = -10.0 * np.log10(ms[live] / (FULL_SCALE * FULL_SCALE))
    out[live] = np.clip(np.floor(db + 0.5), 0, LEVEL_SILENCE).astype(np.uint8)
    return out


# G.711 ---------------------------------------------------------------------------------------
# Decoding follows ITU-T G.711 Tables 1 and 2 (as written in ITU-T G.191's g711.c). Encoding
# quantises the 14-bit value ``x >> 2`` with decision values midway between adjacent decoded
# levels, symmetric in sign, exactly as libavcodec (PyAV) does. ITU-T G.191's g711.c treats a
# negative input in one's complement instead (``~x``), so it differs from libavcodec by one step
# on 964 of the 65,536 inputs, each lying exactly on a decision value; we follow libavcodec.


def ulaw_decode(codes: npt.ArrayLike) -> I16:
    """G.711 mu-law expansion to 16-bit linear PCM."""
    c = np.asarray(codes, dtype=np.int32)
    mant = ~c
    exponent = (mant >> 4) & 0x07
    step = 4 << (exponent + 1)
    mag = (0x80 << exponent) + step * (mant & 0x0F) + step // 2 - 4 * 33
    return np.where(c < 0x80, -mag, mag).astype(np.int16)


def alaw_decode(codes: npt.ArrayLike) -> I16:
    """G.711 A-law expansion to 16-bit linear PCM."""
    c = np.asarray(codes, dtype=np.int32)
    ix = (c ^ 0x55) & 0x7F
    iexp = ix >> 4
    mant = ix & 0x0F
    mant = np.where(iexp > 0, mant + 16, mant)
    mant = (mant << 4) + 8
    mant = np.where(iexp > 1, mant << np.maximum(iexp - 1, 0), mant)
    return np.where(c > 127, mant, -mant).astype(np.int16)


def _encode(pcm: npt.ArrayLike, decode: object, sign_mask: int) -> U8:
    x = np.asarray(pcm, dtype=np.int32)
    ranks = np.arange(128, dtype=np.int32)
    levels = np.abs(decode(ranks ^ sign_mask).astype(np.int32))  # type: ignore[operator]
    order = np.argsort(levels, kind="stable")  # rank by decoded magnitude
    codes_by_mag = ranks[order]
    mags = levels[order]
    decision = (mags[:-1] + mags[1:] + 4) >> 3  # midpoint, in units of the 14-bit value
    j = np.abs(x >> 2)
    j = np.minimum(j, 8191)  # -32768 >> 2 has no positive twin; it saturates
    step = np.searchsorted(decision, j, side="right")
    code = codes_by_mag[step] ^ sign_mask
    return np.where(x < 0, code ^ 0x80, code).astype(np.uint8)


def ulaw_encode(pcm: npt.ArrayLike) -> U8:
    """G.711 mu-law compression of 16-bit linear PCM."""
    return _encode(pcm, ulaw_decode, 0xFF)


def alaw_encode(pcm: npt.ArrayLike) -> U8:
    """G.711 A-law compression of 16-bit linear PCM."""
    return _encode(pcm, alaw_decode, 0xD5)


# Video ---------------------------------------------------------------------------------------


def bilinear_matrix(src: int, dst: int) -> F64:
    """(dst, src) float weights of bilinear resampling with pixel centres aligned, edges clamped."""
    pos = (np.arange(dst) + 0.5) * (src / dst) - 0.5
    pos = np.clip(pos, 0.0, src - 1.0)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, src - 1)
    frac = pos - i0
    m = np.zeros((dst, src))
    rows = np.arange(dst)
    np.add.at(m, (rows, i0), 1.0 - frac)
    np.add.at(m, (rows, i1), frac)
    return m


def area_matrix(src: int, dst: int) -> F64:
    """(dst, src) float weights of area (box) resampling: each output averages what it covers."""
    scale = src / dst
    m = np.zeros((dst, src))
    for i in range(dst):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(math.floor(lo), min(src, math.ceil(hi))):
            m[i, j] = (min(hi, j + 1) - max(lo, j)) / scale
    return m


def scale_plane(src: U8, dst_w: int, dst_h: int, method: str) -> U8:
    """Float reference: ``round(Wy @ src @ Wx.T)`` for ``method`` 'bilinear' or 'area'."""
    build = bilinear_matrix if method == "bilinear" else area_matrix
    wy = build(src.shape[0], dst_h)
    wx = build(src.shape[1], dst_w)
    out = wy @ src.astype(np.float64) @ wx.T
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def blend_luma(dst: U8, mask: U8, colour: int) -> U8:
    """``(dst * (255 - mask) + colour * mask + 127) // 255``."""
    d = dst.astype(np.uint32)
    a = mask.astype(np.uint32)
    return ((d * (255 - a) + colour * a + 127) // 255).astype(np.uint8)


def chroma_alpha(mask: U8, x: int, y: int) -> U8:
    """Mask placed at luma (x, y), subsampled 2x2 onto the chroma grid (outside counts as 0).

    Returns the alpha for the chroma rect starting at (x // 2, y // 2): ``(sum of 4 + 2) >> 2``.
    """
    h, w = mask.shape
    ox, oy = x % 2, y % 2
    ch = (oy + h + 1) // 2
    cw = (ox + w + 1) // 2
    padded = np.zeros((2 * ch, 2 * cw), dtype=np.uint32)
    padded[oy : oy + h, ox : ox + w] = mask
    sums = padded.reshape(ch, 2, cw, 2).sum(axis=(1, 3))
    return ((sums + 2) >> 2).astype(np.uint8)


def border(h: int, w: int, thickness: int) -> npt.NDArray[np.bool_]:
    """Boolean (h, w) mask of a ``thickness``-pixel outline just inside an h x w rectangle."""
    t = thickness
    m = np.zeros((h, w), dtype=bool)
    m[:t] = True
    m[max(h - t, 0) :] = True
    m[:, :t] = True
    m[:, max(w - t, 0) :] = True
    return m
