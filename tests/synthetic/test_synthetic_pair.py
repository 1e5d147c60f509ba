"""Two synthetic endpoints wired to each other (one listening as UAS, one calling it), no MCU."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from mcu.synthetic import CallSetupError, NotInCallError, SyntheticEndpoint, find_colour

TONE_PRESENT = 0.03  # our tone is sent at 0.3 full scale: ~0.09 after any of our codecs
TONE_ABSENT = 0.001
Pair = tuple[SyntheticEndpoint, SyntheticEndpoint]


async def _pair(caller_options: dict[str, object], callee_options: dict[str, object]) -> Pair:
    a = SyntheticEndpoint(1, "Hà Nội", **caller_options)
    b = SyntheticEndpoint(2, "Thừa Thiên Huế", **callee_options)
    await b.start()
    listening = asyncio.create_task(b.listen(timeout=10))
    await a.call(b.sip_uri)
    await listening
    return a, b


def _run(body: Callable[[SyntheticEndpoint, SyntheticEndpoint], Awaitable[None]],
         caller: dict[str, object] | None = None, callee: dict[str, object] | None = None) -> None:
    async def main() -> None:
        a, b = await _pair(caller or {}, callee or {})
        try:
            await body(a, b)
        finally:
            await a.close()
            await b.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def _hears_other_not_self(me: SyntheticEndpoint, other: SyntheticEndpoint) -> None:
    assert me.heard_tone(other.tone_hz) > TONE_PRESENT, me.number
    assert me.heard_tone(me.tone_hz) < TONE_ABSENT, me.number


def test_call_to_a_closed_port_fails_with_a_clear_error() -> None:
    async def main() -> None:
        a = SyntheticEndpoint(1)
        try:
            with pytest.raises(CallSetupError, match="no final answer|failed"):
                await a.call("sip:4100@127.0.0.1:9", timeout=1.0)
            with pytest.raises(NotInCallError):
                await a.send_dtmf("1")
        finally:
            await a.close()

    asyncio.run(main())


@pytest.mark.parametrize(("audio", "video", "mode"), [("PCMU", "H264", 1), ("G722", "VP8", 1),
                                                      ("opus", "H264", 0)])
def test_each_hears_the_others_tone_and_decodes_its_colour(audio: str, video: str,
                                                           mode: int) -> None:
    options = {"audio_codec": audio, "video_codec": video, "h264_packetization_mode": mode}

    async def body(a: SyntheticEndpoint, b: SyntheticEndpoint) -> None:
        await a.wait_until(lambda: a.sees_colour(b.colour) and b.sees_colour(a.colour), 5,
                           "each other's colour")
        await asyncio.sleep(1.1)  # a full second of audio in the rings
        _hears_other_not_self(a, b)
        _hears_other_not_self(b, a)
        frame = a.last_frame()
        assert frame is not None and (frame.width, frame.height) == (640, 360)
        assert not find_colour(frame, a.colour)
        for ep in (a, b):
            s = ep.stats
            assert s.audio.lost == 0 and s.video.lost == 0
            assert s.video_decode_errors == 0 and s.audio_decode_errors == 0
            assert 40 <= s.audio.packets_in <= 150
            assert len(ep.audio_arrivals) == s.audio.packets_in

    _run(body, options, options)


def test_silent_endpoint_sends_room_noise_not_its_tone() -> None:
    async def body(a: SyntheticEndpoint, b: SyntheticEndpoint) -> None:
        await asyncio.sleep(1.2)
        assert b.heard_tone(a.tone_hz) < TONE_ABSENT
        from mcu.synthetic import rms_dbfs

        assert -60 < rms_dbfs(b.received_audio(1.0)) < -50
        a.talking = True
        await asyncio.sleep(1.1)
        assert b.heard_tone(a.tone_hz) > TONE_PRESENT

    _run(body, {"talking": False}, {})


def test_pli_restarts_the_cycle_at_its_keyframe() -> None:
    # a 30 s cycle: without a PLI no second keyframe would come during the test
    options = {"video_codec": "H264", "video_cycle_seconds": 30.0}

    async def body(a: SyntheticEndpoint, b: SyntheticEndpoint) -> None:
        await a.wait_until(lambda: a.stats.video_frames_decoded > 5, 5, "decoded video")
        await asyncio.sleep(0.6)  # past the sender's restart rate limit
        before = a.stats.video_keyframes_received
        restarts = b.stats.cycle_restarts
        assert a.request_keyframe(min_interval=0)
        await a.wait_until(lambda: a.stats.video_keyframes_received > before, 2, "a new keyframe")
        assert b.stats.cycle_restarts == restarts + 1
        assert b.stats.keyframe_requests_received >= 1
        # a PLI storm right after a restart is absorbed by the rate limit
        for _ in range(5):
            a.request_keyframe(min_interval=0)
        await asyncio.sleep(0.2)
        assert b.stats.cycle_restarts == restarts + 1
        assert b.stats.keyframe_requests_received >= 6
        await asyncio.sleep(0.5)
        assert a.request_keyframe(min_interval=0)
        await b.wait_until(lambda: b.stats.cycle_restarts == restarts + 2, 1, "a second restart")
        assert a.stats.video_decode_errors == 0

    _run(body, options, options)


def test_dtmf_rfc4733_and_info_reach_the_other_side() -> None:
    async def body(a: SyntheticEndpoint, b: SyntheticEndpoint) -> None:
        await a.send_dtmf("19#*")
        await b.send_dtmf("5", method="info")
        await b.wait_until(lambda: len(b.stats.dtmf_received) == 4, 2, "4 RFC 4733 digits")
        await a.wait_until(lambda: a.info_digits == ["5"], 2, "the INFO digit")
        assert b.stats.dtmf_received == ["1", "9", "#", "*"]
        assert a.stats.dtmf_received == []
        with pytest.raises(ValueError, match="method"):
            await a.send_dtmf("1", method="inband")

    _run(body)


def test_vanish_stops_every_packet_without_a_bye() -> None:
    async def body(a: SyntheticEndpoint, b: SyntheticEndpoint) -> None:
        await b.wait_until(lambda: b.stats.video_frames_decoded > 3, 5, "video from a")
        await a.vanish()
        await asyncio.sleep(0.1)
        audio, video = b.stats.audio.packets_in, b.stats.video.packets_in
        sent = a.stats.audio.packets_out, a.stats.video.packets_out
        await asyncio.sleep(0.5)
        assert (b.stats.audio.packets_in, b.stats.video.packets_in) == (audio, video)
        assert (a.stats.audio.packets_out, a.stats.video.packets_out) == sent
        assert b.in_call and b.ended_reason is None  # no BYE arrived

    _run(body, {"video_codec": "VP8"}, {"video_codec": "VP8"})


def test_hangup_sends_bye_and_hold_pauses_media() -> None:
    async def body(a: SyntheticEndpoint, b: SyntheticEndpoint) -> None:
        await asyncio.sleep(0.3)
        await a.reinvite_hold()
        await asyncio.sleep(0.1)
        a_in, b_in = a.stats.audio.packets_in, b.stats.audio.packets_in
        await asyncio.sleep(0.4)
        assert b.stats.audio.packets_in == b_in  # a (sendonly) stops: hold_sends_media=False
        assert a.stats.audio.packets_in == a_in  # b answered recvonly
        await a.reinvite_resume()
        await b.wait_until(lambda: b.stats.audio.packets_in > b_in + 10, 2, "media after resume")
        assert a.stats.audio.packets_in > a_in
        await a.hangup()
        await b.wait_until(lambda: b.ended_reason is not None, 2, "the BYE")
        assert b.ended_reason == "remote hangup" and not b.in_call

    _run(body)
