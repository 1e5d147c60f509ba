"""BFCP messages: the common header and the attributes (RFC 8855 section 5), both versions.

``decode(data)`` gives a ``Message`` or raises ``BfcpParseError`` carrying the Error code to answer
with; ``encode(message)`` gives the bytes. Attribute values are typed by attribute: an int (ids,
priority), ``(status, queue position)``, ``(error code, details)``, text, a tuple of numbers (the
supported lists) or a ``Group`` (grouped attributes); unknown types keep their raw bytes.

Vendor tolerance: a grouped attribute sent "flat" (its Length covering only its own id, its
sub-attributes following at the outer level) is read as if it were nested.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .constants import (
    COMMON_HEADER,
    FRAGMENT_HEADER,
    GROUP_CHILDREN,
    INTEGER_ATTRIBUTES,
    LIST_ATTRIBUTES,
    MAX_ATTRIBUTE_LENGTH,
    TEXT_ATTRIBUTES,
    AttributeType,
    ErrorCode,
)

A = AttributeType
_HEADER = struct.Struct("!BBHIHH")


class BfcpParseError(ValueError):
    """Bytes that are not a usable BFCP message. ``code`` is the Error to answer with; ``header``
    is the decoded header when it was readable (so that the Error can be addressed), else None."""

    def __init__(self, code: ErrorCode, fault: str, header: Header | None = None) -> None:
        self.code = code
        self.fault = fault
        self.header = header
        super().__init__(f"BFCP {code.name.lower()}: {fault}")


@dataclass(frozen=True)
class Header:
    version: int
    responder: bool
    fragmented: bool
    primitive: int
    payload_words: int
    conference_id: int
    transaction_id: int
    user_id: int


@dataclass(frozen=True)
class Group:
    """A grouped attribute's value: its leading 16-bit id and its sub-attributes."""

    id: int
    children: tuple[Attribute, ...] = ()

    def first(self, kind: int) -> Attribute | None:
        return next((a for a in self.children if a.type == kind), None)


Value = int | str | bytes | tuple[int, int] | tuple[int, bytes] | tuple[int, ...] | Group


@dataclass(frozen=True)
class Attribute:
    type: int
    value: Value
    mandatory: bool = False


@dataclass
class Message:
    primitive: int
    conference_id: int
    transaction_id: int
    user_id: int
    attributes: list[Attribute] = field(default_factory=list)
    version: int = 1
    responder: bool = False  # the R flag of version 2: this is a response
    unknown_mandatory: tuple[int, ...] = ()  # types we cannot read that the sender marked mandatory

    def first(self, kind: int) -> Attribute | None:
        return next((a for a in self.attributes if a.type == kind), None)

    def all(self, kind: int) -> list[Attribute]:
        return [a for a in self.attributes if a.type == kind]


def peek_header(data: bytes) -> Header:
    """The common header alone; raises BfcpParseError when even that cannot be read."""
    if len(data) < COMMON_HEADER:
        raise BfcpParseError(ErrorCode.INCORRECT_MESSAGE_LENGTH, f"{len(data)} bytes, shorter than the header")
    first, primitive, words, conference_id, transaction_id, user_id = _HEADER.unpack_from(data)
    return Header(first >> 5, bool(first & 0x10), bool(first & 0x08), primitive, words, conference_id,
                  transaction_id, user_id)


def message_length(data: bytes) -> int | None:
    """Bytes of the first message of a stream (TCP framing), or None until the header is in."""
    if len(data) < COMMON_HEADER:
        return None
    return COMMON_HEADER + 4 * struct.unpack_from("!H", data, 2)[0]


