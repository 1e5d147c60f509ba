"""The UA behind a record-routing front door (Kamailio), sans-I/O: Record-Route copied into the
dialog-creating responses, in-dialog requests sent through the proxy, and the OPTIONS answer of a
full cluster node."""

from __future__ import annotations

from mcu.sip import events as ev
from mcu.sip.message import SipRequest, SipResponse, parse_message
from mcu.sip.transport import TransportInfo
from mcu.sip.ua import UserAgent

NODE = TransportInfo("udp", "127.0.0.1", 5071)
PROXY = ("127.0.0.1", 5060)
RR = ["<sip:127.0.0.1:5060;lr;ftag=abc>", "<sip:10.0.0.1;lr>"]
OFFER = b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\n"


def invite(call_id: str = "c1", record_route: list[str] = RR) -> bytes:
    lines = [
        "INVITE sip:4100@127.0.0.1:5071 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy1",
        "Via: SIP/2.0/UDP 192.0.2.7:5062;received=192.0.2.7;branch=z9hG4bKsite1",
        *(f"Record-Route: {r}" for r in record_route),
        "Max-Forwards: 69",
        "From: <sip:site@192.0.2.7>;tag=site1",
        "To: <sip:4100@mcu.example.gov>",
        f"Call-ID: {call_id}",
        "CSeq: 1 INVITE",
        "Contact: <sip:site@192.0.2.7:5062>",
        "Content-Type: application/sdp",
        f"Content-Length: {len(OFFER)}",
        "", "",
    ]
    return "\r\n".join(lines).encode() + OFFER


def sent(ua: UserAgent) -> list[tuple[SipRequest | SipResponse, tuple[str, int]]]:
    out = []
    for data, addr, _t in ua.datagrams_to_send(0.0):
        message = parse_message(data)
        out.append((message, addr))
    return out


def node() -> UserAgent:
    ua = UserAgent()
    ua.add_transport(NODE)
    return ua


def test_record_route_is_copied_into_180_and_200_in_order_and_the_contact_is_the_node() -> None:
    ua = node()
    ua.receive_datagram(invite(), PROXY, 0.0, NODE)
    (incoming,) = [e for e in iter(ua.next_event, None)]
    assert isinstance(incoming, ev.IncomingCall)
    ua.send_provisional("c1", 180)
    ua.answer("c1", 200, b"v=0\r\n")
    responses = [m for m, _ in sent(ua) if isinstance(m, SipResponse)]
    by_status = {r.status: r for r in responses}
    assert by_status[180].headers.get_all("record-route") == RR
    assert by_status[200].headers.get_all("record-route") == RR
    assert by_status[100].headers.get_all("record-route") == []  # 100 creates no dialog
    assert by_status[200].headers.get("contact") == "<sip:mcu@127.0.0.1:5071>"
    # responses follow the Via stack: to the proxy that sent the request
    assert all(addr == PROXY for m, addr in sent(ua))


def test_our_bye_goes_through_the_front_door_with_its_route_set() -> None:
    ua = node()
    ua.receive_datagram(invite(), PROXY, 0.0, NODE)
    list(iter(ua.next_event, None))
    ua.answer("c1", 200, b"v=0\r\n")
    ok = next(m for m, _ in sent(ua) if isinstance(m, SipResponse) and m.status == 200)
    ack = (b"ACK sip:mcu@127.0.0.1:5071 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKack\r\n"
           b"From: <sip:site@192.0.2.7>;tag=site1\r\nTo: <sip:4100@mcu.example.gov>;tag=" +
           (ok.to.tag or "").encode() +
           b"\r\nCall-ID: c1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
    ua.receive_datagram(ack, PROXY, 0.1, NODE)
    list(iter(ua.next_event, None))
    ua.hangup("c1", now=1.0)
    ((bye, addr),) = sent(ua)
    assert isinstance(bye, SipRequest) and bye.method == "BYE"
    assert addr == PROXY  # the first route, not the site's Contact
    assert bye.headers.get_all("route") == RR  # UAS route set: Record-Route in order (12.1.1)
    assert str(bye.uri) == "sip:site@192.0.2.7:5062"  # loose routing: the remote target stays


def test_a_full_node_answers_out_of_dialog_options_503_with_retry_after() -> None:
    ua = node()
    options = (b"OPTIONS sip:127.0.0.1:5071 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKopt1\r\n"
               b"From: <sip:dispatcher@localhost>;tag=ds1\r\nTo: <sip:127.0.0.1:5071>\r\nCall-ID: o1\r\n"
               b"CSeq: 10 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    ua.receive_datagram(options, PROXY, 0.0, NODE)
    ((ok, _),) = sent(ua)
    assert isinstance(ok, SipResponse) and ok.status == 200
    ua.unavailable = True
    ua.receive_datagram(options.replace(b"opt1", b"opt2").replace(b"o1", b"o2"), PROXY, 0.0, NODE)
    ((busy, _),) = sent(ua)
    assert isinstance(busy, SipResponse) and busy.status == 503
    assert busy.headers.get("retry-after") == "30"
    ua.unavailable = False  # room again: the probe succeeds and the dispatcher sends new rooms
    ua.receive_datagram(options.replace(b"opt1", b"opt3").replace(b"o1", b"o3"), PROXY, 0.0, NODE)
    ((again, _),) = sent(ua)
    assert isinstance(again, SipResponse) and again.status == 200
