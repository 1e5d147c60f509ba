"""sipp call-rate benchmark against our UA (UDP): INVITE/200/ACK/BYE per call.

Usage: .venv/bin/python bench/sip_load.py [--seconds 60] [--rate 200]
Reports calls/s achieved, failed calls and RSS memory at start, middle and end.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "sip"))

from sip_test_app import TestApp


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=200)
    args = parser.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None:
        print("sipp not found: apt-get install sip-tester", file=sys.stderr)
        return 2
    try:
        import uvloop  # noqa: F401
    except ImportError:
        pass
    app = TestApp(keep_events=False)
    await app.start([("udp", "127.0.0.1", 0)])
    port = app.port("udp")
    total = int(args.seconds * args.rate)
    rss = {"start": rss_mib()}
    scenario = ROOT / "tests" / "sip" / "scenarios" / "uac_bye.xml"
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sipp,
        f"127.0.0.1:{port}",
        "-sf",
        str(scenario),
        "-s",
        "4100",
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        "-r",
        str(args.rate),
        "-m",
        str(total),
        "-l",
        str(args.rate * 4),
        "-nostdin",
        "-timeout",
        f"{int(args.seconds + 60)}s",
        "-trace_stat",
        "-stf",
        "/tmp/sip_load_stat.csv",
        "-fd",
        "5",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(args.seconds / 2)
    rss["middle"] = rss_mib()
    _, err = await proc.communicate()
    elapsed = time.monotonic() - started
    rss["end"] = rss_mib()
    stats = app.ua.stats()
    await app.close()
    stat_lines = Path("/tmp/sip_load_stat.csv").read_text().splitlines()
    header = stat_lines[0].split(";")
    last = stat_lines[-1].split(";")
    row = dict(zip(header, last, strict=False))
    ok = int(row.get("SuccessfulCall(C)", 0))
    failed = int(row.get("FailedCall(C)", 0))
    print(f"calls requested {total} at {args.rate}/s; successful {ok}, failed {failed}")
    print(
        f"elapsed {elapsed:.1f} s; achieved {ok / elapsed:.1f} calls/s "
        f"(ratio to target {ok / elapsed / args.rate:.2f})"
    )
    print(
        "RSS MiB start/middle/end: "
        + " / ".join(f"{rss[k]:.1f}" for k in ("start", "middle", "end"))
    )
    print(
        f"UA: internal_errors={stats['internal_errors']} parse_errors={stats['parse_errors']} "
        f"calls_started={stats['calls_started']} active_dialogs={stats['active_dialogs']}"
    )
    if proc.returncode:
        print(err.decode(errors="replace")[-800:], file=sys.stderr)
    return 0 if failed == 0 and proc.returncode == 0 else 1


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.exit(asyncio.run(main()))
