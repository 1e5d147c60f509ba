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
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset

# Audio --------------------------------------------------------------------------------------

cdef enum:
    GAIN_SHIFT = 14
    GAIN_ONE = 16384
    GAIN_ROUND = 8192  # 1 << (GAIN_SHIFT - 1)


cdef inline int16_t _sat16(int32_t v) noexcept nogil:
    # branch-free clamp to int16 so that gcc vectorises the loops that use it
    v = v ^ ((v ^ 32767) & -<int32_t>(v > 32767))
    v = v ^ ((v ^ -32768) & -<int32_t>(v < -32768))
    return <int16_t>v


cdef void _mix(const int16_t[:, ::1] frames, const int32_t[::1] members,
               const int32_t[::1] gains_q14, int32_t[::1] sum32,
               int16_t[:, ::1] mixes) noexcept nogil:
    cdef Py_ssize_t k, s
    cdef Py_ssize_t n_samples = frames.shape[1]
    cdef int32_t g
    cdef const int16_t* row
    cdef int32_t* acc = &sum32[0]
    cdef int16_t* out
    cdef const int16_t* r1
    cdef const int16_t* r2
    cdef int16_t* ev = &mixes[0, 0]
    cdef int32_t a
    if (members.shape[0] == 3 and gains_q14[members[0]] == GAIN_ONE
            and gains_q14[members[1]] == GAIN_ONE and gains_q14[members[2]] == GAIN_ONE):
        # the default K = 3 at unity gain: four passes instead of seven, and minus-self of a
        # member is the sum of the other two. Few stores per loop keep gcc's alias checks
        # within its limit, so every loop is vectorised.
        row = &frames[members[0], 0]
        r1 = &frames[members[1], 0]
        r2 = &frames[members[2], 0]
        for s in range(n_samples):
            a = <int32_t>row[s] + r1[s] + r2[s]
            acc[s] = a
            ev[s] = _sat16(a)
        out = &mixes[1, 0]
        for s in range(n_samples):
            out[s] = _sat16(<int32_t>r1[s] + r2[s])
        out = &mixes[2, 0]
        for s in range(n_samples):
            out[s] = _sat16(<int32_t>row[s] + r2[s])
        out = &mixes[3, 0]
        for s in range(n_samples):
            out[s] = _sat16(<int32_t>row[s] + r1[s])
        return
    for s in range(n_samples):
        acc[s] = 0
    for k in range(members.shape[0]):
        row = &frames[members[k], 0]
        g = gains_q14[members[k]]
        if g == GAIN_ONE:  # (x * 2**14 + 2**13) >> 14 == x: skip the 32-bit multiply
            for s in range(n_samples):
                acc[s] += row[s]
        else:
            for s in range(n_samples):
                acc[s] += (<int32_t>row[s] * g + GAIN_ROUND) >> GAIN_SHIFT
    for s in range(n_samples):
        ev[s] = _sat16(acc[s])
    for k in range(members.shape[0]):
        row = &frames[members[k], 0]
        g = gains_q14[members[k]]
        out = &mixes[k + 1, 0]
        if g == GAIN_ONE:
            for s in range(n_samples):
                out[s] = _sat16(acc[s] - row[s])
        else:
            for s in range(n_samples):
                out[s] = _sat16(acc[s] - ((<int32_t>row[s] * g + GAIN_ROUND) >> GAIN_SHIFT))


def mix_minus(const int16_t[:, ::1] frames, const int32_t[::1] members,
              const int32_t[::1] gains_q14, int32_t[::1] sum32, int16_t[:, ::1] mixes):
    """N-1 mix of the K members listed in ``members`` (indices into the N rows of ``frames``).

    With ``c[k] = (frames[members[k]].astype(int32) * gains_q14[members[k]] + 8192) >> 14``::

        sum32[:]        = c.sum(axis=0)                               # int32
        mixes[0, :]     = clip(sum32, -32768, 32767)                  # everyone, int16
        mixes[1 + k, :] = clip(sum32 - c[k], -32768, 32767)           # minus self, int16
    """
    with nogil:
        _mix(frames, members, gains_q14, sum32, mixes)


