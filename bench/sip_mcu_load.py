"""sipp call setup and teardown rate against the running MCU (not just its SIP core).

    .venv/bin/python bench/sip_mcu_load.py [RATE=200] [SECONDS=60]

sipp's built-in uac (INVITE with audio SDP, ACK, BYE) into room 4100: every call opens and closes
RTP sockets and joins and leaves the room. Prints calls/s, failed calls, MCU CPU, and the MCU's RSS
every 5 s (it rises for the 32 s that finished UDP transactions are kept, then stays flat).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import procstat
from tests.helpers import McuProcess

RATE, SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 60


with tempfile.TemporaryDirectory() as d:
    rooms = '[[room]]\nnumber = "4100"\nname = "Load"\nmax_members = 1000\n'
    with McuProcess(Path(d), rooms=rooms, log_format="kv") as mcu:
        pid = mcu.proc.pid
        samples = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append((time.monotonic(), procstat.sample(pid).rss_kb / 1024))
                time.sleep(5)

        threading.Thread(target=sample, daemon=True).start()
        cpu0, t0 = procstat.sample(pid).cpu_seconds, time.monotonic()
        total = RATE * SECONDS
        result = subprocess.run(["sipp", f"127.0.0.1:{mcu.sip_port}", "-sn", "uac", "-s", "4100", "-i", "127.0.0.1",
                                 "-p", "0", "-r", str(RATE), "-m", str(total), "-l", str(RATE * 4), "-nostdin",
                                 "-timeout", f"{SECONDS + 60}s", "-trace_stat", "-stf", f"{d}/stat.csv", "-fd", "5"],
                                capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - t0
        used = procstat.sample(pid).cpu_seconds - cpu0
        stop.set()
        lines = (Path(d) / "stat.csv").read_text().splitlines()
        header, last = lines[0].split(";"), lines[-1].split(";")
        row = dict(zip(header, last))
        ok, failed = int(row["SuccessfulCall(C)"]), int(row["FailedCall(C)"])
        rss = [r for _, r in samples]
        print(f"target {RATE} calls/s x {SECONDS} s: {ok} ok, {failed} failed in {elapsed:.1f} s "
              f"= {ok / elapsed:.1f} calls/s; sipp rc {result.returncode}")
        print(f"MCU CPU {used:.1f} s = {100 * used / elapsed:.0f}% of one core; RSS MiB every 5 s: "
              + " ".join(f"{r:.0f}" for r in rss))
        mcu_errors = [x for x in mcu.lines if "level=error" in x]
        print("MCU error lines:", len(mcu_errors), mcu_errors[:2])
