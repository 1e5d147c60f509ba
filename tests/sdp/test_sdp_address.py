"""SDP connection addresses sorted before any socket sees them: literals, host names, faults."""

from __future__ import annotations

import pytest

from mcu.io.rtp_transport import usable_address
from mcu.sdp.address import AddressFault, check_addresses, check_connection, with_addresses
from mcu.sdp.session import Connection, parse

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 {c}\r\ns=-\r\nc=IN {t} {c}\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    "m=video 4002 RTP/AVP 96\r\nc=IN IP4 {v}\r\na=rtpmap:96 H264/90000\r\n"
)


def offer(c: str = "192.0.2.7", addrtype: str = "IP4", video: str = "192.0.2.8"):  # type: ignore[no-untyped-def]
    return parse(OFFER.format(c=c, t=addrtype, v=video))


@pytest.mark.parametrize(("addrtype", "address", "verdict"), [
    ("IP4", "192.0.2.1", None),
    ("IP6", "2001:db8::1", None),
    ("IP4", "0.0.0.0", None),  # RFC 2543 hold
    ("IP4", "vc-room.tinh.gov.vn", ("vc-room.tinh.gov.vn", 4)),
    ("IP4", "VC-Room.Example.", ("vc-room.example", 4)),
    ("IP6", "room6.example", ("room6.example", 6)),
    ("IP4", "::1", AddressFault("IPv6 Address In IN IP4")),
    ("IP6", "192.0.2.1", AddressFault("IPv4 Address In IN IP6")),
    ("IP4", "999.1.1.1", AddressFault("Invalid IPv4 Address")),
    ("IP4", "224.2.1.1/127", AddressFault("Multicast Media Not Supported")),
    ("IP4", "255.255.255.255", AddressFault("Broadcast Media Address")),
    ("IP4", "bad_host!", AddressFault("Invalid Connection Address")),
    ("IPX", "192.0.2.1", AddressFault("Unsupported Address Type IPX")),
])
def test_each_connection_is_a_literal_a_name_or_a_fault(addrtype: str, address: str, verdict: object) -> None:
    assert check_connection(Connection("IN", addrtype, address)) == verdict


def test_the_first_fault_of_any_active_stream_refuses_the_offer() -> None:
    assert check_addresses(offer()).fault is None
    assert check_addresses(offer(video="::1")).fault == AddressFault("IPv6 Address In IN IP4")
    assert check_addresses(offer(), served_version=6).fault is not None, "IPv4 media to an IPv6 MCU"


def test_host_names_are_listed_and_replaced_by_what_they_resolved_to() -> None:
    sdp = offer(c="vc-room.tinh.gov.vn", video="cam.example")
    assert check_addresses(sdp).names == {"vc-room.tinh.gov.vn": 4, "cam.example": 4}
    resolved = with_addresses(sdp, {"vc-room.tinh.gov.vn": "192.0.2.50"})
    assert resolved.connection is not None and resolved.connection.address == "192.0.2.50"
    assert resolved.media[1].connections[0].address == "cam.example", "unresolved names stay"
    assert sdp.connection is not None and sdp.connection.address == "vc-room.tinh.gov.vn", "a copy"


@pytest.mark.parametrize(("addr", "family", "usable"), [
    (("192.0.2.1", 4000), 2, True),
    (("vc-room.tinh.gov.vn", 4000), 2, False),
    (("::1", 4000), 2, False),
    (("192.0.2.1", 0), 2, False),
    (("192.0.2.1", 70000), 2, False),
    (("0.0.0.0", 4000), 2, False),
    (("::1", 4000), 10, True),
])
def test_the_rtp_transport_only_sends_to_literals_of_its_family(addr: tuple[str, int], family: int,
                                                                 usable: bool) -> None:
    assert (usable_address(addr, family) is not None) is usable
