"""H.323 call setup rate against the running MCU, and its signalling CPU per call.

    .venv/bin/python bench/h323_load.py [--rate 50] [--seconds 20] [--mode fast-connect] [--concurrency 32]

The real `mcu serve` (tests.helpers.McuProcess: H.323 on 127.0.0.1, one room of up to 1000 members,
log level info) is called by a load generator in its own process (`--generator`, started by this
script): synthetic H.323 terminals (mcu.synthetic.h323.H323Site, G.711 audio) place rate x seconds
calls at the asked rate, at most `--concurrency` at a time; each one connects, waits until the call
is up and its audio channels are open (MediaNegotiated), hangs up (ReleaseComplete) and closes.
Modes (`--mode`) are H323Site's four: fast-connect (fast start, H.245 tunnelled; the default),
fast-connect-separate-h245, tunnelled-h245 (no fast start) and separate-h245.

Every call comes from 127.0.0.1, so the abuse limits per source address ([limits]
calls_per_second 2/s, call_burst 10) would refuse the load: the benchmark raises them, and turns the
capacity model's admission off, and says so. It prints calls attempted/ok/failed (with the failure
reasons), the achieved setups/s, the MCU's CPU from /proc over the window (all threads, utime +
stime) per call, the generator's CPU per call, and the MCU's CPU per call against an in-process
reference measured in the same run: the back-to-back sans-I/O pair of tests/h323/harness.py
(call_pair: both cores, no sockets) doing the same call (mode, terminal capabilities, accept, hang
up). Capacity on one core = 1000 / MCU CPU ms per call; target: at least 50 setups/s on one core
and 0 failed (PASS/FAIL; exit status 1 on FAIL). Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ROOM = "4100"
TARGET_RATE = 50.0  # setups per second on one core (the target)
WARMUP_CALLS = 3  # placed before the window: the MCU's and the generator's first-call costs
CALL_TIMEOUT = 10.0  # s for the call to come up with its media
MODES = {  # H323Site's flags
    "fast-connect": {"fast_start": True, "tunnelling": True},
    "fast-connect-separate-h245": {"fast_start": True, "tunnelling": False},
    "tunnelled-h245": {"fast_start": False, "tunnelling": True},
    "separate-h245": {"fast_start": False, "tunnelling": False},
}
DESCRIPTION = {
    "fast-connect": "fast start, H.245 tunnelled",
    "fast-connect-separate-h245": "fast start, H.245 on its own connection",
    "tunnelled-h245": "no fast start, H.245 tunnelled (TCS, MSD, OLC in Facility/Connect)",
    "separate-h245": "no fast start, H.245 on its own connection",
}
ALIASES = {"fast-connect-tunnelled": "fast-connect", "tunnelled": "tunnelled-h245", "separate": "separate-h245"}
LIMITS = {"calls_per_second": 1000, "call_burst": 10000, "unconfirmed_calls": 1000,
          "tcp_connections_per_address": 10000}
LIMIT_DEFAULTS = {"calls_per_second": 2.0, "call_burst": 10, "unconfirmed_calls": 4,
                  "tcp_connections_per_address": 16}


def _mode(value: str) -> str:
    value = ALIASES.get(value, value)
    if value not in MODES:
        raise argparse.ArgumentTypeError(f"mode must be one of {', '.join(MODES)}")
    return value


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------- the load generator


def _reason(exc: BaseException) -> str:
    from mcu.synthetic.h323 import CallRefused

    if isinstance(exc, CallRefused):
        return f"refused: cause {exc.cause} reason {exc.reason}"
    if isinstance(exc, TimeoutError):
        return f"no media within {CALL_TIMEOUT:g} s"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {str(exc)[:80]}"


async def _one_call(number: int, args: argparse.Namespace, stats: dict) -> None:
    from mcu.synthetic.h323 import H323Site

    loop = asyncio.get_running_loop()
    site = H323Site(number, talking=False, **MODES[args.mode])
    start = loop.time()
    failure = None
    try:
        await site.call("127.0.0.1", args.port, ROOM, timeout=CALL_TIMEOUT)
        up = loop.time()
        stats["up"].append(up)
        stats["setup"].append(up - start)
    except Exception as exc:  # noqa: BLE001 - every failure is counted with its reason
        failure = _reason(exc)
    ended_early = site.ended  # the MCU released the call before our hang-up
    try:
        await site.close()  # ReleaseComplete, then the connections close
    except Exception as exc:  # noqa: BLE001
        failure = failure or f"close: {_reason(exc)}"
    if failure is None and ended_early is not None:
        failure = f"released by the MCU before our hang-up: cause {ended_early.cause} {ended_early.reason}"
    if failure is None:
        stats["ok"] += 1
    else:
        stats["failed"][failure] += 1


async def _generate(args: argparse.Namespace) -> None:
    from mcu.h323 import per

    per.warm_up()
    warm = {"ok": 0, "failed": Counter(), "up": [], "setup": []}
    for i in range(WARMUP_CALLS):
        await _one_call(900 + i, args, warm)
    print(json.dumps({"event": "start", "warmup_ok": warm["ok"], "warmup_failed": dict(warm["failed"])}),
          flush=True)
    loop = asyncio.get_running_loop()
    stats = {"ok": 0, "failed": Counter(), "up": [], "setup": []}
    gate = asyncio.Semaphore(args.concurrency)
    cpu0, t0 = _cpu_self(), loop.time()

    async def bounded(number: int) -> None:
        async with gate:
            await _one_call(number, args, stats)

    tasks = []
    for i in range(args.calls):
        delay = t0 + i / args.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(bounded(1000 + i)))
    await asyncio.gather(*tasks)
    elapsed, cpu = loop.time() - t0, _cpu_self() - cpu0
    up = sorted(stats["up"])
    print(json.dumps({"event": "done", "attempted": args.calls, "ok": stats["ok"],
                      "failed": dict(stats["failed"]), "elapsed": elapsed, "cpu": cpu,
                      "first_up": up[0] - t0 if up else None, "last_up": up[-1] - t0 if up else None,
                      "setup": sorted(stats["setup"])}), flush=True)


# ---------------------------------------------------------------------------- in-process reference


def _reference(mode: str, calls: int) -> dict:
    """The same call between the two sans-I/O cores of tests/h323/harness.py, no sockets: CPU of
    both sides per call, and the MCU core's share (its public methods, timed)."""
    sys.path.insert(0, str(REPO / "tests" / "h323"))
    import harness  # type: ignore[import-not-found]

    from mcu.h323 import events as ev
    from mcu.h323 import per
    from mcu.h323.call import H323Call
    from mcu.synthetic.h323 import H323Site

    spec = H323Site(0).config.capabilities  # the generator's terminal: G.711 mu-law, user input
    flags = MODES[mode]
    per.warm_up()

    class Timed(H323Call):
        """H323Call with the CPU of its public methods added up per core (outermost call only)."""

        def __init__(self, *a: object, **kw: object) -> None:
            self.cpu_ns = 0
            self._depth = 0
            super().__init__(*a, **kw)  # type: ignore[arg-type]

    def timed(name: str) -> None:
        method = getattr(H323Call, name)

        def wrapper(self: Timed, *a: object, **kw: object) -> object:
            self._depth += 1
            start = time.thread_time_ns()
            try:
                return method(self, *a, **kw)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.cpu_ns += time.thread_time_ns() - start

        setattr(Timed, name, wrapper)

    for name in ("receive_data", "receive_h245_data", "h245_connected", "data_to_send", "h245_data_to_send",
                 "next_event", "get_timer", "handle_timer", "accept", "hangup", "connection_lost"):
        timed(name)

    original, harness.H323Call = harness.H323Call, Timed
    failed, mcu_ns = 0, 0
    try:
        def one(seed: int) -> None:
            nonlocal failed, mcu_ns
            pair = harness.call_pair(seed=seed, terminal_spec=spec, **flags)
            pair.mcu.accept(harness.MCU_PORTS, 0.0)
            pair.pump()
            up = bool(pair.of("terminal", ev.MediaNegotiated)) and bool(pair.of("mcu", ev.MediaNegotiated))
            pair.terminal.hangup(0.0)
            pair.pump()
            if not up or not pair.of("mcu", ev.CallEnded) or pair.of("mcu", ev.ProtocolViolation):
                failed += 1
            mcu_ns += pair.mcu.cpu_ns

        for seed in range(WARMUP_CALLS):
            one(100000 + seed)
        failed, mcu_ns = 0, 0
        cpu0 = time.process_time()
        for seed in range(calls):
            one(seed)
        cpu = time.process_time() - cpu0
    finally:
        harness.H323Call = original
    return {"calls": calls, "failed": failed, "cpu": cpu, "mcu_core_cpu": mcu_ns / 1e9}


