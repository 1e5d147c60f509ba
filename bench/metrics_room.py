"""Metrics on versus off for a running 16-member room: MCU process CPU over the same window.

    .venv/bin/python bench/metrics_room.py

Two rounds of (off, on), best of each: 16 synthetic sites (H.264 360p30 + PCMU, two talking) in one
room, the exporter scraped every 5 s when on. Prints the cost in % of one core and the ratio.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import procstat
from mcu.synthetic import SyntheticEndpoint
from tests.helpers import McuProcess, free_port

MEMBERS, WARMUP, WINDOW = 16, 5.0, 20.0


def run(tmp: Path, metrics: bool) -> float:
    with McuProcess(tmp, metrics_port=free_port() if metrics else None, extra="[video]\nfps = 30\n") as mcu:
        uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
        eps = [SyntheticEndpoint(n, audio_codec="PCMU", video_codec="H264", fps=30, decode_video=False,
                                 talking=n <= 2) for n in range(1, MEMBERS + 1)]

        async def main() -> float:
            for ep in eps:
                await ep.call(uri)
            await asyncio.sleep(WARMUP)
            start = procstat.sample(mcu.proc.pid).cpu_seconds
            if metrics:
                import urllib.request
                async def scrape():
                    while True:
                        await asyncio.to_thread(urllib.request.urlopen,
                                                f"http://127.0.0.1:{mcu.metrics_port}/metrics")
                        await asyncio.sleep(5)
                task = asyncio.create_task(scrape())
            await asyncio.sleep(WINDOW)
            used = procstat.sample(mcu.proc.pid).cpu_seconds - start
            if metrics:
                task.cancel()
            for ep in eps:
                await ep.close()
            return used

        return asyncio.run(main())


if __name__ == "__main__":
    import tempfile
    results = {}
    for rnd in range(2):
        for on in (False, True):
            with tempfile.TemporaryDirectory() as d:
                results.setdefault(on, []).append(run(Path(d), on))
    off, on = min(results[False]), min(results[True])
    print(f"16-member room, {WINDOW:.0f} s: MCU CPU metrics off {off:.2f} s ({100*off/WINDOW:.1f}% of a core), "
          f"on {on:.2f} s ({100*on/WINDOW:.1f}%); cost {100*(on-off)/WINDOW:+.2f}% of a core, ratio {on/off:.3f}")
    print("all runs:", results)
