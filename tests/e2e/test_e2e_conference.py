"""The product end to end: four synthetic sites in one room see each other's colours in the
composite (never themselves), hear each other's tones (never themselves), and a site that
vanishes without BYE is removed after the inactivity timeout while the others go on."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from mcu.synthetic import SyntheticEndpoint
from mcu.synthetic.identity import yuv_for
from tests.helpers import McuProcess, free_port, in_calls

TONE_PRESENT = 0.01
TONE_ABSENT = 0.0005
VIDEO = "[video]\nfps = 15\n"


@pytest.mark.parametrize("shared_port", [False, True], ids=["own-ports", "shared-port"])
def test_four_sites_see_and_hear_everyone_but_themselves(tmp_path: Path, shared_port: bool) -> None:
    with McuProcess(tmp_path, extra=VIDEO, shared_port=shared_port) as mcu:
        uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
        sites = [SyntheticEndpoint(n, f"Tỉnh {n}", audio_codec="PCMU", video_codec="H264", fps=15,
                                   talking=n != 4) for n in (1, 2, 3, 4)]
        seen: dict[int, dict[int, bool]] = {}
        heard: dict[int, dict[int, float]] = {}

        async def main() -> None:
            async with in_calls(sites, uri):
                await asyncio.sleep(6.0)  # the layout settles, keyframes arrive
                for site in sites:
                    seen[site.number] = {o.number: site.sees_colour(yuv_for(o.number)) for o in sites}
                    heard[site.number] = {o.number: site.heard_tone(o.tone_hz) for o in sites}

        asyncio.run(asyncio.wait_for(main(), 60))
        context = f"seen={seen}\nheard={heard}\nMCU log:\n{mcu.log()[-3000:]}"
    for site in sites:
        assert site.stats.video_frames_decoded > 20, f"site {site.number} decoded no composite\n{context}"
        others = [o.number for o in sites if o is not site]
        assert all(seen[site.number][o] for o in others), f"site {site.number} must see every other tile\n{context}"
        assert not seen[site.number][site.number], f"site {site.number} must not see itself\n{context}"
        talkers = [o for o in others if o != 4]
        assert all(heard[site.number][o] > TONE_PRESENT for o in talkers), context
        assert heard[site.number][site.number] < TONE_ABSENT, context


def test_self_view_room_shows_every_site_the_same_picture_with_itself(tmp_path: Path) -> None:
    """A room with self_view: one picture (one encoder) for everyone, each site on it."""
    rooms = '[[room]]\nnumber = "4100"\nname = "Self view"\nlayout = "2x2"\nself_view = true\n'
    with McuProcess(tmp_path, rooms=rooms, extra=VIDEO, metrics_port=free_port(socket.SOCK_STREAM)) as mcu:
        uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
        sites = [SyntheticEndpoint(n, f"Tỉnh {n}", audio_codec="PCMU", video_codec="H264", fps=15,
                                   talking=False) for n in (1, 2, 3)]
        seen: dict[int, dict[int, bool]] = {}
        encoding: set[str] = set()

        async def main() -> None:
            async with in_calls(sites, uri):
                await asyncio.sleep(6.0)
                for site in sites:
                    seen[site.number] = {o.number: site.sees_colour(yuv_for(o.number)) for o in sites}
                before = await asyncio.to_thread(_encodes_by_view, mcu.metrics_port)
                await asyncio.sleep(1.0)
                after = await asyncio.to_thread(_encodes_by_view, mcu.metrics_port)
                encoding.update(v for v, n in after.items() if n > before.get(v, 0))

        asyncio.run(asyncio.wait_for(main(), 60))
        log = mcu.log()
    context = f"seen={seen}\nMCU log:\n{log[-3000:]}"
    for site in sites:
        assert site.stats.video_frames_decoded > 20, f"site {site.number} decoded no composite\n{context}"
        assert all(seen[site.number].values()), f"site {site.number} must see all three, itself too\n{context}"
    # one encoder is at work for the whole room (without self view it would be three)
    assert len(encoding) == 1, f"expected one view encoding, the MCU ran {encoding}\n{context}"


def _encodes_by_view(port: int) -> dict[str, float]:
    """mcu_view_encode_duration_seconds_count per view label, from the MCU's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("mcu_view_encode_duration_seconds_count{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.split('view="')[1].split('"')[0]] = float(value)
    return out


