"""Overload run: ask the real `mcu serve` for more sites than this box can carry.

    .venv/bin/python -m bench.overload                 # 24 sites, one at a time (2 per second)
    .venv/bin/python -m bench.overload --sites 30 --roster 3 --quick
    .venv/bin/python -m bench.overload --ceiling 0.6 --calibration machine.toml

What it shows (issue "One site never breaks a meeting"): with admission wired into the server,
joins past the ceiling are answered 503 (with Retry-After) while the admitted meeting keeps its
frame rate; the MCU's predicted load (the planner's model) is printed beside the measured one.

The MCU runs on a config written by bench.mcu_run plus an [admission] section, with the
calibration copied next to it; the sites are bench.loadgen BenchEndpoints (360p30 H.264 + PCMU
sent, 720p asked for), joined one after the other so each admission decision sees the members
before it. Member 1 (the talker) is named as the roster's chair, the last `--roster` members as
roster participants (sites.toml names): they are let in up to the full ceiling, the others only
up to ceiling - reserve.

Printed: sites asked, admitted, refused with 503 (the status of the SIP answer each site got),
the fps the admitted probe sites receive, and predicted against measured cores: predicted from
the MCU's /metrics (mcu_admission_predicted_cores) when it exports it, else from the planner
run here on the admitted meeting's shape; measured from /proc (utime + stime of the MCU over
the window) and from /metrics (mcu_admission_measured_cores) when exported. Results go to
bench/results/overload-<timestamp>/ (overload.json, the MCU's config and log).
Exit status 0 when joins were refused with 503 and the probes kept >= 95% of the room's fps.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench import procstat
from bench.loadgen import GeneratorProcess, MemberPlan, plan_members, split_plan
from bench.mcu_run import (
    REPO,
    BenchMcu,
    metric_delta,
    metric_sum,
)
from bench.scenario import Scenario, load_scenario, parse_scenario
from mcu.layout import load_config_dir
from mcu.plan.calibration import DEFAULT_CALIBRATION, load_calibration
from mcu.plan.cpu import LayoutSpec, MeetingShape, meeting_cpu
from mcu.plan.tiers import SiteMedia

RESULTS = REPO / "bench" / "results"
FPS_KEPT = 0.95  # the admitted meeting "keeps 30 fps": probes receive at least this share
STATUS = re.compile(r"failed: (\d{3})\b")

SCENARIO = """
[scenario]
name = "overload"
description = "more 360p-in / 720p-out sites than the box can carry, one at a time"
seconds = 15
quick_seconds = 6
warmup = 4

[room]
mode = "auto"
layout = "grid"
audio_rate = 16000
fps = 30

