"""CPU cost of synthetic endpoints: `python -m mcu.synthetic.cpu [--pairs 8] [--seconds 5]`.

Endpoints are wired in pairs (one calls the other) in this one process and event loop; each
sends and receives. Prints CPU time per endpoint per second of media (process_time, all
threads) for audio-only, audio + video with decoding, and audio + video counting frames only.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop

from mcu.synthetic.endpoint import SyntheticEndpoint

SCENARIOS: dict[str, dict[str, object]] = {
    "audio-only PCMU": {"audio_codec": "PCMU"},
    "audio-only opus": {"audio_codec": "opus"},
    "PCMU + H264 360p15, decode": {"video_codec": "H264"},
    "PCMU + H264 360p15, no decode": {"video_codec": "H264", "decode_video": False},
}


async def measure(pairs: int, seconds: float, options: dict[str, object]) -> tuple[float, int]:
    """CPU seconds per endpoint per wall second, and the number of late ticks seen."""
    eps: list[SyntheticEndpoint] = []
    try:
        for i in range(pairs):
            a = SyntheticEndpoint(2 * i + 1, **options)  # type: ignore[arg-type]
            b = SyntheticEndpoint(2 * i + 2, **options)  # type: ignore[arg-type]
            eps += [a, b]
            await b.start()
            listening = asyncio.create_task(b.listen())
            await a.call(b.sip_uri)
            await listening
        await asyncio.sleep(1.0)  # past call setup and the first keyframes
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        late = sum(e.stats.late_audio_ticks + e.stats.late_video_ticks for e in eps)
        return cpu / wall / len(eps), late
    finally:
        for ep in eps:
            await ep.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    for name, options in SCENARIOS.items():
        per_ep, late = uvloop.run(measure(args.pairs, args.seconds, options))
        print(f"{name:34s} {2 * args.pairs:3d} endpoints: {per_ep * 1000:6.2f} ms CPU per "
              f"endpoint-second ({per_ep * 100:5.2f}% of a core each), late ticks {late}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
