from __future__ import annotations

import pytest
from rtp_netsim import Profile, deliver

from mcu.rtp.h264 import H264Depacketizer, H264Payloader, join_annexb
from mcu.rtp.jitterbuffer import (
    FrameDropped,
    FrameReady,
    KeyframeRequest,
    NackRequest,
    VideoJitterBuffer,
)
from mcu.rtp.packet import RtpPacket

MTU = 1000
FPS = 30
GOP = 30
FRAMES = 150


def access_unit(k: int) -> bytes:
    """Synthetic H.264: SPS+PPS+IDR every GOP, else one P slice, sized to need FU-A."""
    body = bytes([(k * 7 + j) % 251 + 1 for j in range(2500 if k % GOP == 0 else 1400)])
    if k % GOP == 0:
        return join_annexb([bytes([0x67, 0x42, 0xC0, 0x1F]), bytes([0x68, 0xCE, 0x3C, 0x80]), bytes([0x65]) + body])
    return join_annexb([bytes([0x41]) + body])


def video_stream(ssrc: int = 9, seq0: int = 65400, ts0: int = 0xFFFF0000) -> tuple[list[tuple[float, RtpPacket]], dict[int, bytes]]:
    pay = H264Payloader(1)
    items: list[tuple[float, RtpPacket]] = []
    originals: dict[int, bytes] = {}
    seq = seq0
    for k in range(FRAMES):
        ts = (ts0 + k * 3000) & 0xFFFFFFFF
        originals[ts] = access_unit(k)
        payloads = pay.payload(MTU, originals[ts])
        for i, p in enumerate(payloads):
            items.append((k / FPS + i * 0.0005, RtpPacket(96, seq & 0xFFFF, ts, ssrc, i == len(payloads) - 1, p)))
            seq += 1
    return items, originals


def run(profile: Profile, nack: bool, rtx_rtt: float | None = None) -> tuple[VideoJitterBuffer, list, dict[int, bytes]]:
    """Feed the buffer; when rtx_rtt is set, NACKed packets are resent after one RTT."""
    items, originals = video_stream()
    by_seq = {p.sequence_number: p for _, p in items}
    d = deliver(items, profile)
    queue = [(t, p) for t, _, p in d.arrivals]
    jb = VideoJitterBuffer(H264Depacketizer(), nack=nack, nack_wait=0.2)
    events: list = []
    now = 0.0
    while queue:
        queue.sort(key=lambda a: a[0])
        now, pkt = queue.pop(0)
        out = jb.push(pkt, now)  # type: ignore[arg-type]
        out += jb.handle_timer(now)
        for e in out:
            if isinstance(e, NackRequest) and rtx_rtt is not None:
                queue.extend((now + rtx_rtt, by_seq[s]) for s in e.sequence_numbers)
        events.extend(out)
    events.extend(jb.handle_timer(now + 1.0))
    return jb, events, originals


def check_invariants(events: list, originals: dict[int, bytes]) -> list[FrameReady]:
    ready = [e for e in events if isinstance(e, FrameReady)]
    for e in ready:
        assert e.frame == originals[e.timestamp]  # never a corrupt or partial frame
    order = [(e.timestamp - 0xFFFF0000) & 0xFFFFFFFF for e in ready]
    assert order == sorted(order)  # in order, across the timestamp wrap
    # after any drop, the next frame handed on is a keyframe
    dropping = True  # a decoder starts needing a keyframe
    for e in events:
        if isinstance(e, FrameDropped):
            dropping = True
        elif isinstance(e, FrameReady):
            assert e.keyframe or not dropping
            dropping = False
    return ready


PROFILES = [
    (Profile("clean"), False, None, FRAMES),
    (Profile("duplicate 10%", duplicate=0.1, seed=2), False, None, FRAMES),
    (Profile("reorder 10%", reorder=0.1, reorder_delay=0.004, seed=3), False, None, FRAMES),
    (Profile("jitter 40 ms", jitter=0.04, seed=4), False, None, FRAMES),
    (Profile("loss 1% no nack", loss=0.01, seed=5), False, None, None),
    (Profile("burst no nack", bursts=((40, 6),)), False, None, None),
    (Profile("loss 2% with nack", loss=0.02, seed=6), True, 0.03, FRAMES),
    (Profile("burst with nack", bursts=((40, 6),)), True, 0.03, FRAMES),
]


@pytest.mark.parametrize(("profile", "nack", "rtt", "expect_ready"), PROFILES, ids=lambda v: getattr(v, "name", None))
def test_video_profile_table(profile: Profile, nack: bool, rtt: float | None, expect_ready: int | None) -> None:
    jb, events, originals = run(profile, nack, rtt)
    ready = check_invariants(events, originals)
    if expect_ready is not None:
        assert len(ready) == expect_ready
        assert not any(isinstance(e, KeyframeRequest) for e in events)
    else:
        # unrecovered loss: frames dropped, keyframe asked for, recovery at the next GOP
        assert jb.stats.frames_dropped > 0 and jb.stats.keyframe_requests >= 1
        assert FRAMES // 2 < len(ready) < FRAMES
    if profile.duplicate:  # a copy of a packet already handed on counts as late
        assert jb.stats.duplicates + jb.stats.late > 0
    if nack and profile.loss + len(profile.bursts):
        assert jb.stats.nacks > 0


def test_stream_starting_without_keyframe_asks_for_one() -> None:
    items, originals = video_stream()
    jb = VideoJitterBuffer(H264Depacketizer())
    events: list = []
    for t, p in items[40:]:  # join mid-GOP
        events += jb.push(p, t)
    ready = check_invariants(events, originals)
    assert any(isinstance(e, KeyframeRequest) for e in events)
    assert ready and ready[0].keyframe


def test_ssrc_change_resets_and_waits_for_keyframe() -> None:
    items, originals = video_stream()
    jb = VideoJitterBuffer(H264Depacketizer())
    events: list = []
    for t, p in items[:100]:
        events += jb.push(p, t)
    restarted, _ = video_stream(ssrc=10, seq0=5, ts0=0xFFFF0000)
    for t, p in restarted:
        events += jb.push(p, t + 10)
    assert jb.stats.resets == 1
    ready = [e for e in events if isinstance(e, FrameReady)]
    assert all(e.frame == originals[e.timestamp] for e in ready)
    assert len(ready) > FRAMES  # both streams delivered