def first_bad_index(const int32_t[::1] members, Py_ssize_t n):
    """Validation helper for the wrapper: position of the first member outside ``0..n-1`` or
    repeating an earlier one, else -1."""
    cdef Py_ssize_t i, j
    for i in range(members.shape[0]):
        if members[i] < 0 or members[i] >= n:
            return i
        for j in range(i):
            if members[j] == members[i]:
                return i
    return -1


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
                     const int32_t[::1] gains_q14, int32_t[::1] sum32, int16_t[:, ::1] mixes,
                     const double[::1] thresholds,
                     int64_t[::1] sumsq, uint8_t[::1] levels):
    """``mix_minus`` and ``energy_levels`` of all N rows in one call (one tick of the mixer)."""
    with nogil:
        _mix(frames, members, gains_q14, sum32, mixes)
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
    WEIGHT_BITS = 12       # per-axis fixed-point taps; the taps of one output sum to 4096
    # vertical sums are Q8 plus 128 (0.5): as the horizontal taps sum to 4096, this adds 2**19,
    # the rounding term of the final Q20 -> uint8 shift, to every output
    OUT_SHIFT = 20         # Q8 * Q12 -> Q20
    ROWS = 4               # output rows per horizontal pass (two packed pairs)

# The horizontal pass works on two rows at once in one 64-bit word: row a in the low 32 bits,
# row b in the high 32 bits. A lane holds at most (255 * 2**8 + 128) * 2**12 < 2**28, so one
# 64-bit multiply-add serves two rows without carries between them.


cdef inline uint16_t _q16(uint16_t w) noexcept nogil:
    # Q12 -> Q16 weight; 1.0 (65536) does not fit and becomes 65535, an error of 1/65536
    return 65535 if w >= 4096 else <uint16_t>(w << 4)


cdef inline uint16_t _mulhi(uint8_t p, uint16_t w) noexcept nogil:
    # (p * 2**8) * w / 2**16 truncated: p * w in Q8, one pmulhuw per 8 pixels
    return <uint16_t>((<uint32_t>(<uint16_t>(p << 8)) * w) >> 16)


cdef inline void _vertical_pair(const uint8_t* src, Py_ssize_t sstride, Py_ssize_t sw,
                                Py_ssize_t first_a, const uint16_t* wa,
                                Py_ssize_t first_b, const uint16_t* wb,
                                uint32_t* packed) noexcept nogil:
    """Two 2-tap vertical rows straight to the packed Q8 (+0.5) layout of ``_pack``.

    16-bit high-half multiplies in Q16: each tap truncates by less than 1/256 of a code value.
    """
    cdef Py_ssize_t x
    cdef const uint8_t* a0 = src + first_a * sstride
    cdef const uint8_t* a1 = a0 + sstride
    cdef const uint8_t* b0 = src + first_b * sstride
    cdef const uint8_t* b1 = b0 + sstride
    cdef uint16_t wa0 = _q16(wa[0])
    cdef uint16_t wa1 = _q16(wa[1])
    cdef uint16_t wb0 = _q16(wb[0])
    cdef uint16_t wb1 = _q16(wb[1])
    cdef uint16_t* p16 = <uint16_t*>packed
    for x in range(sw):
        p16[4 * x] = _mulhi(a0[x], wa0) + _mulhi(a1[x], wa1) + 128
        p16[4 * x + 1] = 0
        p16[4 * x + 2] = _mulhi(b0[x], wb0) + _mulhi(b1[x], wb1) + 128
        p16[4 * x + 3] = 0


cdef inline void _vertical(const uint8_t* src, Py_ssize_t sstride, Py_ssize_t sw,
                           Py_ssize_t first, const uint16_t* w, Py_ssize_t ntaps,
                           uint16_t* acc) noexcept nogil:
    """acc[x] = 128 + sum_t w[t] * src[first + t, x]: Q8 (+0.5) as in ``_vertical_pair``."""
    cdef Py_ssize_t x, t
    cdef const uint8_t* row
    cdef uint16_t wt
    for x in range(sw):
        acc[x] = 128
    for t in range(ntaps):
        row = src + (first + t) * sstride
        wt = _q16(w[t])
        for x in range(sw):
            acc[x] += _mulhi(row[x], wt)


