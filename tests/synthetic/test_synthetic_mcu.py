"""Synthetic endpoints against the real MCU process (`python -m mcu serve`): the N-1 audio mix."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mcu.synthetic import SyntheticEndpoint
from tests.helpers import McuProcess, in_calls

TONE_PRESENT = 0.01  # sent at ~0.09; a mix that drops or badly attenuates a talker fails
TONE_ABSENT = 0.0005  # own tone (or a silent member's) must not come back
SETTLE_SECONDS = 2.5


def test_three_audio_endpoints_hear_the_mix_minus_themselves(tmp_path: Path) -> None:
    with McuProcess(tmp_path) as mcu:
        uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
        eps = [SyntheticEndpoint(1, "Bộ Ngoại giao", audio_codec="PCMU"),
               SyntheticEndpoint(2, "Đà Nẵng", audio_codec="G722"),
               SyntheticEndpoint(3, "Cần Thơ", audio_codec="opus", talking=False)]
        report: dict[int, dict[int, float]] = {}

        async def main() -> None:
            async with in_calls(eps, uri):
                await asyncio.sleep(SETTLE_SECONDS)
                for ep in eps:
                    report[ep.number] = {o.number: ep.heard_tone(o.tone_hz) for o in eps}

        asyncio.run(asyncio.wait_for(main(), 30))
        context = f"tone power heard[listener][member] = {report}\nMCU log:\n{mcu.log()[-4000:]}"
        for ep in eps:
            assert ep.stats.audio.packets_in > 50, f"endpoint {ep.number} received no audio\n{context}"
        one, two, three = (report[n] for n in (1, 2, 3))
        assert one[2] > TONE_PRESENT and one[1] < TONE_ABSENT, context
        assert two[1] > TONE_PRESENT and two[2] < TONE_ABSENT, context
        assert three[1] > TONE_PRESENT and three[2] > TONE_PRESENT, context
        for heard in (one, two, three):
            assert heard[3] < TONE_ABSENT, context  # member 3 is silent (room noise only)
