import numpy as np
import pytest

from mcu.media import PcmFormatError, Resampler
from tests.media.media_helpers import peak_frequency, tone

RATE_PAIRS = [(8000, 48000), (48000, 8000), (16000, 48000), (48000, 16000), (8000, 16000),
              (16000, 8000)]


def test_unsupported_rate_is_refused():
    with pytest.raises(PcmFormatError, match="11025"):
        Resampler(11025, 48000)


def test_wrong_frame_length_is_refused():
    with pytest.raises(PcmFormatError, match="160"):
        Resampler(8000, 48000).process(np.zeros(159, dtype=np.int16))


def test_float_input_is_refused():
    with pytest.raises(PcmFormatError):
        Resampler(8000, 48000).process(np.zeros(160, dtype=np.float64))


def test_same_rate_is_identity():
    r = Resampler(16000, 16000)
    x = tone(440, 16000, 320)
    assert r.process(x) is not None
    np.testing.assert_array_equal(r.process(x), x)


def _run(r: Resampler, freq: float, frames: int) -> np.ndarray:
    out = []
    for i in range(frames):
        y = r.process(tone(freq, r.from_rate, r.in_samples, start=i * r.in_samples))
        assert y.shape == (r.out_samples,) and y.dtype == np.int16
        out.append(y)
    assert r.underruns == 0
    return np.concatenate(out)


@pytest.mark.parametrize("from_rate,to_rate", RATE_PAIRS)
def test_tone_frequency_is_preserved(from_rate, to_rate):
    y = _run(Resampler(from_rate, to_rate), 700.0, 50)[to_rate // 10 :]
    assert abs(peak_frequency(y, to_rate) - 700.0) <= 2 * to_rate / y.size


@pytest.mark.parametrize("from_rate,to_rate", RATE_PAIRS)
def test_no_discontinuity_across_frame_boundaries(from_rate, to_rate):
    """After the start-up delay the output is one continuous sinusoid: least-squares fit of a
    sine at the known frequency leaves a tiny residual everywhere, including at every 20 ms
    boundary (a click or a dropped/duplicated sample would leave a large one)."""
    r = Resampler(from_rate, to_rate)
    y = _run(r, 500.0, 40).astype(np.float64)
    skip = r.delay_samples + to_rate // 100
    seg = y[skip:]
    t = (np.arange(seg.size) + skip) / to_rate
    basis = np.stack([np.sin(2 * np.pi * 500 * t), np.cos(2 * np.pi * 500 * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, seg, rcond=None)
    residual = np.abs(seg - basis @ coef)
    assert np.hypot(*coef) > 7000  # amplitude kept
    assert residual.max() < 0.02 * 8000
    boundaries = np.arange(r.out_samples - skip % r.out_samples, seg.size, r.out_samples)
    assert residual[boundaries].max() < 0.02 * 8000


def test_delay_is_reported_and_small():
    r = Resampler(8000, 48000)
    _run(r, 440.0, 3)
    assert 0 < r.delay_samples < r.out_samples // 2
