"""pytest-benchmark runs of the media kernels next to their references.

Run: ``.venv/bin/pytest bench/test_bench_kernels.py --benchmark-enable``; each group holds a
kernel and its reference, so the ratio is read off the table. With the project default
(``--benchmark-disable``) every benchmark runs once and only the correctness checks count.
``test_kernel_ratio_table`` prints the same table as ``bench/kernel_ratios.py``. Nothing here
asserts a time or a ratio.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import kernel_ratios as kr
from mcu import mix


@pytest.mark.parametrize("n", [10, 50, 100])
@pytest.mark.parametrize("side", ["kernel", "numpy"])
def test_bench_mix(benchmark, n: int, side: str) -> None:  # type: ignore[no-untyped-def]
    case = kr.audio_case(n)
    benchmark.group = f"N-1 mix N={n} K=3"
    fn = case.kernel_mix if side == "kernel" else case.reference_mix
    sum32, everyone, minus_self = benchmark(fn)
    want = case.reference_mix()
    np.testing.assert_array_equal(sum32, want[0])
    np.testing.assert_array_equal(everyone, want[1])
    np.testing.assert_array_equal(minus_self, want[2])


@pytest.mark.parametrize("n", [10, 50, 100])
@pytest.mark.parametrize("side", ["kernel", "numpy"])
def test_bench_mix_levels(benchmark, n: int, side: str) -> None:  # type: ignore[no-untyped-def]
    case = kr.audio_case(n)
    benchmark.group = f"N-1 mix + levels N={n} K=3"
    fn = case.kernel_mix_levels if side == "kernel" else case.reference_mix_levels
    result = benchmark(fn)
    levels = result[1].level if side == "kernel" else result[1]  # type: ignore[union-attr]
    np.testing.assert_array_equal(levels, kr.ref.level_dbov(case.frames))


@pytest.fixture(scope="module")
def bicubic_canvas() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    case = kr.video_case()
    case.pyav("BICUBIC")
    return case.canvas


@pytest.mark.parametrize("side", ["kernel bilinear", "kernel area", "pyav FAST_BILINEAR"])
def test_bench_nine_tiles(benchmark, side: str, bicubic_canvas) -> None:  # type: ignore[no-untyped-def]
    method = mix.ScaleMethod.AREA if side == "kernel area" else mix.ScaleMethod.BILINEAR
    case = kr.video_case(method)
    benchmark.group = "9 tiles 640x360 -> 426x240 into 1280x720"
    benchmark(case.kernel if side.startswith("kernel") else case.pyav)
    for rect in kr.tile_rects():  # every tile was written, and looks like the bicubic one
        tile = np.s_[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w]
        assert kr.psnr(case.canvas[0][tile], bicubic_canvas[0][tile]) > 30.0


@pytest.mark.parametrize("side", ["kernel", "pyav"])
def test_bench_g711_encode(benchmark, side: str) -> None:  # type: ignore[no-untyped-def]
    case = kr.g711_case()
    benchmark.group = "G.711 mu-law encode, 160 samples"
    payload = benchmark(case.kernel if side == "kernel" else case.pyav)
    assert payload == mix.ulaw_encode(case.pcm).tobytes()


def test_kernel_ratio_table(capsys: pytest.CaptureFixture[str]) -> None:
    rows = kr.measure_ratios()
    psnrs = kr.measure_psnrs()
    with capsys.disabled():
        print("\n" + kr.format_report(rows, psnrs))
    assert len(rows) == 9 and all(r.ours > 0 and r.reference > 0 for r in rows)
    assert set(psnrs) >= {"kernel bilinear", "PyAV FAST_BILINEAR"}
