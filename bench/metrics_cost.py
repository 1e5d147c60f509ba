"""CPU cost of Prometheus metrics, on (Metrics + exporter + scrapes) against off (NullMetrics).

Plays `--seconds` of a `--members`-site room as fast as it can: every event call the room makes
(audio tick 50/s, compose and one encode per view 30/s, event-loop lag, keyframes, speaker
changes, SIP keepalives) plus a real HTTP scrape of /metrics every `--scrape-interval` seconds
of meeting time, whose snapshot of the room is built at scrape time as the conference would.
The same loop with NullMetrics and no exporter is the reference. The difference, divided by
the meeting time played, is the share of one core that metrics cost a live meeting.

    .venv/bin/python bench/metrics_cost.py [--members 16] [--views 3] [--scrape-interval 5]
"""

from __future__ import annotations

import argparse
import time
import urllib.request
from collections.abc import Callable

from mcu.metrics import (
    AnyMetrics,
    ConferenceSnapshot,
    MemberSnapshot,
    Metrics,
    NullMetrics,
    RoomSnapshot,
    ViewSnapshot,
    start_exporter,
)

AUDIO_TICKS_PER_SECOND = 50
FRAMES_PER_SECOND = 30
LOOP_LAG_SAMPLES_PER_SECOND = 10
KEYFRAME_INTERVAL = 10.0
SPEAKER_CHANGE_INTERVAL = 5.0
SIP_KEEPALIVE_INTERVAL = 30.0
BUDGET_PERCENT = 2.0
ROOM = "4100"


def room_snapshot(members: int, views: int, t: float) -> ConferenceSnapshot:
    """The snapshot a conference of `members` sites would return after `t` seconds."""
    streams = []
    for i in range(members):
        for kind, pps, size in (("audio", 50, 160), ("video", 120, 1100)):
            packets = int(t * pps)
            video = kind == "video"
            streams.append(
                MemberSnapshot(
                    room=ROOM,
                    member_id=f"m{i}",
                    display_name=f"Điểm cầu {i}",
                    user_agent="Polycom/6.2.2",
                    kind=kind,  # type: ignore[arg-type]
                    codec="H264" if video else "PCMU",
                    width=1280 if video else 0,
                    height=720 if video else 0,
                    packets_in=packets,
                    packets_out=packets,
                    bytes_in=packets * size,
                    bytes_out=packets * size,
                    loss_fraction=0.001,
                    cumulative_lost=packets // 1000,
                    jitter_seconds=0.004,
                    rtt_seconds=0.03,
                    nack_in=int(t),
                    nack_out=int(t),
                    pli_in=int(t / 10),
                    pli_out=0,
                    fir_in=0,
                    fir_out=0,
                    decode_errors=0,
                    frames_decoded=int(t * 30) if video else 0,
                    frames_dropped=0,
                    seconds_since_last_packet=0.02,
                    speaking=i == 0,
                )
            )
    view_list = [
        ViewSnapshot(
            f"v{j}", ROOM, members // views, 1280, 720, "H264", 30.0, 1.5e6, "ultrafast", 30.0
        )
        for j in range(views)
    ]
    return ConferenceSnapshot(
        rooms=[RoomSnapshot(ROOM, "Giao ban", members, "voice-activated", "1+7", False)],
        members=streams,
        views=view_list,
        sip_dialogs=members,
    )


