"""N-1 mix and RFC 6464 levels: Cython kernels against the numpy reference, exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcu import mix
from mcu import mix_reference as ref

S = 960  # 20 ms at 48 kHz
FAST = settings(max_examples=100, deadline=None)


def _frames(n: int, s: int = S, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-32768, 32768, (n, s), dtype=np.int16)


def _noise_dbfs(dbfs: float, n: int, seed: int) -> np.ndarray:
    """Gaussian room noise whose RMS is ``dbfs`` relative to 32768."""
    rms = 32768.0 * 10 ** (dbfs / 20)
    x = np.random.default_rng(seed).normal(0.0, rms, n)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


# Negative cases ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "members", "message"),
    [
        (np.zeros((3, S), np.int32), [0], "int16"),
        (np.zeros((3, S), np.float32), [0], "int16"),
        (np.zeros(S, np.int16), [0], "members, samples"),
        (np.zeros((0, S), np.int16), [], "non-empty"),
        (np.zeros((3, 0), np.int16), [0], "non-empty"),
        (np.zeros((3, 2 * S), np.int16)[:, ::2], [0], "C-contiguous"),
        (np.zeros((3, S), np.int16), [3], "0..2"),
        (np.zeros((3, S), np.int16), [-1], "0..2"),
        (np.zeros((3, S), np.int16), [1, 1], "distinct"),
        (np.zeros((3, S), np.int16), [[0, 1]], "1-D"),
        (np.zeros((3, S), np.int16), np.zeros((1, 2), np.int32), "1-D"),
        (np.zeros((3, S), np.int16), [0.5], "integer"),
        (np.zeros((3, S), np.int16), np.array([2, 0, 2], np.int32), "distinct"),
        (np.zeros((3, S), np.int16), np.array([0, 5], np.int32), "0..2"),
        ([[0] * S] * 3, [0], "numpy array"),
    ],
)
def test_mix_rejects_bad_input(frames: object, members: object, message: str) -> None:
    with pytest.raises(mix.KernelInputError, match=message):
        mix.mix_minus(frames, members)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("gains", "message"),
    [
        (np.full(2, 16384), "one entry per member"),
        (np.full(3, 1.0), "integers"),
        (np.array([0, 16384, 65536]), "0..65535"),
        (np.array([-1, 16384, 0]), "0..65535"),
    ],
)
def test_mix_rejects_bad_gains(gains: np.ndarray, message: str) -> None:
    with pytest.raises(mix.KernelInputError, match=message):
        mix.mix_minus(np.zeros((3, S), np.int16), [0, 1], gains)


@pytest.mark.parametrize("gains", [[-0.5], [np.nan], [4.5]])
def test_gains_to_q14_rejects_out_of_range(gains: list[float]) -> None:
    with pytest.raises(mix.KernelInputError, match="gains"):
        mix.gains_to_q14(gains)


def test_levels_reject_bad_frames() -> None:
    with pytest.raises(mix.KernelInputError, match="int16"):
        mix.audio_levels(np.zeros((2, S), np.uint16))
    with pytest.raises(mix.KernelInputError, match="C-contiguous"):
        mix.mix_minus_levels(np.zeros((S, 2), np.int16).T, [0])


# Mix -----------------------------------------------------------------------------------------


def _assert_mix_equal(
    got: mix.MixResult, frames: np.ndarray, members: object, gains: object
) -> None:
    want = ref.mix_minus(frames, members, gains)  # type: ignore[arg-type]
    np.testing.assert_array_equal(got.sum32, want[0])
    np.testing.assert_array_equal(got.everyone, want[1])
    np.testing.assert_array_equal(got.minus_self, want[2])
    assert got.sum32.dtype == np.int32 and got.everyone.dtype == np.int16
    assert got.minus_self.dtype == np.int16


def test_mix_saturates_at_both_rails() -> None:
    frames = np.array(
        [[32767, -32768, 20000, 1], [32767, -32768, 20000, -1], [1, -1, -30000, 0]], dtype=np.int16
    )
    got = mix.mix_minus(frames, [0, 1, 2])
    assert got.sum32.tolist() == [65535, -65537, 10000, 0]
    assert got.everyone.tolist() == [32767, -32768, 10000, 0]
    assert got.minus_self[2].tolist() == [32767, -32768, 32767, 0]
    assert got.minus_self[0].tolist() == [32767, -32768, -10000, -1]
    _assert_mix_equal(got, frames, [0, 1, 2], None)


def test_mix_of_nobody_is_silence() -> None:
    got = mix.mix_minus(_frames(4), [])
    assert not got.everyone.any() and got.minus_self.shape == (0, S)


def test_mix_single_member_hears_silence() -> None:
    frames = _frames(5)
    got = mix.mix_minus(frames, [3])
    np.testing.assert_array_equal(got.everyone, frames[3])
    assert not got.minus_self.any()


def test_gains_q14_unity_and_half() -> None:
    assert mix.gains_to_q14([1.0, 0.5, 0.0, 2.0]).tolist() == [16384, 8192, 0, 32768]
    frames = _frames(3)
    half = mix.mix_minus(frames, [0], mix.gains_to_q14([0.5, 1, 1]))
    np.testing.assert_array_equal(half.sum32, (frames[0].astype(np.int32) * 8192 + 8192) >> 14)


@FAST
@given(
    n=st.integers(1, 12),
    s=st.integers(1, 200),
    data=st.data(),
    loud=st.booleans(),
    with_gains=st.booleans(),
)
def test_mix_matches_reference(
    n: int, s: int, data: st.DataObject, loud: bool, with_gains: bool
) -> None:
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lim = 32768 if loud else 3000
    frames = rng.integers(-lim, lim, (n, s), dtype=np.int16)
    members = data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
    gains = rng.integers(0, mix.GAIN_MAX_Q14 + 1, n) if with_gains else None
    _assert_mix_equal(mix.mix_minus(frames, members, gains), frames, members, gains)


# Levels --------------------------------------------------------------------------------------


def test_levels_of_silence_full_scale_and_room_noise() -> None:
    t = np.arange(S)
    sine = np.round(32767 * np.sin(2 * np.pi * 1000 * t / 48000)).astype(np.int16)
    square = np.where(t % 48 < 24, 32767, -32768).astype(np.int16)
    frames = np.stack(
        [
            np.zeros(S, np.int16),
            square,
            sine,
            _noise_dbfs(-55.0, S, 1),
            _noise_dbfs(-20.0, S, 2),
            np.full(S, 1, np.int16),
        ]
    )
    got = mix.audio_levels(frames)
    np.testing.assert_array_equal(got.level, ref.level_dbov(frames))
    np.testing.assert_array_equal(got.mean_square, ref.mean_square(frames))
    level = got.level.tolist()
    assert level[0] == mix.LEVEL_SILENCE  # digital silence
    assert level[1] == 0 and level[2] == 3  # square wave is 0 dBov, sine -3 dBov
    assert 54 <= level[3] <= 56  # room noise
    assert 19 <= level[4] <= 21
    assert level[5] == 90  # a constant 1 LSB: 20*log10(32768) = 90.3


@FAST
@given(
    n=st.integers(1, 8),
    s=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    amplitude=st.sampled_from([0, 1, 3, 100, 1000, 32768]),
)
def test_levels_match_reference(n: int, s: int, seed: int, amplitude: int) -> None:
    rng = np.random.default_rng(seed)
    frames = rng.integers(-amplitude, amplitude + 1, (n, s)).clip(-32768, 32767).astype(np.int16)
    got = mix.audio_levels(frames)
    np.testing.assert_array_equal(got.level, ref.level_dbov(frames))
    np.testing.assert_array_equal(got.mean_square, ref.mean_square(frames))


def test_mix_minus_levels_equals_both_calls() -> None:
    frames = np.concatenate(
        [_frames(3, seed=4), np.stack([_noise_dbfs(-55, S, k) for k in range(5)])]
    )
    members = [4, 0, 2]
    gains = np.arange(8) * 4000
    both, levels = mix.mix_minus_levels(frames, members, gains)
    _assert_mix_equal(both, frames, members, gains)
    np.testing.assert_array_equal(levels.level, ref.level_dbov(frames))
    np.testing.assert_array_equal(levels.mean_square, ref.mean_square(frames))
