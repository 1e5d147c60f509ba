"""A re-offer that changes a member's codec, payload type or clock rate rebuilds its pipelines;
one that changes nothing of that keeps them (jitter buffer, numbering); admission's VideoCap
lowers a member's canvas and frame rate."""

from __future__ import annotations

from pathlib import Path

from mcu.calls.streams import Streams
from mcu.conference.member import Member
from mcu.conference.room import Room
from mcu.conference.video import VideoCap, encoder_config_for
from mcu.config import Room as RoomSpec
from mcu.layout import load_config_dir
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import negotiate

CONF = Path(__file__).resolve().parents[2] / "conf"
HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
PCMU = "m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
G722 = "m=audio 4000 RTP/AVP 9 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
H264 = ("m=video 4002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
        "a=fmtp:97 profile-level-id=42e01f;packetization-mode=1\r\n")
VP8 = "m=video 4002 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n"


def answer(lines: str) -> Streams:
    return Streams.of_sdp(negotiate(HEAD + lines, Capabilities(), "127.0.0.1", [30000, 30002]))


def joined(lines: str) -> tuple[Room, Member]:
    room = Room(RoomSpec(number="4100"), load_config_dir(CONF))
    result = answer(lines)
    member = Member(1, "call-1", "4100", "Site 1", "", "", result.first("audio"), result.first("video"))
    room.add(member)
    return room, member


def test_new_audio_codec_rebuilds_the_audio_pipelines() -> None:
    room, member = joined(PCMU + H264)
    before_in, before_out = member.audio_in, member.audio_out
    assert room.renegotiated(member, answer(G722 + H264)) == ["audio"]
    assert member.audio_in is not None and member.audio_in is not before_in
    assert member.audio_in.payload_type == 9 and member.audio_format.name == "G722"  # type: ignore[union-attr]
    assert member.audio_out is not before_out and member.audio_out.payload_type == 9  # type: ignore[union-attr]
    assert member.rtcp["audio"].outbound is member.audio_out, "RTCP reports the new stream"


def test_same_codecs_keep_the_pipelines() -> None:
    room, member = joined(PCMU + H264)
    kept = (member.audio_in, member.audio_out, member.video_in, member.video_out)
    assert room.renegotiated(member, answer(PCMU + H264)) == []
    assert (member.audio_in, member.audio_out, member.video_in, member.video_out) == kept


def test_new_video_codec_rebuilds_the_video_pipelines() -> None:
    room, member = joined(PCMU + H264)
    assert room.renegotiated(member, answer(PCMU + VP8)) == ["video"]
    assert member.video_in is not None and member.video_in.payload_type == 100
    assert member.video_out is not None and member.video_out.config.codec == "VP8"


def test_a_video_cap_lowers_canvas_and_frame_rate() -> None:
    media = answer(PCMU + H264).first("video")
    assert media is not None
    full = encoder_config_for(media, 30, "ultrafast", 10.0)
    capped = encoder_config_for(media, 30, "ultrafast", 10.0, VideoCap(fps=15, max_width=640, max_height=360))
    assert (full.width, full.height, full.fps) == (1280, 720, 30)
    assert (capped.width, capped.height, capped.fps) == (640, 360, 15)


def test_a_new_send_bit_rate_rebuilds_only_the_video_encoder() -> None:
    """An H.245 flowControlCommand (or a new b=AS) changes what we may send: the member's view gets
    an encoder at that rate; what it sends us (decoder, jitter buffer) is kept."""
    from dataclasses import replace

    room, member = joined(PCMU + H264)
    video_in, audio = member.video_in, (member.audio_in, member.audio_out)
    assert member.video_out is not None and member.video_out.config.bitrate > 256_000
    streams = answer(PCMU + H264)
    capped = Streams({**streams.by_key, ("video", "main"): replace(streams.by_key[("video", "main")], max_send_kbps=256)})
    assert room.renegotiated(member, capped) == ["video"]
    assert member.video_out.config.bitrate == 256_000
    assert member.video_in is video_in and (member.audio_in, member.audio_out) == audio
    assert room.renegotiated(member, capped) == [], "the same rate again changes nothing"
