"""TPKT framing (RFC 1006) and Q.931 messages (H.225.0 clause 7): vectors, negative cases
first, then round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcu.h323 import q931
from mcu.h323.errors import (
    Q931BadCallReferenceError,
    Q931BadDiscriminatorError,
    Q931BadInformationElementError,
    Q931BadMessageTypeError,
    Q931Error,
    Q931MissingUserUserError,
    Q931TruncatedError,
    TpktBadLengthError,
    TpktBadVersionError,
    TpktTooLongError,
)
from mcu.h323.tpkt import TPKT_HEADER_LENGTH, TpktFramer, encode_tpkt

VECTORS = Path(__file__).parent / "vectors"


# TPKT


def test_tpkt_empty_feed_gives_nothing():
    assert TpktFramer().feed(b"") == []


def test_tpkt_bad_version_is_refused_and_stays_failed():
    framer = TpktFramer()
    with pytest.raises(TpktBadVersionError):
        framer.feed(b"\x04\x00\x00\x05x")
    with pytest.raises(TpktBadVersionError):
        framer.feed(encode_tpkt(b"ok"))


def test_tpkt_length_below_header_is_refused():
    with pytest.raises(TpktBadLengthError):
        TpktFramer().feed(b"\x03\x00\x00\x03")


def test_tpkt_too_long_payload_is_refused():
    with pytest.raises(TpktTooLongError):
        encode_tpkt(bytes(65532))


def test_tpkt_header_split_across_reads():
    data = encode_tpkt(b"hello") + encode_tpkt(b"world!")
    for cut in range(len(data) + 1):
        framer = TpktFramer()
        got = framer.feed(data[:cut]) + framer.feed(data[cut:])
        assert got == [b"hello", b"world!"], cut
        assert framer.pending == 0


def test_tpkt_byte_by_byte():
    framer = TpktFramer()
    got = []
    for byte in encode_tpkt(b"abc") * 3:
        got += framer.feed(bytes((byte,)))
    assert got == [b"abc"] * 3


def test_tpkt_keepalive_is_skipped_and_counted():
    framer = TpktFramer()
    keepalive = encode_tpkt(b"")
    assert keepalive == b"\x03\x00\x00\x04" and len(keepalive) == TPKT_HEADER_LENGTH
    assert framer.feed(keepalive + encode_tpkt(b"x") + keepalive[:2]) == [b"x"]
    assert framer.feed(keepalive[2:]) == []
    assert framer.keepalives == 2


def test_tpkt_two_pdus_in_one_segment_from_capture():
    # frame 32 of the capture: terminalCapabilitySetAck and masterSlaveDeterminationAck
    data = bytes.fromhex("030000072180010300000620a0")
    assert TpktFramer().feed(data) == [bytes.fromhex("218001"), bytes.fromhex("20a0")]


# Q.931


def test_q931_empty_and_short_are_truncated():
    for data in (b"", b"\x08", b"\x08\x02"):
        with pytest.raises(Q931TruncatedError):
            q931.parse_q931(data)


def test_q931_vector_invalid_discriminator():
    with pytest.raises(Q931BadDiscriminatorError):
        q931.parse_q931((VECTORS / "q931_setup_invalid.bin").read_bytes())


def test_q931_vector_truncated():
    with pytest.raises(Q931TruncatedError):
        q931.parse_q931((VECTORS / "q931_setup_truncated.bin").read_bytes())


def test_q931_every_truncation_of_the_setup_is_refused_or_shorter():
    data = (VECTORS / "q931_setup.bin").read_bytes()
    for cut in range(len(data)):
        try:
            message = q931.parse_q931(data[:cut])
        except Q931Error:
            continue
        # a cut on an IE boundary is a shorter valid message
        assert bytes(message) == data[:cut]


def test_q931_call_reference_errors():
    with pytest.raises(Q931BadCallReferenceError):
        q931.parse_q931(b"\x08\x1f\x00\x05")  # length octet with high bits
    with pytest.raises(Q931BadCallReferenceError):
        q931.parse_q931(b"\x08\x05\x00\x00\x00\x00\x00\x05")
    with pytest.raises(Q931TruncatedError):
        q931.parse_q931(b"\x08\x02\x00")
    with pytest.raises(Q931BadCallReferenceError):
        q931.Q931Message(q931.MSG_SETUP, 0x8000).to_bytes()


def test_q931_escape_message_type_is_refused():
    with pytest.raises(Q931BadMessageTypeError):
        q931.parse_q931(b"\x08\x02\x00\x01\x80")


def test_q931_ie_running_past_the_end_is_refused():
    with pytest.raises(Q931TruncatedError):
        q931.parse_q931(b"\x08\x02\x00\x01\x05\x28\x05abc")
    with pytest.raises(Q931TruncatedError):
        q931.parse_q931(b"\x08\x02\x00\x01\x05\x7e\x00")


def test_q931_setup_vector_fields_and_round_trip():
    data = (VECTORS / "q931_setup.bin").read_bytes()
    message = q931.parse_q931(data)
    assert message.message_type == q931.MSG_SETUP and message.name == "Setup"
    assert message.call_reference == 0x77F4 and not message.from_destination
    assert message.display == "m.jemec\0"
    bearer = message.bearer_capability
    assert bearer == q931.BearerCapability(q931.BEARER_SPEECH, 1, q931.BEARER_LAYER1_H221_H242)
    assert message.user_user is not None and message.user_user[:2] == bytes.fromhex("20a8")
    assert bytes(message) == data


def test_q931_user_user_needs_x208_discriminator():
    message = q931.Q931Message(q931.MSG_SETUP, 1, ies=[q931.InformationElement(0x7E, b"\x04ab")])
    with pytest.raises(Q931BadInformationElementError):
        _ = message.user_user
    with pytest.raises(Q931MissingUserUserError):
        q931.Q931Message(q931.MSG_SETUP, 1).require_user_user()


def test_q931_build_all_ies_round_trip():
    for message_type in (q931.MSG_SETUP, q931.MSG_CALL_PROCEEDING, q931.MSG_ALERTING,
                         q931.MSG_CONNECT, q931.MSG_RELEASE_COMPLETE, q931.MSG_FACILITY,
                         q931.MSG_STATUS, q931.MSG_STATUS_INQUIRY, q931.MSG_INFORMATION,
                         q931.MSG_PROGRESS, q931.MSG_NOTIFY):
        message = q931.Q931Message(message_type, 0x1234, from_destination=True)
        message.user_user = b"\x01\x02"
        message.display = "Salle du conseil é"
        message.cause = q931.Cause(q931.CAUSE_USER_BUSY, q931.CAUSE_LOCATION_PRIVATE_LOCAL)
        message.bearer_capability = q931.BearerCapability(multiplier=6)
        message.called_number = q931.PartyNumber("4100")
        message.calling_number = q931.PartyNumber("5512", presentation=0)
        message.call_state = q931.CALL_STATE_ACTIVE
        data = bytes(message)
        parsed = q931.parse_q931(data)
        assert parsed == message
        assert bytes(parsed) == data
        ids = [ie.identifier for ie in parsed.ies]
        assert ids == sorted(ids)  # Q.931 clause 4.5.1: ascending order
        assert parsed.cause == q931.Cause(17, 1)
        assert parsed.bearer_capability == q931.BearerCapability(multiplier=6)
        assert parsed.called_number.digits == "4100"
        assert parsed.calling_number == q931.PartyNumber("5512", presentation=0)
        assert parsed.display == "Salle du conseil é"
        assert parsed.call_state == q931.CALL_STATE_ACTIVE
        assert parsed.user_user == b"\x01\x02"


def test_q931_bad_ies_are_refused_with_our_errors():
    for identifier, contents in ((q931.IE_CAUSE, b"\x80"), (q931.IE_CALLED_PARTY_NUMBER, b""),
                                 (q931.IE_BEARER_CAPABILITY, b"\x88"),
                                 (q931.IE_CALL_STATE, b"")):
        message = q931.Q931Message(q931.MSG_SETUP, 1, ies=[
            q931.InformationElement(identifier, contents)])
        parsed = q931.parse_q931(bytes(message))
        with pytest.raises(Q931BadInformationElementError):
            for attribute in ("cause", "called_number", "bearer_capability", "call_state"):
                getattr(parsed, attribute)
    with pytest.raises(Q931BadInformationElementError):
        q931.Cause(200).to_contents()
    with pytest.raises(Q931BadInformationElementError):
        q931.InformationElement(q931.IE_DISPLAY, bytes(300)).to_bytes()


def test_q931_null_call_reference_and_single_octet_ies():
    data = b"\x08\x00\x7b\xa1\x28\x01A"  # Information, global call reference, sending complete
    message = q931.parse_q931(data)
    assert message.call_reference == 0 and message.call_reference_length == 0
    assert message.ies[0].single_octet and message.display == "A"
    assert bytes(message) == data
