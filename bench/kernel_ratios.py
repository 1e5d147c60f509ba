"""Speed of the Cython media kernels against their references, measured in the same run.

Run: ``.venv/bin/python bench/kernel_ratios.py`` (prints a table; asserts nothing).
``bench/test_bench_kernels.py`` reuses the workloads below under pytest-benchmark.

Workloads:
- N-1 mix of K=3 among N members at 48 kHz / 20 ms (S=960), against the vectorised numpy
  reference (``mcu.mix_reference``), alone and with the RFC 6464 levels of all N members.
- 9 tiles 640x360 scaled to 426x240 into a 1280x720 I420 canvas, against PyAV
  ``VideoFrame.reformat(..., interpolation="FAST_BILINEAR")`` plus a numpy copy into the canvas;
  quality as PSNR against a PyAV BICUBIC reformat of the same tiles.
- G.711 mu-law encode of a 20 ms frame (160 samples at 8 kHz) against a PyAV pcm_mulaw encoder.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcu import mix
from mcu import mix_reference as ref

SAMPLES_20MS_48K = 960
SAMPLES_20MS_8K = 160
MIXED = 3
ROOM_NOISE_DBFS = -55.0
TILE_SRC = (640, 360)
TILE_DST = (426, 240)
CANVAS = (1280, 720)
GRID = 3


def _calibrate(fn: Callable[[], object], run_seconds: float) -> int:
    fn()
    t0 = time.perf_counter()
    fn()
    return max(1, int(run_seconds / max(time.perf_counter() - t0, 1e-7)))


def compare(
    ours: Callable[[], object],
    reference: Callable[[], object],
    run_seconds: float = 0.03,
    repeat: int = 9,
) -> tuple[float, float]:
    """Seconds per call of ``ours`` and ``reference``: best of ``repeat`` alternating runs, so that
    both see the same machine state (other processes, frequency scaling)."""
    n_ours, n_ref = _calibrate(ours, run_seconds), _calibrate(reference, run_seconds)
    best_ours = best_ref = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n_ours):
            ours()
        t1 = time.perf_counter()
        for _ in range(n_ref):
            reference()
        t2 = time.perf_counter()
        best_ours = min(best_ours, (t1 - t0) / n_ours)
        best_ref = min(best_ref, (t2 - t1) / n_ref)
    return best_ours, best_ref


# Audio ---------------------------------------------------------------------------------------


@dataclass
class AudioCase:
    frames: np.ndarray
    members: np.ndarray

    def kernel_mix(self) -> mix.MixResult:
        return mix.mix_minus(self.frames, self.members)

    def reference_mix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return ref.mix_minus(self.frames, self.members)

    def kernel_mix_levels(self) -> tuple[mix.MixResult, mix.Levels]:
        return mix.mix_minus_levels(self.frames, self.members)

    def reference_mix_levels(self) -> tuple[object, ...]:
        return ref.mix_minus(self.frames, self.members), ref.level_dbov(self.frames)


def audio_case(n: int, seed: int = 0) -> AudioCase:
    """N members of room noise at -55 dBFS, three of them talking (loud, correlated speech-like)."""
    rng = np.random.default_rng(seed)
    rms = 32768.0 * 10 ** (ROOM_NOISE_DBFS / 20)
    frames = rng.normal(0.0, rms, (n, SAMPLES_20MS_48K))
    t = np.arange(SAMPLES_20MS_48K) / 48000
    members = rng.choice(n, size=min(MIXED, n), replace=False)
    for k, m in enumerate(members):
        frames[m] += 12000 * np.sin(2 * np.pi * (180 + 70 * k) * t) * (1 + 0.5 * np.sin(9 * t))
    pcm = np.clip(np.round(frames), -32768, 32767).astype(np.int16)
    return AudioCase(pcm, np.sort(members).astype(np.int32))


# Video ---------------------------------------------------------------------------------------


def realistic_i420(width: int, height: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A camera-like I420 frame: smooth gradients, texture (edges, fine stripes) and sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi, 4)
    luma = (
        60
        + 100 * (xx / width)
        + 40 * np.sin(yy / height * np.pi + phase[0])
        + 25 * np.sin(xx * 0.35 + yy * 0.11 + phase[1])  # fine texture
        + 30 * (np.sin(xx * 0.05 + phase[2]) * np.cos(yy * 0.07 + phase[3]) > 0.3)  # edges
        + rng.normal(0, 4, (height, width))
    )
    ch, cw = (height + 1) // 2, (width + 1) // 2
    cy, cx = np.mgrid[0:ch, 0:cw].astype(np.float64)
    u = 128 + 40 * np.sin(cx / cw * 3 + phase[0]) + rng.normal(0, 2, (ch, cw))
    v = 128 + 40 * np.cos(cy / ch * 2 + phase[1]) + rng.normal(0, 2, (ch, cw))
    return tuple(np.clip(np.round(p), 0, 255).astype(np.uint8) for p in (luma, u, v))  # type: ignore[return-value]


def i420_to_frame(planes: tuple[np.ndarray, ...]) -> av.VideoFrame:
    y, u, v = planes
    h, w = y.shape
    stacked = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(h * 3 // 2, w)
    return av.VideoFrame.from_ndarray(stacked, format="yuv420p")


def frame_to_i420(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w, h = frame.width, frame.height
    arr = frame.to_ndarray().ravel()
    cw, ch = (w + 1) // 2, (h + 1) // 2
    y = arr[: w * h].reshape(h, w)
    u = arr[w * h : w * h + cw * ch].reshape(ch, cw)
    v = arr[w * h + cw * ch : w * h + 2 * cw * ch].reshape(ch, cw)
    return y, u, v


def new_canvas() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w, h = CANVAS
    return (
        np.zeros((h, w), np.uint8),
        np.full((h // 2, w // 2), 128, np.uint8),
        np.full((h // 2, w // 2), 128, np.uint8),
    )


def tile_rects() -> list[mix.Rect]:
    w, h = TILE_DST
    return [mix.Rect(c * w, r * h, w, h) for r in range(GRID) for c in range(GRID)]


@dataclass
class VideoCase:
    tiles: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    frames: list[av.VideoFrame]
    canvas: tuple[np.ndarray, np.ndarray, np.ndarray]
    method: mix.ScaleMethod = mix.ScaleMethod.BILINEAR

    def kernel(self) -> None:
        for tile, rect in zip(self.tiles, tile_rects()):
            mix.scale_i420(tile, self.canvas, rect, self.method)

    def pyav(self, interpolation: str = "FAST_BILINEAR") -> None:
        w, h = TILE_DST
        cy, cu, cv = self.canvas
        for frame, r in zip(self.frames, tile_rects()):
            y, u, v = frame_to_i420(frame.reformat(width=w, height=h, interpolation=interpolation))
            c = mix.chroma_rect(r)
            cy[r.y : r.y + r.h, r.x : r.x + r.w] = y
            cu[c.y : c.y + c.h, c.x : c.x + c.w] = u
            cv[c.y : c.y + c.h, c.x : c.x + c.w] = v


def video_case(method: mix.ScaleMethod = mix.ScaleMethod.BILINEAR) -> VideoCase:
    tiles = [realistic_i420(*TILE_SRC, seed=k) for k in range(GRID * GRID)]
    return VideoCase(tiles, [i420_to_frame(t) for t in tiles], new_canvas(), method)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def canvas_psnr(case: VideoCase, which: str) -> tuple[float, float]:
    """(Y PSNR, U+V PSNR) of the canvas after ``which`` ('kernel' or a PyAV interpolation)
    against the canvas of a PyAV BICUBIC reformat of the same tiles."""
    reference = VideoCase(case.tiles, case.frames, new_canvas())
    reference.pyav("BICUBIC")
    test = VideoCase(case.tiles, case.frames, new_canvas(), case.method)
    test.kernel() if which == "kernel" else test.pyav(which)
    return (
        psnr(test.canvas[0], reference.canvas[0]),
        psnr(np.stack(test.canvas[1:]), np.stack(reference.canvas[1:])),
    )


# G.711 ---------------------------------------------------------------------------------------


@dataclass
class G711Case:
    pcm: np.ndarray
    encoder: av.AudioCodecContext

    def kernel(self) -> bytes:
        return mix.ulaw_encode(self.pcm).tobytes()

    def pyav(self) -> bytes:
        frame = av.AudioFrame.from_ndarray(self.pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 8000
        return b"".join(bytes(p) for p in self.encoder.encode(frame))


def g711_case(seed: int = 0) -> G711Case:
    rng = np.random.default_rng(seed)
    pcm = np.clip(rng.normal(0, 3000, SAMPLES_20MS_8K), -32768, 32767).astype(np.int16)
    ctx = av.CodecContext.create("pcm_mulaw", "w")
    ctx.sample_rate = 8000
    ctx.format = "s16"
    ctx.layout = "mono"
    return G711Case(pcm, ctx)


# Report --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    workload: str
    ours: float  # seconds per call
    reference: float
    target: str

    @property
    def ratio(self) -> float:
        return self.reference / self.ours


def measure_ratios() -> list[Ratio]:
    rows: list[Ratio] = []
    for n in (10, 50, 100):
        case = audio_case(n)
        rows.append(
            Ratio(
                f"N-1 mix N={n} K=3 S=960 vs numpy",
                *compare(case.kernel_mix, case.reference_mix),
                ">=3x at N=100",
            )
        )
        rows.append(
            Ratio(
                f"N-1 mix + levels N={n} vs numpy",
                *compare(case.kernel_mix_levels, case.reference_mix_levels),
                ">=3x at N=100",
            )
        )
    for method in mix.ScaleMethod:
        video = video_case(method)
        rows.append(
            Ratio(
                f"9 tiles 640x360->426x240 {method.value} vs PyAV FAST_BILINEAR+copy",
                *compare(video.kernel, video.pyav),
                ">=1.5x" if method is mix.ScaleMethod.BILINEAR else "-",
            )
        )
    g = g711_case()
    rows.append(
        Ratio("G.711 mu-law encode 160 samples vs PyAV", *compare(g.kernel, g.pyav), ">=3x")
    )
    return rows


def measure_psnrs() -> dict[str, tuple[float, float]]:
    psnrs = {f"kernel {m.value}": canvas_psnr(video_case(m), "kernel") for m in mix.ScaleMethod}
    for interp in ("FAST_BILINEAR", "BILINEAR", "AREA"):
        psnrs[f"PyAV {interp}"] = canvas_psnr(video_case(), interp)
    return psnrs


def format_report(rows: list[Ratio], psnrs: dict[str, tuple[float, float]]) -> str:
    lines = [f"{'workload':62} {'ours us':>9} {'ref us':>9} {'ratio':>7}  target"]
    for r in rows:
        lines.append(
            f"{r.workload:62} {r.ours * 1e6:9.1f} {r.reference * 1e6:9.1f}"
            f" {r.ratio:6.2f}x  {r.target}"
        )
    lines += [
        "",
        "PSNR of the 1280x720 canvas against PyAV BICUBIC (dB)",
        f"{'scaler':24} {'Y':>7} {'U+V':>7}",
    ]
    lines += [f"{name:24} {py:7.2f} {pc:7.2f}" for name, (py, pc) in psnrs.items()]
    return "\n".join(lines)


def main() -> None:
    print(format_report(measure_ratios(), measure_psnrs()))


if __name__ == "__main__":
    main()