def decode(data: bytes) -> Message:
    header = peek_header(data)
    if header.version not in (1, 2):
        raise BfcpParseError(ErrorCode.UNSUPPORTED_VERSION, f"version {header.version}", header)
    expected = COMMON_HEADER + 4 * header.payload_words
    if expected != len(data):
        raise BfcpParseError(ErrorCode.INCORRECT_MESSAGE_LENGTH,
                             f"header says {expected} bytes, the datagram has {len(data)}", header)
    start = COMMON_HEADER
    if header.fragmented:
        if header.version != 2:
            raise BfcpParseError(ErrorCode.PARSE_ERROR, "the F flag is only defined for version 2", header)
        # We never send messages big enough to need fragments, and accept none.
        raise BfcpParseError(ErrorCode.PARSE_ERROR, "fragmented messages are not supported", header)
    if header.version == 1 and header.responder:
        # RFC 8855 5.1: the R flag is reserved in version 1; tolerate senders that set it
        pass
    unknown: list[int] = []
    try:
        attributes = _decode_attributes(data, start, len(data), unknown)
    except _AttributeError as exc:
        raise BfcpParseError(ErrorCode.PARSE_ERROR, str(exc), header) from None
    return Message(header.primitive, header.conference_id, header.transaction_id, header.user_id,
                   _adopt_flat(attributes), header.version, header.responder and header.version == 2,
                   tuple(unknown))


class _AttributeError(ValueError):
    pass


def _decode_attributes(data: bytes, start: int, end: int, unknown: list[int]) -> list[Attribute]:
    out = []
    pos = start
    while pos < end:
        if end - pos < 2:
            if all(b == 0 for b in data[pos:end]):
                break  # padding
            raise _AttributeError(f"truncated attribute header at byte {pos}")
        kind, mandatory, length = data[pos] >> 1, bool(data[pos] & 1), data[pos + 1]
        if length == 0 and kind == 0:
            break  # zero padding at the end of a group
        if length < 2 or pos + length > end:
            raise _AttributeError(f"attribute type {kind} at byte {pos}: length {length} does not fit")
        body = data[pos + 2:pos + length]
        out.append(Attribute(kind, _decode_value(kind, body, data, pos, length, unknown), mandatory))
        if kind not in A._value2member_map_ and mandatory:
            unknown.append(kind)
        pos += (length + 3) & ~3
    return out


def _decode_value(kind: int, body: bytes, data: bytes, pos: int, length: int, unknown: list[int]) -> Value:
    if kind in INTEGER_ATTRIBUTES:
        if len(body) != 2:
            raise _AttributeError(f"attribute {A(kind).name} needs 2 bytes, has {len(body)}")
        return int(struct.unpack("!H", body)[0])
    if kind == A.PRIORITY:
        if len(body) != 2:
            raise _AttributeError(f"PRIORITY needs 2 bytes, has {len(body)}")
        return body[0] >> 5
    if kind == A.REQUEST_STATUS:
        if len(body) != 2:
            raise _AttributeError(f"REQUEST-STATUS needs 2 bytes, has {len(body)}")
        return (body[0], body[1])
    if kind == A.ERROR_CODE:
        if len(body) < 1:
            raise _AttributeError("ERROR-CODE without a code")
        return (body[0], bytes(body[1:]))
    if kind in TEXT_ATTRIBUTES:
        return body.decode("utf-8", errors="replace")
    if kind == A.SUPPORTED_PRIMITIVES:
        return tuple(body)  # primitives are 8-bit values (RFC 8855 5.2.11)
    if kind in LIST_ATTRIBUTES:
        return tuple(b >> 1 for b in body)  # attribute types: 7 bits and a reserved bit
    if kind in GROUP_CHILDREN:
        if len(body) < 2:
            raise _AttributeError(f"grouped attribute {A(kind).name} without its id")
        group_id = int(struct.unpack_from("!H", body)[0])
        children = _decode_attributes(data, pos + 4, pos + length, unknown)
        return Group(group_id, tuple(children))
    return bytes(body)


def _adopt_flat(attributes: list[Attribute]) -> list[Attribute]:
    """Nest the sub-attributes some vendors send after an empty grouped attribute."""
    out: list[Attribute] = []
    i = 0
    while i < len(attributes):
        attr, i = _adopt_one(attributes, i)
        out.append(attr)
    return out


def _adopt_one(attributes: list[Attribute], i: int) -> tuple[Attribute, int]:
    attr = attributes[i]
    i += 1
    allowed = GROUP_CHILDREN.get(attr.type)
    if allowed is None or not isinstance(attr.value, Group) or attr.value.children:
        return attr, i
    children = []
    while i < len(attributes) and attributes[i].type in allowed:
        child, i = _adopt_one(attributes, i)
        children.append(child)
    if not children:
        return attr, i
    return Attribute(attr.type, Group(attr.value.id, tuple(children)), attr.mandatory), i


# --- encoding ------------------------------------------------------------------------