cdef inline void _pack(const uint16_t* a, const uint16_t* b, Py_ssize_t sw,
                       uint32_t* packed) noexcept nogil:
    """Interleave two rows into 64-bit words: a in the low 32 bits, b in the high."""
    cdef Py_ssize_t x
    for x in range(sw):
        packed[2 * x] = a[x]
        packed[2 * x + 1] = b[x]


cdef void _resample(const uint8_t* src, Py_ssize_t sstride, Py_ssize_t sw,
                    uint8_t* dst, Py_ssize_t dstride, Py_ssize_t dw, Py_ssize_t dh,
                    const int32_t* xi, const uint16_t* xw, Py_ssize_t ntx,
                    const int32_t* yi, const uint16_t* yw, Py_ssize_t nty,
                    uint32_t* scratch) noexcept nogil:
    # scratch (uint32): 4 uint16 rows, 2 packed pairs, then a dummy output row for rows past dh
    cdef uint16_t* rows = <uint16_t*>scratch
    cdef uint64_t* p1 = <uint64_t*>(scratch + ROWS * sw)
    cdef uint64_t* p2 = p1 + sw
    cdef uint8_t* dummy = <uint8_t*>(p2 + sw)
    cdef Py_ssize_t ys[4]
    cdef uint8_t* o0
    cdef uint8_t* o1
    cdef uint8_t* o2
    cdef uint8_t* o3
    cdef Py_ssize_t x, y, r, t, ix
    cdef uint64_t w0, w1, w2, v
    cdef const uint16_t* wx
    for y in range(0, dh, 4):  # ROWS
        for r in range(ROWS):
            # rows past the bottom repeat the last row and are written to ``dummy``
            ys[r] = y + r if y + r < dh else dh - 1
        o0 = dst + ys[0] * dstride
        o1 = dst + ys[1] * dstride if y + 1 < dh else dummy
        o2 = dst + ys[2] * dstride if y + 2 < dh else dummy
        o3 = dst + ys[3] * dstride if y + 3 < dh else dummy
        if nty == 2:
            _vertical_pair(src, sstride, sw, yi[ys[0]], yw + 2 * ys[0],
                           yi[ys[1]], yw + 2 * ys[1], <uint32_t*>p1)
            _vertical_pair(src, sstride, sw, yi[ys[2]], yw + 2 * ys[2],
                           yi[ys[3]], yw + 2 * ys[3], <uint32_t*>p2)
        else:
            for r in range(ROWS):
                _vertical(src, sstride, sw, yi[ys[r]], yw + ys[r] * nty, nty, rows + r * sw)
            _pack(rows, rows + sw, sw, <uint32_t*>p1)
            _pack(rows + 2 * sw, rows + 3 * sw, sw, <uint32_t*>p2)
        if ntx == 2:
            for x in range(dw):
                ix = xi[x]
                w0 = xw[2 * x]
                w1 = xw[2 * x + 1]
                v = w0 * p1[ix] + w1 * p1[ix + 1]
                o0[x] = <uint8_t>(v >> OUT_SHIFT)
                o1[x] = <uint8_t>(v >> (OUT_SHIFT + 32))
                v = w0 * p2[ix] + w1 * p2[ix + 1]
                o2[x] = <uint8_t>(v >> OUT_SHIFT)
                o3[x] = <uint8_t>(v >> (OUT_SHIFT + 32))
        elif ntx == 3:  # area downscaling by up to 2
            for x in range(dw):
                ix = xi[x]
                w0 = xw[3 * x]
                w1 = xw[3 * x + 1]
                w2 = xw[3 * x + 2]
                v = w0 * p1[ix] + w1 * p1[ix + 1] + w2 * p1[ix + 2]
                o0[x] = <uint8_t>(v >> OUT_SHIFT)
                o1[x] = <uint8_t>(v >> (OUT_SHIFT + 32))
                v = w0 * p2[ix] + w1 * p2[ix + 1] + w2 * p2[ix + 2]
                o2[x] = <uint8_t>(v >> OUT_SHIFT)
                o3[x] = <uint8_t>(v >> (OUT_SHIFT + 32))
        else:
            for x in range(dw):
                ix = xi[x]
                wx = xw + x * ntx
                v = 0
                for t in range(ntx):
                    v += wx[t] * p1[ix + t]
                o0[x] = <uint8_t>(v >> OUT_SHIFT)
                o1[x] = <uint8_t>(v >> (OUT_SHIFT + 32))
                v = 0
                for t in range(ntx):
                    v += wx[t] * p2[ix + t]
                o2[x] = <uint8_t>(v >> OUT_SHIFT)
                o3[x] = <uint8_t>(v >> (OUT_SHIFT + 32))


