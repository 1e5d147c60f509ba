"""What the black-box fuzzer found, pinned down at the unit that failed (each raised past its
module's own errors and made the running MCU answer 500 or drop an admin connection)."""

from __future__ import annotations

import json

from mcu.admin.http import json_response
from mcu.conference.engine import as_text
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import negotiate

HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


def test_a_static_payload_type_at_another_clock_rate_is_not_that_codec() -> None:
    """a=rtpmap:0 PCMU/8010 (one bit flipped): the codec registry refused it at join (500)."""
    result = negotiate(HEAD + "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8010\r\n", Capabilities(),
                       "127.0.0.1", [30000])
    assert result.all_rejected
    ok = negotiate(HEAD + "m=audio 4000 RTP/AVP 8 0\r\na=rtpmap:0 PCMU/8010\r\n", Capabilities(),
                   "127.0.0.1", [30000])
    assert ok.first("audio") is not None and ok.first("audio").codec.name == "PCMA"  # type: ignore[union-attr]


def test_odd_digits_in_rtcp_and_ssrc_attributes_are_ignored() -> None:
    """a=rtcp:² (str.isdigit accepts it, int() refuses it)."""
    result = negotiate(HEAD + "m=audio 4000 RTP/AVP 0\r\na=rtcp:\u00b2\r\na=ssrc:\u00b9 cname:x\r\n"
                       "a=rtcp:99999999999999999999\r\n", Capabilities(), "127.0.0.1", [30000])
    audio = result.first("audio")
    assert audio is not None and audio.remote_rtcp_port == 4001 and audio.ssrcs == ()


def test_a_display_name_that_was_not_utf8_is_text_for_logs_and_json() -> None:
    """From: "\\xff\\xfe" <sip:...>: the parser keeps such bytes as lone surrogates; the member list
    then failed to encode and the admin connection closed without an answer."""
    name = b"\xff\xfe Site".decode("utf-8", "surrogateescape")
    assert as_text(name) == "\ufffd\ufffd Site"
    assert json.loads(json_response(200, {"name": name}).body)["name"] == "?? Site"