def play(
    metrics: AnyMetrics,
    seconds: float,
    members: int,
    views: int,
    scrape: Callable[[], None] | None,
    scrape_interval: float,
) -> float:
    """CPU seconds (all threads of this process) spent playing `seconds` of meeting."""
    view_ids = [f"v{j}" for j in range(views)]
    ticks = int(seconds * AUDIO_TICKS_PER_SECOND)
    frame_every = AUDIO_TICKS_PER_SECOND / FRAMES_PER_SECOND
    lag_every = AUDIO_TICKS_PER_SECOND // LOOP_LAG_SAMPLES_PER_SECOND
    keyframe_every = int(KEYFRAME_INTERVAL * AUDIO_TICKS_PER_SECOND)
    speaker_every = int(SPEAKER_CHANGE_INTERVAL * AUDIO_TICKS_PER_SECOND)
    keepalive_every = int(SIP_KEEPALIVE_INTERVAL * AUDIO_TICKS_PER_SECOND / members)
    scrape_every = int(scrape_interval * AUDIO_TICKS_PER_SECOND)
    for _ in range(members):
        metrics.member_joined(ROOM)
    next_frame = 0.0
    start = time.process_time()
    for tick in range(ticks):
        metrics.observe_audio_tick(ROOM, 0.0011, tick % 997 == 0)
        if tick >= next_frame:
            next_frame += frame_every
            metrics.observe_compose(ROOM, 0.004)
            for v in view_ids:
                metrics.observe_encode(ROOM, v, 0.003)
        if tick % lag_every == 0:
            metrics.observe_loop_lag(0.0007)
        if tick % keyframe_every == 0:
            for v in view_ids:
                metrics.keyframe_sent(ROOM, v, "periodic")
        if tick % speaker_every == 0:
            metrics.speaker_change(ROOM)
        if tick % keepalive_every == 0:
            metrics.sip_request("OPTIONS")
            metrics.sip_response("OPTIONS", 200)
        if scrape is not None and tick % scrape_every == scrape_every - 1:
            scrape()
    return time.process_time() - start


class _ScrapedRoom:
    """Metrics with a live exporter; each scrape is a real HTTP GET and advances the room."""

    def __init__(self, members: int, views: int, scrape_interval: float) -> None:
        self.members, self.views, self.interval = members, views, scrape_interval
        self.t = 0.0
        self.page_bytes = 0
        self.metrics = Metrics(lambda: room_snapshot(self.members, self.views, self.t))
        self.exporter = start_exporter(self.metrics, "127.0.0.1", 0)

    def scrape(self) -> None:
        self.t += self.interval
        with urllib.request.urlopen(self.exporter.url, timeout=10) as resp:
            self.page_bytes = len(resp.read())


def measure(
    seconds: float, members: int, views: int, scrape_interval: float, repeats: int
) -> tuple[float, float, float, int]:
    """CPU seconds (on, events only, off) and bytes per scrape; best of `repeats` each."""
    on_runs, events_runs, off_runs, size = [], [], [], 0
    for _ in range(repeats):
        off_runs.append(play(NullMetrics(), seconds, members, views, None, scrape_interval))
        events_runs.append(play(Metrics(), seconds, members, views, None, scrape_interval))
        room = _ScrapedRoom(members, views, scrape_interval)
        try:
            on_runs.append(
                play(room.metrics, seconds, members, views, room.scrape, scrape_interval)
            )
            size = room.page_bytes
        finally:
            room.exporter()
    return min(on_runs), min(events_runs), min(off_runs), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=300.0, help="meeting time played")
    parser.add_argument("--scrape-interval", type=float, nargs="+", default=[5.0, 1.0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.members}-site room, {args.views} views, {args.seconds:.0f} s of meeting played")
    for interval in args.scrape_interval:
        on, events, off, size = measure(
            args.seconds, args.members, args.views, interval, args.repeats
        )
        cost = (on - off) / args.seconds * 100
        print(
            f"scrape every {interval:g} s: CPU on {on * 1e3:.1f} ms, off {off * 1e3:.1f} ms "
            f"(reference), ratio {on / off:.1f}x; metrics cost {cost:.3f}% of one core "
            f"({(on - off) / args.seconds * 1e3:.2f} ms CPU per meeting-second, event calls "
            f"alone {(events - off) / args.seconds * 100:.3f}%); "
            f"/metrics page {size / 1024:.0f} KiB; budget {BUDGET_PERCENT}%: "
            f"{'OK' if cost < BUDGET_PERCENT else 'OVER'}"
        )


if __name__ == "__main__":
    main()
