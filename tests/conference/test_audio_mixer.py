"""The room's N-1 mix: each member hears the speakers but never itself."""

from __future__ import annotations

from mcu.conference.audio import EVERYONE, SILENCE, AudioMixer, minus
from mcu.conference.speaker import SpeakerSelector
from tests.helpers import room_noise, tone, tone_power

RATE = 16000
S = 320
FREQ = {"a": 500.0, "b": 850.0, "c": 1250.0, "d": 1700.0}


def frames_at(tick: int, talking: set[str], muted_noise: bool = True) -> dict:
    return {m: (tone(f, RATE, S, start=tick * S) if m in talking else room_noise(S, seed=tick))
            for m, f in FREQ.items()}


def run(mixer: AudioMixer, talking: set[str], ticks: int = 60, **kw):
    result = None
    for t in range(ticks):
        result = mixer.tick(frames_at(t, talking), now=t * 0.02, **kw)
    return result


def heard(result, member: str) -> dict[str, float]:
    pcm = result.streams[result.listens_to[member]]
    return {m: tone_power(pcm, RATE, f) for m, f in FREQ.items()}


def test_nobody_talking_everyone_hears_silence_not_noise_pile_up() -> None:
    result = run(AudioMixer(RATE, SpeakerSelector(k=3)), set())
    assert result.mixed == [] and result.floor is None
    assert all(result.listens_to[m] == EVERYONE for m in FREQ)
    assert not result.streams[EVERYONE].any()
    assert all(55 - 2 <= level <= 55 + 2 for level in result.levels.values())


def test_speakers_hear_each_other_but_not_themselves() -> None:
    result = run(AudioMixer(RATE, SpeakerSelector(k=3)), {"a", "b"})
    assert sorted(result.mixed) == ["a", "b"]
    assert result.listens_to["a"] == minus("a") and result.listens_to["c"] == EVERYONE
    for listener, present, absent in (("a", "b", "a"), ("b", "a", "b")):
        power = heard(result, listener)
        assert power[present] > 0.01, f"{listener} must hear {present}"
        assert power[absent] < 1e-6, f"{listener} must not hear itself"
    power = heard(result, "c")
    assert power["a"] > 0.01 and power["b"] > 0.01


def test_muted_member_is_not_mixed_and_deaf_member_hears_silence() -> None:
    result = run(AudioMixer(RATE, SpeakerSelector(k=3)), {"a", "b"}, muted={"a"}, deaf={"d"})
    assert result.mixed == ["b"]
    assert heard(result, "c")["a"] < 1e-6 and heard(result, "c")["b"] > 0.01
    assert result.listens_to["d"] == SILENCE and not result.streams[SILENCE].any()


def test_only_k_loudest_are_mixed() -> None:
    result = run(AudioMixer(RATE, SpeakerSelector(k=2)), {"a", "b", "c"})
    assert len(result.mixed) == 2
    shared = {result.listens_to[m] for m in FREQ if m not in result.mixed}
    assert shared == {EVERYONE}
