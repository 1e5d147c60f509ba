"""Identity, picture and audio-analysis helpers of the synthetic endpoint (no sockets)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mcu.synthetic import (
    EndpointConfig,
    colour_fraction,
    find_colour,
    goertzel_power,
    make_picture,
    tile_colour_at,
    tone_for,
    yuv_for,
)
from mcu.synthetic.identity import contrast_yuv
from mcu.synthetic.media import CodecSetupError, audio_cycle, video_cycle
from mcu.synthetic.sound import AudioRing, noise_samples, rms_dbfs, tone_samples


def test_config_rejects_unknown_codecs_and_transport() -> None:
    with pytest.raises(ValueError, match="audio_codec"):
        EndpointConfig(1, audio_codec="G729")
    with pytest.raises(ValueError, match="video_codec"):
        EndpointConfig(1, video_codec="H263")
    with pytest.raises(ValueError, match="packetization"):
        EndpointConfig(1, video_codec="H264", h264_packetization_mode=2)
    with pytest.raises(ValueError, match="sip_transport"):
        EndpointConfig(1, sip_transport="tls")


def test_negative_number_and_bad_picture_size_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        tone_for(-1)
    with pytest.raises(ValueError, match="even"):
        make_picture(641, 360, yuv_for(1), 1)
    with pytest.raises(ValueError, match="outside"):
        tile_colour_at(make_picture(64, 64, yuv_for(1), 1), 60, 0, 8, 8)
    with pytest.raises(CodecSetupError, match="H264 or VP8"):
        video_cycle("H263", 64, 64, 15, yuv_for(1), "1", 2)


def _min_spacing(numbers: range) -> int:
    return min(abs(tone_for(a) - tone_for(b)) for a, b in itertools.combinations(numbers, 2))


def test_tones_are_distinct_in_band_and_far_apart_within_a_block_of_16() -> None:
    tones = [tone_for(n) for n in range(64)]
    assert all(300 <= t <= 3000 and isinstance(t, int) for t in tones)
    assert _min_spacing(range(64)) >= 42
    for start in (0, 16, 32, 48):
        assert _min_spacing(range(start, start + 16)) >= 170
    assert _min_spacing(range(1, 17)) >= 128
    assert abs(tone_for(1) - tone_for(2)) > 1000  # neighbours land far apart


def test_goertzel_tells_16_tones_apart_at_8khz() -> None:
    rate = 8000
    for n in range(1, 17):
        pcm = tone_samples(tone_for(n), rate, rate) + noise_samples(rate, seed=n)
        powers = {m: goertzel_power(pcm, rate, tone_for(m)) for m in range(1, 17)}
        assert powers[n] > 0.05
        assert max(p for m, p in powers.items() if m != n) < powers[n] / 1000
    assert goertzel_power(np.zeros(0, np.int16), rate, 1000) == 0.0


def test_room_noise_level_is_about_minus_55_dbfs() -> None:
    assert -57 < rms_dbfs(noise_samples(8000)) < -53
    assert rms_dbfs(np.zeros(0, np.int16)) == -np.inf


def test_colours_of_16_consecutive_numbers_are_told_apart() -> None:
    pictures = {n: make_picture(160, 96, yuv_for(n), n) for n in range(1, 17)}
    for n, pic in pictures.items():
        assert find_colour(pic, yuv_for(n))
        assert colour_fraction(pic, yuv_for(n)) > 0.7  # the digits cover the rest
        for m in range(1, 17):
            if m != n:
                assert not find_colour(pic, yuv_for(m)), (n, m)


def test_picture_draws_the_number_in_a_contrasting_colour() -> None:
    colour = yuv_for(3)
    pic = make_picture(320, 180, colour, 3)
    corner = tile_colour_at(pic, 0, 0, 32, 32)
    assert all(abs(a - b) < 1 for a, b in zip(corner, colour))
    ink = contrast_yuv(colour)
    centre_luma = pic.y[60:120, 120:200]
    assert np.count_nonzero(np.abs(centre_luma.astype(int) - ink[0]) < 8) > 200


def test_audio_ring_keeps_the_latest_samples_across_wraparound() -> None:
    ring = AudioRing(1000, seconds=1.0)
    assert ring.last(1.0).size == 0
    for i in range(25):
        ring.append(np.full(100, i, np.int16), float(i))
    last = ring.last(0.3)
    assert list(last[::100]) == [22, 23, 24]
    assert ring.last(5.0).size == 1000
    assert ring.written == 2500


@pytest.mark.parametrize(("codec", "rate"), [("PCMU", 8000), ("PCMA", 8000), ("G722", 8000),
                                             ("opus", 48000)])
def test_audio_cycle_is_one_second_of_frames(codec: str, rate: int) -> None:
    cycle = audio_cycle(codec, rate, tone_for(5), 5)
    assert len(cycle.tone) == len(cycle.noise) == 50
    assert cycle.timestamp_step == rate // 50
    assert all(cycle.tone) and cycle.tone != cycle.noise


def test_video_cycle_starts_with_the_only_keyframe() -> None:
    cycle = video_cycle("H264", 320, 180, 15, yuv_for(2), "2", 10, 0)
    assert cycle.keyframe[0] and not any(cycle.keyframe[1:])
    assert all(len(p) <= 1200 for frame in cycle.frames for p in frame)
    assert cycle.timestamp_step == 6000