def scratch_size(Py_ssize_t src_width, Py_ssize_t dst_width):
    """uint32 entries of scratch that ``resample_plane`` needs."""
    return ROWS * src_width + 4 * src_width + (dst_width + 3) // 4


def resample_plane(const uint8_t[:, :] src, uint8_t[:, :] dst,
                   const int32_t[::1] xi, const uint16_t[:, ::1] xw,
                   const int32_t[::1] yi, const uint16_t[:, ::1] yw, uint32_t[::1] scratch):
    """Separable resampling of ``src`` into all of ``dst`` with precomputed taps.

    With per-axis weight matrices ``Wy[y, yi[y] + t] = yw[y, t] / 4096`` and
    ``Wx[x, xi[x] + t] = xw[x, t] / 4096``: ``dst[:] = floor(Wy @ src @ Wx.T + 0.5)`` up to the
    fixed-point rounding of the intermediate (Q8), i.e. within one code value.
    ``scratch`` has ``scratch_size(src.shape[1], dst.shape[1])`` entries.
    """
    with nogil:
        _resample(&src[0, 0], src.strides[0], src.shape[1],
                  &dst[0, 0], dst.strides[0], dst.shape[1], dst.shape[0],
                  &xi[0], &xw[0, 0], xw.shape[1], &yi[0], &yw[0, 0], yw.shape[1], &scratch[0])


def resample_i420(const uint8_t[:, :] sy, const uint8_t[:, :] su, const uint8_t[:, :] sv,
                  uint8_t[:, :] dy, uint8_t[:, :] du, uint8_t[:, :] dv,
                  const int32_t[::1] lxi, const uint16_t[:, ::1] lxw,
                  const int32_t[::1] lyi, const uint16_t[:, ::1] lyw,
                  const int32_t[::1] cxi, const uint16_t[:, ::1] cxw,
                  const int32_t[::1] cyi, const uint16_t[:, ::1] cyw, uint32_t[::1] scratch):
    """``resample_plane`` on Y with the luma taps, then on U and V with the chroma taps
    (``scratch`` sized for the luma plane, which covers the chroma planes)."""
    with nogil:
        _resample(&sy[0, 0], sy.strides[0], sy.shape[1],
                  &dy[0, 0], dy.strides[0], dy.shape[1], dy.shape[0],
                  &lxi[0], &lxw[0, 0], lxw.shape[1], &lyi[0], &lyw[0, 0], lyw.shape[1],
                  &scratch[0])
        _resample(&su[0, 0], su.strides[0], su.shape[1],
                  &du[0, 0], du.strides[0], du.shape[1], du.shape[0],
                  &cxi[0], &cxw[0, 0], cxw.shape[1], &cyi[0], &cyw[0, 0], cyw.shape[1],
                  &scratch[0])
        _resample(&sv[0, 0], sv.strides[0], sv.shape[1],
                  &dv[0, 0], dv.strides[0], dv.shape[1], dv.shape[0],
                  &cxi[0], &cxw[0, 0], cxw.shape[1], &cyi[0], &cyw[0, 0], cyw.shape[1],
                  &scratch[0])


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
