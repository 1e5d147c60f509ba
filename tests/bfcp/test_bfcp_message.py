"""The BFCP codec: header and attribute encodings of RFC 8855 section 5, both versions, negative
cases first, and the flat grouped-attribute variant some terminals send."""

from __future__ import annotations

import struct

import pytest

from mcu.bfcp.constants import AttributeType as A
from mcu.bfcp.constants import ErrorCode, Primitive, RequestStatus
from mcu.bfcp.message import (
    Attribute,
    BfcpParseError,
    Group,
    Message,
    decode,
    encode,
    message_length,
    request_status,
    statuses_of,
)


def test_empty_and_truncated_are_length_errors():
    for data in (b"", b"\x20\x01\x00"):
        with pytest.raises(BfcpParseError) as info:
            decode(data)
        assert info.value.code is ErrorCode.INCORRECT_MESSAGE_LENGTH
        assert info.value.header is None


def test_payload_length_must_match_the_datagram():
    data = encode(Message(Primitive.HELLO, 7, 1, 2, [Attribute(A.FLOOR_ID, 1)]))
    with pytest.raises(BfcpParseError) as info:
        decode(data[:-4])
    assert info.value.code is ErrorCode.INCORRECT_MESSAGE_LENGTH
    assert info.value.header is not None and info.value.header.conference_id == 7


def test_unknown_version_is_reported_with_its_header():
    data = bytearray(encode(Message(Primitive.HELLO, 7, 1, 2)))
    data[0] = 3 << 5
    with pytest.raises(BfcpParseError) as info:
        decode(bytes(data))
    assert info.value.code is ErrorCode.UNSUPPORTED_VERSION


def test_attribute_overrunning_the_message_is_a_parse_error():
    body = bytes([A.FLOOR_ID << 1, 40, 0, 1])
    data = struct.pack("!BBHIHH", 1 << 5, Primitive.FLOOR_REQUEST, 1, 7, 1, 2) + body
    with pytest.raises(BfcpParseError) as info:
        decode(data)
    assert info.value.code is ErrorCode.PARSE_ERROR


def test_fragments_are_refused():
    data = bytearray(encode(Message(Primitive.HELLO, 7, 1, 2, version=2)))
    data[0] |= 0x08
    with pytest.raises(BfcpParseError) as info:
        decode(bytes(data))
    assert info.value.code is ErrorCode.PARSE_ERROR


def test_header_fields_both_versions():
    for version, responder in ((1, False), (2, False), (2, True)):
        msg = Message(Primitive.FLOOR_QUERY, 0x01020304, 0x8001, 0x0506, [Attribute(A.FLOOR_ID, 9, True)],
                      version=version, responder=responder)
        data = encode(msg)
        assert data[0] == (version << 5) | (0x10 if responder else 0)
        assert data[1] == 7
        assert struct.unpack("!H", data[2:4])[0] == 1  # one 4-byte word of payload
        assert data[4:12] == bytes.fromhex("01020304 8001 0506".replace(" ", ""))
        back = decode(data)
        assert (back.version, back.responder, back.primitive) == (version, responder, 7)
        assert back.first(A.FLOOR_ID) == Attribute(A.FLOOR_ID, 9, True)
        assert encode(back) == data


def test_version_1_ignores_the_r_flag():
    data = bytearray(encode(Message(Primitive.HELLO, 1, 1, 1)))
    data[0] |= 0x10
    assert decode(bytes(data)).responder is False