def test_vanished_site_is_removed_after_inactivity_and_others_go_on(tmp_path: Path) -> None:
    with McuProcess(tmp_path, inactivity_timeout=2.0) as mcu:
        uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
        sites = [SyntheticEndpoint(n, audio_codec="PCMU") for n in (1, 2, 3)]

        async def main() -> float:
            try:
                for site in sites:
                    await site.call(uri)
                await asyncio.sleep(1.0)
                await sites[2].vanish()
                await asyncio.sleep(4.0)
                before = sites[0].stats.audio.packets_in
                await asyncio.sleep(1.0)
                return (sites[0].stats.audio.packets_in - before) / 1.0
            finally:
                for site in sites[:2]:
                    await site.close()

        rate = asyncio.run(asyncio.wait_for(main(), 30))
        left = mcu.events("member.left")
        assert [e["reason"] for e in left][:1] == ["media inactivity timeout"], mcu.log()[-3000:]
        assert left[0]["member"] == 3
        assert mcu.events("call.media_timeout")
    assert rate > 40, f"the remaining sites must go on receiving audio (got {rate} packets/s)"
    assert sites[1].heard_tone(sites[0].tone_hz) > TONE_PRESENT


def test_pin_by_sip_info_admits_and_the_member_then_hears_the_room(tmp_path: Path) -> None:
    rooms = '[[room]]\nnumber = "4200"\nname = "PIN room"\npin = "2468"\n'
    with McuProcess(tmp_path, rooms=rooms) as mcu:
        uri = f"sip:4200@127.0.0.1:{mcu.sip_port}"
        speaker = SyntheticEndpoint(1, audio_codec="PCMU")
        caller = SyntheticEndpoint(2, audio_codec="G722", talking=False)

        async def main() -> tuple[float, float]:
            try:
                await speaker.call(uri)
                await speaker.send_dtmf("2468#", method="rfc4733")
                await caller.call(uri)
                await asyncio.sleep(1.0)
                before = caller.heard_tone(speaker.tone_hz)  # prompts only: the room is not heard yet
                await caller.send_dtmf("2468#", method="info")
                await asyncio.sleep(2.5)
                return before, caller.heard_tone(speaker.tone_hz)
            finally:
                await speaker.close()
                await caller.close()

        before, after = asyncio.run(asyncio.wait_for(main(), 30))
        assert len(mcu.events("member.joined")) == 2, mcu.log()[-3000:]
        assert "2468" not in mcu.log()
    assert before < TONE_ABSENT, "a caller keying its PIN must not hear the meeting yet"
    assert after > TONE_PRESENT, "once admitted by INFO DTMF the caller hears the speaker"


def test_each_site_gets_the_codec_it_negotiated(tmp_path: Path) -> None:
    """H.264 packetization mode 1, mode 0 (every NAL under the MTU) and VP8 sites in one room: each
    receives and decodes a composite in its own codec, showing the others."""
    with McuProcess(tmp_path, extra=VIDEO) as mcu:
        uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
        sites = [SyntheticEndpoint(1, audio_codec="PCMU", video_codec="H264", h264_packetization_mode=1, fps=15),
                 SyntheticEndpoint(2, audio_codec="G722", video_codec="H264", h264_packetization_mode=0, fps=15),
                 SyntheticEndpoint(3, audio_codec="opus", video_codec="VP8", fps=15)]
        seen: dict[int, dict[int, bool]] = {}

        async def main() -> None:
            async with in_calls(sites, uri):
                await asyncio.sleep(6.0)
                for site in sites:
                    seen[site.number] = {o.number: site.sees_colour(yuv_for(o.number)) for o in sites}

        asyncio.run(asyncio.wait_for(main(), 60))
        context = f"seen={seen}\n{mcu.log()[-3000:]}"
    for site in sites:
        assert site.stats.video_frames_decoded > 20 and site.stats.video_decode_errors == 0, context
        assert all(seen[site.number][o.number] for o in sites if o is not site), context
        assert not seen[site.number][site.number], context


def test_nacked_video_packets_are_sent_again(tmp_path: Path) -> None:
    """A site reporting lost video packets (RFC 4585 generic NACK) gets them again, as first
    sent, instead of waiting for the next keyframe."""
    with McuProcess(tmp_path, extra=VIDEO) as mcu:
        uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
        sites = [SyntheticEndpoint(n, audio_codec="PCMU", video_codec="H264", fps=15, talking=False)
                 for n in (1, 2)]
        watcher = sites[0]
        asked: list[int] = []
        again: dict[int, int] = {}

        async def main() -> None:
            async with in_calls(sites, uri):
                await asyncio.sleep(3.0)
                watcher.video_seqs = Counter()
                await asyncio.sleep(2.0)
                received = sorted(watcher.video_seqs)
                asked.extend(received[len(received) // 2:][:5])  # arrived about a second ago
                assert watcher.send_nack(asked)
                await asyncio.sleep(1.0)
                again.update({seq: watcher.video_seqs[seq] for seq in asked})

        asyncio.run(asyncio.wait_for(main(), 60))
        context = f"asked={asked} again={again}\nMCU log:\n{mcu.log()[-2000:]}"
    assert len(asked) == 5, context
    assert all(count == 2 for count in again.values()), f"each NACKed packet must come twice\n{context}"
