"""RFC 4475 torture messages, bytes exact, through the parser and the UA."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mcu.sip.errors import SipParseError
from mcu.sip.message import SipRequest, SipResponse, StreamFramer, parse_message
from mcu.sip.transport import TransportInfo
from mcu.sip.ua import UserAgent

CORPUS = Path(__file__).parent / "rfc4475"  # copied from the shared test data: SOURCE.md
ROWS = list(csv.DictReader((CORPUS / "INDEX.tsv").open(), delimiter="\t"))
PEER = ("192.0.2.99", 5060)
UDP = TransportInfo("udp", "127.0.0.1", 5060)

# What our UA answers (None: dropped, no answer). Table from INDEX.tsv plus our role (a UAS
# endpoint, not a registrar: REGISTER gets 405; unknown methods 501).
EXPECTED_ANSWER = {
    "wsinv": 481, "intmeth": 501, "esc01": 100, "escnull": 405, "esc02": 501, "lwsdisp": 200,
    "longreq": 100, "dblreq": 405, "semiuri": 200, "transports": 200, "mpart01": 405,
    "unreason": None, "noreason": None, "inv2543": 100,
    "badinv01": 400, "clerr": 400, "ncl": 400, "scalar02": 400, "scalarlg": None,
    "quotbal": 400, "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "trws": 400,
    "escruri": 400, "baddate": 400, "regbadct": 400, "badaspec": 400, "baddn": 400,
    "badvers": 505, "mismatch01": 400, "mismatch02": 400, "bigcode": None,
    "badbranch": 200, "insuf": 400, "unkscm": 416, "novelsc": 416, "unksm2": 405,
    "bext01": 420, "invut": 415, "regaut01": 405, "multi01": 400, "mcl01": 400,
    "bcast": None, "zeromf": 200, "cparam01": 405, "cparam02": 405, "regescrt": 405,
    "sdp01": 406,
}


def _data(name: str) -> bytes:
    return (CORPUS / f"{name}.dat").read_bytes()


def test_table_covers_every_file() -> None:
    names = {row["name"] for row in ROWS}
    assert names == set(EXPECTED_ANSWER)
    assert len(names) == 49


def test_empty_and_truncated_messages_are_refused() -> None:
    with pytest.raises(SipParseError):
        parse_message(b"")
    with pytest.raises(SipParseError):
        parse_message(b"\r\n\r\n")
    with pytest.raises(SipParseError):
        parse_message(_data("wsinv")[:30])


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_parser_verdict(row: dict[str, str]) -> None:
    data = _data(row["name"])
    if row["expected"] == "valid":
        message = parse_message(data)
        again = parse_message(message.to_bytes())
        assert type(again) is type(message)
        assert again.body == message.body
        assert again.call_id == message.call_id
        return
    if row["expected"] == "invalid":
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert info.value.reason
        return
    try:
        parse_message(data)
    except SipParseError as exc:
        assert EXPECTED_ANSWER[row["name"]] == exc.status


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_ua_answer(row: dict[str, str]) -> None:
    ua = UserAgent()
    ua.add_transport(UDP)
    ua.receive_datagram(_data(row["name"]), PEER, 0.0, UDP)
    out = ua.datagrams_to_send(0.0)
    expected = EXPECTED_ANSWER[row["name"]]
    assert ua.counters.internal_errors == 0
    if expected is None:
        assert out == []
        return
    assert out, f"{row['name']}: no answer"
    raw = out[0][0]
    status_line = raw.split(b"\r\n", 1)[0].decode()
    assert status_line.startswith(f"SIP/2.0 {expected} "), status_line
    assert b"\r\nServer: open-mcu" in raw
    if expected == 400:
        assert status_line != "SIP/2.0 400 Bad Request"  # the reason names the fault
        assert ua.counters.parse_errors >= 1
        return
    first = parse_message(raw)
    assert isinstance(first, SipResponse)
    if expected == 420:
        assert "nothingSupportsThis" in (first.headers.get("unsupported") or "")
    if expected == 415:
        assert first.headers.get("accept") == "application/sdp"


def test_wsinv_fields() -> None:
    message = parse_message(_data("wsinv"))
    assert isinstance(message, SipRequest)
    assert message.cseq.seq == 9 and message.cseq.method == "INVITE"
    assert message.to.tag == "1918181833n"
    assert message.from_.display == 'J Rosenberg \\"'
    vias = message.vias
    assert [v.transport for v in vias] == ["UDP", "TCP", "UDP"]
    assert vias[2].branch == "z9hG4bK30239"
    assert message.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert message.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert len(message.body) == 150


def test_dblreq_ignores_trailing_octets() -> None:
    message = parse_message(_data("dblreq"))
    assert isinstance(message, SipRequest) and message.method == "REGISTER"
    assert message.body == b""


def test_stream_framer_splits_and_detects_conflicts() -> None:
    framer = StreamFramer()
    one = _data("lwsdisp")
    assert framer.feed(b"\r\n\r\n" + one[:50]) == []
    assert framer.feed(one[50:] + one) == [one, one]
    assert framer.buffered == 0
    with pytest.raises(SipParseError):
        StreamFramer().feed(_data("mcl01"))
    with pytest.raises(SipParseError):
        StreamFramer().feed(_data("ncl"))


def test_vectors_that_share_a_branch_are_separate_requests() -> None:
    """unkscm and novelsc (and escnull/regescrt, cparam01/cparam02) reuse one branch and sent-by
    with other Call-IDs: each is a request of its own, answered to its own sender, while a true
    retransmission is still absorbed by its transaction."""
    ua = UserAgent()
    ua.add_transport(UDP)
    first, second = ("192.0.2.36", 5070), ("192.0.2.37", 5070)
    for name, source in (("unkscm", first), ("novelsc", second), ("novelsc", second)):
        ua.receive_datagram(_data(name), source, 0.0, UDP)
    out = ua.datagrams_to_send(0.0)
    assert [(raw.split(b"\r\n", 1)[0], addr) for raw, addr, _ in out] == [
        (b"SIP/2.0 416 Unsupported URI Scheme", first),
        (b"SIP/2.0 416 Unsupported URI Scheme", second),
        (b"SIP/2.0 416 Unsupported URI Scheme", second),  # the retransmission: answered again
    ]
    assert ua.counters.responses_out[416] == 2  # ... by the transaction, not as a new request
    assert ua.stats()["transactions"] == 2