@pytest.mark.parametrize("attr, wire", [
    (Attribute(A.BENEFICIARY_ID, 0x1234), "0204 1234"),
    (Attribute(A.FLOOR_ID, 1, True), "0504 0001"),
    (Attribute(A.FLOOR_REQUEST_ID, 0xBEEF), "0604 beef"),
    (Attribute(A.PRIORITY, 2), "0804 4000"),
    (Attribute(A.REQUEST_STATUS, (RequestStatus.GRANTED, 0)), "0a04 0300"),
    (Attribute(A.ERROR_CODE, (ErrorCode.UNKNOWN_PRIMITIVE, b""), True), "0d03 0300"),
    (Attribute(A.ERROR_INFO, "no"), "0e04 6e6f"),
    (Attribute(A.PARTICIPANT_PROVIDED_INFO, "abc"), "1005 6162 6300 0000"),
    (Attribute(A.STATUS_INFO, "x"), "1203 7800"),
    (Attribute(A.SUPPORTED_ATTRIBUTES, (1, 2)), "1404 0204"),
    (Attribute(A.SUPPORTED_PRIMITIVES, (1, 11, 17)), "1605 010b 1100 0000"),
    (Attribute(A.USER_DISPLAY_NAME, "Hà"), "1805 48c3 a000 0000"),
    (Attribute(A.USER_URI, "sip:a"), "1a07 7369 703a 6100"),
    (Attribute(A.BENEFICIARY_INFORMATION, Group(5, (Attribute(A.USER_DISPLAY_NAME, "ab"),))),
     "1c08 0005 1804 6162"),
    (Attribute(A.REQUESTED_BY_INFORMATION, Group(6, ())), "2004 0006"),
    (Attribute(A.FLOOR_REQUEST_STATUS, Group(1, (Attribute(A.REQUEST_STATUS, (1, 2)),))), "2208 0001 0a04 0102"),
    (Attribute(A.OVERALL_REQUEST_STATUS, Group(3, (Attribute(A.REQUEST_STATUS, (6, 0)),))), "2408 0003 0a04 0600"),
])
def test_every_attribute_encoding(attr, wire):
    data = encode_single(attr)
    assert data.hex() == wire.replace(" ", "")
    msg = decode(encode(Message(Primitive.FLOOR_STATUS, 1, 0, 1, [attr])))
    assert msg.attributes == [attr]


def encode_single(attr):
    from mcu.bfcp.message import encode_attribute
    return encode_attribute(attr)


def test_floor_request_information_round_trip_and_statuses():
    info = request_status(4, 1, RequestStatus.PENDING, 2, beneficiary_id=9, info="waiting")
    msg = Message(Primitive.FLOOR_REQUEST_STATUS, 1, 3, 9, [info])
    back = decode(encode(msg))
    assert back.attributes == [info]
    assert statuses_of(back) == [(4, RequestStatus.PENDING)]


def test_flat_grouped_attributes_are_read_as_nested():
    info = request_status(4, 1, RequestStatus.GRANTED, beneficiary_id=9)
    msg = Message(Primitive.FLOOR_REQUEST_STATUS, 1, 3, 9, [info, Attribute(A.FLOOR_ID, 1)])
    flat = encode(msg, nested=False)
    assert flat != encode(msg)
    assert flat[13] == 4  # the FLOOR-REQUEST-INFORMATION's Length covers its id alone
    back = decode(flat)
    assert back.attributes == msg.attributes
    assert statuses_of(back) == [(4, RequestStatus.GRANTED)]


def test_unknown_attributes_kept_and_mandatory_ones_listed():
    data = struct.pack("!BBHIHH", 1 << 5, 1, 3, 1, 1, 1) + bytes([A.FLOOR_ID << 1 | 1, 4, 0, 1]) \
        + bytes([100 << 1 | 1, 4, 9, 9]) + bytes([101 << 1, 3, 7, 0])
    msg = decode(data)
    assert msg.unknown_mandatory == (100,)
    assert msg.first(100) == Attribute(100, b"\x09\x09", True)
    assert msg.first(101) == Attribute(101, b"\x07", False)


def test_stream_framing_length():
    data = encode(Message(Primitive.FLOOR_QUERY, 1, 2, 3, [Attribute(A.FLOOR_ID, 1)]))
    assert message_length(data[:5]) is None
    assert message_length(data + b"rest") == len(data) == 16
