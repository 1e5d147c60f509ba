"""What cascading one meeting over two nodes adds: audio latency across the link and CPU per node.

    .venv/bin/python -m bench.cascade_cost [--sites 8] [--seconds 10] [--rounds 5]

A local cluster (`mcu cluster up`, admission off) hosts one audio meeting of N synthetic sites
twice, in one run:
  * alone: all N sites on node-1, node-2 idle;
  * cascaded: N/2 on node-1, N/2 on node-2 joined to node-1 by a cascade link.
Figures: each node's cores (utime + stime from /proc over the window) in both layouts, and the
latency the link adds: a site of node-1 starts its tone (it was sending room noise); the time
until a site on node-1 hears it and until a site on node-2 hears it are taken in the same loop,
polled every 5 ms; the difference (median of the rounds) is what the link adds (a second jitter
buffer, mix and encode). Nothing asserts a time; the box may be shared, so read it as an estimate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.procstat import sample
from mcu.cluster import local
from mcu.synthetic import SyntheticEndpoint

POLL = 0.005
HEARD = 0.02  # tone power over the last 60 ms
WINDOW = 0.06


def _admin(node: local.NodePlan, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(node.admin + path, method=method,
                                     data=json.dumps(body or {}).encode() if method == "POST" else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def _cores(pids: list[int], seconds: float) -> list[float]:
    before = [sample(p) for p in pids]
    time.sleep(seconds)
    after = [sample(p) for p in pids]
    return [(a.cpu_seconds - b.cpu_seconds) / (a.wall - b.wall) for a, b in zip(after, before)]


async def _onset(speaker: SyntheticEndpoint, near: SyntheticEndpoint, far: SyntheticEndpoint,
                 timeout: float = 5.0) -> tuple[float, float] | None:
    """(near, far) seconds from the speaker's tone starting until each hears it; None if not heard."""
    loop = asyncio.get_running_loop()
    speaker.talking = True
    start = loop.time()
    heard: dict[str, float] = {}
    while loop.time() - start < timeout and len(heard) < 2:
        for name, site in (("near", near), ("far", far)):
            if name not in heard and site.heard_tone(speaker.tone_hz, WINDOW) > HEARD:
                heard[name] = loop.time() - start
        await asyncio.sleep(POLL)
    speaker.talking = False
    await asyncio.sleep(1.5)  # the tone leaves every window and the speaker selection
    return (heard["near"], heard["far"]) if len(heard) == 2 else None


async def _meeting(cluster: local.ClusterPlan, token: str, sites: int, seconds: float, rounds: int,
                   cascaded: bool) -> dict:
    a, b = cluster.nodes
    room = "4100"
    members = [SyntheticEndpoint(n, f"Site {n}", talking=False) for n in range(1, sites + 1)]
    try:
        half = sites // 2 if cascaded else sites
        for site in members[:half]:
            await site.call(f"sip:{room}@127.0.0.1:{a.sip_port}")
        if cascaded:
            await asyncio.to_thread(_admin, b, token, "POST", f"/rooms/{room}/cascade", {"to": a.node_id})
            await asyncio.sleep(1.0)
            for site in members[half:]:
                await site.call(f"sip:{room}@127.0.0.1:{b.sip_port}")
        await asyncio.sleep(2.0)
        cores = await asyncio.to_thread(_cores, [a.pid, b.pid], seconds)
        onsets = []
        if cascaded:
            for _ in range(rounds):
                got = await _onset(members[0], members[1], members[-1])
                if got is not None:
                    onsets.append(got)
        return {"cores": cores, "onsets": onsets}
    finally:
        for site in members:
            await site.close()
        await asyncio.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="CPU window per layout")
    parser.add_argument("--rounds", type=int, default=5, help="latency probes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cascade-") as tmp:
        folder = Path(tmp)
        (folder / "off.toml").write_text("[admission]\nenabled = false\n")
        cluster = local.plan(folder / "cluster", 2, local.free_port())
        for node in cluster.nodes:
            cluster.extra[node.node_id] = (folder / "off.toml").read_text()
        local.up(cluster)
        try:
            token = (Path(cluster.nodes[0].folder) / "admin.token").read_text().strip()
            alone = asyncio.run(_meeting(cluster, token, args.sites, args.seconds, args.rounds, cascaded=False))
            cascaded = asyncio.run(_meeting(cluster, token, args.sites, args.seconds, args.rounds, cascaded=True))
        finally:
            local.down(cluster)
    print(f"{args.sites} audio sites, one meeting, {args.seconds:.0f} s windows (cores: CPU seconds per second)")
    print(f"  alone on node-1:   node-1 {alone['cores'][0]:.3f}  node-2 {alone['cores'][1]:.3f}  "
          f"total {sum(alone['cores']):.3f}")
    print(f"  cascaded {args.sites // 2} + {args.sites - args.sites // 2}:    node-1 {cascaded['cores'][0]:.3f}  "
          f"node-2 {cascaded['cores'][1]:.3f}  total {sum(cascaded['cores']):.3f}")
    onsets = cascaded["onsets"]
    if onsets:
        added = [far - near for near, far in onsets]
        print(f"  tone onset heard on the same node / across the link (median of {len(onsets)}): "
              f"{statistics.median(n for n, _ in onsets) * 1000:.0f} / {statistics.median(f for _, f in onsets) * 1000:.0f}"
              f" ms; the link adds {statistics.median(added) * 1000:.0f} ms (min {min(added) * 1000:.0f}, "
              f"max {max(added) * 1000:.0f})")
    else:
        print("  latency: no probe was heard on both sides (the box may be overloaded)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
