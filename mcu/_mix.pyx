# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False, language_level=3
"""Cython media kernels: N-1 audio mix, levels, G.711 tables, I420 scale/fill/border/blend.

Every kernel trusts its inputs: shapes, dtypes, index ranges and rectangles are checked by the
Python wrappers in ``mcu.mix``, which also allocate every output and scratch buffer. Kernels run
without the GIL, allocate nothing and touch no Python object inside their loops. Each docstring
gives the numpy expression (see ``mcu.mix_reference``) the kernel equals.

Planes are passed as 2-D uint8 memoryviews whose rows may have any stride (numpy views into a
larger canvas); the wrappers guarantee ``strides[1] == 1`` so the kernels work on a base pointer
plus a row stride.
"""
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memset

# Audio --------------------------------------------------------------------------------------

cdef enum:
    GAIN_SHIFT = 14
    GAIN_ROUND = 8192  # 1 << (GAIN_SHIFT - 1)


cdef inline int16_t _sat16(int32_t v) noexcept nogil:
    if v > 32767:
        return 32767
    if v < -32768:
        return -32768
    return <int16_t>v


cdef void _mix(const int16_t[:, ::1] frames, const int32_t[::1] members,
               const int32_t[::1] gains_q14, int32_t[::1] sum32, int16_t[::1] everyone,
               int16_t[:, ::1] minus_self) noexcept nogil:
    cdef Py_ssize_t k, s
    cdef Py_ssize_t n_samples = frames.shape[1]
    cdef int32_t g
    cdef const int16_t* row
    cdef int32_t* acc = &sum32[0]
    cdef int16_t* out
    for s in range(n_samples):
        acc[s] = 0
    for k in range(members.shape[0]):
        row = &frames[members[k], 0]
        g = gains_q14[members[k]]
        for s in range(n_samples):
            acc[s] += (<int32_t>row[s] * g + GAIN_ROUND) >> GAIN_SHIFT
    out = &everyone[0]
    for s in range(n_samples):
        out[s] = _sat16(acc[s])
    for k in range(members.shape[0]):
        row = &frames[members[k], 0]
        g = gains_q14[members[k]]
        out = &minus_self[k, 0]
        for s in range(n_samples):
            out[s] = _sat16(acc[s] - ((<int32_t>row[s] * g + GAIN_ROUND) >> GAIN_SHIFT))


def mix_minus(const int16_t[:, ::1] frames, const int32_t[::1] members,
              const int32_t[::1] gains_q14, int32_t[::1] sum32, int16_t[::1] everyone,
              int16_t[:, ::1] minus_self):
    """N-1 mix of the K members listed in ``members`` (indices into the N rows of ``frames``).

    With ``c[k] = (frames[members[k]].astype(int32) * gains_q14[members[k]] + 8192) >> 14``::

        sum32[:]         = c.sum(axis=0)                              # int32
        everyone[:]      = clip(sum32, -32768, 32767)                 # int16
        minus_self[k, :] = clip(sum32 - c[k], -32768, 32767)          # int16
    """
    with nogil:
        _mix(frames, members, gains_q14, sum32, everyone, minus_self)


cdef inline void _energy_rows(const int16_t[:, ::1] frames, const double* thresholds,
                              int64_t* sumsq, uint8_t* levels) noexcept nogil:
    cdef Py_ssize_t n, s, lv
    cdef Py_ssize_t n_samples = frames.shape[1]
    cdef const int16_t* row
    cdef int64_t acc
    cdef int32_t v
    cdef double mean_square
    for n in range(frames.shape[0]):
        row = &frames[n, 0]
        acc = 0
        for s in range(n_samples):
            v = row[s]
            acc += <int64_t>(v * v)
        sumsq[n] = acc
        mean_square = <double>acc / <double>n_samples
        levels[n] = 127
        for lv in range(127):
            if mean_square > thresholds[lv]:
                levels[n] = <uint8_t>lv
                break


def energy_levels(const int16_t[:, ::1] frames, const double[::1] thresholds,
                  int64_t[::1] sumsq, uint8_t[::1] levels):
    """Per-row energy and RFC 6464 level.

    ``sumsq[n] = (frames[n].astype(int64) ** 2).sum()``; with ``ms = sumsq[n] / S``,
    ``levels[n]`` is the smallest ``L`` in 0..126 with ``ms > thresholds[L]``, else 127, which
    equals ``clip(floor(-10 * log10(ms / 32768**2) + 0.5), 0, 127)`` for the thresholds
    ``32768**2 * 10 ** (-(L + 0.5) / 10)`` built by the wrapper (digital silence gives 127).
    """
    with nogil:
        _energy_rows(frames, &thresholds[0], &sumsq[0], &levels[0])


def mix_minus_levels(const int16_t[:, ::1] frames, const int32_t[::1] members,
                     const int32_t[::1] gains_q14, int32_t[::1] sum32, int16_t[::1] everyone,
                     int16_t[:, ::1] minus_self, const double[::1] thresholds,
                     int64_t[::1] sumsq, uint8_t[::1] levels):
    """``mix_minus`` and ``energy_levels`` of all N rows in one call (one tick of the mixer)."""
    with nogil:
        _mix(frames, members, gains_q14, sum32, everyone, minus_self)
        _energy_rows(frames, &thresholds[0], &sumsq[0], &levels[0])


