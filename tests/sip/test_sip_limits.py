"""Abuse limits of the SIP layer, sans-I/O: message size, header count, connections per address,
and where the answers go (RFC 3261 18.2.2)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from mcu.io.sip_transport import start_sip
from mcu.sip import events as ev
from mcu.sip.errors import SipStreamLimitError
from mcu.sip.headers import Via
from mcu.sip.message import SipResponse, StreamFramer, parse_message
from mcu.sip.transport import ConnectionLimit, TransportInfo
from mcu.sip.ua import UaConfig, UserAgent, response_address

UDP = TransportInfo("udp", "127.0.0.1", 5060)
TCP = TransportInfo("tcp", "127.0.0.1", 5060)
PEER = ("192.0.2.7", 40123)
LIMIT = 2000


def request(method: str = "OPTIONS", via: str = "SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bKlim1",
            extra: list[str] | None = None, body: bytes = b"", length: int | None = None) -> bytes:
    lines = [
        f"{method} sip:4100@127.0.0.1 SIP/2.0", f"Via: {via}", "Max-Forwards: 70",
        "From: <sip:probe@192.0.2.7>;tag=f1", "To: <sip:4100@127.0.0.1>", "Call-ID: limits-1",
        f"CSeq: 1 {method}", *(extra or []),
        f"Content-Length: {len(body) if length is None else length}",
    ]
    if body:
        lines.insert(-1, "Content-Type: application/sdp")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def ua(**config: object) -> UserAgent:
    agent = UserAgent(UaConfig(**config))  # type: ignore[arg-type]
    agent.add_transport(UDP)
    agent.add_transport(TCP)
    return agent


def answers(agent: UserAgent) -> list[tuple[SipResponse, tuple[str, int], TransportInfo]]:
    out = []
    for data, addr, transport in agent.datagrams_to_send(0.0):
        message = parse_message(data)
        assert isinstance(message, SipResponse)
        out.append((message, addr, transport))
    return out


def events(agent: UserAgent) -> list[ev.Event]:
    out = []
    while (e := agent.next_event()) is not None:
        out.append(e)
    return out


# ---------------------------------------------------------------- stream framing

def test_framer_refuses_a_header_section_that_never_ends_and_holds_no_more_than_the_limit() -> None:
    framer = StreamFramer(LIMIT)
    chunk = b"X-Filler: " + b"a" * 988 + b"\r\n"  # 1000 bytes, never an empty line
    with pytest.raises(SipStreamLimitError) as info:
        for _ in range(10):
            framer.feed(chunk)
    assert info.value.status == 413 and info.value.refusal == "sip_too_large"
    assert framer.buffered <= LIMIT + len(chunk)
    assert len(info.value.message) == LIMIT  # what the UA reads to answer: the limit, no more


def test_framer_refuses_a_content_length_over_the_limit_before_the_body_comes() -> None:
    head = request("INVITE", length=LIMIT)  # head + declared body > LIMIT
    with pytest.raises(SipStreamLimitError) as info:
        StreamFramer(LIMIT).feed(head)
    assert info.value.status == 413
    assert info.value.message.startswith(b"INVITE sip:4100")


def test_framer_takes_a_message_of_exactly_the_limit() -> None:
    base = request("INVITE", body=b"v" * 1000)  # the same digits in Content-Length
    body = b"v" * (LIMIT - len(base) + 1000)
    data = request("INVITE", body=body)
    assert len(data) == LIMIT
    assert StreamFramer(LIMIT).feed(data) == [data]
    with pytest.raises(SipStreamLimitError):
        StreamFramer(LIMIT - 1).feed(data)


# ---------------------------------------------------------------- size over UDP and TCP

def test_oversized_udp_invite_gets_413_and_no_call() -> None:
    agent = ua(max_message_bytes=LIMIT)
    data = request("INVITE", body=b"v=0\r\n" + b"a=x\r\n" * 600)
    assert len(data) > LIMIT
    agent.receive_datagram(data, PEER, 0.0, UDP)
    [(response, addr, transport)] = answers(agent)
    assert (response.status, response.reason) == (413, "Request Entity Too Large")
    assert response.call_id == "limits-1" and response.cseq.method == "INVITE"
    assert addr == ("192.0.2.7", 5062) and transport == UDP  # received IP, Via port
    assert agent.counters.refusals["sip_too_large"] == 1
    assert agent.counters.parse_errors == 0 and agent.counters.internal_errors == 0
    assert events(agent) == [] and agent.call_ids() == []
    # the same INVITE within the limit is a call
    agent.config.max_message_bytes = 65535
    agent.receive_datagram(data, PEER, 0.0, UDP)
    assert [type(e) for e in events(agent)] == [ev.IncomingCall]


def test_oversized_message_whose_head_is_over_the_limit_still_gets_413_from_its_top_lines() -> None:
    agent = ua(max_message_bytes=LIMIT)
    data = request(extra=[f"X-Huge: {'h' * 3000}"])  # the cut falls inside X-Huge
    agent.receive_datagram(data, PEER, 0.0, UDP)
    [(response, _, _)] = answers(agent)
    assert response.status == 413


@pytest.mark.parametrize("data", [
    b"\x00\x01garbage" * 400,  # no request line
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\n" + b"X-A: b\r\n" * 400,
    b"OPTIONS sip:a@b SIP/2.0\r\nX-Huge: " + b"h" * 3000,  # no Via within the limit
])
def test_oversized_message_without_a_readable_request_and_via_is_dropped_and_counted(
        data: bytes) -> None:
    agent = ua(max_message_bytes=LIMIT)
    agent.receive_datagram(data, PEER, 0.0, UDP)
    assert agent.datagrams_to_send(0.0) == []
    assert agent.counters.refusals["sip_too_large"] == 1
    assert agent.counters.dropped == 1


def test_tcp_content_length_over_the_limit_gets_413_and_the_connection_is_closed() -> None:
    agent = ua(max_message_bytes=LIMIT)
    head = request("INVITE", via="SIP/2.0/TCP 192.0.2.7:5062;branch=z9hG4bKt1", length=10**9)
    agent.receive_stream_data(head, PEER, 0.0, TCP)
    [(response, addr, transport)] = answers(agent)
    assert response.status == 413 and addr == PEER and transport == TCP
    assert agent.connections_to_close() == [(PEER, TCP)]
    assert agent.counters.refusals["sip_too_large"] == 1
    # what follows on that stream is not buffered for the old message
    agent.receive_stream_data(b"v" * 1000, PEER, 0.0, TCP)
    assert agent.datagrams_to_send(0.0) == [] and agent.connections_to_close() == []


def test_tcp_stream_that_never_ends_its_headers_is_refused_at_the_limit() -> None:
    agent = ua(max_message_bytes=LIMIT)
    agent.receive_stream_data(request().split(b"Content-Length")[0], PEER, 0.0, TCP)
    for _ in range(3):
        agent.receive_stream_data(b"X-Filler: " + b"f" * 500 + b"\r\n", PEER, 0.0, TCP)
    assert agent.datagrams_to_send(0.0) == []  # under the limit: still waiting for the end
    agent.receive_stream_data(b"X-Filler: " + b"f" * 500 + b"\r\n", PEER, 0.0, TCP)
    [(response, _, _)] = answers(agent)
    assert response.status == 413
    assert agent.connections_to_close() == [(PEER, TCP)]


# ---------------------------------------------------------------- header count

def test_more_header_fields_than_the_limit_get_400_too_many_headers() -> None:
    agent = ua(max_headers=20)
    base = len(parse_message(request()).headers)
    agent.receive_datagram(request(extra=["X-N: 1"] * (20 - base)), PEER, 0.0, UDP)
    [(ok, _, _)] = answers(agent)
    assert ok.status == 200
    agent.receive_datagram(request(via="SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bKlim2",
                                   extra=["X-N: 1"] * (21 - base)), PEER, 0.0, UDP)
    [(refused, addr, _)] = answers(agent)
    assert (refused.status, refused.reason) == (400, "Too Many Headers")
    assert addr == ("192.0.2.7", 5062)
    assert agent.counters.refusals["sip_too_many_headers"] == 1
    assert agent.counters.parse_errors == 0


def test_folded_lines_count_once_and_the_default_limit_is_100() -> None:
    agent = ua()
    assert agent.config.max_headers == 100
    base = len(parse_message(request()).headers)
    folded = ["X-F: a\r\n b\r\n c"] * (100 - base)
    agent.receive_datagram(request(extra=folded), PEER, 0.0, UDP)
    assert [r.status for r, _, _ in answers(agent)] == [200]


def test_too_many_headers_over_tcp_keeps_the_connection() -> None:
    agent = ua(max_headers=10)
    data = request(via="SIP/2.0/TCP 192.0.2.7;branch=z9hG4bKt2", extra=["X-N: 1"] * 10)
    agent.receive_stream_data(data, PEER, 0.0, TCP)
    [(refused, addr, _)] = answers(agent)
    assert refused.status == 400 and refused.reason == "Too Many Headers" and addr == PEER
    assert agent.connections_to_close() == []


def test_a_response_with_too_many_headers_is_dropped() -> None:
    agent = ua(max_headers=10)
    data = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKr\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: r\r\nCSeq: 1 OPTIONS\r\n"
            + b"X-N: 1\r\n" * 10 + b"\r\n")
    agent.receive_datagram(data, PEER, 0.0, UDP)
    assert agent.datagrams_to_send(0.0) == []
    assert agent.counters.refusals["sip_too_many_headers"] == 1
    assert agent.counters.stray_responses == 0  # never reached the transaction layer


# ---------------------------------------------------------------- where answers go

@pytest.mark.parametrize("via,transport,expected", [
    ("SIP/2.0/UDP host.example.com", UDP, ("192.0.2.7", 5060)),  # received, default port
    ("SIP/2.0/UDP 192.0.2.7:5070", UDP, ("192.0.2.7", 5070)),
    ("SIP/2.0/UDP 192.0.2.7:5070;rport", UDP, PEER),  # RFC 3581
    ("SIP/2.0/TCP host.example.com:5070", UDP, PEER),  # sent-by is not a UDP address
    ("SIP/2.0/TLS host.example.com", UDP, PEER),
    ("SIP/2.0/UDP host.example.com:5070", TCP, PEER),  # a connection: back on it
])
def test_response_address(via: str, transport: TransportInfo, expected: tuple[str, int]) -> None:
    assert response_address(Via.parse(via), PEER, transport) == expected


def test_request_with_a_tcp_via_over_udp_is_answered_to_its_source() -> None:
    agent = ua()
    agent.receive_datagram(request("OPTIONS", via="SIP/2.0/TCP host9.example.com;branch=z9hG4bKn"),
                           PEER, 0.0, UDP)
    [(response, addr, transport)] = answers(agent)
    assert response.status == 200 and addr == PEER and transport == UDP


def test_stateless_error_answers_follow_the_via_and_fall_back_to_the_source() -> None:
    agent = ua()
    bad_to = request(via="SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKq").replace(
        b"To: <sip:4100@127.0.0.1>", b'To: "unterminated <sip:4100@127.0.0.1>')
    agent.receive_datagram(bad_to, PEER, 0.0, UDP)
    [(data, addr, _)] = agent.datagrams_to_send(0.0)  # its To is copied: unparseable
    assert data.startswith(b"SIP/2.0 400 ") and addr == ("192.0.2.7", 5050)
    agent.receive_datagram(request(via="SIP/2.0/UDP 192.0.2.15;;,;,,"), PEER, 0.0, UDP)
    [(data, addr, _)] = agent.datagrams_to_send(0.0)
    assert data.startswith(b"SIP/2.0 400 ") and addr == PEER  # no usable Via


# ---------------------------------------------------------------- connections per address

def test_connection_limit_per_address() -> None:
    limit = ConnectionLimit(2)
    assert limit.admit("192.0.2.1") and limit.admit("192.0.2.1")
    assert not limit.admit("192.0.2.1")
    assert limit.open_from("192.0.2.1") == 2
    assert limit.admit("192.0.2.2")
    limit.release("192.0.2.1")
    assert limit.admit("192.0.2.1")
    for _ in range(2):
        limit.release("192.0.2.1")
    limit.release("192.0.2.2")
    assert limit.addresses == 0  # nothing kept for addresses that left
    with pytest.raises(ValueError):
        ConnectionLimit(0)


def test_shell_closes_the_connection_over_the_limit_and_admits_other_addresses() -> None:
    async def main() -> None:
        agent = UserAgent()
        shell = await start_sip(agent, [("tcp", "127.0.0.1", 0)], tcp_connections_per_address=2)
        port = shell.transport_info("tcp").port
        loop = asyncio.get_running_loop()

        async def connect(source: str) -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((source, 0))
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", port))
            return sock

        async def options(sock: socket.socket) -> bytes:
            host, sport = sock.getsockname()
            await loop.sock_sendall(sock, request(via=f"SIP/2.0/TCP {host}:{sport};branch=z9hG4bK{sport}"))
            return await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)

        try:
            first = [await connect("127.0.0.1") for _ in range(2)]
            for sock in first:
                assert (await options(sock)).startswith(b"SIP/2.0 200 ")
            extra = await connect("127.0.0.1")
            try:
                closed = await asyncio.wait_for(loop.sock_recv(extra, 65536), 5)
            except ConnectionResetError:
                closed = b""
            assert closed == b""
            assert shell.refusals["tcp_connections"] == 1
            other = await connect("127.0.0.2")
            assert (await options(other)).startswith(b"SIP/2.0 200 ")
            first[0].close()
            while shell.connection_limit.open_from("127.0.0.1") == 2:
                await asyncio.sleep(0.01)
            again = await connect("127.0.0.1")
            assert (await options(again)).startswith(b"SIP/2.0 200 ")
            for sock in (*first[1:], extra, other, again):
                sock.close()
        finally:
            await shell.close()

    asyncio.run(main())
