"""Batched polyphase resampling: frequencies kept, images rejected, streams continuous per member."""

from __future__ import annotations

import numpy as np
import pytest

from mcu.media.batch_resample import BatchResampler
from tests.helpers import tone, tone_power


def run(resampler: BatchResampler, signals: dict[str, np.ndarray], frames: int) -> dict[str, np.ndarray]:
    out: dict[str, list[np.ndarray]] = {k: [] for k in signals}
    n = resampler.in_samples
    for f in range(frames):
        got = resampler.process({k: s[f * n:(f + 1) * n] for k, s in signals.items()})
        for k, pcm in got.items():
            out[k].append(pcm)
    return {k: np.concatenate(v) for k, v in out.items()}


def test_non_integer_ratio_is_refused() -> None:
    with pytest.raises(ValueError, match="integer ratio"):
        BatchResampler(44100, 48000)


@pytest.mark.parametrize("src,dst", [(8000, 48000), (16000, 48000), (8000, 16000), (48000, 8000), (48000, 16000)])
def test_tone_is_kept_images_rejected_and_frames_join(src: int, dst: int) -> None:
    resampler = BatchResampler(src, dst)
    frames = 25
    signals = {"a": tone(700, src, resampler.in_samples * frames), "b": tone(1900, src, resampler.in_samples * frames)}
    out = run(resampler, signals, frames)
    for key, freq in (("a", 700), ("b", 1900)):
        pcm = out[key][dst // 10:]  # past the filter's start-up
        assert len(out[key]) == resampler.out_samples * frames
        assert 0.07 < tone_power(pcm, dst, freq) < 0.11, "the tone keeps its level (0.3 of full scale: 0.09)"
        if dst > src:  # the first spectral image of an upsampler sits at src - f
            assert tone_power(pcm, dst, src - freq) < tone_power(pcm, dst, freq) / 1000
        # continuity: the resampled sine matches a fitted sine everywhere, frame edges included
        t = np.arange(len(pcm)) / dst
        basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
        coef, *_ = np.linalg.lstsq(basis, pcm.astype(np.float64), rcond=None)
        residual = pcm - basis @ coef
        assert np.abs(residual).max() < 0.03 * 32767 * 0.3, "no clicks at frame boundaries"


def test_members_keep_separate_history_and_new_ones_start_silent() -> None:
    resampler = BatchResampler(8000, 48000)
    loud = tone(500, 8000, 160)
    resampler.process({"a": loud})
    first = resampler.process({"b": np.zeros(160, np.int16)})["b"]
    assert not first.any(), "b's history is its own (silence), not a's tone"
    resampler.forget({"a"})
    assert resampler.tracked == {"b"}
