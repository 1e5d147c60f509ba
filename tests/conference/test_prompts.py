from mcu.conference.prompts import PATTERNS, PromptPlayer, prompt_pcm
from tests.helpers import tone_power


def test_each_prompt_has_its_tones_at_each_rate() -> None:
    for rate in (8000, 16000, 48000):
        for name, pattern in PATTERNS.items():
            pcm = prompt_pcm(name, rate)
            assert len(pcm) == sum(rate * ms // 1000 for _, ms in pattern)
            freq, ms = pattern[0]
            first = pcm[: rate * ms // 1000]
            assert tone_power(first, rate, freq) > 0.01, (name, rate)


def test_player_hands_out_frames_then_silence() -> None:
    player = PromptPlayer(8000)
    player.play("admitted")
    frames = []
    while player.playing:
        frames.append(player.next_frame())
    assert len(frames) == 22 and all(len(f) == 160 for f in frames)  # 440 ms = 22 frames of 20 ms
    assert frames[0].any() and not player.next_frame().any()
