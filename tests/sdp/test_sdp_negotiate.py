"""Offer/answer tables over real and realistic terminal offers (tests/sdp/offers/*.sdp).

baresip.sdp is a real capture (see test_sdp_baresip_live.py for the recipe); the other
offers are written after the SDP those room systems send.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mcu.sdp.codecs import Capabilities
from mcu.sdp.h264 import ProfileLevelId, level_rank
from mcu.sdp.negotiate import (
    REJECT_CONTENT,
    REJECT_DISABLED,
    REJECT_DUPLICATE,
    REJECT_MEDIA,
    REJECT_NO_ADDRESS,
    REJECT_NO_CODEC,
    REJECT_NO_CRYPTO,
    REJECT_PROTO,
    NegotiationError,
    NegotiationResult,
    create_offer,
    is_same_version,
    negotiate,
    process_answer,
)
from mcu.sdp.profiles import DEFAULT_PROFILE, EndpointProfile, load_profiles
from mcu.sdp.session import SessionDescription, parse, serialize

OFFERS = Path(__file__).parent / "offers"
ENDPOINTS = Path(__file__).parents[2] / "conf" / "endpoints.toml"
CAPS = Capabilities()
KEY = base64.b64encode(bytes(range(30))).decode()  # a 30-byte SDES master key + salt
LOCAL = "198.51.100.7"
PORTS = [40000, 40002, 40004, 40006, 40008]


def offer(name: str) -> SessionDescription:
    return parse((OFFERS / f"{name}.sdp").read_bytes())


def answer_for(name: str, profile: EndpointProfile = DEFAULT_PROFILE,
               caps: Capabilities = CAPS) -> NegotiationResult:
    result = negotiate(offer(name), caps, LOCAL, PORTS, profile)
    reparsed = parse(result.local_sdp)  # every answer must parse again
    assert serialize(reparsed) == result.local_sdp
    assert len(reparsed.media) == len(result.remote.media)
    return result


def vendor(user_agent: str) -> EndpointProfile:
    return load_profiles(ENDPOINTS).match(user_agent)


def plid_at_or_below(answer_plid: str, offer_plid: str) -> bool:
    a, o = ProfileLevelId.parse(answer_plid), ProfileLevelId.parse(offer_plid)
    return a.profile_idc == o.profile_idc and level_rank(a.level) <= level_rank(o.level)


# --- negative cases first ------------------------------------------------------------


def test_only_unsupported_codecs_rejects_every_line_and_flags_488() -> None:
    r = answer_for("unsupported_only")
    assert r.all_rejected and r.status_code == 488
    assert [m.port for m in r.local.media] == [0, 0, 0]
    assert [m.reject_reason for m in r.media] == [REJECT_NO_CODEC, REJECT_NO_CODEC, REJECT_MEDIA]
    assert r.local.media[2].proto == "TCP/BFCP" and r.local.media[2].formats == ["*"]


def test_offer_without_media_is_488() -> None:
    r = negotiate("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n", CAPS, LOCAL, [])
    assert r.all_rejected and r.status_code == 488 and r.local.media == []


def test_too_few_ports_is_an_error() -> None:
    with pytest.raises(ValueError, match="one local port per m-line"):
        negotiate(offer("baresip"), CAPS, LOCAL, [40000])


@pytest.mark.parametrize(
    ("media", "reason"),
    [
        ("m=audio 0 RTP/AVP 0\r\n", REJECT_DISABLED),
        ("m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n", REJECT_NO_CRYPTO),
        ("m=audio 5000 RTP/SAVP 0\r\n", REJECT_NO_CRYPTO),  # SRTP without keys (DTLS is not read)
        (f"m=audio 5000 RTP/SAVP 0\r\na=crypto:1 F8_128_HMAC_SHA1_80 inline:{KEY}\r\n", REJECT_NO_CRYPTO),
        (f"m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4\r\n",
         REJECT_NO_CRYPTO),  # an MKI
        (f"m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTCP\r\n",
         REJECT_NO_CRYPTO),  # a session parameter we do not run
        ("m=audio 5000 UDP/TLS/RTP/SAVPF 0\r\n", REJECT_PROTO),
        ("m=image 5000 udptl t38\r\n", REJECT_MEDIA),
        ("m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=content:slides\r\n",
         REJECT_CONTENT),
        (("m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
         "a=fmtp:96 profile-level-id=6e001f\r\n"), REJECT_NO_CODEC),  # High 10
        (("m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
         "a=fmtp:96 profile-level-id=zz\r\n"), REJECT_NO_CODEC),
        (("m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
         "a=fmtp:96 packetization-mode=2\r\n"), REJECT_NO_CODEC),
        ("m=audio 5000 RTP/AVP 96\r\n", REJECT_NO_CODEC),  # dynamic PT without rtpmap
    ],
)
def test_single_line_rejections(media: str, reason: str) -> None:
    text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" + media
    r = negotiate(text, CAPS, LOCAL, PORTS)
    assert r.media[0].accepted is False and r.media[0].reject_reason == reason
    assert r.local.media[0].port == 0 and r.status_code == 488


def test_srtp_offer_is_answered_with_our_own_key_for_its_suite() -> None:
    text = ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
            "m=audio 5000 RTP/SAVP 0\r\n"
            f"a=crypto:1 AES_CM_256_HMAC_SHA1_80 inline:{base64.b64encode(bytes(46)).decode()}\r\n"
            f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}\r\n"
            f"a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^31\r\n")
    r = negotiate(text, CAPS, LOCAL, PORTS)
    line = r.local.media[0]
    assert r.media[0].accepted and line.proto == "RTP/SAVP" and line.port == PORTS[0]
    crypto = [a.value for a in line.attributes if a.name == "crypto"]
    assert len(crypto) == 1 and crypto[0].startswith("3 AES_CM_128_HMAC_SHA1_80 inline:")  # _80 first
    ours = base64.b64decode(crypto[0].split("inline:")[1])
    keys = r.media[0].srtp
    assert keys is not None and keys.suite == "AES_CM_128_HMAC_SHA1_80"
    assert keys.remote_key == bytes(range(30)) and keys.local_key == ours and len(ours) == 30
    assert ours != keys.remote_key
    again = negotiate(text, CAPS, LOCAL, PORTS).media[0].srtp
    assert again is not None and again.local_key != ours  # a fresh key per answer
    plain = negotiate(text.replace("RTP/SAVP", "RTP/AVP"), CAPS, LOCAL, PORTS)
    assert plain.media[0].srtp is None  # crypto lines on RTP/AVP: plain RTP (no best effort)
    # a re-offer (hold, resume, same keys) keeps our key: the answer is unchanged, its version too
    reoffer = negotiate(text, CAPS, LOCAL, PORTS, previous=r.local)
    assert reoffer.media[0].srtp == keys and serialize(reoffer.local) == serialize(r.local)


def test_missing_connection_address_rejects_line() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"
    r = negotiate(text, CAPS, LOCAL, PORTS)
    assert r.media[0].reject_reason == REJECT_NO_ADDRESS


def test_second_audio_line_is_rejected_keeping_order() -> None:
    text = ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
            "m=audio 5000 RTP/AVP 0\r\nm=audio 5002 RTP/AVP 8\r\n")
    r = negotiate(text, CAPS, LOCAL, PORTS)
    assert [m.accepted for m in r.media] == [True, False]
    assert r.media[1].reject_reason == REJECT_DUPLICATE
    assert [m.port for m in r.local.media] == [40000, 0]


def test_answer_not_matching_our_offer_is_refused() -> None:
    ours = create_offer(CAPS, LOCAL, [("audio", 5000), ("video", 5002)], session_id=1)
    good = negotiate(ours, CAPS, "192.0.2.9", [6000, 6002]).local
    short = parse(serialize(good))
    short.media.pop()
    with pytest.raises(NegotiationError, match="same number"):
        process_answer(ours, short, CAPS)
    alien = parse(serialize(good).replace("m=audio 6000 RTP/AVP 111 110",
                                          "m=audio 6000 RTP/AVP 77"))
    with pytest.raises(NegotiationError, match="did not offer"):
        process_answer(ours, alien, CAPS)
    swapped = parse(serialize(good).replace("m=video", "m=audio"))
    with pytest.raises(NegotiationError, match="where we offered"):
        process_answer(ours, swapped, CAPS)


# --- offer/answer tables over terminal offers ----------------------------------------

# (offer file, User-Agent, audio codec, audio PT, telephone-event PT, video codec, video PT,
#  packetization mode, m-line ports non-zero)
TABLE = [
    ("baresip", "baresip v1.0.0 (x86_64/linux)", "opus", 96, 101, "H264", 97, 1, [True, True]),
    ("polycom_hdx", "PolycomHDX8000HD/3.1.14-55191", "G722", 9, 101, "H264", 110, 0,
     [True, True, False, False]),
    ("polycom_hdx", "unknown softphone", "G722", 9, 101, "H264", 109, 1,
     [True, True, False, False]),
    ("cisco_telepresence", "TANDBERG/529 (TC7.3.6.cb7fd66)", "G722", 9, 102, "H264", 126, 1,
     [True, True, False, False]),
    ("yealink_vc", "Yealink VC800 63.345.0.10", "G722", 9, 101, "H264", 99, 1, [True, True]),
    ("lifesize", "LifeSize Express_220/4.8.0", "G722", 9, 101, "H263-1998", 96, None,
     [True, True]),
    ("pcmu_softphone", "Zoiper rv2.10", "PCMU", 0, 101, None, None, None, [True]),
]


@pytest.mark.parametrize(
    ("name", "ua", "audio", "audio_pt", "te_pt", "video", "video_pt", "mode", "open_lines"),
    TABLE, ids=[f"{row[0]}-{row[1].split()[0]}" for row in TABLE])
def test_offer_answer_table(name: str, ua: str, audio: str, audio_pt: int, te_pt: int,
                            video: str | None, video_pt: int | None, mode: int | None,
                            open_lines: list[bool]) -> None:
    r = answer_for(name, vendor(ua))
    assert [m.port != 0 for m in r.local.media] == open_lines
    assert r.status_code == 200
    a = r.first("audio")
    assert a is not None and a.codec is not None
    assert (a.codec.name, a.codec.payload_type) == (audio, audio_pt)
    assert a.telephone_event is not None and a.telephone_event.payload_type == te_pt
    assert r.local.media[0].formats == [str(audio_pt), str(te_pt)]
    assert f"rtpmap:{audio_pt} {audio}/" in r.local_sdp
    v = r.first("video")
    if video is None:
        assert v is None
        return
    assert v is not None and v.codec is not None
    assert (v.codec.name, v.codec.payload_type, v.codec.packetization_mode) == (video, video_pt,
                                                                               mode)
    assert r.local.media[1].formats == [str(video_pt)]
    if video == "H264":
        offered = parse_offer_fmtp(r, 1, video_pt)
        assert plid_at_or_below(v.codec.profile_level_id or "", offered["profile-level-id"])
        assert f"a=fmtp:{video_pt} profile-level-id={v.codec.profile_level_id}" in r.local_sdp


def parse_offer_fmtp(r: NegotiationResult, index: int, pt: int) -> dict[str, str]:
    from mcu.sdp.session import parse_fmtp_params
    return parse_fmtp_params(r.remote.media[index].fmtp(pt))


def test_baresip_answer_details() -> None:
    r = answer_for("baresip", vendor("baresip v1.0.0 (x86_64/linux)"))
    a, v = r.media
    assert a.remote_address == "127.0.0.1" and a.remote_port == r.remote.media[0].port
    assert a.remote_rtcp_port == a.remote_port + 1 and not a.rtcp_mux
    assert a.codec is not None and a.codec.clock_rate == 48000 and a.codec.channels == 2
    assert a.codec.remote_params == {"stereo": "1", "sprop-stereo": "1"}
    assert a.telephone_event is not None and a.telephone_event.clock_rate == 8000
    assert a.direction == "sendrecv" and a.ptime == 20 and len(a.ssrcs) == 1
    assert v.content == "main" and v.rtcp_fb == frozenset({"nack pli"})
    assert v.keyframe_methods == ("pli",) and v.keyframe_min_interval == 0.5
    assert v.codec is not None and v.codec.fmtp == "profile-level-id=42e01f;packetization-mode=1"
    assert v.video_limits is not None
    assert (v.video_limits.max_width, v.video_limits.max_height) == (1280, 720)
    assert "a=rtcp-fb:97 nack pli\r\n" in r.local_sdp


def test_g722_reports_real_sample_rate_and_8k_clock() -> None:
    r = answer_for("yealink_vc", vendor("Yealink VC800"))
    a = r.first("audio")
    assert a is not None and a.codec is not None
    assert (a.codec.clock_rate, a.codec.sample_rate) == (8000, 16000)
    assert "a=rtpmap:9 G722/8000\r\n" in r.local_sdp


def test_polycom_hdx_details() -> None:
    r = answer_for("polycom_hdx", vendor("PolycomHDX8000HD/3.1.14-55191"))
    audio, video, bfcp, content = r.media
    assert "115" not in r.local.media[0].formats and "102" not in r.local.media[0].formats
    assert audio.dtmf == "both"
    assert bfcp.reject_reason == REJECT_MEDIA and r.local.media[2].proto == "TCP/BFCP"
    assert content.reject_reason == REJECT_CONTENT and content.content == "slides"
    assert video.codec is not None and video.codec.profile_level_id == "42800d"
    assert video.codec.fmtp == "profile-level-id=42800d"  # mode 0 stays implicit, as offered
    assert video.rtcp_fb == frozenset({"ccm fir"}) and video.keyframe_methods == ("fir",)
    lim = video.video_limits
    assert lim is not None and lim.max_fs == 1792 and lim.max_mbps == 40500
    assert (lim.max_width, lim.max_height) == (848, 480) and 25 <= lim.max_fps <= 26
    assert video.bandwidth_as == 1856 and video.max_send_kbps <= 1856
    assert "b=AS:1856\r\n" in r.local_sdp


def test_polycom_hdx_without_profile_prefers_mode_1() -> None:
    r = answer_for("polycom_hdx")
    v = r.first("video")
    assert v is not None and v.codec is not None and v.codec.packetization_mode == 1


def test_cisco_prefers_constrained_baseline_and_caps_level() -> None:
    r = answer_for("cisco_telepresence", vendor("TANDBERG/529 (TC7.3.6.cb7fd66)"))
    a, v, bfcp, slides = r.media
    assert v.codec is not None and v.codec.profile_level_id == "42e01f"  # 4.0 offered, 3.1 ours
    assert v.rtcp_fb == frozenset({"nack pli", "ccm fir"})  # tmmbr not ours
    assert v.keyframe_methods == ("fir",)
    assert v.bandwidth_tias == 6_000_000 and v.max_send_kbps == CAPS.video_max_kbps
    assert "b=TIAS:2048000\r\n" in r.local_sdp and "b=TIAS:128000\r\n" in r.local_sdp
    assert a.bandwidth_tias == 128_000
    assert slides.content == "slides" and not slides.accepted and not bfcp.accepted


def test_high_profile_only_offer_keeps_profile_and_lowers_level() -> None:
    text = (OFFERS / "cisco_telepresence.sdp").read_bytes().decode()
    text = text.replace("m=video 2328 RTP/AVP 97 126 98 34 31", "m=video 2328 RTP/AVP 97")
    r = negotiate(text, CAPS, LOCAL, PORTS, vendor("TANDBERG/529"))
    v = r.media[1]
    assert v.codec is not None and v.codec.payload_type == 97
    assert v.codec.profile_level_id == "64001f"
    assert plid_at_or_below("64001f", "640028")
    assert v.video_limits is not None and v.video_limits.max_fps == 30.0  # max-fps=6000 -> 60


def test_level_asymmetry_answers_our_level_and_keeps_flag() -> None:
    text = ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
            "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
            "a=fmtp:96 profile-level-id=42e015;level-asymmetry-allowed=1;packetization-mode=1\r\n")
    v = negotiate(text, CAPS, LOCAL, PORTS).media[0]
    assert v.codec is not None and v.codec.profile_level_id == "42e01f"
    assert "level-asymmetry-allowed=1" in (v.codec.fmtp or "")
    lim = v.video_limits  # we still send at the member's own level 2.1
    assert lim is not None and lim.max_fs == 792 and lim.max_width <= 640


def test_lifesize_forced_mode_0_drops_mode_1_and_falls_back_to_h263() -> None:
    r = answer_for("lifesize", vendor("LifeSize Express_220/4.8.0"))
    v = r.first("video")
    assert v is not None and v.codec is not None
    assert v.codec.fmtp == "CIF4=1;CIF=1;QCIF=1;SQCIF=1"
    assert v.video_limits is not None and (v.video_limits.max_width, v.video_limits.max_height) \
        == (704, 576)
    assert "b=CT:1152" not in r.local_sdp and r.remote.bandwidth("CT") == 1152
    assert v.max_send_kbps == 1088


def test_profile_caps_resolution_and_frame_rate() -> None:
    small = EndpointProfile(name="small", match="x", max_resolution=(640, 360), max_fps=15)
    v = answer_for("yealink_vc", small).first("video")
    assert v is not None and v.video_limits is not None
    assert (v.video_limits.max_width, v.video_limits.max_height, v.video_limits.max_fps) == \
        (640, 360, 15)


def test_profile_video_order_and_info_dtmf() -> None:
    h263_first = EndpointProfile(name="old", match="x", video_codecs=("H263", "H264"), dtmf="info")
    r = answer_for("yealink_vc", h263_first)
    v, a = r.first("video"), r.first("audio")
    assert v is not None and v.codec is not None and v.codec.payload_type == 34
    assert v.codec.fmtp == "CIF=1;QCIF=1"
    assert a is not None and a.telephone_event is None and a.dtmf == "info"
    assert r.local.media[0].formats == ["9"]


def test_capability_preference_order_is_configurable() -> None:
    caps = Capabilities(audio_codecs=("PCMA", "PCMU"), video_codecs=("VP8", "H264"))
    r = answer_for("baresip", caps=caps)
    a, v = r.media
    assert a.codec is not None and a.codec.name == "PCMA" and a.codec.payload_type == 8
    assert a.telephone_event is not None and a.telephone_event.clock_rate == 8000
    assert v.codec is not None and v.codec.name == "VP8" and v.codec.payload_type == 100
    assert v.video_limits is not None and v.video_limits.max_fs == 3600


def test_opus_prefers_telephone_event_at_48k_when_offered() -> None:
    text = ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
            "m=audio 5000 RTP/AVP 111 101 110\r\na=rtpmap:111 opus/48000/2\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=rtpmap:110 telephone-event/48000\r\n")
    a = negotiate(text, CAPS, LOCAL, PORTS).media[0]
    assert a.telephone_event is not None and a.telephone_event.payload_type == 110


# --- directions and hold -------------------------------------------------------------

DIRECTION_TABLE = [
    ("sendrecv", "sendrecv", False),
    ("sendonly", "recvonly", True),
    ("recvonly", "sendonly", False),
    ("inactive", "inactive", True),
]


@pytest.mark.parametrize(("offered", "answered", "hold"), DIRECTION_TABLE)
def test_direction_table(offered: str, answered: str, hold: bool) -> None:
    text = (OFFERS / "pcmu_softphone.sdp").read_bytes().decode().replace("a=sendrecv", f"a={offered}")
    r = negotiate(text, CAPS, LOCAL, PORTS)
    a = r.media[0]
    assert (a.remote_direction, a.direction, a.on_hold) == (offered, answered, hold)
    assert f"a={answered}\r\n" in r.local_sdp


def test_inactive_offer_answers_inactive_on_every_line() -> None:
    r = answer_for("inactive")
    assert [m.direction for m in r.media] == ["inactive", "inactive"]
    assert all(m.on_hold and m.accepted for m in r.media)
    assert r.local_sdp.count("a=inactive\r\n") == 2


def test_session_level_direction_applies_to_media() -> None:
    text = (OFFERS / "pcmu_softphone.sdp").read_bytes().decode()
    text = text.replace("a=sendrecv\r\n", "").replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n")
    assert negotiate(text, CAPS, LOCAL, PORTS).media[0].direction == "recvonly"


def test_old_style_hold_with_zero_address() -> None:
    text = (OFFERS / "pcmu_softphone.sdp").read_bytes().decode().replace(
        "c=IN IP4 192.0.2.50", "c=IN IP4 0.0.0.0")
    r = negotiate(text, CAPS, LOCAL, PORTS)
    a = r.media[0]
    assert a.on_hold and a.direction == "recvonly" and not a.we_send
    assert r.local.connection is not None and r.local.connection.host == LOCAL


def test_rtcp_mux_and_explicit_rtcp_port() -> None:
    base = (OFFERS / "pcmu_softphone.sdp").read_bytes().decode()
    muxed = negotiate(base + "a=rtcp-mux\r\n", CAPS, LOCAL, PORTS)
    assert muxed.media[0].rtcp_mux and muxed.media[0].remote_rtcp_port == 6000
    assert "a=rtcp-mux\r\n" in muxed.local_sdp
    explicit = negotiate(base + "a=rtcp:6011 IN IP4 192.0.2.50\r\n", CAPS, LOCAL, PORTS)
    assert not explicit.media[0].rtcp_mux and explicit.media[0].remote_rtcp_port == 6011
    assert "rtcp-mux" not in explicit.local_sdp
    no_mux = negotiate(base + "a=rtcp-mux\r\n", Capabilities(rtcp_mux=False), LOCAL, PORTS)
    assert not no_mux.media[0].rtcp_mux and "rtcp-mux" not in no_mux.local_sdp


def test_ipv6_answer() -> None:
    text = (OFFERS / "pcmu_softphone.sdp").read_bytes().decode().replace(
        "IN IP4 192.0.2.50", "IN IP6 2001:db8::50")
    r = negotiate(text, CAPS, "2001:db8::1", PORTS)
    assert r.media[0].remote_address == "2001:db8::50"
    assert "c=IN IP6 2001:db8::1\r\n" in r.local_sdp


# --- re-offers and o= versions -------------------------------------------------------


def test_reinvite_hold_resume_and_port_change_follow_version_rules() -> None:
    first = negotiate(offer("baresip"), CAPS, LOCAL, PORTS)
    same = negotiate(offer("baresip"), CAPS, LOCAL, PORTS, previous=first.local)
    assert same.local.origin.session_id == first.local.origin.session_id
    assert same.local.origin.version == first.local.origin.version  # nothing changed
    hold_text = (OFFERS / "baresip.sdp").read_bytes().decode().replace("a=sendrecv", "a=sendonly")
    hold = negotiate(hold_text, CAPS, LOCAL, PORTS, previous=same.local)
    assert hold.local.origin.version == first.local.origin.version + 1
    assert [m.direction for m in hold.media] == ["recvonly", "recvonly"]
    resume = negotiate(offer("baresip"), CAPS, LOCAL, PORTS, previous=hold.local)
    assert resume.local.origin.version == first.local.origin.version + 2
    assert [m.direction for m in resume.media] == ["sendrecv", "sendrecv"]
    moved = negotiate(offer("baresip"), CAPS, LOCAL, [41000, 41002], previous=resume.local)
    assert moved.local.origin.version == resume.local.origin.version + 1
    assert [m.local_port for m in moved.media] == [41000, 41002]


def test_remote_codec_change_in_reoffer() -> None:
    first = negotiate(offer("baresip"), CAPS, LOCAL, PORTS)
    text = (OFFERS / "baresip.sdp").read_bytes().decode().replace(
        "m=audio 21270 RTP/AVP 0 8 9 96 101", "m=audio 21270 RTP/AVP 8 101")
    again = negotiate(text, CAPS, LOCAL, PORTS, previous=first.local)
    a = again.media[0]
    assert a.codec is not None and a.codec.name == "PCMA"
    assert again.local.origin.version == first.local.origin.version + 1


def test_is_same_version_detects_session_refresh() -> None:
    a, b = offer("baresip"), offer("baresip")
    assert is_same_version(a, b)
    b.origin.version += 1
    assert not is_same_version(a, b)


# --- our own offers (dial-out) and their answers -------------------------------------


def test_our_offer_lists_constrained_baseline_both_modes_and_parses() -> None:
    o = create_offer(CAPS, LOCAL, [("audio", 5000), ("video", 5002)], session_id=42)
    text = serialize(o)
    assert serialize(parse(text)) == text
    audio, video = o.media
    assert audio.formats == ["111", "9", "0", "8", "110", "101"]
    assert video.formats == ["96", "97", "98", "99", "34"]
    assert video.fmtp(96) == "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1"
    assert video.fmtp(97) == "profile-level-id=42e01f;packetization-mode=0;level-asymmetry-allowed=1"
    assert "a=rtcp-fb:96 ccm fir" in text and "a=rtcp-mux" in text
    assert o.origin.session_id == 42 and o.origin.version == 1


def test_forced_mode_0_offer_has_no_mode_1() -> None:
    o = create_offer(CAPS, LOCAL, [("video", 5002)], session_id=1,
                     profile=vendor("PolycomHDX8000HD/3.1"))
    assert o.media[0].formats == ["97", "99", "34"]
    assert "packetization-mode=1" not in serialize(o)


def test_dial_out_round_trip_against_our_own_answerer() -> None:
    ours = create_offer(CAPS, LOCAL, [("audio", 5000), ("video", 5002)], session_id=5)
    theirs = negotiate(ours, CAPS, "192.0.2.9", [6000, 6002])
    r = process_answer(ours, theirs.local, CAPS)
    assert r.we_offered and r.answer is theirs.local
    a, v = r.media
    assert a.codec is not None and a.codec.name == "opus"
    assert a.telephone_event is not None and a.telephone_event.payload_type == 110
    assert v.codec is not None and v.codec.payload_type == 96 and v.codec.packetization_mode == 1
    assert (a.remote_address, a.remote_port, a.rtcp_mux) == ("192.0.2.9", 6000, True)
    assert v.rtcp_fb == frozenset({"nack", "nack pli", "ccm fir"})


def test_process_answer_rejection_and_direction() -> None:
    ours = create_offer(CAPS, LOCAL, [("audio", 5000), ("video", 5002)], session_id=5)
    answer = ("v=0\r\no=- 9 9 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
              "m=audio 7000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
              "a=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n"
              "m=video 0 RTP/AVP 96\r\n")
    r = process_answer(ours, answer, CAPS)
    a, v = r.media
    assert a.codec is not None and a.codec.name == "PCMU" and a.direction == "sendonly"
    assert a.telephone_event is not None and a.telephone_event.payload_type == 101
    assert not a.rtcp_mux and a.remote_rtcp_port == 7001
    assert not v.accepted and r.status_code == 200


def test_our_hold_reoffer_bumps_version_and_keeps_disabled_line() -> None:
    first = create_offer(CAPS, LOCAL, [("audio", 5000), ("video", 5002)], session_id=5)
    hold = create_offer(CAPS, LOCAL, [("audio", 5000), ("video", 0)], session_id=5,
                        previous=first, direction="sendonly")
    assert hold.origin.version == first.origin.version + 1
    assert hold.media[0].direction_attribute() == "sendonly" and hold.media[1].port == 0
    again = create_offer(CAPS, LOCAL, [("audio", 5000), ("video", 0)], session_id=5,
                         previous=hold, direction="sendonly")
    assert again.origin.version == hold.origin.version
