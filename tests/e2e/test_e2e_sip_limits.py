"""The running `mcu serve` against the RFC 4475 torture messages and the SIP abuse limits.

Every vector goes out bytes exact over UDP, each from its own loopback address (127.a.b.N), so
an answer or a retransmission for one vector can never be taken for the answer to another.
Where the answer must go is RFC 3261 18.2.2: the `received` address (our source IP) at the port
of the Via sent-by (5060 when none) for a UDP Via; the source address and port for a Via with
`rport`, a Via of another transport (TCP/TLS sent over UDP) or a Via that cannot be parsed.
"""

from __future__ import annotations

import random
import re
import select
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from mcu.sip.errors import SipParseError
from mcu.sip.message import SipRequest, SipResponse, parse_message
from mcu.sip.transaction import build_non2xx_ack
from tests.e2e.test_e2e_sipp import SCENARIOS
from tests.helpers import McuProcess, free_port, wait_for
from tests.sip.test_sip_rfc4475 import CORPUS, EXPECTED_ANSWER, ROWS

pytestmark = pytest.mark.peer

ANSWER_WAIT = 5.0  # s: the longest an expected answer may take
# 18.2.2 exceptions to "received IP, Via port or 5060": read off each vector's top Via
TO_SOURCE = {
    "intmeth": "TCP Via", "esc02": "TCP Via", "longreq": "TCP Via", "novelsc": "TCP Via",
    "unkscm": "TCP Via", "regaut01": "TCP Via", "scalar02": "TCP Via", "trws": "TCP Via",
    "bext01": "TLS Via", "mpart01": "rport", "badinv01": "Via unparseable (;;,;,,)",
}
VIA_PORT = {"quotbal": 5050}


def _loopback_net() -> str:
    """A private 127.a.b.0/24 for this run: parallel runs do not share the :5060 receivers."""
    return f"127.{random.randint(2, 250)}.{random.randint(1, 250)}."


