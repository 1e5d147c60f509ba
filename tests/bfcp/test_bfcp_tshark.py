"""Wireshark's BFCP dissector (tshark, version 1 only) as the independent decoder of what our
floor control server sends over TCP: every server message, no malformed packet, no expert error."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mcu.bfcp.constants import AttributeType as A
from mcu.bfcp.constants import Primitive as P
from mcu.bfcp.message import Attribute, Message, encode
from mcu.bfcp.server import FloorPolicy, FloorServer
from tests.h323.pcaplib import PcapWriter
from tests.helpers import need_tshark

SERVER = ("127.0.0.1", 5071)
CLIENTS = {1: ("127.0.0.1", 40001), 2: ("127.0.0.1", 40002)}


def _tshark() -> str:
    return need_tshark("BFCP")


def _conversation(path: Path) -> None:
    s = FloorServer(4100, 1, FloorPolicy(takeover=True))
    for user in CLIENTS:
        s.add_user(user, f"site {user}")
    writer = PcapWriter()
    for addr in CLIENTS.values():
        writer.connect(addr, SERVER)
    tids = {1: 0, 2: 0}

    def send(user: int, primitive: int, attrs=()) -> None:
        tids[user] += 1
        data = encode(Message(primitive, 4100, tids[user], user, list(attrs), version=1))
        writer.send(CLIENTS[user], SERVER, data)
        s.receive(data, ("tcp", user), 0.0)
        for (_, peer_user), out in s.datagrams_to_send():
            writer.send(SERVER, CLIENTS[peer_user], out)

    send(1, P.HELLO)
    send(2, P.HELLO)
    send(1, P.FLOOR_REQUEST, [Attribute(A.FLOOR_ID, 1, True)])
    send(2, P.FLOOR_QUERY, [Attribute(A.FLOOR_ID, 1)])
    send(2, P.FLOOR_REQUEST, [Attribute(A.FLOOR_ID, 1, True)])  # takes over: user 1 Revoked
    send(2, P.USER_QUERY)
    send(1, P.FLOOR_RELEASE, [Attribute(A.FLOOR_REQUEST_ID, 99)])  # an Error
    send(2, P.FLOOR_REQUEST_QUERY, [Attribute(A.FLOOR_REQUEST_ID, 2)])
    send(2, P.FLOOR_RELEASE, [Attribute(A.FLOOR_REQUEST_ID, 2)])
    send(1, P.GOODBYE)
    writer.write(path)


def test_tshark_decodes_our_version_1_messages(tmp_path):
    tshark = _tshark()
    pcap = tmp_path / "bfcp.pcap"
    _conversation(pcap)
    decode = ["-d", f"tcp.port=={SERVER[1]},bfcp"]
    verbose = subprocess.run([tshark, "-n", "-r", str(pcap), "-V", *decode], capture_output=True, text=True,
                             timeout=120, check=True).stdout
    assert "Malformed" not in verbose, verbose
    assert "[Expert Info (Error" not in verbose and "[Expert Info (Warning" not in verbose, verbose
    summary = subprocess.run([tshark, "-n", "-r", str(pcap), *decode], capture_output=True, text=True,
                             timeout=120, check=True).stdout
    for name in ("HelloAck", "FloorRequestStatus", "FloorStatus", "UserStatus", "Error"):
        assert name in summary, f"tshark shows no {name}:\n{summary}"
    # this Wireshark names primitives 15-18 after the bfcpbis draft (ErrorAck was 15): our
    # GoodbyeAck (17) shows as "Goodbye"; it is the last frame, from the server
    assert summary.strip().splitlines()[-1].rstrip().endswith("Goodbye"), summary
    assert "Granted" in verbose and "Revoked" in verbose and "Released" in verbose, verbose
