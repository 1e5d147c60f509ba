"""Speaker selection as tables of ticks: levels in RFC 6464 dBov magnitude (127 = silence)."""

from __future__ import annotations

from mcu.conference.speaker import SpeakerSelector

NOISE = 55.0   # an idle room: -55 dBov
SPEECH = 20.0  # someone talking: -20 dBov
TICK = 0.02


def run(selector: SpeakerSelector, script: list[tuple[float, dict]]) -> list:
    """Each script row holds (seconds, levels) applied tick by tick; returns the mix after each row."""
    now, out = 0.0, []
    for seconds, levels in script:
        for _ in range(round(seconds / TICK)):
            now += TICK
            selector.update(levels, now)
        out.append((list(selector.mixed), selector.floor))
    return out


def test_room_noise_is_not_speech() -> None:
    selector = SpeakerSelector(k=3)
    mixes = run(selector, [(2.0, {m: NOISE for m in "abcdef"})])
    assert mixes == [([], None)]


def test_one_loud_tick_is_not_enough() -> None:
    selector = SpeakerSelector(k=3)
    selector.update({"a": SPEECH, "b": NOISE}, 0.02)
    assert selector.mixed == []


def test_speakers_enter_loudest_first_and_floor_follows_after_delay() -> None:
    selector = SpeakerSelector(k=2, floor_after=0.5)
    levels = {"a": SPEECH, "b": 30.0, "c": NOISE}
    mixes = run(selector, [(0.3, levels), (1.0, levels)])
    assert mixes[0][0] == ["a", "b"] and mixes[0][1] == "a"  # first speaker takes an empty floor


def test_hold_keeps_a_pausing_speaker() -> None:
    selector = SpeakerSelector(k=1, hold=0.6)
    talk, pause = {"a": SPEECH, "b": NOISE}, {"a": NOISE, "b": NOISE}
    mixes = run(selector, [(1.0, talk), (0.3, pause), (1.0, pause)])
    assert mixes[0][0] == ["a"]
    assert mixes[1][0] == ["a"], "a short pause must not drop the speaker"
    assert mixes[2][0] == [], "after the hold the speaker leaves the mix"


def test_full_mix_needs_margin_and_quiet_victim() -> None:
    selector = SpeakerSelector(k=2, hold=0.5)
    both = {"a": SPEECH, "b": SPEECH, "c": 22.0}
    mixes = run(selector, [(1.0, both)])
    assert sorted(mixes[0][0]) == ["a", "b"], "c is barely quieter and the mix is full of speakers"
    b_stops = {"a": SPEECH, "b": NOISE, "c": 22.0}
    mixes = run(selector, [(1.5, b_stops)])
    assert sorted(mixes[0][0]) == ["a", "c"]


def test_floor_switches_only_after_floor_after() -> None:
    selector = SpeakerSelector(k=3, floor_after=0.8)
    run(selector, [(1.0, {"a": SPEECH, "b": NOISE})])
    assert selector.floor == "a"
    mixes = run(selector, [(0.4, {"a": 35.0, "b": 15.0}), (1.0, {"a": 35.0, "b": 15.0})])
    assert mixes[0][1] == "a" and mixes[1][1] == "b"


def test_departed_member_is_forgotten() -> None:
    selector = SpeakerSelector(k=3)
    run(selector, [(1.0, {"a": SPEECH, "b": SPEECH})])
    assert selector.floor in ("a", "b")
    run(selector, [(0.1, {"b": SPEECH})])
    assert selector.mixed == ["b"] and selector.floor == "b"