class Peer:
    """One vector's sender and the sockets its answers may come to."""

    def __init__(self, host: str) -> None:
        self.source = self._bind(host, 0)
        self.via_ports = {port: self._bind(host, port) for port in (5060, 5050)}
        self.received: list[tuple[str, bytes]] = []  # (where, datagram)

    @staticmethod
    def _bind(host: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, port))
        return sock

    def sockets(self) -> dict[str, socket.socket]:
        return {"source": self.source, **{str(p): s for p, s in self.via_ports.items()}}

    def drain(self, timeout: float) -> None:
        by_fd = {s.fileno(): (name, s) for name, s in self.sockets().items()}
        ready, _, _ = select.select(list(by_fd), [], [], timeout)
        for fd in ready:
            name, sock = by_fd[fd]
            self.received.append((name, sock.recv(65535)))

    def wait(self, condition, timeout: float = ANSWER_WAIT):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while (found := condition()) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.drain(left)
        return found

    def close(self) -> None:
        for sock in self.sockets().values():
            sock.close()


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def _options(host: str, port: int, call_id: str) -> bytes:
    return (f"OPTIONS sip:4100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bK"
            f"{call_id};rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{host}>;tag=p\r\n"
            f"To: <sip:4100@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def _stateful_invite(data: bytes) -> SipRequest | None:
    """The vector as an INVITE the MCU keeps a transaction for (its final answer wants an ACK);
    None for anything else, such as a request refused statelessly because it does not parse."""
    try:
        request = parse_message(data)
    except SipParseError:
        return None
    return request if isinstance(request, SipRequest) and request.method == "INVITE" else None


def _metric(port: int, name: str) -> float:
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    match = re.search(rf"^{name} (\S+)$", page, re.MULTILINE)
    assert match is not None, f"{name} not exported"
    return float(match.group(1))


def test_rfc4475_vectors_are_answered_by_the_running_mcu_as_the_rfc_expects(tmp_path: Path) -> None:
    net = _loopback_net()
    metrics_port = free_port(socket.SOCK_STREAM)
    peers: dict[str, Peer] = {}
    invites_refused: dict[str, bytes] = {}  # vector -> its stateful final answer (ACKed)
    with McuProcess(tmp_path / "mcu", metrics_port=metrics_port) as mcu:
        mcu_addr = ("127.0.0.1", mcu.sip_port)
        try:
            for n, row in enumerate(ROWS, start=1):
                name = row["name"]
                data = (CORPUS / f"{name}.dat").read_bytes()
                peer = peers[name] = Peer(net + str(n))
                peer.source.sendto(data, mcu_addr)
                expected = EXPECTED_ANSWER[name]
                if expected is None:
                    # The MCU handles datagrams in order: once the answer to a probe sent after
                    # the vector is here, an answer to the vector would be here too.
                    host, port = peer.source.getsockname()
                    peer.source.sendto(_options(host, port, f"probe-{name}"), mcu_addr)
                    probe = peer.wait(lambda p=peer, name=name: next(
                        (d for _, d in p.received if f"probe-{name}".encode() in d), None))
                    assert probe is not None and _status(probe) == 200, f"{name}: no probe answer"
                    others = [d[:40] for _, d in peer.received if d is not probe]
                    assert others == [], f"{name}: answered {others}, the RFC expects silence"
                    continue
                first = peer.wait(lambda p=peer: p.received[0] if p.received else None)
                assert first is not None, f"{name}: no answer within {ANSWER_WAIT} s"
                where, answer = first
                assert _status(answer) == expected, f"{name}: {answer.splitlines()[0]!r}"
                assert answer.startswith(f"SIP/2.0 {expected} ".encode())
                if name in TO_SOURCE:
                    assert where == "source", f"{name} ({TO_SOURCE[name]}): answered on {where}"
                else:
                    assert where == str(VIA_PORT.get(name, 5060)), f"{name}: answered on {where}"
                request = _stateful_invite(data)
                if request is not None:
                    final = peer.wait(lambda p=peer: next(
                        (d for _, d in p.received if _status(d) >= 200), None))
                    assert final is not None, f"{name}: INVITE never got a final answer"
                    response = parse_message(final)
                    assert isinstance(response, SipResponse) and response.status >= 300
                    ack = build_non2xx_ack(request, response)
                    peer.source.sendto(ack.to_bytes(), mcu_addr)
                    invites_refused[name] = final
            assert set(invites_refused) >= {"esc01", "longreq", "inv2543", "wsinv", "sdp01"}
            # No call or seat is left: the refused INVITEs were ACKed (their final answers are not
            # sent again once Timer G, 0.5 s, has had its chance) and nothing is up.
            end = time.monotonic() + 1.2
            while (left := end - time.monotonic()) > 0:
                for name in invites_refused:
                    peers[name].drain(min(left, 0.05) / len(invites_refused))
            for name, final in invites_refused.items():
                copies = [d for _, d in peers[name].received if d == final]
                assert len(copies) == 1, f"{name}: final answer sent {len(copies)} times, ACK lost"
            assert _metric(metrics_port, "mcu_sip_dialogs_active") == 0
            assert _metric(metrics_port, "mcu_members") == 0
        finally:
            for peer in peers.values():
                peer.close()
        assert "Traceback" not in mcu.log()


def _invite(host: str, port: int, call_id: str, transport: str = "UDP", sdp_lines: int = 0,
            content_length: int | None = None) -> bytes:
    body = (f"v=0\r\no=probe 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio 40000 RTP/AVP 0\r\n" + "a=x-padding:0123456789abcdef\r\n" * sdp_lines).encode()
    length = len(body) if content_length is None else content_length
    head = (f"INVITE sip:4100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {host}:{port};branch=z9hG4bK"
            f"{call_id};rport\r\nMax-Forwards: 70\r\nFrom: <sip:big@{host}>;tag=b\r\n"
            f"To: <sip:4100@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:big@{host}:{port}>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    return head + (body if content_length is None else b"")


def test_oversized_invite_gets_413_and_a_call_afterwards_still_works(tmp_path: Path) -> None:
    with McuProcess(tmp_path / "mcu", extra="[limits]\nsip_message_bytes = 4096\n") as mcu:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            udp.settimeout(ANSWER_WAIT)
            host, port = udp.getsockname()
            big = _invite(host, port, "big-udp", sdp_lines=200)
            assert 4096 < len(big) < 65000
            udp.sendto(big, ("127.0.0.1", mcu.sip_port))
            answer = udp.recv(65535)
            assert answer.startswith(b"SIP/2.0 413 Request Entity Too Large\r\n"), answer[:80]
            assert b"Call-ID: big-udp\r\n" in answer
        # over TCP: a Content-Length over the limit is refused at once, the connection closed
        with socket.create_connection(("127.0.0.1", mcu.sip_port), timeout=ANSWER_WAIT) as tcp:
            host, port = tcp.getsockname()
            tcp.sendall(_invite(host, port, "big-tcp", "TCP", content_length=100_000))
            received = b""
            while chunk := tcp.recv(65535):
                received += chunk  # until the MCU closes the connection
            assert received.startswith(b"SIP/2.0 413 Request Entity Too Large\r\n"), received[:80]
        assert not mcu.events("member.joined")
        sipp = subprocess.run(
            ["sipp", f"127.0.0.1:{mcu.sip_port}", "-sf", str(SCENARIOS / "uac_bye.xml"), "-s", "4100",
             "-i", "127.0.0.1", "-p", "0", "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error",
             "-trace_err", "-error_file", "/dev/stderr"],
            check=False, capture_output=True, text=True, timeout=60)
        assert sipp.returncode == 0, sipp.stderr[-2000:]
        assert mcu.events("member.joined"), mcu.log()[-2000:]


def _tcp_options(sock: socket.socket, call_id: str) -> bytes:
    host, port = sock.getsockname()
    sock.sendall((f"OPTIONS sip:4100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {host}:{port};branch=z9hG4bK"
                  f"{call_id}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{host}>;tag=t\r\n"
                  f"To: <sip:4100@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n"
                  "Content-Length: 0\r\n\r\n").encode())
    return sock.recv(65535)


def _connect(source: str, port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WAIT, source_address=(source, 0))


def test_seventeenth_tcp_connection_from_one_address_is_closed_and_others_still_connect(
        tmp_path: Path) -> None:
    net = _loopback_net()
    with McuProcess(tmp_path / "mcu") as mcu:
        port = mcu.sip_port
        held = [_connect(net + "1", port) for _ in range(16)]
        try:
            for i, sock in enumerate(held):
                assert _tcp_options(sock, f"held-{i}").startswith(b"SIP/2.0 200 "), i
            with _connect(net + "1", port) as extra:
                try:
                    closed = extra.recv(65535)
                except ConnectionResetError:
                    closed = b""
                assert closed == b"", closed[:60]
            with _connect(net + "2", port) as other:
                assert _tcp_options(other, "other-address").startswith(b"SIP/2.0 200 ")
            held.pop().close()  # one leaves: the address may connect again

            def admitted_again() -> bool:
                with _connect(net + "1", port) as again:
                    try:
                        return _tcp_options(again, "again").startswith(b"SIP/2.0 200 ")
                    except ConnectionResetError:
                        return False
            wait_for(admitted_again, 5, "a new connection once one of the 16 closed")
        finally:
            for sock in held:
                sock.close()
