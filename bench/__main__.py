"""The benchmark suite: `python -m bench [WHAT ...] [--quick]` (also `bash .ci/setup.sh bench`).

WHAT is any of:
  all         (default) micro-benchmarks, every scenario in conf/bench/ with its peers,
              calibration and the planner's prediction/measurement check
  micro       pytest-benchmark runs of the kernels and hot cores (bench/test_bench_*.py)
  calibrate   this machine's unit costs -> <results>/calibration.toml (+ [[load]] entries
              of the scenarios that ran in the same invocation; an audio scenario that ran
              gives the running MCU's RTP and audio costs)
  list        the scenarios
  NAME        one scenario of conf/bench/ (file stem) or a scenario file path

Results go to bench/results/<timestamp>/: report.txt (tables, targets with their ratios),
results.json, PNG charts, calibration.toml, the MCU's config and log per scenario.
Nothing is asserted: targets are reported with the measured ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.compositing import PeerMissingError, run_peers
from bench.janus import JanusError, run_janus
from bench.meeting import run_meeting
from bench.report import Report
from bench.scenario import Scenario, ScenarioError, find_scenario, scenario_paths

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
PEER_MIN_SECONDS = 10.0  # compositing peers code at least this much of the inputs
WHAT_BUILTIN = ("all", "micro", "calibrate", "list")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_scenario(scenario: Scenario, out: Path, quick: bool, peers: bool,
                 profile: float, shared_port: bool = False) -> dict[str, Any]:
    log(f"{scenario.name}: {scenario.members.count} members, window {scenario.window(quick):.0f} s"
        + (", media on one shared port" if shared_port else ""))
    result = run_meeting(scenario, out / scenario.name, quick, profile, shared_port)
    data = result.as_dict()
    log(f"{scenario.name}: MCU {result.mcu_cores:.2f} cores, generators {result.generator_cores:.2f}, "
        f"fps {result.output_fps}, latency p50 {result.latency_ms_p50}")
    if profile and result.profile.endswith(".txt"):
        from bench.profile import summarize

        data["profile_summary"] = summarize(Path(result.profile))
    if not peers:
        return data
    m = scenario.members
    if scenario.peers.compositing:
        try:
            seconds = max(PEER_MIN_SECONDS, scenario.window(quick))
            for p in run_peers(scenario.peers.compositing, m.count, m.width, m.height, m.fps, seconds):
                data["peers"].append({**asdict(p), "cpu_ms_per_frame": p.cpu_ms_per_frame, "fps": p.fps})
                log(f"{scenario.name}: {p.peer} {p.cpu_ms_per_frame:.2f} ms CPU per frame")
        except (PeerMissingError, RuntimeError) as exc:
            data["peers"].append({"peer": "compositing", "error": str(exc)})
            log(f"{scenario.name}: compositing peers failed: {exc}")
    if scenario.peers.janus:
        try:
            j = run_janus(scenario.peers.janus, m.count, scenario.window(quick), scenario.warmup,
                          out / scenario.name / "janus", m.talkers)
            data["peers"].append({"peer": "janus", **asdict(j),
                                  "received_per_member_second": j.received_per_member_second})
            log(f"{scenario.name}: janus {j.cores:.3f} cores (ours {result.mcu_cores:.3f})")
        except (JanusError, OSError) as exc:
            data["peers"].append({"peer": "janus-error", "error": str(exc)})
            log(f"{scenario.name}: janus failed: {exc}")
    return data


def run_micro(out: Path, quick: bool) -> dict[str, Any]:
    files = sorted(str(p) for p in (REPO / "bench").glob("test_bench_*.py"))
    cmd = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider", "--benchmark-enable",
           f"--benchmark-json={out / 'micro.json'}", "--benchmark-columns=min,median,mean,ops,rounds",
           "--benchmark-sort=name", "-o", "addopts="]
    if quick:
        cmd += ["--benchmark-min-rounds=3", "--benchmark-max-time=0.05", "--benchmark-warmup=off"]
    log("micro-benchmarks: " + " ".join(cmd[3:4]) + " ...")
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    (out / "micro.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    tail = [line for line in proc.stdout.splitlines() if line.strip()][-1:] or ["no output"]
    log(f"micro-benchmarks: {tail[0]} (table in {out / 'micro.txt'})")
    return {"summary": tail[0], "returncode": proc.returncode, "json": str(out / "micro.json"),
            "table": str(out / "micro.txt")}


AUDIO_REFERENCE = ("audio-100-pcmu", "audio-100-opus")  # where per-member audio/RTP costs come from
PLAN_CODECS = {"PCMU": "g711", "PCMA": "g711", "G722": "g722", "opus": "opus"}


def effective_audio_costs(s: dict[str, Any], decode_us: float, loopback_rtp_us: float) -> tuple[float, float, str]:
    """Per-member audio work (us per 20 ms tick, codec decode excluded) and per-packet RTP
    work (us) of the MCU, from an audio-only scenario of this run, and how they were split: the
    audio tick's histogram time per member per tick, and the rest of the MCU's CPU per packet
    (in + out). The tick's time is wall time and includes its sends; when it is not below the
    process's CPU (received packets cost next to nothing outside it since they are taken in C,
    and a busy machine stretches wall time) the histogram cannot split them, and the RTP figure
    is the loopback measurement `loopback_rtp_us`, the rest of the CPU the audio work."""
    members, ticks = s["members"], 50.0
    per_member_tick = s["mcu_cores"] / (members * ticks) * 1e6
    tick_us = s["stages_cores"].get("audio_tick", 0.0) / (members * ticks) * 1e6
    if tick_us < per_member_tick:
        rtp_us = (per_member_tick - tick_us) / 2
        return max(0.0, tick_us - decode_us), rtp_us, "the rest of the MCU's CPU beside its audio tick"
    mix_us = max(0.0, per_member_tick - 2 * loopback_rtp_us - decode_us)
    return mix_us, loopback_rtp_us, "the loopback figure (the audio tick's wall time covered the whole CPU)"


def run_recorded(scenario: Scenario, out: Path, quick: bool, plain: dict[str, Any], shared_port: bool) -> str:
    """The scenario again with its room recorded (record = "auto"): what one recording adds."""
    log(f"{scenario.name}: again, recorded")
    try:
        rec = run_meeting(scenario, out / f"{scenario.name}-recorded", quick, 0.0, shared_port, record=True)
    except Exception as exc:  # noqa: BLE001 - reported, the other scenarios go on
        return f"{scenario.name} recorded: FAILED: {exc}"
    files = sorted((out / f"{scenario.name}-recorded" / "mcu" / "recordings").glob("*.mp4"))
    size = sum(f.stat().st_size for f in files) / 1e6
    note = (f"{scenario.name}: one recording adds {rec.mcu_cores - plain['mcu_cores']:+.2f} cores "
            f"(MCU {plain['mcu_cores']:.2f} -> {rec.mcu_cores:.2f}); output fps {plain.get('output_fps')} -> "
            f"{rec.output_fps}; {len(files)} file(s), {size:.1f} MB")
    log(note)
    return note


def run_calibrate(rep: Report, out: Path, quick: bool, content: str = "synthetic",
                  path: Path | None = None) -> None:
    from mcu.calibrate import CalibrateOptions, measure, with_loads
    from mcu.plan.calibration import save_calibration
    from mcu.plan.loadcheck import check_loads

    log(f"calibrate: measuring unit costs (content: {content}"
        + (", as the load scenarios send)" if content == "synthetic" else ")"))
    opts = CalibrateOptions.quick(content) if quick else CalibrateOptions(content=content)
    cal = measure(opts, progress=lambda m: log("calibrate: " + m))
    notes = dict(cal.notes)
    audio = next((rep.scenario(n) for n in AUDIO_REFERENCE if rep.scenario(n)), None)
    if audio is not None:
        codec = PLAN_CODECS.get(audio.get("audio_codec", "PCMU"), "g711")
        mix_us, rtp_us, split = effective_audio_costs(audio, cal.audio_decode_us[codec], cal.rtp_us_per_packet)
        log(f"calibrate: from {audio['scenario']}: MCU audio work {mix_us:.1f} us per member per tick "
            f"(kernel alone {cal.mix_us_per_member:.2f}), RTP {rtp_us:.1f} us per packet "
            f"(loopback micro {cal.rtp_us_per_packet:.2f})")
        notes["audio.mix_us_per_member"] = (
            f"the MCU's audio work per member per tick minus {codec} decode (RTP: {split}), from {audio['scenario']} "
            f"in this run (the mix kernel alone: {cal.mix_us_per_member:.3f} us)")
        notes["network.rtp_us_per_packet"] = (
            f"the MCU's CPU per RTP packet in or out, from {audio['scenario']} in this run: {split} "
            f"(loopback receive+parse+send alone: {cal.rtp_us_per_packet:.3f} us)")
        cal = replace(cal, mix_us_per_member=mix_us, rtp_us_per_packet=rtp_us)
    loads = [load_of(s) for s in rep.scenarios
             if (s.get("plan") or {}).get("record") and s["mcu_cores"] > 0]
    notes["load"] = ("[[load]] fps is the output frame rate the MCU achieved in the run (the work "
                     "actually done); members sent send_tier and asked for tier; video_kbps_in/out "
                     "are the bitrates measured in the run")
    cal = with_loads(replace(cal, notes=notes), loads)
    path = path or out / "calibration.toml"
    save_calibration(cal, path)
    log(f"calibrate: written to {path}")
    rep.calibration = {"path": str(path), "decode_ms": cal.decode_ms, "encode_ms": cal.encode_ms,
                       "blit_ms_per_tile": cal.blit_ms_per_tile, "mix_us_per_member": cal.mix_us_per_member,
                       "audio_encode_us": cal.audio_encode_us, "audio_decode_us": cal.audio_decode_us,
                       "rtp_us_per_packet": cal.rtp_us_per_packet}
    # each at the bitrates measured in its run (still pictures code small: fewer packets
    # than the tiers' defaults), as an operator would give the planner the bitrates they use
    for check in check_loads(cal):
        _add_check(rep, check, loads)


def load_of(s: dict[str, Any]) -> Any:
    """A scenario's result as the planner's LoadScenario: the meeting that ran, with the frame
    rate the MCU achieved (the work actually done), the picture the members sent (360p) and
    the video bitrates measured in the run."""
    from mcu.plan.calibration import LoadScenario

    plan = s.get("plan") or {}
    fps = round(s.get("output_fps") or plan.get("fps", 30.0), 1)
    return LoadScenario(
        name=s["scenario"], members=s["members"], layout=plan["layout"], tiles=plan["tiles"],
        tier=plan["tier"], fps=max(0.1, fps), audio_codec=plan["audio_codec"],
        speakers=plan["speakers"], measured_cores=s["mcu_cores"], send_tier=plan.get("send_tier", ""),
        video_kbps_in=round(s.get("video_kbps_from_member") or 0.0, 1),
        video_kbps_out=round(s.get("video_kbps_to_member") or 0.0, 1))


def _add_check(rep: Report, check: Any, loads: list[Any]) -> None:
    load = next(ld for ld in loads if ld.name == check.name)
    achieved = load.fps
    label = f"in {load.video_kbps_in:.0f} / out {load.video_kbps_out:.0f} kbit/s"
    rep.plan_checks.append({"name": check.name, "members": check.members, "rates": label,
                            "fps": achieved, "predicted_cores": check.predicted_cores,
                            "measured_cores": check.measured_cores, "ratio": check.ratio})
    log(f"planner {check.name} ({label}, {achieved} fps): predicted {check.predicted_cores:.3f} "
        f"cores, measured {check.measured_cores:.3f}, ratio {check.ratio:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("what", nargs="*", default=["all"], help="all | micro | calibrate | list | NAME")
    parser.add_argument("--quick", action="store_true", help="short windows and few rounds")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/<timestamp>)")
    parser.add_argument("--no-peers", action="store_true", help="skip ffmpeg/GStreamer/Janus")
    parser.add_argument("--shared-port", action="store_true",
                        help="the MCU's media on one port for every call ([rtp] shared_port)")
    parser.add_argument("--record", action="store_true",
                        help="run each scenario again with its room recorded and print what the recording costs")
    parser.add_argument("--profile", type=float, default=0.0, metavar="S",
                        help="py-spy the MCU for S seconds of each scenario's window")
    parser.add_argument("--content", choices=("synthetic", "moving"), default="synthetic",
                        help="calibrate: video content the unit costs code (synthetic: what the "
                             "load scenarios send, for their checks; moving: closer to cameras)")
    parser.add_argument("--calibration-out", type=Path, metavar="FILE",
                        help="calibrate: write the calibration here too (default: the results folder)")
    args = parser.parse_args(argv)

    if "list" in args.what:
        bad = 0
        for name, path in scenario_paths().items():
            try:
                s = find_scenario(str(path))
            except ScenarioError as exc:
                print(f"{name:22s} INVALID: {exc}")
                bad += 1
                continue
            print(f"{name:22s} {s.members.count:4d} members  {s.description}")
        return 1 if bad else 0
    names: list[str] = []
    for what in args.what:
        if what == "all":
            names += ["micro", *scenario_paths(), "calibrate"]
        else:
            names.append(what)
    scenarios: list[Scenario] = []
    try:
        scenarios = [find_scenario(n) for n in names if n not in WHAT_BUILTIN]
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    out = args.out or RESULTS / datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(out)
    log(f"results in {out}")
    if "micro" in names:
        rep.micro = run_micro(out, args.quick)
    for scenario in scenarios:
        try:
            data = run_scenario(scenario, out, args.quick, not args.no_peers, args.profile, args.shared_port)
        except Exception as exc:  # noqa: BLE001 - one failing scenario must not lose the others
            log(f"{scenario.name}: FAILED: {exc}")
            rep.notes.append(f"{scenario.name} failed: {exc}")
            continue
        data["plan"] = {**asdict(scenario.plan), "fps": float(scenario.room.fps)}
        data["audio_codec"] = scenario.members.audio_codec
        rep.scenarios.append(data)
        if args.record:
            rep.notes.append(run_recorded(scenario, out, args.quick, data, args.shared_port))
        rep.write()  # keep what we have if a later scenario hangs
    if "calibrate" in names:
        run_calibrate(rep, out, args.quick, args.content, args.calibration_out)
    path = rep.write()
    with contextlib.suppress(OSError):
        print(path.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