# G.711 --------------------------------------------------------------------------------------

def g711_encode(const int16_t[::1] pcm, const uint8_t[::1] table, uint8_t[::1] out):
    """``out[:] = table[pcm.view(uint16)]`` (``table`` has 65,536 entries, one per int16)."""
    cdef Py_ssize_t i
    cdef const uint16_t* src = <const uint16_t*>&pcm[0]
    cdef const uint8_t* t = &table[0]
    cdef uint8_t* dst = &out[0]
    with nogil:
        for i in range(pcm.shape[0]):
            dst[i] = t[src[i]]


def g711_decode(const uint8_t[::1] codes, const int16_t[::1] table, int16_t[::1] out):
    """``out[:] = table[codes]`` (``table`` has 256 entries)."""
    cdef Py_ssize_t i
    cdef const uint8_t* src = &codes[0]
    cdef const int16_t* t = &table[0]
    cdef int16_t* dst = &out[0]
    with nogil:
        for i in range(codes.shape[0]):
            dst[i] = t[src[i]]


# Video --------------------------------------------------------------------------------------

cdef enum:
    WEIGHT_BITS = 12           # per-axis fixed-point weights; taps of one output sum to 4096
    OUT_SHIFT = 24             # 2 * WEIGHT_BITS
    OUT_ROUND = 8388608        # 1 << (OUT_SHIFT - 1)


cdef void _resample(const uint8_t* src, Py_ssize_t sstride, Py_ssize_t sw,
                    uint8_t* dst, Py_ssize_t dstride, Py_ssize_t dw, Py_ssize_t dh,
                    const int32_t* xi, const uint32_t* xw, Py_ssize_t ntx,
                    const int32_t* yi, const uint32_t* yw, Py_ssize_t nty,
                    uint32_t* tmp) noexcept nogil:
    cdef Py_ssize_t x, y, t
    cdef const uint8_t* r0
    cdef const uint8_t* r1
    cdef const uint8_t* rt
    cdef uint32_t w0, w1, wt, acc
    cdef const int32_t* ix
    cdef const uint32_t* wx
    cdef uint8_t* out
    for y in range(dh):
        # vertical pass: one source-resolution row of Q12 sums
        if nty == 2:
            r0 = src + yi[y] * sstride
            r1 = r0 + sstride
            w0 = yw[2 * y]
            w1 = yw[2 * y + 1]
            for x in range(sw):
                tmp[x] = w0 * r0[x] + w1 * r1[x]
        else:
            for x in range(sw):
                tmp[x] = 0
            for t in range(nty):
                wt = yw[y * nty + t]
                if wt == 0:
                    continue
                rt = src + (yi[y] + t) * sstride
                for x in range(sw):
                    tmp[x] += wt * rt[x]
        # horizontal pass: Q24 -> uint8 with rounding
        out = dst + y * dstride
        if ntx == 2:
            for x in range(dw):
                t = xi[x]
                out[x] = <uint8_t>((xw[2 * x] * tmp[t] + xw[2 * x + 1] * tmp[t + 1]
                                    + OUT_ROUND) >> OUT_SHIFT)
        else:
            for x in range(dw):
                ix = &xi[x]
                wx = &xw[x * ntx]
                acc = OUT_ROUND
                for t in range(ntx):
                    acc += wx[t] * tmp[ix[0] + t]
                out[x] = <uint8_t>(acc >> OUT_SHIFT)


def resample_plane(const uint8_t[:, :] src, uint8_t[:, :] dst,
                   const int32_t[::1] xi, const uint32_t[:, ::1] xw,
                   const int32_t[::1] yi, const uint32_t[:, ::1] yw, uint32_t[::1] tmp):
    """Separable resampling of ``src`` into all of ``dst`` with precomputed taps.

    With per-axis weight matrices ``Wy[y, yi[y] + t] = yw[y, t] / 4096`` and
    ``Wx[x, xi[x] + t] = xw[x, t] / 4096``: ``dst[:] = floor(Wy @ src @ Wx.T + 0.5)`` (computed
    exactly in 32-bit fixed point). ``tmp`` holds one source row (``src.shape[1]`` entries).
    """
    with nogil:
        _resample(&src[0, 0], src.strides[0], src.shape[1],
                  &dst[0, 0], dst.strides[0], dst.shape[1], dst.shape[0],
                  &xi[0], &xw[0, 0], xw.shape[1], &yi[0], &yw[0, 0], yw.shape[1], &tmp[0])


