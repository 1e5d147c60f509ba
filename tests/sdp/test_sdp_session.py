"""SDP parse/serialize: malformed input first, then fields, then lossless round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcu.sdp.session import (
    Attribute,
    SdpParseError,
    parse,
    parse_fmtp_params,
    parse_rtpmap,
    serialize,
)

OFFERS = Path(__file__).parent / "offers"
MINIMAL = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"


@pytest.mark.parametrize(
    ("text", "line", "fault"),
    [
        ("", 0, "empty"),
        ("   \r\n", 0, "empty"),
        ("v=0\r\n", 0, "no o= line"),
        ("o=- 1 1 IN IP4 1.2.3.4\r\n", 1, "first line must be v="),
        ("v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\n", 1, "unsupported SDP version"),
        ("v=0\r\ns=-\r\n", 2, "o= must follow v="),
        ("v=0\r\no=- 1 1 IN IP4\r\n", 2, "o= needs 6 fields"),
        ("v=0\r\no=- x 1 IN IP4 1.2.3.4\r\n", 2, "sess-id"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ngarbage\r\n", 3, "expected '<letter>=<value>'"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n1=x\r\n", 3, "expected '<letter>=<value>'"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n", 3, "duplicate v="),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\no=- 1 1 IN IP4 1.2.3.4\r\n", 3, "duplicate o="),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4\r\n", 3, "c= needs 3 fields"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nb=AS\r\n", 3, "b= must be"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nb=AS:lots\r\n", 3, "bandwidth"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nt=0\r\n", 3, "t= needs"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nr=7d 1h 0 25h\r\n", 3, "r= without"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio\r\n", 3, "m= needs"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n", 3, "m= port"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n", 3, "above 65535"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP\r\n", 3, "no formats"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 4000/x RTP/AVP 0\r\n", 3, "port count"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\ns=late\r\n", 4,
         "session-level line s="),
    ],
)
def test_malformed_sdp_names_line_and_fault(text: str, line: int, fault: str) -> None:
    with pytest.raises(SdpParseError) as info:
        parse(text)
    assert info.value.line == line
    assert fault in info.value.fault
    assert (f"line {line}" in str(info.value)) == (line != 0)


def test_non_utf8_body_is_a_parse_error() -> None:
    with pytest.raises(SdpParseError, match="not UTF-8"):
        parse(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=\xff\xfe\r\n")


def test_truncated_real_offer_still_fails_cleanly() -> None:
    raw = (OFFERS / "baresip.sdp").read_bytes()
    with pytest.raises(SdpParseError):
        parse(raw[:3])  # "v=0" alone: no o= line


def test_rtpmap_and_fmtp_helpers_reject_malformed() -> None:
    assert parse_rtpmap("x PCMU/8000") is None
    assert parse_rtpmap("0 PCMU") is None
    assert parse_rtpmap("0 PCMU/fast") is None
    assert parse_rtpmap("96 opus/48000/2").channels == 2
    assert parse_fmtp_params(None) == {}
    assert parse_fmtp_params("0-15") == {"0-15": ""}
    assert parse_fmtp_params("Profile-Level-Id=42e01f; packetization-mode=1;") == {
        "profile-level-id": "42e01f", "packetization-mode": "1"}


def test_minimal_session_fields() -> None:
    s = parse(MINIMAL)
    assert s.origin.session_id == 1 and s.origin.address == "192.0.2.1"
    assert s.name == "-" and s.connection is None and s.media == []
    assert serialize(s) == MINIMAL


def test_baresip_offer_fields() -> None:
    s = parse((OFFERS / "baresip.sdp").read_bytes())
    assert [m.media for m in s.media] == ["audio", "video"]
    audio, video = s.media
    assert audio.payload_types == [0, 8, 9, 96, 101]
    assert audio.rtpmaps()[9].encoding == "G722" and audio.rtpmaps()[9].clock_rate == 8000
    assert audio.rtpmaps()[96].channels == 2
    assert audio.fmtp(101) == "0-15"
    assert video.fmtp(97) == "packetization-mode=1;profile-level-id=42e01f"
    assert video.first("content") == "main"
    assert s.first("tool") == "baresip 1.0.0"
    assert s.connection is not None and s.connection.host == "127.0.0.1"


@pytest.mark.parametrize("name", sorted(p.name for p in OFFERS.glob("*.sdp")))
def test_round_trip_is_lossless_for_every_stored_offer(name: str) -> None:
    raw = (OFFERS / name).read_bytes().decode()
    assert raw.endswith("\r\n")
    assert serialize(parse(raw)) == raw


def test_lf_input_parses_like_crlf_and_serializes_canonically() -> None:
    raw = (OFFERS / "polycom_hdx.sdp").read_bytes().decode()
    lf = raw.replace("\r\n", "\n")
    assert serialize(parse(lf)) == raw


def test_unknown_attributes_and_lines_are_kept_in_order() -> None:
    text = MINIMAL + ("a=x-vendor-thing:1 2 3\r\nm=video 5000 RTP/AVP 96\r\nb=X-CUSTOM:77\r\n"
                      "a=rtpmap:96 H264/90000\r\na=x-flag\r\na=label:2\r\ny=0123456789\r\n")
    s = parse(text)
    assert s.attributes == [Attribute("x-vendor-thing", "1 2 3")]
    assert [a.name for a in s.media[0].attributes] == ["rtpmap", "x-flag", "label"]
    assert s.media[0].extra_lines == ["y=0123456789"]
    assert s.media[0].bandwidth("x-custom") == 77
    assert serialize(s) == text


def test_all_optional_session_lines_round_trip() -> None:
    text = ("v=0\r\no=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\ns=SDP Seminar\r\n"
            "i=A Seminar\r\nu=http://www.example.com/seminars/sdp.pdf\r\n"
            "e=j.doe@example.com (Jane Doe)\r\np=+1 617 555-6011\r\n"
            "c=IN IP4 224.2.17.12/127\r\nb=CT:1000\r\nt=2873397496 2873404696\r\n"
            "r=7d 1h 0 25h\r\nz=2882844526 -1h 2898848070 0\r\nk=prompt\r\na=recvonly\r\n"
            "m=audio 49170/2 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 224.2.17.12/127\r\nk=prompt\r\n")
    s = parse(text)
    assert s.connection is not None and s.connection.host == "224.2.17.12"
    assert s.timings[0].repeats == ["7d 1h 0 25h"]
    assert s.media[0].port_count == 2
    assert s.direction_attribute() == "recvonly"
    assert serialize(s) == text
