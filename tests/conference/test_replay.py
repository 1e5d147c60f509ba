"""mcu.replay: a meeting replayed in-process on the conference path (what `mcu bench calibrate`
measures its reference meeting with)."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mcu.calibrate import REFERENCE_ROOM, reference_config
from mcu.replay import ReplayMember, replay


def _sites(n: int) -> list[ReplayMember]:
    return [ReplayMember(talking=i == 0) for i in range(n)]


def test_every_member_gets_a_view_and_the_mix(tmp_path):
    r = replay(reference_config(tmp_path), REFERENCE_ROOM, _sites(4), seconds=1.0, warmup=0.5)
    # 4 sites on a 2x2 grid: each sees the other three, so 4 own views at 30 fps
    assert r.views == 4
    assert r.video_frames_out == pytest.approx(4 * 30, abs=4)
    # every tile is drawn once per frame however many views show it, and copied 3 times
    assert r.tiles_drawn == pytest.approx(4 * 30, abs=4)
    assert r.tile_copies == pytest.approx(3 * r.video_frames_out, abs=8)
    # in the 1 s window: 4 x 50 audio packets and at least one video packet per frame from each
    assert r.audio_packets_in == 4 * 50
    assert r.video_packets_in >= 4 * 30
    # out: audio to everyone and each view's packets to its viewer
    assert r.video_packets_out >= r.video_frames_out
    assert r.packets_out >= r.video_packets_out + 4 * 50 - 4
    # every site is on screen, so every one is decoded; encoders and decoders run inside stages
    assert 0 < r.encode_seconds < r.stages["video_render"]
    assert 0 < r.decode_seconds < r.stages["video_in"]
    assert sum(r.stages.values()) <= r.cpu_seconds * 1.01
    assert r.cores > 0


def test_real_time_replay_takes_media_time_and_runs_on_the_pool(tmp_path):
    config = reference_config(tmp_path)
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        r = replay(config, REFERENCE_ROOM, _sites(2), seconds=1.0, warmup=0.5, pool=pool, realtime=True)
    assert time.monotonic() - started >= 1.4  # paced to the media clock, not as fast as possible
    assert r.views == 2 and r.video_frames_out >= 2 * 28