def resample_i420(const uint8_t[:, :] sy, const uint8_t[:, :] su, const uint8_t[:, :] sv,
                  uint8_t[:, :] dy, uint8_t[:, :] du, uint8_t[:, :] dv,
                  const int32_t[::1] lxi, const uint32_t[:, ::1] lxw,
                  const int32_t[::1] lyi, const uint32_t[:, ::1] lyw,
                  const int32_t[::1] cxi, const uint32_t[:, ::1] cxw,
                  const int32_t[::1] cyi, const uint32_t[:, ::1] cyw, uint32_t[::1] tmp):
    """``resample_plane`` on Y with the luma taps, then on U and V with the chroma taps."""
    with nogil:
        _resample(&sy[0, 0], sy.strides[0], sy.shape[1],
                  &dy[0, 0], dy.strides[0], dy.shape[1], dy.shape[0],
                  &lxi[0], &lxw[0, 0], lxw.shape[1], &lyi[0], &lyw[0, 0], lyw.shape[1], &tmp[0])
        _resample(&su[0, 0], su.strides[0], su.shape[1],
                  &du[0, 0], du.strides[0], du.shape[1], du.shape[0],
                  &cxi[0], &cxw[0, 0], cxw.shape[1], &cyi[0], &cyw[0, 0], cyw.shape[1], &tmp[0])
        _resample(&sv[0, 0], sv.strides[0], sv.shape[1],
                  &dv[0, 0], dv.strides[0], dv.shape[1], dv.shape[0],
                  &cxi[0], &cxw[0, 0], cxw.shape[1], &cyi[0], &cyw[0, 0], cyw.shape[1], &tmp[0])


def fill_plane(uint8_t[:, :] dst, uint8_t value):
    """``dst[:, :] = value``."""
    cdef Py_ssize_t y
    cdef uint8_t* base = &dst[0, 0]
    cdef Py_ssize_t stride = dst.strides[0]
    with nogil:
        for y in range(dst.shape[0]):
            memset(base + y * stride, value, dst.shape[1])


def border_plane(uint8_t[:, :] dst, Py_ssize_t thickness, uint8_t value):
    """Outline of ``thickness`` pixels inside ``dst``; with ``t = thickness``::

        dst[:t] = dst[h - t:] = dst[:, :t] = dst[:, w - t:] = value
    """
    cdef Py_ssize_t y
    cdef Py_ssize_t h = dst.shape[0]
    cdef Py_ssize_t w = dst.shape[1]
    cdef Py_ssize_t t = thickness
    cdef uint8_t* base = &dst[0, 0]
    cdef Py_ssize_t stride = dst.strides[0]
    cdef uint8_t* row
    with nogil:
        for y in range(h):
            row = base + y * stride
            if y < t or y >= h - t or 2 * t >= w:
                memset(row, value, w)
            else:
                memset(row, value, t)
                memset(row + w - t, value, t)


cdef inline uint8_t _blend(uint32_t d, uint32_t c, uint32_t a) noexcept nogil:
    return <uint8_t>((d * (255 - a) + c * a + 127) // 255)


def blend_mask_luma(uint8_t[:, :] dst, const uint8_t[:, :] mask, uint8_t colour):
    """``dst[:] = (dst * (255 - mask) + colour * mask + 127) // 255`` (uint32 arithmetic)."""
    cdef Py_ssize_t x, y
    cdef uint8_t* base = &dst[0, 0]
    cdef Py_ssize_t stride = dst.strides[0]
    cdef const uint8_t* mbase = &mask[0, 0]
    cdef Py_ssize_t mstride = mask.strides[0]
    cdef uint8_t* row
    cdef const uint8_t* mrow
    with nogil:
        for y in range(dst.shape[0]):
            row = base + y * stride
            mrow = mbase + y * mstride
            for x in range(dst.shape[1]):
                row[x] = _blend(row[x], colour, mrow[x])


def blend_mask_chroma(uint8_t[:, :] dst, const uint8_t[:, :] mask, Py_ssize_t ox, Py_ssize_t oy,
                      uint8_t colour):
    """Blend with the 2x2-subsampled mask; ``(ox, oy)`` is the mask origin's luma parity.

    Chroma sample ``(cx, cy)`` of ``dst`` covers mask pixels ``(2 * cx + i - ox, 2 * cy + j - oy)``
    for ``i, j`` in {0, 1}; pixels outside the mask count as 0, and
    ``a = (sum of the four + 2) >> 2``; then as ``blend_mask_luma`` with ``a``.
    """
    cdef Py_ssize_t cx, cy, i, j, mx, my
    cdef Py_ssize_t mh = mask.shape[0]
    cdef Py_ssize_t mw = mask.shape[1]
    cdef uint8_t* base = &dst[0, 0]
    cdef Py_ssize_t stride = dst.strides[0]
    cdef const uint8_t* mbase = &mask[0, 0]
    cdef Py_ssize_t mstride = mask.strides[0]
    cdef uint8_t* row
    cdef uint32_t acc
    with nogil:
        for cy in range(dst.shape[0]):
            row = base + cy * stride
            for cx in range(dst.shape[1]):
                acc = 2
                for j in range(2):
                    my = 2 * cy + j - oy
                    if my < 0 or my >= mh:
                        continue
                    for i in range(2):
                        mx = 2 * cx + i - ox
                        if 0 <= mx < mw:
                            acc += mbase[my * mstride + mx]
                row[cx] = _blend(row[cx], colour, acc >> 2)