[members]
count = 24
audio_codec = "PCMU"
video = true
width = 640
height = 360
fps = 30
receive_width = 1280
receive_height = 720
talkers = 1
decoders = 0
probes = 3
joins_per_second = 2
"""


class OverloadMcu(BenchMcu):
    """BenchMcu with an [admission] section and the calibration beside its config."""

    def __init__(self, scenario: Scenario, folder: Path, admission: str, calibration: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(calibration, folder / "calibration.toml")
        super().__init__(scenario, folder, extra=admission)


@dataclass
class OverloadResult:
    asked: int
    admitted: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # SIP status -> sites ("200": joined)
    refused_503: int = 0
    refused_priority: int = 0  # roster or chair sites among the 503s
    other_failures: list[str] = field(default_factory=list)
    room_fps: float = 30.0
    probe_fps: list[float] = field(default_factory=list)  # what admitted probe sites receive
    window_s: float = 0.0
    measured_cores_proc: float = 0.0  # /proc utime + stime of the MCU over the window
    generator_cores: float = 0.0  # the sites' process, on the same machine
    load_average: float = 0.0  # the machine's 1-minute load at the end (other work competes)
    skipped_frame_times: int = 0  # mcu_video_frames_skipped_total over the window
    measured_cores_metric: float | None = None  # mcu_admission_measured_cores
    predicted_cores_metric: float | None = None  # mcu_admission_predicted_cores
    predicted_cores_planner: float = 0.0  # meeting_cpu of the admitted meeting, computed here
    ceiling_cores: float = 0.0
    refusals_by_reason: dict[str, float] = field(default_factory=dict)  # mcu_admission_refusals_total
    degraded_by_step: dict[str, float] = field(default_factory=dict)  # mcu_admission_degraded_total
    admission_log: list[str] = field(default_factory=list)  # the MCU's admission.* events

    @property
    def fps_kept(self) -> bool:
        return bool(self.probe_fps) and min(self.probe_fps) >= FPS_KEPT * self.room_fps

    @property
    def ok(self) -> bool:
        return self.refused_503 > 0 and self.fps_kept


def roster_names(members: list[MemberPlan], roster: int) -> list[MemberPlan]:
    """Member 1 takes the roster chair's name, the last `roster` members participants' names."""
    sites = load_config_dir(REPO / "conf").sites
    chair = next((s for s in sites if s.role == "chair"), None)
    others = [s for s in sites if s.role != "chair"]
    out = list(members)
    if chair is not None and out:
        out[0] = replace(out[0], name=chair.name)
    for i, site in zip(range(len(out) - 1, max(0, len(out) - 1 - roster), -1), others):
        out[i] = replace(out[i], name=site.name)
    return out


def planner_cores(admitted: int, scenario: Scenario, calibration: Path) -> float:
    """What the planner predicts for the admitted meeting: 360p30 sent, 720p30 received, G.711,
    the grid the layout engine picks for the video sites (each sees the others)."""
    if admitted == 0:
        return 0.0
    layouts = load_config_dir(REPO / "conf")
    tiles = layouts.pick(scenario.room.layout, max(1, admitted - 1)).capacity
    m = scenario.members
    media = SiteMedia("hd720", float(scenario.room.fps), "g711", "sd360" if m.height <= 360 else "")
    shape = MeetingShape((media,) * admitted, LayoutSpec("grid", tiles=tiles), scenario.room.preset)
    return meeting_cpu(shape, load_calibration(calibration)).cores


def labelled(metrics: dict[str, float], name: str, label: str) -> dict[str, float]:
    pattern = re.compile(rf'^{name}\{{.*{label}="([^"]*)".*\}}$')
    return {match.group(1): v for k, v in metrics.items() if (match := pattern.match(k))}


def run(scenario: Scenario, out: Path, *, quick: bool, roster: int, admission: str,
        calibration: Path) -> OverloadResult:
    m = scenario.members
    result = OverloadResult(asked=m.count, room_fps=float(scenario.room.fps))
    mcu = OverloadMcu(scenario, out / "mcu", admission, calibration)
    gens: list[GeneratorProcess] = []
    try:
        members = roster_names(plan_members(scenario), roster)
        priority = {p.number for p in members[:1] + members[len(members) - roster:]}
        plans = split_plan(mcu.room_uri, members, 1, m.joins_per_second, 0.0, 1)
        gens = [GeneratorProcess(p) for p in plans]
        gens[0].send("join")
        joined = gens[0].receive(120 + m.count / m.joins_per_second)
        time.sleep(scenario.warmup)
        snap0 = gens[0].ask("snap")
        metrics0 = mcu.metrics()
        s0, g0 = procstat.sample(mcu.pid), procstat.sample(gens[0].pid)
        time.sleep(scenario.window(quick))
        s1, g1 = procstat.sample(mcu.pid), procstat.sample(gens[0].pid)
        snap1 = gens[0].ask("snap")
        metrics = mcu.metrics()
        result.load_average = os.getloadavg()[0]
        gens[0].ask("stop", 60)
    finally:
        for g in gens:
            g.close()
        mcu.stop()
    result.admitted = joined["joined"]
    answers: Counter[str] = Counter({"200": result.admitted})
    for failure in joined["failed"]:
        status = STATUS.search(failure)
        answers[status.group(1) if status else "no answer"] += 1
        if status and status.group(1) == "503":
            result.refused_503 += 1
            number = int(failure.split(":", 1)[0].removeprefix("member "))
            result.refused_priority += number in priority
        else:
            result.other_failures.append(failure)
    result.answers = dict(answers)
    w = procstat.window(s0, s1)
    result.window_s = w.wall_seconds
    result.measured_cores_proc = w.cores
    result.generator_cores = procstat.window(g0, g1).cores
    result.skipped_frame_times = int(metric_delta(metrics0, metrics, "mcu_video_frames_skipped_total"))
    for number, after in snap1["probes"].items():
        before = snap0["probes"].get(number)
        if before is not None:
            result.probe_fps.append((after["video_frames"] - before["video_frames"]) / w.wall_seconds)
    result.predicted_cores_planner = planner_cores(result.admitted, scenario, calibration)
    if "mcu_admission_predicted_cores" in metrics:
        result.predicted_cores_metric = metrics["mcu_admission_predicted_cores"]
        result.measured_cores_metric = metrics.get("mcu_admission_measured_cores")
        result.ceiling_cores = metrics.get("mcu_admission_ceiling_cores", 0.0)
        result.refusals_by_reason = labelled(metrics, "mcu_admission_refusals_total", "reason")
        result.degraded_by_step = labelled(metrics, "mcu_admission_degraded_total", "step")
    else:
        result.ceiling_cores = ceiling_from(admission) * (metric_sum(metrics, "mcu_host_cpus") or 2)
    result.admission_log = [line.strip() for line in mcu.log_text().splitlines()
                            if '"event": "admission.' in line][-20:]
    return result


def ceiling_from(admission: str) -> float:
    match = re.search(r"^ceiling\s*=\s*([0-9.]+)", admission, re.MULTILINE)
    return float(match.group(1)) if match else 0.85


def report(r: OverloadResult) -> str:
    def cores(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    fps = f"{statistics.mean(r.probe_fps):.1f} (min {min(r.probe_fps):.1f})" if r.probe_fps else "-"
    lines = [
        f"sites asked            {r.asked}",
        f"admitted (200)         {r.admitted}",
        f"refused with 503       {r.refused_503}  (of them chair/roster: {r.refused_priority})",
        f"SIP answers            {', '.join(f'{k}: {v}' for k, v in sorted(r.answers.items()))}",
        f"admitted sites receive {fps} fps of {r.room_fps:.0f}",
        f"ceiling                {r.ceiling_cores:.2f} cores",
        (f"predicted cores        {cores(r.predicted_cores_metric)} (MCU /metrics), "
        f"{r.predicted_cores_planner:.2f} (planner on the admitted meeting)"),
        (f"measured cores         {r.measured_cores_proc:.2f} (/proc over {r.window_s:.0f} s), "
        f"{cores(r.measured_cores_metric)} (MCU /metrics)"),
        (f"same machine           sites' process {r.generator_cores:.2f} cores, load average "
        f"{r.load_average:.2f}; MCU skipped {r.skipped_frame_times} frame times"),
    ]
    if r.refusals_by_reason or r.degraded_by_step:
        lines.append(f"refusals by reason     {r.refusals_by_reason}; degraded by step {r.degraded_by_step}")
    if r.other_failures:
        lines.append(f"other failures         {r.other_failures[:5]}")
    if r.refused_503 == 0:
        lines.append("no 503: is the admission controller wired into mcu/server.py (McuServer._incoming_call)?")
    lines.append(f"verdict                {'OK' if r.ok else 'NOT SHOWN'}: joins refused with 503 "
                 f"{'yes' if r.refused_503 else 'no'}, admitted meeting keeps "
                 f">= {FPS_KEPT:.0%} of {r.room_fps:.0f} fps {'yes' if r.fps_kept else 'no'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=0, help="sites that ask to join (default: the scenario's 24)")
    parser.add_argument("--roster", type=int, default=2, help="last N sites carry roster names (priority)")
    parser.add_argument("--scenario", type=Path, help="a scenario TOML (bench/README.md format) instead")
    parser.add_argument("--ceiling", type=float, default=0.85, help="[admission] ceiling")
    parser.add_argument("--reserve", type=float, default=0.10, help="[admission] reserve")
    parser.add_argument("--calibration", type=Path, default=DEFAULT_CALIBRATION, help="unit costs for the MCU")
    parser.add_argument("--quick", action="store_true", help="short measurement window")
    parser.add_argument("-o", "--out", type=Path, help="results folder")
    args = parser.parse_args(argv)
    scenario = load_scenario(args.scenario) if args.scenario else parse_scenario(SCENARIO, "bench/overload.py")
    if args.sites:
        scenario = replace(scenario, members=replace(scenario.members, count=args.sites))
    out = args.out or RESULTS / time.strftime("overload-%Y%m%d-%H%M%S")
    admission = (f"[admission]\nenabled = true\nceiling = {args.ceiling}\nreserve = {args.reserve}\n"
                 'calibration = "calibration.toml"\n')
    result = run(scenario, out, quick=args.quick, roster=args.roster, admission=admission,
                 calibration=args.calibration)
    text = report(result)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overload.json").write_text(json.dumps(asdict(result) | {"ok": result.ok}, indent=2,
                                                  ensure_ascii=False), encoding="utf-8")
    (out / "report.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"results: {out}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
