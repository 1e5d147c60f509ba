"""One load scenario end to end: the MCU, the load generators, the window, the figures.

The MCU (`python -m mcu serve`) and the generators run as separate processes. Over the
measurement window (after every member joined and a warm-up) the MCU's CPU comes from
/proc/<pid>/stat (utime + stime of all its threads), the generators' likewise (reported
apart), what the members received from their counters, and where the MCU spent its time
from its own Prometheus histograms (compose, encode, audio tick: wall time inside each stage).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procstat
from bench.loadgen import GeneratorProcess, plan_members, split_plan
from bench.mcu_run import MEMBER_PIN, BenchMcu, metric_delta, metric_sum
from bench.scenario import Scenario

STAGES = {  # Prometheus histogram -> stage name in the report
    "mcu_compose_duration_seconds": "compose",
    "mcu_view_encode_duration_seconds": "encode",
    "mcu_audio_tick_duration_seconds": "audio_tick",
}


@dataclass
class MeetingResult:
    scenario: str
    members: int
    window_s: float
    mcu_cores: float
    mcu_cpu_seconds: float
    rss_mb: float
    peak_rss_mb: float
    generator_cores: float
    generator_processes: int
    output_fps: float | None = None
    output_fps_min: float | None = None
    expected_fps: float | None = None
    dropped_output_frames: int | None = None  # expected (fps x window) minus received, probes
    timestamp_gap_frames: int | None = None  # frame times missing in the probes' RTP timestamps
    view_frames: int = 0
    views: float = 0.0
    audio_packets_lost: int = 0
    video_packets_lost: int = 0
    mcu_inbound_lost: int = 0  # RTP the MCU saw missing from the members (its receive side)
    mcu_dropped_input_frames: int = 0
    audio_packets_received: int = 0
    video_packets_received: int = 0
    video_kbps_to_member: float = 0.0  # what the MCU sends each member (RTP bytes, mean)
    video_kbps_from_member: float = 0.0
    latency_ms_p50: float | None = None
    latency_ms_p99: float | None = None
    latency_samples: int = 0
    latency_misses: int = 0
    generator_late_ticks: int = 0
    joined: int = 0
    join_failures: list[str] = field(default_factory=list)
    churn_events: int = 0
    stages_cores: dict[str, float] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    peers: list[dict[str, Any]] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    profile: str = ""

    @property
    def cpu_ms_per_member_second(self) -> float:
        """CPU ms the MCU spends per member per second of meeting."""
        return 1000.0 * self.mcu_cores / self.members

    @property
    def cpu_ms_per_output_frame(self) -> float | None:
        """CPU ms per composed frame time (all views of that instant), at the measured fps."""
        if not self.output_fps:
            return None
        return 1000.0 * self.mcu_cores / self.output_fps

    @property
    def cpu_ms_per_view_frame(self) -> float | None:
        """CPU ms per encoded view frame (one composed + encoded picture)."""
        if not self.view_frames:
            return None
        return 1000.0 * self.mcu_cpu_seconds / self.view_frames

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["cpu_ms_per_member_second"] = self.cpu_ms_per_member_second
        out["cpu_ms_per_output_frame"] = self.cpu_ms_per_output_frame
        out["cpu_ms_per_view_frame"] = self.cpu_ms_per_view_frame
        return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def _diff(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: b.get(k, 0) - a.get(k, 0) for k in b}


def run_meeting(scenario: Scenario, out: Path, quick: bool = False,
                profile_seconds: float = 0.0, shared_port: bool = False, record: bool = False) -> MeetingResult:
    """Run `scenario` once (`record`: with its room recorded); its MCU config and log go into `out`."""
    m = scenario.members
    window = scenario.window(quick)
    mcu = BenchMcu(scenario, out / "mcu", shared_port=shared_port, record=record)
    gens: list[GeneratorProcess] = []
    try:
        members = plan_members(scenario, scenario.room.chair_pin, MEMBER_PIN)
        plans = split_plan(mcu.room_uri, members, m.generators, m.joins_per_second,
                           scenario.churn.interval, scenario.churn.members)
        gens = [GeneratorProcess(p) for p in plans]
        for g in gens:
            g.send("join")
        join_timeout = 120 + m.count / m.joins_per_second
        joins = [g.receive(join_timeout) for g in gens]
        time.sleep(scenario.warmup)
        snaps0 = [g.ask("snap") for g in gens]
        m0 = mcu.metrics()
        s0 = procstat.sample(mcu.pid)
        g0 = [procstat.sample(g.pid) for g in gens]
        profile = ""
        if profile_seconds > 0:
            profile = _py_spy(mcu.pid, min(profile_seconds, window), out / "profile")
            time.sleep(max(0.0, window - profile_seconds))
        else:
            time.sleep(window)
        s1 = procstat.sample(mcu.pid)
        g1 = [procstat.sample(g.pid) for g in gens]
        m1 = mcu.metrics()
        snaps1 = [g.ask("snap") for g in gens]
        stops = [g.ask("stop", 60) for g in gens]
    finally:
        for g in gens:
            g.close()
        mcu.stop()
    w = procstat.window(s0, s1)
    gen_cpu = sum(b.cpu_seconds - a.cpu_seconds for a, b in zip(g0, g1))
    totals: dict[str, int] = {}
    for a, b in zip(snaps0, snaps1):
        for k, v in _diff(a["totals"], b["totals"]).items():
            totals[k] = totals.get(k, 0) + v
    result = MeetingResult(
        scenario=scenario.name, members=m.count, window_s=w.wall_seconds, mcu_cores=w.cores,
        mcu_cpu_seconds=w.cpu_seconds, rss_mb=w.rss_kb / 1024, peak_rss_mb=w.peak_rss_kb / 1024,
        generator_cores=gen_cpu / w.wall_seconds, generator_processes=len(gens),
        audio_packets_lost=totals.get("audio_lost", 0), video_packets_lost=totals.get("video_lost", 0),
        audio_packets_received=totals.get("audio_in", 0), video_packets_received=totals.get("video_in", 0),
        generator_late_ticks=totals.get("late_ticks", 0),
        video_kbps_to_member=totals.get("video_bytes_in", 0) * 8 / 1000 / w.wall_seconds / m.count,
        video_kbps_from_member=totals.get("video_bytes_out", 0) * 8 / 1000 / w.wall_seconds / m.count,
        joined=sum(j["joined"] for j in joins), join_failures=[f for j in joins for f in j["failed"]],
        churn_events=sum(b["churn_events"] - a["churn_events"] for a, b in zip(snaps0, snaps1)),
        profile=profile,
    )
    for name, stage in STAGES.items():
        spent = metric_delta(m0, m1, name + "_sum")
        result.stages_cores[stage] = spent / w.wall_seconds
    result.view_frames = int(metric_delta(m0, m1, "mcu_view_encode_duration_seconds_count"))
    result.views = metric_sum(m1, "mcu_room_views")
    result.mcu_inbound_lost = int(metric_sum(m1, "mcu_member_lost_packets")
                                  - metric_sum(m0, "mcu_member_lost_packets"))
    result.mcu_dropped_input_frames = int(metric_delta(m0, m1, "mcu_member_dropped_frames_total"))
    if m.video:
        fps_values = []
        dropped = gaps = 0
        for a, b in zip(snaps0, snaps1):
            expected = scenario.room.fps * (b["time"] - a["time"])  # the generator's own clock
            for number, after in b["probes"].items():
                before = a["probes"].get(number)
                if before is None:
                    continue
                frames = after["video_frames"] - before["video_frames"]
                fps_values.append(frames / w.wall_seconds)
                dropped += max(0, round(expected) - frames)
                gaps += after["skipped_frames"] - before["skipped_frames"]
        if fps_values:
            result.output_fps = statistics.mean(fps_values)
            result.output_fps_min = min(fps_values)
            result.expected_fps = float(scenario.room.fps)
            result.dropped_output_frames = dropped
            result.timestamp_gap_frames = gaps
    latencies = [x for s in stops for x in s["latencies"]]
    result.latency_samples = len(latencies)
    result.latency_misses = sum(s["latency_misses"] for s in stops)
    if latencies:
        result.latency_ms_p50 = 1000 * percentile(latencies, 50)
        result.latency_ms_p99 = 1000 * percentile(latencies, 99)
    result.checks = stops[0]["checks"] if stops else {}
    return result


def _py_spy(pid: int, seconds: float, stem: Path) -> str:
    """A py-spy profile of the MCU (all threads; collapsed stacks) if py-spy is installed."""
    import shutil
    import subprocess
    import sys

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return "py-spy not installed (pip install py-spy)"
    raw = stem.with_suffix(".txt")
    proc = subprocess.run([spy, "record", "-p", str(pid), "-d", str(max(1, int(seconds))), "-r", "100",
                           "-o", str(raw), "-f", "raw", "--threads", "--nonblocking"],
                          capture_output=True, text=True, check=False)
    if raw.exists():
        return str(raw)
    return f"py-spy failed: {proc.stderr.strip()[-300:]}"
