"""BFCP numbers (RFC 8855 sections 5.1-5.2 and the IANA registry), with the legacy UDP numbering."""

from __future__ import annotations

from enum import IntEnum

VERSION_RELIABLE = 1  # over TCP / TLS (RFC 8855 5.1)
VERSION_UNRELIABLE = 2  # over UDP / DTLS
COMMON_HEADER = 12
FRAGMENT_HEADER = 4
FIRST_SERVER_TRANSACTION = 0x8000  # our transaction ids, far from what clients pick first
MAX_ATTRIBUTE_LENGTH = 255


class Primitive(IntEnum):
    FLOOR_REQUEST = 1
    FLOOR_RELEASE = 2
    FLOOR_REQUEST_QUERY = 3
    FLOOR_REQUEST_STATUS = 4
    USER_QUERY = 5
    USER_STATUS = 6
    FLOOR_QUERY = 7
    FLOOR_STATUS = 8
    CHAIR_ACTION = 9
    CHAIR_ACTION_ACK = 10
    HELLO = 11
    HELLO_ACK = 12
    ERROR = 13
    FLOOR_REQUEST_STATUS_ACK = 14
    FLOOR_STATUS_ACK = 15
    GOODBYE = 16
    GOODBYE_ACK = 17


# Terminals built on the bfcpbis drafts speak version 1 over UDP with the draft's numbers past 14
# (ErrorAck was 15 and shifted the rest by one). Wire number -> meaning, for those peers only.
LEGACY_UDP_PRIMITIVES = {
    15: None,  # ErrorAck: acknowledges our Error; nothing to do
    16: Primitive.FLOOR_STATUS_ACK,
    17: Primitive.GOODBYE,
    18: Primitive.GOODBYE_ACK,
}
LEGACY_UDP_WIRE = {v: k for k, v in LEGACY_UDP_PRIMITIVES.items() if v is not None}
POLYCOM_FLOOR_REQUEST_STATUS_ACK = 91  # what some Polycom proxies send for FloorRequestStatusAck


class AttributeType(IntEnum):
    BENEFICIARY_ID = 1
    FLOOR_ID = 2
    FLOOR_REQUEST_ID = 3
    PRIORITY = 4
    REQUEST_STATUS = 5
    ERROR_CODE = 6
    ERROR_INFO = 7
    PARTICIPANT_PROVIDED_INFO = 8
    STATUS_INFO = 9
    SUPPORTED_ATTRIBUTES = 10
    SUPPORTED_PRIMITIVES = 11
    USER_DISPLAY_NAME = 12
    USER_URI = 13
    BENEFICIARY_INFORMATION = 14
    FLOOR_REQUEST_INFORMATION = 15
    REQUESTED_BY_INFORMATION = 16
    FLOOR_REQUEST_STATUS = 17
    OVERALL_REQUEST_STATUS = 18


class RequestStatus(IntEnum):
    PENDING = 1
    ACCEPTED = 2
    GRANTED = 3
    DENIED = 4
    CANCELLED = 5
    RELEASED = 6
    REVOKED = 7


class ErrorCode(IntEnum):
    CONFERENCE_DOES_NOT_EXIST = 1
    USER_DOES_NOT_EXIST = 2
    UNKNOWN_PRIMITIVE = 3
    UNKNOWN_MANDATORY_ATTRIBUTE = 4
    UNAUTHORIZED_OPERATION = 5
    INVALID_FLOOR_ID = 6
    FLOOR_REQUEST_ID_DOES_NOT_EXIST = 7
    MAX_FLOOR_REQUESTS_REACHED = 8
    USE_TLS = 9
    PARSE_ERROR = 10
    USE_DTLS = 11
    UNSUPPORTED_VERSION = 12
    INCORRECT_MESSAGE_LENGTH = 13
    GENERIC_ERROR = 14


A = AttributeType
INTEGER_ATTRIBUTES = frozenset({A.BENEFICIARY_ID, A.FLOOR_ID, A.FLOOR_REQUEST_ID})
TEXT_ATTRIBUTES = frozenset({A.ERROR_INFO, A.PARTICIPANT_PROVIDED_INFO, A.STATUS_INFO,
                             A.USER_DISPLAY_NAME, A.USER_URI})
LIST_ATTRIBUTES = frozenset({A.SUPPORTED_ATTRIBUTES, A.SUPPORTED_PRIMITIVES})
# Grouped attributes start with a 16-bit id and hold the sub-attributes allowed below.
GROUP_CHILDREN: dict[int, frozenset[int]] = {
    A.BENEFICIARY_INFORMATION: frozenset({A.USER_DISPLAY_NAME, A.USER_URI}),
    A.REQUESTED_BY_INFORMATION: frozenset({A.USER_DISPLAY_NAME, A.USER_URI}),
    A.FLOOR_REQUEST_STATUS: frozenset({A.REQUEST_STATUS, A.STATUS_INFO}),
    A.OVERALL_REQUEST_STATUS: frozenset({A.REQUEST_STATUS, A.STATUS_INFO}),
    A.FLOOR_REQUEST_INFORMATION: frozenset({A.OVERALL_REQUEST_STATUS, A.FLOOR_REQUEST_STATUS,
                                            A.BENEFICIARY_INFORMATION, A.REQUESTED_BY_INFORMATION,
                                            A.PRIORITY, A.PARTICIPANT_PROVIDED_INFO}),
}

# What our server understands (HelloAck); chair primitives are answered with an Error.
SUPPORTED_PRIMITIVES = tuple(Primitive)
SUPPORTED_ATTRIBUTES = tuple(AttributeType)
# Requests a client sends; the rest are server messages or acknowledgements.
CLIENT_REQUESTS = frozenset({Primitive.FLOOR_REQUEST, Primitive.FLOOR_RELEASE, Primitive.FLOOR_REQUEST_QUERY,
                             Primitive.USER_QUERY, Primitive.FLOOR_QUERY, Primitive.CHAIR_ACTION,
                             Primitive.HELLO, Primitive.GOODBYE})
ACKNOWLEDGEMENTS = frozenset({Primitive.FLOOR_REQUEST_STATUS_ACK, Primitive.FLOOR_STATUS_ACK,
                              Primitive.GOODBYE_ACK, Primitive.CHAIR_ACTION_ACK, Primitive.ERROR})
