"""The fuzzer's mutators against our own parsers, in process: SDP, RTP and RTCP parsing raise only
their module's named parse errors (the callers count and drop those), whatever the input."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from mcu.rtp.errors import MediaParseError
from mcu.rtp.packet import RtpPacket
from mcu.rtp.rtcp import parse_compound
from mcu.sdp.session import RtpMap, SdpParseError, parse
from tests.fuzz import mutators as mut
from tests.fuzz.fuzzer import corpus_offers, offer_sdp

INPUTS = 1500


def _sdp_use(data: bytes) -> None:
    session = parse(data)
    for m in session.media:
        _ = m.payload_types, m.rtpmaps(), m.fmtp(97), m.bandwidth("AS")


@pytest.mark.parametrize("body", [
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio \xc2\xb2 RTP/AVP 0\r\n",  # '2' superscript
    b"v=0\r\no=- " + b"9" * 5000 + b" 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",  # past int()'s 4300 digits
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nb=AS:" + b"9" * 5000 + b"\r\n",
])
def test_sdp_numbers_that_int_refuses_are_parse_errors(body: bytes) -> None:
    with pytest.raises(SdpParseError):
        parse(body)


def test_sdp_formats_and_rtpmaps_with_odd_digits_are_skipped() -> None:
    session = parse(b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 \xc2\xb2 " + b"9" * 5000
                    + b"\r\na=rtpmap:\xc2\xb2 PCMU/8000\r\na=rtpmap:0 PCMU/\xd9\xa1\r\na=rtpmap:8 PCMA/8000/\xc2\xb2\r\n")
    media = session.media[0]
    assert media.payload_types == [0]
    assert media.rtpmaps() == {8: RtpMap(8, "PCMA", 8000, 1)}


def test_mutated_sdp_raises_only_sdp_parse_error() -> None:
    bases = [offer_sdp(5004, 5006), offer_sdp(5004, rtcp=(5005, 5007), mux=True)] + corpus_offers(5004, 5006)
    for i in range(INPUTS):
        rng = random.Random(f"sdp/{i}")
        name, data = mut.mutate(rng, mut.SDP_STRATEGIES, rng.choice(bases), 3)
        try:
            _sdp_use(data)
        except SdpParseError:
            pass
        except Exception as exc:
            raise AssertionError(f"input {i} [{name}] raised {exc!r}:\n{data[:2000]!r}") from exc


def test_mutated_rtp_and_rtcp_raise_only_media_parse_errors() -> None:
    rtp = [mut.RTP_HEADER.pack(0x80, 0, 1, 160, 0x1234) + b"\xff" * 160,
           mut.RTP_HEADER.pack(0x90, 97, 1, 160, 0x1234) + b"\xbe\xde\x00\x01\x10\x80\x00\x00" + b"\x65" * 100]
    rtcp = [bytes.fromhex("81c90007") + bytes(28), bytes.fromhex("81cd0003") + bytes(12),
            bytes.fromhex("8fce0005") + bytes(8) + b"REMB" + bytes(8)]
    use: Callable[[bytes], object]
    for i in range(INPUTS):
        rng = random.Random(f"media/{i}")
        if i % 2:
            name, data = mut.mutate(rng, mut.RTP_STRATEGIES, rng.choice(rtp), 3)
            use = lambda d: RtpPacket.parse(d).header_extensions()
        else:
            name, data = mut.mutate(rng, mut.RTCP_STRATEGIES, rng.choice(rtcp), 3)
            use = parse_compound
        try:
            use(data)
        except MediaParseError:
            pass
        except Exception as exc:
            raise AssertionError(f"input {i} [{name}] raised {exc!r}:\n{data[:2000]!r}") from exc
