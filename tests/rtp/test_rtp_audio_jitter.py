from __future__ import annotations

import pytest
from rtp_netsim import Profile, deliver

from mcu.rtp.jitterbuffer import AudioFrame, AudioJitterBuffer
from mcu.rtp.packet import RtpPacket

FRAME = 0.02
N = 500


def stream(n: int = N, seq0: int = 65000, ts0: int = 0xFFFFF000, ssrc: int = 77) -> list[tuple[float, RtpPacket]]:
    """n PCMU packets; seq and timestamp both wrap inside the run."""
    return [
        (i * FRAME, RtpPacket(0, (seq0 + i) & 0xFFFF, (ts0 + 160 * i) & 0xFFFFFFFF, ssrc, False, bytes([i & 0xFF]) * 160))
        for i in range(n)
    ]


def play(profile: Profile, jb: AudioJitterBuffer | None = None, n: int = N) -> tuple[AudioJitterBuffer, list[AudioFrame], object]:
    jb = jb or AudioJitterBuffer(clock_rate=8000, frame_duration=FRAME)
    d = deliver(stream(n), profile)
    frames: list[AudioFrame] = []
    k = 0
    now = d.arrivals[0][0] + FRAME / 2  # ticks fall between arrivals, never on them
    end = d.arrivals[-1][0] + 0.5
    while now < end:
        while k < len(d.arrivals) and d.arrivals[k][0] <= now:
            _, _, pkt = d.arrivals[k]
            jb.put(pkt, d.arrivals[k][0])  # type: ignore[arg-type]
            k += 1
        f = jb.pop(now)
        if f is not None:
            frames.append(f)
        now += FRAME
    return jb, frames, d


def test_nothing_to_play_before_the_first_packet() -> None:
    jb = AudioJitterBuffer()
    assert jb.pop(0.0) is None
    assert jb.pop(1.0) is None


def test_waits_target_delay_before_starting() -> None:
    jb = AudioJitterBuffer(min_delay=0.06)
    jb.put(stream(1)[0][1], 10.0)
    assert jb.pop(10.03) is None
    f = jb.pop(10.07)
    assert f is not None and not f.lost and f.payload == bytes([0]) * 160


# Each row: profile, then what must hold. Payload byte = index & 0xff lets us check order.
PROFILES = [
    Profile("clean"),
    Profile("loss 5%", loss=0.05, seed=3),
    Profile("burst loss", bursts=((100, 5), (300, 8))),
    Profile("reorder 10%", reorder=0.10, reorder_delay=0.03, seed=4),
    Profile("jitter 60 ms", jitter=0.06, seed=5),
    Profile("duplicate 10%", duplicate=0.10, seed=6),
    Profile("bad wifi", loss=0.03, reorder=0.05, jitter=0.04, duplicate=0.05, seed=7),
]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_profile_table(profile: Profile) -> None:
    jb, frames, d = play(profile)
    inserted = [f for f in frames if f.inserted]
    assert len(inserted) == jb.stats.inserted
    frames = [f for f in frames if not f.inserted and f.sequence < 65000 + N]
    played = [f for f in frames if not f.lost]
    # after the stream ends the buffer conceals a few slots, then goes quiet: not counted
    concealed = [f for f in frames if f.lost and f.sequence < 65000 + N]
    seqs = [f.sequence for f in frames]
    # the playout timeline is one slot per sequence number, in order; only frames dropped to
    # shrink the delay leave gaps
    assert seqs == sorted(set(seqs))
    assert seqs[-1] - seqs[0] + 1 == len(seqs) + jb.stats.dropped
    # every played frame carries the payload of its own slot
    assert all(f.payload[0] == (f.sequence - seqs[0]) & 0xFF for f in played)
    # every arrival is played, late (a duplicate after its original played counts here),
    # a duplicate, or dropped to shrink the delay
    accounted = len(played) + jb.stats.late + jb.stats.dropped + jb.stats.duplicates
    assert accounted == N - len(d.lost) + d.duplicated  # type: ignore[attr-defined]
    if profile.name in ("clean", "duplicate 10%"):
        assert len(played) == N and not concealed and jb.stats.late == 0 and not inserted
    if profile.name == "duplicate 10%":
        assert jb.stats.duplicates == d.duplicated > 0  # type: ignore[attr-defined]
    if profile.name in ("loss 5%", "burst loss"):
        assert len(concealed) == len(d.lost) and jb.stats.late == 0  # type: ignore[attr-defined]
        assert len(played) == N - len(d.lost)  # type: ignore[attr-defined]
    if profile.name == "burst loss":
        runs = [f.sequence for f in concealed]
        assert runs == list(range(runs[0], runs[0] + 5)) + list(range(runs[5], runs[5] + 8))
    if profile.name in ("reorder 10%", "jitter 60 ms", "bad wifi"):
        assert jb.stats.late + jb.stats.dropped <= 0.03 * N  # adapts: few late after warm-up
        assert jb.target_delay > jb.min_delay
    assert jb.target_delay <= jb.max_delay


def test_jitter_raises_target_and_clean_keeps_it_low() -> None:
    clean, _, _ = play(Profile("clean"))
    jittery, _, _ = play(Profile("j", jitter=0.08, seed=9))
    assert clean.target_delay == pytest.approx(clean.min_delay)
    assert jittery.target_delay > 2 * clean.target_delay


def test_delay_is_bounded_under_extreme_jitter() -> None:
    jb, _, _ = play(Profile("extreme", jitter=1.0, seed=2))
    assert jb.target_delay == jb.max_delay
    assert jb.depth <= 2 * round(jb.max_delay / FRAME)


def test_ssrc_change_restarts_the_buffer() -> None:
    jb = AudioJitterBuffer(min_delay=0.0)
    for t, p in stream(5):
        jb.put(p, 10 + t)
    assert jb.pop(10.2) is not None
    other = RtpPacket(0, 3, 999, 78, False, b"\x55" * 160)
    jb.put(other, 10.21)
    assert jb.stats.resets == 1
    f = jb.pop(10.3)
    assert f is not None and f.payload == b"\x55" * 160 and not f.lost


def test_silence_stops_concealment_and_rebuffers() -> None:
    jb = AudioJitterBuffer(min_delay=0.0)
    items = stream(3)
    for t, p in items:
        jb.put(p, 10 + t)
    now = 10.1
    out = []
    for _ in range(30):
        out.append(jb.pop(now))
        now += FRAME
    assert [f is not None and not f.lost for f in out[:3]] == [True] * 3
    assert sum(1 for f in out if f is not None and f.lost) == 10  # then None: sender is silent
    assert out[-1] is None
