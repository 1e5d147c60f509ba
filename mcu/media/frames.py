"""I420 pictures as numpy planes, and their zero-copy (or one-copy) passage to and from PyAV."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from av.video.frame import VideoFrame

PIXEL_FORMAT = "yuv420p"


class I420(NamedTuple):
    """One picture in planar 4:2:0. Each plane is a 2-D uint8 array whose rows are contiguous
    (row stride may exceed the width when the planes are views into a decoder's buffers)."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])


def chroma_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of a 4:2:0 chroma plane, rounding up as libavutil does."""
    return (width + 1) // 2, (height + 1) // 2


def alloc_i420(width: int, height: int, fill: tuple[int, int, int] = (0, 128, 128)) -> I420:
    """Planes that are views into ONE contiguous buffer, so encoders can take them without a copy."""
    cw, ch = chroma_size(width, height)
    luma, chroma = width * height, cw * ch
    buf = np.empty(luma + 2 * chroma, dtype=np.uint8)
    y = buf[:luma].reshape(height, width)
    u = buf[luma : luma + chroma].reshape(ch, cw)
    v = buf[luma + chroma :].reshape(ch, cw)
    y[...], u[...], v[...] = fill
    return I420(y, u, v)


def _contiguous_buffer(planes: I420) -> np.ndarray | None:
    """The single (h*3/2, w) buffer behind planes made by alloc_i420, or None if not laid out so."""
    y, u, v = planes
    w, h = planes.width, planes.height
    if w % 2 or h % 2:
        return None
    if not (y.flags.c_contiguous and u.flags.c_contiguous and v.flags.c_contiguous):
        return None
    base = y.base
    if not isinstance(base, np.ndarray) or u.base is not base or v.base is not base:
        return None
    luma, chroma = w * h, (w // 2) * (h // 2)
    start = y.ctypes.data
    if base.ctypes.data != start or base.nbytes != luma + 2 * chroma:
        return None
    if u.ctypes.data != start + luma or v.ctypes.data != start + luma + chroma:
        return None
    return base.reshape(h * 3 // 2, w)


def check_planes(planes: I420, width: int, height: int) -> None:
    """Raise ValueError (VideoFormatError at call sites) unless planes are uint8 I420 of this size."""
    cw, ch = chroma_size(width, height)
    shapes = (planes.y.shape, planes.u.shape, planes.v.shape)
    if shapes != ((height, width), (ch, cw), (ch, cw)):
        raise ValueError(f"expected I420 planes {width}x{height} (chroma {cw}x{ch}), got {shapes}")
    if any(p.dtype != np.uint8 for p in planes):
        raise ValueError("I420 planes must be uint8")


def planes_to_frame(planes: I420, zero_copy: bool = True) -> VideoFrame:
    """A VideoFrame for the planes: zero-copy when they share one alloc_i420 buffer (the frame then
    references the caller's memory), else one copy per plane into a fresh frame (~30 us at 720p)."""
    if zero_copy:
        buf = _contiguous_buffer(planes)
        if buf is not None:
            return VideoFrame.from_numpy_buffer(buf, PIXEL_FORMAT)
    frame = VideoFrame(planes.width, planes.height, PIXEL_FORMAT)
    for plane, src in zip(frame.planes, planes):
        rows, cols = src.shape
        dst = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        dst[:rows, :cols] = src
    return frame


def frame_to_planes(frame: VideoFrame) -> I420:
    """Views into the decoded frame's buffers (no copy); the arrays keep the frame alive.
    Frames in other pixel formats (4:2:2, full-range J formats) are converted to yuv420p first."""
    if frame.format.name != PIXEL_FORMAT:
        frame = frame.reformat(format=PIXEL_FORMAT)
    w, h = frame.width, frame.height
    cw, ch = chroma_size(w, h)
    out = []
    for plane, (pw, ph) in zip(frame.planes, ((w, h), (cw, ch), (cw, ch))):
        arr = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        out.append(arr[:ph, :pw])
    return I420(out[0], out[1], out[2])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 planes of the same shape."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
