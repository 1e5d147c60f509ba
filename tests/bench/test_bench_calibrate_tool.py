"""`mcu bench calibrate` on tiny sizes: every unit cost measured, the file loads back, and the
planner compares a [[load]] entry with its prediction."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcu.calibrate import CalibrateOptions, CalibrationError, main, measure, with_loads
from mcu.plan.calibration import LoadScenario, load_calibration, save_calibration
from mcu.plan.loadcheck import check_loads
from mcu.plan.tiers import AUDIO_CODECS, PRESETS, VIDEO_TIERS

TINY = CalibrateOptions(frames=3, audio_frames=5, packets=50, content="synthetic",
                        reference_seconds=0.5, reference_repeats=1)


def test_unknown_content_is_refused() -> None:
    with pytest.raises(CalibrationError, match="content 'cartoon'"):
        measure(CalibrateOptions(frames=2, content="cartoon"))


def test_tiny_calibration_round_trips_and_checks_loads(tmp_path: Path) -> None:
    cal = measure(TINY)
    assert set(cal.decode_ms) == set(VIDEO_TIERS) and all(v > 0 for v in cal.decode_ms.values())
    assert set(cal.encode_ms) == set(PRESETS)
    assert all(cal.encode_ms[p][t] > 0 for p in PRESETS for t in VIDEO_TIERS)
    assert set(cal.audio_encode_us) == set(AUDIO_CODECS) and cal.audio_encode_us["opus"] > 0
    assert cal.blit_ms_per_tile > 0 and cal.mix_us_per_member > 0 and cal.rtp_us_per_packet > 0
    # the conference path: each viewer's video packets cost something; the rest cannot be negative
    assert cal.video_out_us_per_packet > 0
    assert min(cal.view_ms, cal.video_room_ms, cal.video_in_us_per_packet) >= 0
    assert "scaled by" in cal.notes["video"]  # synthetic: encode scaled to the replayed views
    load = LoadScenario(name="video-16", members=16, layout="grid", tiles=16, tier="hd720",
                        audio_codec="g711", measured_cores=1.0)
    path = tmp_path / "cal.toml"
    save_calibration(with_loads(cal, [load]), path)
    again = load_calibration(path)
    assert again.loads == (load,)
    assert again.decode_ms == pytest.approx(cal.decode_ms)
    checks = check_loads(again)
    assert len(checks) == 1 and checks[0].predicted_cores > 0
    assert checks[0].ratio == pytest.approx(checks[0].predicted_cores / 1.0)


def test_cli_units_only_writes_a_loadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "machine.toml"
    assert main(["bench", "calibrate", "--quick", "--units-only", "-o", str(out)]) == 0
    cal = load_calibration(out)
    assert cal.cores >= 1 and "loopback" in cal.notes["network.rtp_us_per_packet"]
    assert str(out) in capsys.readouterr().out


def test_cli_calibrates_with_the_running_mcu(tmp_path: Path) -> None:
    """The default: the suite's 100-member audio scenario against a real `mcu serve` gives the
    RTP and audio figures (its notes say so), then the unit costs; one file."""
    out = tmp_path / "machine.toml"
    assert main(["bench", "calibrate", "--quick", "-o", str(out)]) == 0
    cal = load_calibration(out)
    assert "audio-100-pcmu" in cal.notes["network.rtp_us_per_packet"]
    assert "audio-100-pcmu" in cal.notes["audio.mix_us_per_member"]
    assert cal.rtp_us_per_packet > 0 and cal.mix_us_per_member > 0
    assert "content=moving" in cal.source
