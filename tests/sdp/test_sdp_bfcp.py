"""SDP answers for offers with content sharing (BFCP m-line plus an a=content:slides video line).

The vectors under offers/ are modelled on the SDP these vendors publish in their interop guides
and that appears in their captures: Polycom HDX (TCP/BFCP, c-s, actpass), Polycom Group Series
(UDP/BFCP, c-only), Cisco TelePresence / TANDBERG (TCP/BFCP, content:main and content:slides,
labels 11/12), Lifesize (TCP/BFCP from port 9 with setup:active).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mcu.calls.streams import CONTENT, Streams
from mcu.sdp.bfcp import (
    REJECT_BFCP_ROLE,
    REJECT_BFCP_TRANSPORT,
    BfcpTerms,
    answer_setup,
    offer_bfcp,
)
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import REJECT_CONTENT, negotiate
from mcu.sdp.session import parse, serialize

OFFERS = Path(__file__).parent / "offers"
CAPS = Capabilities()
LOCAL = "198.51.100.1"
PORTS = [40000, 40002, 40004, 40006, 40008]
TERMS = BfcpTerms(conference_id=4100, user_id=7, floor_id=1, udp_port=5070, tcp_port=5071)


def answer(name, terms=TERMS):
    return negotiate((OFFERS / f"{name}.sdp").read_bytes(), CAPS, LOCAL, PORTS, bfcp=terms)


def attrs(m):
    return [str(a) for a in m.attributes]


@pytest.mark.parametrize("name, bfcp_index, content_index, proto, label, setup", [
    ("polycom_hdx", 2, 3, "TCP/BFCP", "3", "passive"),
    ("polycom_group_udp_bfcp", 3, 2, "UDP/BFCP", "3", None),
    ("cisco_telepresence", 2, 3, "TCP/BFCP", "12", "passive"),
    ("lifesize_bfcp", 2, 3, "TCP/BFCP", "12", "passive"),
])
def test_vendor_offers_get_floor_control_and_content(name, bfcp_index, content_index, proto, label, setup):
    r = answer(name)
    bfcp_m, content_m = r.local.media[bfcp_index], r.local.media[content_index]
    assert bfcp_m.proto == proto and bfcp_m.formats == ["*"]
    assert bfcp_m.port == (5070 if proto == "UDP/BFCP" else 5071)
    a = attrs(bfcp_m)
    assert "floorctrl:s-only" in a and "confid:4100" in a and "userid:7" in a
    assert f"floorid:1 mstrm:{label}" in a
    if setup is None:
        assert not any(x.startswith("setup") for x in a)
    else:
        assert f"setup:{setup}" in a and "connection:new" in a
    assert content_m.port == PORTS[content_index]
    assert "content:slides" in attrs(content_m) and f"label:{label}" in attrs(content_m)
    line = r.media[bfcp_index].bfcp
    assert line is not None and (line.conference_id, line.user_id, line.floor_id) == (4100, 7, 1)
    assert r.content_line() is r.media[content_index] and r.content_line().codec.name == "H264"
    assert r.first("video").index != content_index  # the main video stays the main video
    streams = Streams.of_sdp(r)
    assert streams.get("video", CONTENT) is r.media[content_index]
    # what we send parses back and keeps the m-line order of the offer
    back = parse(serialize(r.local))
    assert [m.media for m in back.media] == [m.media for m in r.remote.media]


def test_without_terms_content_and_bfcp_are_rejected_as_before():
    r = answer("polycom_hdx", terms=None)
    assert r.media[3].reject_reason == REJECT_CONTENT and r.local.media[2].port == 0


def test_transport_we_do_not_serve_is_rejected_not_the_call():
    r = answer("polycom_hdx", terms=BfcpTerms(4100, 7, udp_port=5070))
    assert r.media[2].reject_reason == REJECT_BFCP_TRANSPORT and r.local.media[2].port == 0
    assert r.first("audio") is not None and r.content_line() is not None


def test_offerer_that_wants_to_be_the_server_is_rejected():
    text = (OFFERS / "polycom_group_udp_bfcp.sdp").read_text().replace("floorctrl:c-only", "floorctrl:s-only")
    r = negotiate(text, CAPS, LOCAL, PORTS, bfcp=TERMS)
    assert r.media[3].reject_reason == REJECT_BFCP_ROLE


def test_tcp_setup_roles_rfc_4145():
    assert answer_setup("actpass", 5000) == "passive"
    assert answer_setup("active", 9) == "passive"
    assert answer_setup("passive", 5000) == "active"
    assert answer_setup(None, 5000) == "passive"
    text = (OFFERS / "polycom_hdx.sdp").read_text().replace("a=setup:actpass", "a=setup:passive")
    r = negotiate(text, CAPS, LOCAL, PORTS, bfcp=TERMS)
    assert r.local.media[2].port == 9 and "setup:active" in attrs(r.local.media[2])
    assert r.media[2].bfcp.we_connect and r.media[2].remote_port == 49156


def test_second_content_line_is_a_duplicate():
    text = (OFFERS / "lifesize_bfcp.sdp").read_text()
    extra = text[text.rindex("m=video"):]
    r = negotiate(text + extra, CAPS, LOCAL, PORTS, bfcp=TERMS)
    assert r.media[3].accepted and not r.media[4].accepted


def test_our_offer_of_bfcp():
    m = offer_bfcp(TERMS, "3")
    assert (m.media, m.port, m.proto) == ("application", 5070, "UDP/BFCP")
    assert "floorid:1 mstrm:3" in attrs(m) and "floorctrl:s-only" in attrs(m)
    tcp = offer_bfcp(TERMS, "3", "TCP/BFCP")
    assert tcp.port == 5071 and "setup:passive" in attrs(tcp)


def test_our_offer_with_content_and_bfcp_and_the_answer_to_it():
    from mcu.sdp.negotiate import create_offer, process_answer

    offer = create_offer(CAPS, LOCAL, [("audio", 40000), ("video", 40002), ("content", 40004), ("bfcp", 0)],
                         session_id=7, bfcp=TERMS)
    text = serialize(offer)
    assert "m=video 40004 RTP/AVP" in text and "a=content:slides" in text and "a=label:3" in text
    assert "m=application 5070 UDP/BFCP *" in text and "a=floorid:1 mstrm:3" in text
    assert "a=confid:4100" in text and "a=userid:7" in text and "a=floorctrl:s-only" in text
    answer = text.replace("a=floorctrl:s-only", "a=floorctrl:c-only").replace("o=", "o=x", 1)
    answer = answer.replace("m=audio 40000", "m=audio 6000").replace("m=application 5070", "m=application 6010")
    result = process_answer(offer, answer, CAPS)
    line = result.bfcp_line()
    assert line is not None and line.bfcp is not None and line.remote_port == 6010
    assert (line.bfcp.conference_id, line.bfcp.user_id, line.bfcp.floor_id) == (4100, 7, 1)
    content = result.content_line()
    assert content is not None and content.label == "3" and result.first("video").index == 1
    refused = answer.replace("m=application 6010", "m=application 0")
    assert process_answer(offer, refused, CAPS).bfcp_line() is None
    server_too = answer.replace("a=floorctrl:c-only", "a=floorctrl:s-only")
    assert process_answer(offer, server_too, CAPS).bfcp_line() is None


def test_offer_of_bfcp_needs_terms():
    from mcu.sdp.negotiate import create_offer

    with pytest.raises(ValueError):
        create_offer(CAPS, LOCAL, [("audio", 40000), ("bfcp", 0)], session_id=7)


def test_content_goes_up_to_1080p_where_people_video_stops_at_720p():
    from mcu.conference.video import CONTENT_TIERS, encoder_config_for

    r = answer("cisco_telepresence")
    content, main = r.content_line(), r.first("video")
    assert (content.video_limits.max_width, content.video_limits.max_height) == (1920, 1080)
    assert (main.video_limits.max_width, main.video_limits.max_height) == (1280, 720)
    config = encoder_config_for(content, 5, "ultrafast", 10, tiers=CONTENT_TIERS)
    assert (config.width, config.height, config.fps) == (1920, 1080, 5)
    hdx = encoder_config_for(answer("polycom_hdx").content_line(), 5, "ultrafast", 10, tiers=CONTENT_TIERS)
    assert (hdx.width, hdx.height) == (640, 360)  # its level (max-fs 1792) decides
