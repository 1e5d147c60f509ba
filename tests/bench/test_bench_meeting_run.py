"""A tiny load run end to end: the MCU process, one generator process, a 2 s window."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.meeting import run_meeting
from bench.scenario import parse_scenario

TINY = """
[scenario]
name = "tiny"
seconds = 2.5
quick_seconds = 2.5
warmup = 1.5
[room]
mode = "voice"
layout = "speaker"
audio_rate = 16000
[members]
count = 3
audio_codec = "PCMU"
video = false
talkers = 1
probes = 1
joins_per_second = 20
"""


def test_tiny_audio_meeting_is_measured(tmp_path: Path) -> None:
    r = run_meeting(parse_scenario(TINY, "tiny.toml"), tmp_path)
    assert r.joined == 3 and r.join_failures == []
    assert r.mcu_cpu_seconds > 0 and 2.0 < r.window_s < 5.0
    assert r.rss_mb > 10
    # 3 members x 50 packets/s x 2.5 s come back from the MCU
    assert r.audio_packets_received > 3 * 50 * 2
    assert r.checks["heard_talker"] == 1 and r.checks["probes_checked"] == 1
    assert r.stages_cores["audio_tick"] > 0
    assert r.latency_samples + r.latency_misses >= 1
    assert (tmp_path / "mcu" / "mcu.toml").exists() and "mcu.ready" in (tmp_path / "mcu" / "mcu.log").read_text()


def test_a_recorded_run_leaves_a_recording_that_decodes(tmp_path: Path) -> None:
    """`python -m bench --record`: the room recorded from its first join, into the run's folder."""
    r = run_meeting(parse_scenario(TINY, "tiny.toml"), tmp_path, record=True)
    assert r.joined == 3 and r.checks["heard_talker"] == 1
    assert 'record = "auto"' in (tmp_path / "mcu" / "rooms.toml").read_text()
    files = list((tmp_path / "mcu" / "recordings").glob("*.mp4"))
    assert len(files) == 1, list((tmp_path / "mcu").iterdir())
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", str(files[0]), "-f", "null", "-"],
                             check=False, capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0, decoded.stderr
