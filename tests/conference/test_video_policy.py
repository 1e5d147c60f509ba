"""Per-member encoder settings from SDP, and the keyframe policy of shared encoders."""

from __future__ import annotations

from pathlib import Path

from mcu.conference.video import RoomVideo, ViewEncoder, encoder_config_for, new_viewer
from mcu.layout import load_config_dir
from mcu.layout.engine import Assignment
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import negotiate

CONF = Path(__file__).resolve().parents[2] / "conf"
HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


def room_video() -> RoomVideo:
    return RoomVideo(load_config_dir(CONF), "grid", "auto", keyframe_min_interval=1.0)


def video_line(lines: str):  # type: ignore[no-untyped-def]
    result = negotiate(HEAD + lines, Capabilities(), "127.0.0.1", [30000])
    media = result.first("video")
    assert media is not None, result.local_sdp
    return media


def test_hd_h264_terminal_gets_720p_in_its_packetization_mode() -> None:
    media = video_line("m=video 4000 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
                       "a=fmtp:97 profile-level-id=42e01f;packetization-mode=0\r\n")
    config = encoder_config_for(media, fps=30, preset="ultrafast", keyframe_interval=10)
    assert (config.codec, config.width, config.height, config.packetization_mode) == ("H264", 1280, 720, 0)
    assert config.profile == "constrained-baseline" and config.keyint == 300


def test_small_max_fs_gets_a_smaller_canvas() -> None:
    # level 2.1 (42e015): at most 792 macroblocks per frame -> not 720p (3600), fits 640x360 (920)? no -> CIF
    media = video_line("m=video 4000 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
                       "a=fmtp:97 profile-level-id=42e015;packetization-mode=1\r\n")
    config = encoder_config_for(media, fps=30, preset="ultrafast", keyframe_interval=10)
    assert (config.width, config.height) in ((640, 360), (352, 288))
    assert config.width * config.height <= 792 * 256


def test_h263_only_terminal_gets_cif_h263() -> None:
    media = video_line("m=video 4000 RTP/AVP 34\r\na=rtpmap:34 H263/90000\r\na=fmtp:34 CIF=1\r\n")
    config = encoder_config_for(media, fps=30, preset="ultrafast", keyframe_interval=10)
    assert (config.codec, config.width, config.height) == ("H263", 352, 288)


def test_vp8_terminal_gets_vp8() -> None:
    media = video_line("m=video 4000 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n")
    assert encoder_config_for(media, 30, "ultrafast", 10).codec == "VP8"


def test_keyframes_of_a_shared_encoder_are_rate_limited() -> None:
    media = video_line("m=video 4000 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n")
    config = encoder_config_for(media, 30, "ultrafast", 10)
    video = room_video()
    encoder = ViewEncoder(Assignment("1x1", ("1",)), config)
    assert video.keyframe_due(encoder, now=0.0) == "join", "a new encoder starts with a keyframe"
    encoder.last_keyframe = 0.0
    video.request_keyframe(encoder, "pli", now=0.1)
    video.request_keyframe(encoder, "fir", now=0.2)
    assert video.keyframe_due(encoder, now=0.5) is None, "a second keyframe within 1 s waits"
    assert video.keyframe_due(encoder, now=1.0) == "pli", "then one keyframe serves every request"
    encoder.last_keyframe = 1.0
    assert video.keyframe_due(encoder, now=2.5) is None, "nothing asked, nothing sent"


def test_a_joiner_of_an_existing_encoder_asks_for_a_keyframe() -> None:
    media = video_line("m=video 4000 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n")
    config = encoder_config_for(media, 30, "ultrafast", 10)
    video = room_video()
    assignment = Assignment("1x1", ("1",))
    first, second = new_viewer(config, 100), new_viewer(config, 100)
    encoder = video.encoder_for(assignment, 2, first, now=0.0)
    assert video.keyframe_due(encoder, 0.0) == "join"
    encoder.last_keyframe = 0.0
    assert video.encoder_for(assignment, 3, second, now=5.0) is encoder, "same picture, same encoder"
    assert encoder.viewers == {2, 3}
    assert video.keyframe_due(encoder, 5.0) == "join"


def test_self_view_is_taken_from_a_reloaded_room() -> None:
    from mcu.layout.engine import Member as LayoutMember

    video = room_video()
    members = [LayoutMember(str(i), has_video=True) for i in range(1, 5)]
    assert len(video.plan(members, 0.0)) == 4  # 2x2: each of the four sees the other three
    video.reconfigure(load_config_dir(CONF), None, None, self_view=True)  # rooms.toml edited
    views = video.plan(members, 0.1)
    assert len(views) == 1 and sorted(next(iter(views.values()))) == ["1", "2", "3", "4"]
    video.reconfigure(load_config_dir(CONF), None, None, self_view=False)
    assert len(video.plan(members, 0.2)) == 4


def test_a_shown_sender_whose_picture_does_not_come_is_asked_again() -> None:
    """Our first PLI can be lost (UDP, or it reaches the sender before its media is up): while a
    shown member has no picture we ask again every KEYFRAME_RETRY, not just once."""
    from mcu.conference.video import KEYFRAME_RETRY, VideoIn
    from mcu.rtp.packet import RtpPacket
    from mcu.rtp.rtcp import Pli

    media = video_line("m=video 4000 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
                       "a=fmtp:97 profile-level-id=42e01f;packetization-mode=1\r\na=rtcp-fb:97 nack pli\r\n")
    video_in = VideoIn(media, sender_ssrc=1)
    # a P-frame slice (NAL type 1) from the sender: not decodable without a keyframe
    video_in.receive(RtpPacket(97, 1, 0, 0x77, True, bytes([0x41, 0x9A, 0x00, 0x10])), 0.0)
    video_in.set_visible(True, 0.0)  # shown: a PLI at once
    asked = len(video_in.feedback)
    assert asked >= 1
    for k in range(1, 36):  # 3.5 s of the server's 100 ms timer rounds
        video_in.handle_timer(k * 0.1)
    again = video_in.feedback[asked:]
    assert len(again) == int(3.5 // KEYFRAME_RETRY) and all(isinstance(p, Pli) and p.media_ssrc == 0x77
                                                             for p in again)
    hidden = VideoIn(media, sender_ssrc=1)
    hidden.receive(RtpPacket(97, 1, 0, 0x77, True, bytes([0x41, 0x9A, 0x00, 0x10])), 0.0)
    before = len(hidden.feedback)  # the jitter buffer's own request for a keyframe to start from
    for k in range(1, 36):
        hidden.handle_timer(k * 0.1)
    assert len(hidden.feedback) == before  # not shown: nobody needs its picture, no retries
