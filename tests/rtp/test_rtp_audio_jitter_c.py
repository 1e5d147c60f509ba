"""The C audio jitter buffer (mcu._jitter.AudioJitterBuffer) against its specification, the
Python mcu.rtp.jitterbuffer.AudioJitterBuffer: both are driven with the same schedule of puts
and pops (loss, reordering, duplicates, SSRC changes, sequence jumps, 16-bit sequence and
32-bit timestamp wrap, bursts past the capacity, silences, `now` jitter, varied parameters),
and after every operation the frames, the stats, the jitter (bit for bit), the depth and the
target delay must be the same. The scenarios of test_rtp_audio_jitter.py run on the C class too.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import astuple
from typing import Any

import pytest
import test_rtp_audio_jitter as spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcu import _jitter
from mcu._jitter import AudioJitterBuffer as CBuffer
from mcu.rtp.jitterbuffer import (
    MAX_CONSECUTIVE_LOST,
    RESET_SEQUENCE_JUMP,
    AudioFrame,
    AudioJitterStats,
)
from mcu.rtp.jitterbuffer import AudioJitterBuffer as PyBuffer
from mcu.rtp.packet import RtpPacket

MANY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# An operation: ("put", ssrc, seq16, timestamp, payload, now, as_packet) or ("pop", now).
Op = tuple[Any, ...]


class Chooser:
    """The random choices of a schedule, from hypothesis (shrinks) or from random.Random."""

    def __init__(self, integer: Callable[[int, int], int], real: Callable[[float, float], float],
                 choice: Callable[[Sequence[Any]], Any]) -> None:
        self.integer, self.real, self.choice = integer, real, choice


def schedule(c: Chooser, steps: int, nxt: Callable[[], int | None]) -> Iterator[Any]:
    """Yields the constructor parameters, then the operations one by one: each is applied
    (see play_both) before the next is chosen, so `nxt` can peek at the Python buffer's next
    slot to aim at the reset threshold exactly."""
    clock_rate = c.choice([8000, 16000, 48000])
    frame = c.choice([0.01, 0.02, 0.04])
    min_delay = c.choice([0.0, 0.01, 0.02, 0.06, c.real(0.0, 0.3)])
    max_delay = min_delay + c.choice([0.0, 0.02, 0.1, 0.2, c.real(0.0, 0.5)])
    capacity = max(2, round(max_delay / frame) * 2)
    samples = round(clock_rate * frame)
    ssrc = c.integer(0, 0xFFFFFFFF)
    seq = c.choice([0, 65530, 65535, c.integer(0, 0xFFFF)])
    ts = c.choice([0, 0xFFFFFFFF - 2 * samples, c.integer(0, 0xFFFFFFFF)])
    clock = c.choice([0.0, 1000.0, c.real(0.0, 1e6)])
    yield clock_rate, frame, min_delay, max_delay
    ops: list[Op] = []
    held: list[tuple[int, int, int]] = []
    sent: list[tuple[int, int, int]] = []
    serial = 0

    def send(ssrc: int, seq: int, ts: int, now: float) -> None:
        nonlocal serial
        serial += 1
        ops.append(("put", ssrc, seq & 0xFFFF, ts & 0xFFFFFFFF, serial.to_bytes(4, "big") * 2, now,
                    c.choice([True, False])))
        sent.append((ssrc, seq, ts))

    def arrival() -> float:
        return clock + c.choice([0.0, c.real(0.0, frame), c.real(-0.01, 0.15)])

    def tick() -> None:
        nonlocal clock
        ops.append(("pop", clock))
        clock += frame + c.choice([0.0, c.real(-frame / 4, frame / 4)])

    emitted = 0
    for _ in range(steps):
        yield from ops[emitted:]
        emitted = len(ops)
        action = c.choice(ACTIONS)
        if action == "send":
            send(ssrc, seq, ts, arrival())
            seq, ts = seq + 1, ts + samples
        elif action == "lose":
            k = c.integer(1, 6)
            seq, ts = seq + k, ts + k * samples
        elif action == "dup" and sent:
            old: tuple[int, int, int] = c.choice(sent[-8:])
            send(*old, arrival())
        elif action == "hold":
            held.append((ssrc, seq, ts))
            seq, ts = seq + 1, ts + samples
        elif action == "release" and held:
            send(*held.pop(c.integer(0, len(held) - 1)), arrival())
        elif action == "tick":
            for _ in range(c.integer(1, 3)):
                tick()
        elif action == "burst":
            now = arrival()
            for _ in range(c.integer(1, min(capacity + 4, 60))):
                send(ssrc, seq, ts, now)
                seq, ts = seq + 1, ts + samples
        elif action == "silence":  # DTX or hold: longer than the buffer conceals
            n = MAX_CONSECUTIVE_LOST + c.integer(0, 4)
            for _ in range(n):
                tick()
            seq, ts = seq + c.integer(0, 2), ts + n * samples
        elif action == "ssrc":
            ssrc = c.choice([ssrc ^ 1, c.integer(0, 0xFFFFFFFF)])
        elif action == "jump":
            seq += c.choice([1, -1]) * c.integer(RESET_SEQUENCE_JUMP - 3, 40000)
            ts += c.integer(0, 0xFFFFFFFF)
        elif action == "back":  # an old packet, late or far enough back to reset
            send(ssrc, seq - c.integer(1, 2 * RESET_SEQUENCE_JUMP), ts - c.integer(0, 10**6), arrival())
        elif action == "ts_jump":  # the timestamp skips (and wraps) while the sequence does not
            ts += c.integer(0, 0xFFFFFFFF)
        elif action == "edge" and (playing := nxt()) is not None:  # at, or just past, the reset jump
            seq = playing + c.choice([1, -1]) * (RESET_SEQUENCE_JUMP + c.integer(0, 1))
            send(ssrc, seq, ts, arrival())
            seq, ts = seq + 1, ts + samples
        elif action == "raw":
            send(ssrc, c.integer(0, 0xFFFF), c.integer(0, 0xFFFFFFFF), arrival())
    yield from ops[emitted:]


# weights by repetition: mostly a stream with ticks, with every kind of trouble mixed in
ACTIONS = ["send"] * 6 + ["tick"] * 6 + ["lose", "dup", "hold", "hold", "release", "release",
           "burst", "silence", "ssrc", "jump", "edge", "back", "ts_jump", "raw"]


def hypothesis_chooser(data: st.DataObject) -> Chooser:
    return Chooser(lambda a, b: data.draw(st.integers(a, b)),
                   lambda a, b: data.draw(st.floats(a, b, allow_nan=False, allow_infinity=False)),
                   lambda xs: data.draw(st.sampled_from(xs)))


def random_chooser(seed: int) -> Chooser:
    r = random.Random(seed)
    return Chooser(r.randint, r.uniform, r.choice)


def bits(x: float) -> str:
    return float(x).hex()


def assert_same(py: PyBuffer, c: CBuffer) -> None:
    assert type(c.stats) is AudioJitterStats
    assert astuple(c.stats) == astuple(py.stats)
    assert bits(c.jitter) == bits(py.jitter)
    assert bits(c.target_delay) == bits(py.target_delay)
    assert c.depth == py.depth


def assert_same_frame(a: AudioFrame | None, b: AudioFrame | None, same_objects: bool = True) -> None:
    if a is None or b is None:
        assert a is None and b is None
        return
    assert type(b) is AudioFrame
    assert b == a
    if same_objects:
        assert b.payload is a.payload  # the very object put in, not a copy
    assert (type(b.lost), type(b.inserted)) == (bool, bool)


def play_both(c: Chooser, steps: int) -> int:
    """Apply a schedule to both buffers, comparing after every operation; returns the count."""
    buffers: list[PyBuffer] = []
    ops = schedule(c, steps, lambda: buffers[0]._next)
    params = next(ops)
    py, jb = PyBuffer(*params), CBuffer(*params)
    buffers.append(py)
    assert (jb.clock_rate, jb.frame_duration, jb.min_delay, jb.max_delay) == params
    assert_same(py, jb)
    count = 0
    for op in ops:
        if op[0] == "put":
            _, ssrc, seq, ts, payload, now, as_packet = op
            if as_packet:
                packet = RtpPacket(0, seq, ts, ssrc, False, payload)
                py.put(packet, now)
                jb.put(packet, now)
            else:
                py.put_raw(ssrc, seq, ts, payload, now)
                jb.put_raw(ssrc, seq, ts, payload, now)
        else:
            assert_same_frame(py.pop(op[1]), jb.pop(op[1]))
        assert_same(py, jb)
        count += 1
    return count


@MANY
@given(st.data())
def test_same_as_python_for_random_schedules(data: st.DataObject) -> None:
    play_both(hypothesis_chooser(data), data.draw(st.integers(0, 120)))


@pytest.mark.parametrize("seed", range(8))
def test_same_as_python_for_long_random_runs(seed: int) -> None:
    assert play_both(random_chooser(seed), 3000) > 3000


def test_same_as_python_with_frames_built_by_the_class() -> None:
    assert _jitter._setup_fast_frames(False) is False
    try:
        play_both(random_chooser(99), 2000)
    finally:
        assert _jitter._setup_fast_frames() is True


@pytest.mark.parametrize("profile", spec.PROFILES + [spec.Profile("extreme", jitter=1.0, seed=2)],
                         ids=lambda p: p.name)
def test_same_frames_on_the_network_profiles(profile: spec.Profile) -> None:
    py, py_frames, _ = spec.play(profile)
    c, c_frames, _ = spec.play(profile, CBuffer(clock_rate=8000, frame_duration=spec.FRAME))  # type: ignore[arg-type]
    assert len(c_frames) == len(py_frames)
    for a, b in zip(py_frames, c_frames, strict=True):
        assert_same_frame(a, b, same_objects=False)  # each play() builds its own packets
    assert_same(py, c)  # type: ignore[arg-type]


def _spec_cases() -> list[Any]:
    cases = []
    for name, fn in inspect.getmembers(spec, inspect.isfunction):
        if not name.startswith("test_"):
            continue
        args = list(inspect.signature(fn).parameters)
        if not args:
            cases.append(pytest.param(fn, None, id=name))
        elif args == ["profile"]:
            cases += [pytest.param(fn, p, id=f"{name}[{p.name}]") for p in spec.PROFILES]
    return cases


@pytest.mark.parametrize(("test", "profile"), _spec_cases())
def test_python_scenarios_pass_on_the_c_buffer(
    test: Callable[..., None], profile: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spec, "AudioJitterBuffer", CBuffer)
    if profile is None:
        test()
    else:
        test(profile)


@pytest.mark.parametrize("cls", [PyBuffer, CBuffer])
def test_constructor_validation(cls: type[Any]) -> None:
    with pytest.raises(ValueError, match="min_delay <= max_delay"):
        cls(min_delay=0.1, max_delay=0.05)
    with pytest.raises(ValueError):
        cls(min_delay=-0.01)
    with pytest.raises(ZeroDivisionError):
        cls(frame_duration=0)
    cls(min_delay=0.0, max_delay=0.0)


def test_defaults_and_capacity_rounding() -> None:
    py, c = PyBuffer(), CBuffer()
    assert (c.clock_rate, c.frame_duration, c.min_delay, c.max_delay) == (
        py.clock_rate, py.frame_duration, py.min_delay, py.max_delay)
    # 0.05 / 0.02 = 2.5 rounds half to even: capacity 4, the fifth packet drops the oldest
    for max_delay in (0.05, 0.07, 0.0):
        py, c = PyBuffer(max_delay=max_delay, min_delay=0.0), CBuffer(max_delay=max_delay, min_delay=0.0)
        for i in range(12):
            py.put_raw(5, i, 160 * i, bytes([i]), 0.0)
            c.put_raw(5, i, 160 * i, bytes([i]), 0.0)
            assert_same(py, c)
        assert c.depth == py._capacity


def test_stats_can_be_replaced() -> None:
    c = CBuffer(min_delay=0.0)
    c.put_raw(1, 0, 0, b"a", 0.0)
    assert c.stats.received == 1
    c.stats = AudioJitterStats(received=10, lost=3)
    c.put_raw(1, 1, 160, b"b", 0.02)
    assert c.stats == AudioJitterStats(received=11, lost=3)


def test_zero_clock_rate_raises_like_python() -> None:
    for cls in (PyBuffer, CBuffer):
        jb = cls(clock_rate=0)
        with pytest.raises(ZeroDivisionError):
            jb.put_raw(1, 0, 0, b"", 0.0)