def encode(message: Message, *, nested: bool = True, primitive_number: int | None = None) -> bytes:
    """The message's bytes. ``nested=False`` writes grouped attributes flat (a vendor variant);
    ``primitive_number`` overrides the wire number (legacy UDP numbering)."""
    payload = b"".join(encode_attribute(a, nested) for a in message.attributes)
    first = (message.version << 5) | (0x10 if message.responder and message.version == 2 else 0)
    primitive = message.primitive if primitive_number is None else primitive_number
    return _HEADER.pack(first, primitive, len(payload) // 4, message.conference_id,
                        message.transaction_id, message.user_id) + payload


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def encode_attribute(attr: Attribute, nested: bool = True) -> bytes:
    kind, value = attr.type, attr.value
    tail = b""
    if kind in INTEGER_ATTRIBUTES:
        assert isinstance(value, int)
        body = struct.pack("!H", value)
    elif kind == A.PRIORITY:
        assert isinstance(value, int)
        body = bytes([(value & 7) << 5, 0])
    elif kind == A.REQUEST_STATUS:
        assert isinstance(value, tuple)
        body = bytes([int(value[0]), int(value[1])])
    elif kind == A.ERROR_CODE:
        assert isinstance(value, tuple)
        details = value[1]
        body = bytes([int(value[0])]) + (details if isinstance(details, bytes) else b"")
    elif kind in TEXT_ATTRIBUTES:
        assert isinstance(value, str)
        body = value.encode("utf-8")[:MAX_ATTRIBUTE_LENGTH - 2]
    elif kind == A.SUPPORTED_PRIMITIVES:
        assert isinstance(value, tuple)
        body = bytes(int(v) & 0xFF for v in value)
    elif kind in LIST_ATTRIBUTES:
        assert isinstance(value, tuple)
        body = bytes((int(v) & 0x7F) << 1 for v in value)
    elif isinstance(value, Group):
        children = b"".join(encode_attribute(c, nested) for c in value.children)
        if nested:
            body = struct.pack("!H", value.id) + children
        else:
            body, tail = struct.pack("!H", value.id), children
    else:
        assert isinstance(value, bytes)
        body = value
    length = 2 + len(body)
    if length > MAX_ATTRIBUTE_LENGTH:
        raise ValueError(f"attribute type {kind} is {length} bytes, more than a Length field holds")
    return _pad(bytes([(kind << 1) | int(attr.mandatory), length]) + body) + tail


def request_status(floor_request_id: int, floor_id: int, status: int, queue_position: int = 0,
                   beneficiary_id: int | None = None, info: str | None = None) -> Attribute:
    """FLOOR-REQUEST-INFORMATION for one request of one floor (what FloorRequestStatus and
    FloorStatus carry)."""
    status_attr = Attribute(A.REQUEST_STATUS, (int(status), queue_position))
    overall_children: tuple[Attribute, ...] = (status_attr,)
    if info:
        overall_children += (Attribute(A.STATUS_INFO, info),)
    children = [Attribute(A.OVERALL_REQUEST_STATUS, Group(floor_request_id, overall_children)),
                Attribute(A.FLOOR_REQUEST_STATUS, Group(floor_id, (status_attr,)))]  # some terminals read only this one
    if beneficiary_id is not None:
        children.append(Attribute(A.BENEFICIARY_INFORMATION, Group(beneficiary_id, ())))
    return Attribute(A.FLOOR_REQUEST_INFORMATION, Group(floor_request_id, tuple(children)))


def statuses_of(message: Message) -> list[tuple[int, int | None]]:
    """(floor request id, request status) of every FLOOR-REQUEST-INFORMATION in a message."""
    out = []
    for attr in message.all(A.FLOOR_REQUEST_INFORMATION):
        assert isinstance(attr.value, Group)
        overall = attr.value.first(A.OVERALL_REQUEST_STATUS)
        status = None
        if overall is not None and isinstance(overall.value, Group):
            rs = overall.value.first(A.REQUEST_STATUS)
            if rs is not None and isinstance(rs.value, tuple):
                status = int(rs.value[0])
        out.append((attr.value.id, status))
    return out


__all__ = ["FRAGMENT_HEADER", "Attribute", "BfcpParseError", "Group", "Header", "Message", "decode", "encode",
           "message_length", "peek_header", "request_status", "statuses_of"]