# ---------------------------------------------------------------------------- the run


def _mcu_config(port: int) -> tuple[str, str]:
    rooms = f'[[room]]\nnumber = "{ROOM}"\nname = "H.323 load"\nmax_members = 1000\n'
    extra = (f'[h323]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
             "[limits]\n" + "".join(f"{k} = {v}\n" for k, v in LIMITS.items())
             + "[admission]\nenabled = false\n")
    return rooms, extra


def _info_level_config() -> None:
    """McuProcess writes `level = "debug"`; an operator's MCU logs at info (a debug line per
    message would be part of the measured CPU)."""
    from tests import helpers

    write = helpers.write_test_config

    def write_info(*a: object, **kw: object) -> Path:
        path = write(*a, **kw)  # type: ignore[arg-type]
        path.write_text(path.read_text(encoding="utf-8").replace('level = "debug"', 'level = "info"', 1),
                        encoding="utf-8")
        return path

    helpers.write_test_config = write_info  # type: ignore[assignment]


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def run(args: argparse.Namespace) -> int:
    from bench import procstat
    from tests.helpers import McuProcess, free_port

    _info_level_config()
    calls = max(1, round(args.rate * args.seconds))
    h323_port = free_port(__import__("socket").SOCK_STREAM)
    rooms, extra = _mcu_config(h323_port)
    print(f"H.323 call setup against the running MCU: mode {args.mode} ({DESCRIPTION[args.mode]}), "
          f"{args.rate:g} calls/s x {args.seconds:g} s = {calls} calls, at most {args.concurrency} at a time")
    print("limits raised for the benchmark (every call comes from 127.0.0.1; the per-address call-rate "
          "limiter must not be what limits it): [limits] "
          + ", ".join(f"{k} = {v} (default {LIMIT_DEFAULTS[k]:g})" for k, v in LIMITS.items())
          + "; [admission] enabled = false (the capacity model's refusals are not measured here)")
    with tempfile.TemporaryDirectory() as d, McuProcess(Path(d), rooms=rooms, extra=extra, log_format="kv") as mcu:
        pid = mcu.proc.pid
        if not mcu.has("event=h323.listening"):
            print("MCU did not listen for H.323:\n" + mcu.log())
            return 1
        time.sleep(1.0)  # start-up work settles
        idle0 = procstat.sample(pid)
        time.sleep(2.0)
        idle = procstat.window(idle0, procstat.sample(pid))
        generator = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--generator", "--port", str(h323_port),
             "--rate", str(args.rate), "--calls", str(calls), "--mode", args.mode,
             "--concurrency", str(args.concurrency)],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert generator.stdout is not None
        start = end = done = warm = None
        for line in generator.stdout:
            message = json.loads(line)
            if message["event"] == "start":
                warm, start = message, procstat.sample(pid)
            elif message["event"] == "done":
                time.sleep(0.3)  # the MCU closes each connection 50 ms after the release has left
                done, end = message, procstat.sample(pid)
        generator.wait()
        if start is None or end is None or done is None or warm is None:
            print(f"the generator stopped early (exit status {generator.returncode})")
            return 1
        window = procstat.window(start, end)
        log = mcu.log()
    reference = _reference(args.mode, min(calls, args.reference_calls))

    ok, failed = done["ok"], sum(done["failed"].values())
    span = (done["last_up"] or 0) - (done["first_up"] or 0)
    achieved = (ok - 1) / span if ok > 1 and span > 0 else float("nan")
    setup = done["setup"]
    mcu_ms = 1000 * window.cpu_seconds / done["attempted"]
    idle_ms = 1000 * idle.cores * window.wall_seconds / done["attempted"]
    gen_ms = 1000 * done["cpu"] / done["attempted"]
    pair_ms = 1000 * reference["cpu"] / reference["calls"]
    core_ms = 1000 * reference["mcu_core_cpu"] / reference["calls"]
    capacity = 1000 / mcu_ms if mcu_ms > 0 else float("inf")
    print(f"warm-up: {warm['warmup_ok']} of {WARMUP_CALLS} calls ok before the window"
          + (f" (failed: {warm['warmup_failed']})" if warm["warmup_failed"] else ""))
    print(f"calls: {done['attempted']} attempted, {ok} ok, {failed} failed")
    for reason, count in sorted(done["failed"].items(), key=lambda kv: -kv[1]):
        print(f"  failed {count}: {reason}")
    print(f"achieved: {achieved:.1f} setups/s (calls up between the first and the last); all {done['attempted']} "
          f"placed and closed in {done['elapsed']:.1f} s")
    print(f"setup time (Setup sent to audio channels open): median {1000 * statistics.median(setup):.1f} ms, "
          f"p95 {1000 * _percentile(setup, 0.95):.1f} ms, max {1000 * setup[-1]:.1f} ms" if setup else
          "setup time: no call came up")
    print(f"MCU CPU (/proc utime + stime, all threads): {window.cpu_seconds:.2f} s over {window.wall_seconds:.1f} s "
          f"= {100 * window.cores:.0f}% of one core; idle before the window {100 * idle.cores:.1f}% of one core; "
          f"RSS {window.rss_kb / 1024:.0f} MiB")
    print(f"MCU CPU per call: {mcu_ms:.2f} ms ({mcu_ms - idle_ms:.2f} ms net of the idle rate)")
    print(f"generator CPU per call: {gen_ms:.2f} ms (its own process, getrusage; {DESCRIPTION[args.mode]})")
    print(f"in-process reference (tests/h323/harness.py call_pair, same mode and terminal capabilities, "
          f"accept + hang-up, {reference['calls']} calls, {reference['failed']} failed): {pair_ms:.2f} ms per call "
          f"both sides (MCU core {core_ms:.2f} ms + terminal core {pair_ms - core_ms:.2f} ms)")
    print(f"MCU per call / in-process core pair per call = {mcu_ms / pair_ms:.2f}x "
          f"(MCU per call / in-process MCU core alone = {mcu_ms / core_ms:.2f}x)")
    print(f"capacity on one core: 1000 / {mcu_ms:.2f} ms = {capacity:.0f} setups/s")
    joined, left = log.count("event=member.joined"), log.count("event=member.left")
    warnings, errors = log.count("level=warning"), log.count("level=error")
    violations = log.count("event=h323.protocol_violation")
    print(f"MCU log: {joined} joined, {left} left, {warnings} warnings, {errors} errors, "
          f"{violations} H.323 protocol violations")
    for line in [x for x in log.splitlines() if "level=error" in x or "level=warning" in x][:3]:
        print("  " + line[:240])
    one_core = capacity >= TARGET_RATE
    none_failed = failed == 0
    print(f"target: >= {TARGET_RATE:g} setups/s on one core (capacity {capacity:.0f}/s) -> "
          f"{'PASS' if one_core else 'FAIL'}")
    print(f"target: 0 failed calls ({failed} of {done['attempted']}) -> {'PASS' if none_failed else 'FAIL'}")
    if args.rate >= TARGET_RATE:
        held = achieved >= 0.95 * args.rate
        print(f"achieved rate {achieved:.1f}/s of the asked {args.rate:g}/s with the MCU at {100 * window.cores:.0f}% "
              f"of one core -> {'PASS' if held else 'FAIL'}")
    else:
        held = True
    return 0 if one_core and none_failed and held else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="calls placed per second (default 50)")
    parser.add_argument("--seconds", type=float, default=20.0, help="placing window (default 20)")
    parser.add_argument("--mode", type=_mode, default="fast-connect", help=f"one of {', '.join(MODES)}")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in progress at most (default 32)")
    parser.add_argument("--reference-calls", type=int, default=1000,
                        help="calls of the in-process reference pair, at most the load's (default 1000)")
    parser.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generator:
        asyncio.run(_generate(args))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
