"""The load generator's member plan, /proc sampling, metric deltas and the report writer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import procstat
from bench.loadgen import CHAIR_NAME, plan_members, split_plan
from bench.mcu_run import metric_delta, metric_sum, rooms_toml
from bench.meeting import percentile
from bench.report import Report
from bench.scenario import find_scenario


def test_percentile_nearest_rank() -> None:
    assert percentile([5.0], 99) == 5.0
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(list(reversed(values)), 100) == 100.0


def test_procstat_of_a_missing_process_is_a_named_error() -> None:
    with pytest.raises(procstat.ProcessGoneError, match="999999999"):
        procstat.sample(999_999_999)


def test_procstat_counts_cpu_of_this_process() -> None:
    a = procstat.sample(os.getpid())
    x = 0
    for i in range(2_000_000):
        x += i
    b = procstat.sample(os.getpid())
    w = procstat.window(a, b)
    assert w.cpu_seconds > 0 and w.wall_seconds > 0 and b.rss_kb > 1000
    assert b.peak_rss_kb >= b.rss_kb


def test_metric_delta_ignores_removed_series_and_counts_new_ones() -> None:
    before = {'mcu_x_count{view="a"}': 10.0, 'mcu_x_count{view="b"}': 50.0, "mcu_y": 1.0}
    after = {'mcu_x_count{view="a"}': 15.0, 'mcu_x_count{view="c"}': 7.0, "mcu_y": 3.0}
    assert metric_delta(before, after, "mcu_x_count") == 12.0  # 5 + 7; b vanished
    assert metric_sum(after, "mcu_x_count") == 22.0
    assert metric_sum(after, "mcu_x") == 0.0  # a prefix is not a name


def test_briefing_plan_roles_names_and_pins() -> None:
    s = find_scenario("briefing-64")
    members = plan_members(s, chair_pin="9999", member_pin="1111")
    assert len(members) == 64
    roles = [m.role for m in members]
    assert roles[0] == "talker" and roles[-1] == "speaker"
    assert roles.count("probe") == 3 and roles.count("churner") == 64 - 1 - 1 - 3
    assert members[0].pin == "9999" and members[0].name == CHAIR_NAME
    assert all(m.pin == "1111" for m in members[1:])
    assert members[1].name.startswith("UBND tỉnh ") and members[1].options["decode_video"]
    assert not members[5].options["decode_video"]
    assert members[0].receive_size == (1280, 720) and members[0].options["width"] == 640
    plans = split_plan("sip:4100@127.0.0.1:5060", members, 2, 8.0, 10.0, 1)
    assert len(plans) == 2 and sum(len(p.members) for p in plans) == 64
    assert {m.role for m in plans[1].members} == {"churner"}
    assert "talker" in {m.role for m in plans[0].members}
    assert 'chair_pin = "9999"' in rooms_toml(s) and 'mode = "lecture"' in rooms_toml(s)


def _scenario(name: str, members: int, cores: float, **extra: object) -> dict:
    base = {"scenario": name, "members": members, "mcu_cores": cores, "mcu_cpu_seconds": cores * 10,
            "cpu_ms_per_member_second": 1000 * cores / members, "output_fps": None, "output_fps_min": None,
            "dropped_output_frames": None, "cpu_ms_per_output_frame": None, "cpu_ms_per_view_frame": None,
            "views": 0, "audio_packets_lost": 0, "video_packets_lost": 2, "latency_ms_p50": 40.0,
            "latency_ms_p99": 60.0, "rss_mb": 100.0, "generator_cores": 0.2, "stages_cores": {},
            "checks": {}, "peers": [], "joined": members, "join_failures": [], "churn_events": 0}
    base.update(extra)
    return base


def test_report_writes_tables_json_ratios_and_charts(tmp_path: Path) -> None:
    rep = Report(tmp_path / "run")
    rep.scenarios = [
        _scenario("audio-100-opus", 100, 0.2, peers=[{"peer": "janus", "codec": "opus", "members": 100,
                                                       "cores": 1.0}]),
        _scenario("video-16", 16, 1.6, output_fps=30.0, output_fps_min=29.5, dropped_output_frames=3,
                  cpu_ms_per_output_frame=53.3, cpu_ms_per_view_frame=4.0, views=16,
                  peers=[{"peer": "ffmpeg", "inputs": 16, "frames": 300, "cpu_ms_per_frame": 10.0},
                         {"peer": "gstreamer", "inputs": 16, "frames": 300, "cpu_ms_per_frame": 16.0}]),
        _scenario("video-64", 64, 8.0, output_fps=20.0, output_fps_min=18.0, dropped_output_frames=600,
                  cpu_ms_per_output_frame=100.0, cpu_ms_per_view_frame=5.0),
    ]
    rep.plan_checks = [{"name": "video-16", "members": 16, "predicted_cores": 1.76,
                        "measured_cores": 1.6, "ratio": 1.1}]
    text_path = rep.write()
    ratios = rep.ratios
    assert ratios["audio_opus_vs_janus"] == pytest.approx(0.2)
    assert ratios["video16_per_view_frame"] == pytest.approx(0.4)  # 4.0 / min(10, 16)
    assert ratios["linear_64_vs_16"] == pytest.approx((8000 / 64) / (1600 / 16))
    assert ratios["plan_video-16"] == pytest.approx(1.1)
    text = text_path.read_text(encoding="utf-8")
    assert "audio-100-opus" in text and "MISSED" in text and "met" in text
    data = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert data["ratios"]["audio_opus_vs_janus"] == pytest.approx(0.2)
    for png in ("video_cpu_vs_members.png", "video_cpu_per_frame.png", "audio_cpu.png"):
        assert (tmp_path / "run" / png).read_bytes()[:4] == b"\x89PNG"
