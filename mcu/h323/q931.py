"""Q.931 messages as profiled by H.225.0 clause 7 (call signalling over TCP port 1720).

A message is: protocol discriminator (Q.931 clause 4.2: 0x08), a call reference (clause
4.3: a length octet, then the value, whose first bit is the flag: 0 from the side that
originated the call reference, 1 towards it), a message type (clause 4.4), then information
elements (clause 4.5). Single-octet IEs have bit 8 set; the others are identifier, length,
contents; H.225.0 clause 7.2.2.28 gives the User-user IE (0x7E) a two-octet length. The
User-user contents start with a protocol discriminator (0x05, "X.208 and X.209 coded user
information") followed by the H.225.0 H323-UserInformation in aligned PER.

Parsing keeps every IE in order and byte for byte, so `bytes(parse(data)) == data`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import (
    Q931BadCallReferenceError,
    Q931BadDiscriminatorError,
    Q931BadInformationElementError,
    Q931BadMessageTypeError,
    Q931Error,
    Q931MissingUserUserError,
    Q931TruncatedError,
)

PROTOCOL_DISCRIMINATOR_Q931 = 0x08
USER_USER_PROTOCOL_X208 = 0x05  # H.225.0 clause 7.2.2.28
CALL_REFERENCE_LENGTH_H225 = 2  # H.225.0 clause 7.2.2.2: two octets, 15-bit value
MAX_CALL_REFERENCE_LENGTH = 4
CALL_REFERENCE_FLAG = 0x80

# Message types (Q.931 clause 4.4, Table 4-2; those H.225.0 clause 7.3 uses)
MSG_ALERTING = 0x01
MSG_CALL_PROCEEDING = 0x02
MSG_PROGRESS = 0x03
MSG_SETUP = 0x05
MSG_CONNECT = 0x07
MSG_SETUP_ACKNOWLEDGE = 0x0D
MSG_RELEASE_COMPLETE = 0x5A
MSG_FACILITY = 0x62
MSG_NOTIFY = 0x6E
MSG_STATUS_INQUIRY = 0x75
MSG_INFORMATION = 0x7B
MSG_STATUS = 0x7D

MESSAGE_NAMES = {
    MSG_ALERTING: "Alerting",
    MSG_CALL_PROCEEDING: "CallProceeding",
    MSG_PROGRESS: "Progress",
    MSG_SETUP: "Setup",
    MSG_CONNECT: "Connect",
    MSG_SETUP_ACKNOWLEDGE: "SetupAcknowledge",
    MSG_RELEASE_COMPLETE: "ReleaseComplete",
    MSG_FACILITY: "Facility",
    MSG_NOTIFY: "Notify",
    MSG_STATUS_INQUIRY: "StatusInquiry",
    MSG_INFORMATION: "Information",
    MSG_STATUS: "Status",
}

# Information element identifiers (Q.931 clause 4.5, Table 4-3, codeset 0)
IE_SHIFT_MASK = 0xF0
IE_SHIFT = 0x90
IE_BEARER_CAPABILITY = 0x04
IE_CAUSE = 0x08
IE_CALL_STATE = 0x14
IE_FACILITY = 0x1C
IE_PROGRESS_INDICATOR = 0x1E
IE_NOTIFICATION_INDICATOR = 0x27
IE_DISPLAY = 0x28
IE_KEYPAD = 0x2C
IE_SIGNAL = 0x34
IE_CONNECTED_NUMBER = 0x4C
IE_CALLING_PARTY_NUMBER = 0x6C
IE_CALLING_PARTY_SUBADDRESS = 0x6D
IE_CALLED_PARTY_NUMBER = 0x70
IE_CALLED_PARTY_SUBADDRESS = 0x71
IE_REDIRECTING_NUMBER = 0x74
IE_USER_USER = 0x7E
IE_SINGLE_OCTET_BIT = 0x80

# Bearer capability (Q.931 clause 4.5.5)
BEARER_CODING_ITU = 0x00
BEARER_SPEECH = 0x00
BEARER_UNRESTRICTED_DIGITAL = 0x08
BEARER_3_1KHZ_AUDIO = 0x10
BEARER_MODE_CIRCUIT = 0x00
BEARER_RATE_64K = 0x10
BEARER_RATE_MULTIRATE = 0x18
BEARER_LAYER1_G711_ULAW = 0x02
BEARER_LAYER1_H221_H242 = 0x05
LAYER1_IDENTIFIER = 0x20

# Cause (Q.931 clause 4.5.12, values of Q.850 Table 1)
CAUSE_CODING_ITU = 0x00
CAUSE_LOCATION_USER = 0x00
CAUSE_LOCATION_PRIVATE_LOCAL = 0x01
CAUSE_UNALLOCATED_NUMBER = 1
CAUSE_NO_ROUTE_TO_DESTINATION = 3
CAUSE_NORMAL_CALL_CLEARING = 16
CAUSE_USER_BUSY = 17
CAUSE_NO_USER_RESPONDING = 18
CAUSE_NO_ANSWER = 19
CAUSE_SUBSCRIBER_ABSENT = 20
CAUSE_CALL_REJECTED = 21
CAUSE_INVALID_NUMBER_FORMAT = 28
CAUSE_RESPONSE_TO_STATUS_ENQUIRY = 30
CAUSE_NORMAL_UNSPECIFIED = 31
CAUSE_NO_CIRCUIT_AVAILABLE = 34
CAUSE_NETWORK_OUT_OF_ORDER = 38
CAUSE_TEMPORARY_FAILURE = 41
CAUSE_SWITCHING_CONGESTION = 42
CAUSE_RESOURCE_UNAVAILABLE = 47
CAUSE_BEARER_NOT_AVAILABLE = 58
CAUSE_BEARER_NOT_IMPLEMENTED = 65
CAUSE_INCOMPATIBLE_DESTINATION = 88
CAUSE_INVALID_MESSAGE = 95
CAUSE_MANDATORY_IE_MISSING = 96
CAUSE_MESSAGE_TYPE_NOT_IMPLEMENTED = 97
CAUSE_PROTOCOL_ERROR = 111
CAUSE_INTERWORKING = 127

# Call state values (Q.931 clause 4.5.7)
CALL_STATE_NULL = 0
CALL_STATE_CALL_INITIATED = 1
CALL_STATE_OUTGOING_CALL_PROCEEDING = 3
CALL_STATE_CALL_DELIVERED = 4
CALL_STATE_CALL_PRESENT = 6
CALL_STATE_CALL_RECEIVED = 7
CALL_STATE_INCOMING_CALL_PROCEEDING = 9
CALL_STATE_ACTIVE = 10

# Party numbers (Q.931 clause 4.5.8 / 4.5.10): type of number and numbering plan
TYPE_OF_NUMBER_UNKNOWN = 0
TYPE_OF_NUMBER_INTERNATIONAL = 1
TYPE_OF_NUMBER_NATIONAL = 2
NUMBERING_PLAN_UNKNOWN = 0
NUMBERING_PLAN_ISDN = 1
NUMBERING_PLAN_PRIVATE = 9
PRESENTATION_ALLOWED_USER_PROVIDED = 0x00


@dataclass(frozen=True, slots=True)
class InformationElement:
    """One IE as received: `identifier` and its contents (no identifier, no length).

    A single-octet IE (bit 8 of the identifier set) has empty contents."""

    identifier: int
    contents: bytes = b""

    @property
    def single_octet(self) -> bool:
        return bool(self.identifier & IE_SINGLE_OCTET_BIT)

    def to_bytes(self) -> bytes:
        if self.single_octet:
            return bytes((self.identifier,))
        if self.identifier == IE_USER_USER:
            if len(self.contents) > 0xFFFF:
                raise Q931BadInformationElementError("user-user contents above 65535 bytes")
            return bytes((IE_USER_USER, len(self.contents) >> 8, len(self.contents) & 0xFF)) + (
                self.contents
            )
        if len(self.contents) > 0xFF:
            raise Q931BadInformationElementError(
                f"IE 0x{self.identifier:02x} contents above 255 bytes"
            )
        return bytes((self.identifier, len(self.contents))) + self.contents


@dataclass(frozen=True, slots=True)
class Cause:
    """Cause IE (Q.931 clause 4.5.12): a Q.850 cause value and where it was generated."""

    value: int
    location: int = CAUSE_LOCATION_USER
    diagnostics: bytes = b""

    def to_contents(self) -> bytes:
        if not 0 <= self.value <= 0x7F:
            raise Q931BadInformationElementError(f"cause value {self.value} outside 0..127")
        return bytes((0x80 | CAUSE_CODING_ITU << 5 | self.location & 0x0F, 0x80 | self.value)) + (
            self.diagnostics
        )

    @classmethod
    def from_contents(cls, data: bytes) -> Cause:
        if len(data) < 2:
            raise Q931BadInformationElementError("cause IE shorter than 2 octets")
        location = data[0] & 0x0F
        index = 1
        if not data[0] & 0x80:  # octet 3a (recommendation) present
            index = 2
        if len(data) <= index:
            raise Q931BadInformationElementError("cause IE has no cause value octet")
        return cls(data[index] & 0x7F, location, bytes(data[index + 1 :]))


@dataclass(frozen=True, slots=True)
class PartyNumber:
    """Called/Calling party number or Connected number (Q.931 clauses 4.5.8, 4.5.10):
    IA5 digits with a type of number and a numbering plan."""

    digits: str
    type_of_number: int = TYPE_OF_NUMBER_UNKNOWN
    numbering_plan: int = NUMBERING_PLAN_ISDN
    presentation: int | None = None  # octet 3a of the calling/connected number

    def to_contents(self) -> bytes:
        octet3 = (self.type_of_number & 0x07) << 4 | self.numbering_plan & 0x0F
        try:
            digits = self.digits.encode("ascii")
        except UnicodeEncodeError as exc:
            raise Q931BadInformationElementError("party number digits are not IA5") from exc
        if self.presentation is None:
            return bytes((0x80 | octet3,)) + digits
        return bytes((octet3, 0x80 | self.presentation)) + digits

    @classmethod
    def from_contents(cls, data: bytes) -> PartyNumber:
        if not data:
            raise Q931BadInformationElementError("party number IE is empty")
        type_of_number = (data[0] >> 4) & 0x07
        plan = data[0] & 0x0F
        presentation = None
        index = 1
        if not data[0] & 0x80:
            if len(data) < 2:
                raise Q931BadInformationElementError("party number IE misses octet 3a")
            presentation = data[1] & 0x7F
            index = 2
        return cls(data[index:].decode("ascii", "replace"), type_of_number, plan, presentation)


@dataclass(frozen=True, slots=True)
class BearerCapability:
    """Bearer capability (Q.931 clause 4.5.5) as H.225.0 clause 7.2.2.1 uses it: an
    information transfer capability and a rate of `multiplier` x 64 kbit/s."""

    transfer_capability: int = BEARER_UNRESTRICTED_DIGITAL
    multiplier: int = 1
    layer1: int | None = BEARER_LAYER1_H221_H242

    def to_contents(self) -> bytes:
        out = bytearray((0x80 | BEARER_CODING_ITU << 5 | self.transfer_capability,))
        if self.multiplier == 1:
            out.append(0x80 | BEARER_MODE_CIRCUIT << 5 | BEARER_RATE_64K)
        else:
            if not 2 <= self.multiplier <= 0x7F:
                raise Q931BadInformationElementError(f"rate multiplier {self.multiplier}")
            out.append(BEARER_MODE_CIRCUIT << 5 | BEARER_RATE_MULTIRATE)
            out.append(0x80 | self.multiplier)
        if self.layer1 is not None:
            out.append(0x80 | LAYER1_IDENTIFIER | self.layer1)
        return bytes(out)

    @classmethod
    def from_contents(cls, data: bytes) -> BearerCapability:
        if len(data) < 2:
            raise Q931BadInformationElementError("bearer capability shorter than 2 octets")
        transfer = data[0] & 0x1F
        index = 1 if data[0] & 0x80 else 2  # octet 3a follows when bit 8 is clear
        if index >= len(data):
            raise Q931BadInformationElementError("bearer capability misses octet 4")
        rate = data[index] & 0x1F
        multiplier = 1
        if rate == BEARER_RATE_MULTIRATE and not data[index] & 0x80:
            if index + 1 >= len(data):
                raise Q931BadInformationElementError("bearer capability misses octet 4.1")
            index += 1
            multiplier = data[index] & 0x7F
        layer1 = None
        if index + 1 < len(data) and data[index + 1] & 0x60 == LAYER1_IDENTIFIER:
            layer1 = data[index + 1] & 0x1F
        return cls(transfer, multiplier, layer1)


@dataclass(slots=True)
class Q931Message:
    """A Q.931 message: message type, call reference and its flag, IEs in order."""

    message_type: int
    call_reference: int
    from_destination: bool = False  # the call reference flag (Q.931 clause 4.3)
    ies: list[InformationElement] = field(default_factory=list)
    call_reference_length: int = CALL_REFERENCE_LENGTH_H225

    @property
    def name(self) -> str:
        return MESSAGE_NAMES.get(self.message_type, f"0x{self.message_type:02x}")

    def get(self, identifier: int) -> bytes | None:
        """Contents of the first IE with this identifier, or None."""
        for ie in self.ies:
            if ie.identifier == identifier:
                return ie.contents
        return None

    def set(self, identifier: int, contents: bytes) -> None:
        """Replaces (or inserts in ascending identifier order, Q.931 clause 4.5.1) an IE."""
        for index, ie in enumerate(self.ies):
            if ie.identifier == identifier:
                self.ies[index] = InformationElement(identifier, contents)
                return
        position = len(self.ies)
        for index, ie in enumerate(self.ies):
            if not ie.single_octet and ie.identifier > identifier:
                position = index
                break
        self.ies.insert(position, InformationElement(identifier, contents))

    @property
    def user_user(self) -> bytes | None:
        """The H.225.0 PER carried in the User-user IE (protocol discriminator stripped)."""
        contents = self.get(IE_USER_USER)
        if contents is None:
            return None
        if not contents or contents[0] != USER_USER_PROTOCOL_X208:
            raise Q931BadInformationElementError(
                "user-user IE protocol discriminator is not 5 (X.208/X.209 coded)"
            )
        return contents[1:]

    @user_user.setter
    def user_user(self, per: bytes) -> None:
        self.set(IE_USER_USER, bytes((USER_USER_PROTOCOL_X208,)) + per)

    def require_user_user(self) -> bytes:
        per = self.user_user
        if per is None:
            raise Q931MissingUserUserError(f"{self.name} carries no H.225.0 user-user IE")
        return per

    @property
    def display(self) -> str | None:
        contents = self.get(IE_DISPLAY)
        if contents is None:
            return None
        try:
            return contents.decode("utf-8")
        except UnicodeDecodeError:
            return contents.decode("latin-1")

    @display.setter
    def display(self, text: str) -> None:
        self.set(IE_DISPLAY, text.encode("utf-8")[:0xFF])

    @property
    def cause(self) -> Cause | None:
        contents = self.get(IE_CAUSE)
        return None if contents is None else Cause.from_contents(contents)

    @cause.setter
    def cause(self, cause: Cause) -> None:
        self.set(IE_CAUSE, cause.to_contents())

    @property
    def bearer_capability(self) -> BearerCapability | None:
        contents = self.get(IE_BEARER_CAPABILITY)
        return None if contents is None else BearerCapability.from_contents(contents)

    @bearer_capability.setter
    def bearer_capability(self, bearer: BearerCapability) -> None:
        self.set(IE_BEARER_CAPABILITY, bearer.to_contents())

    @property
    def called_number(self) -> PartyNumber | None:
        contents = self.get(IE_CALLED_PARTY_NUMBER)
        return None if contents is None else PartyNumber.from_contents(contents)

    @called_number.setter
    def called_number(self, number: PartyNumber) -> None:
        self.set(IE_CALLED_PARTY_NUMBER, number.to_contents())

    @property
    def calling_number(self) -> PartyNumber | None:
        contents = self.get(IE_CALLING_PARTY_NUMBER)
        return None if contents is None else PartyNumber.from_contents(contents)

    @calling_number.setter
    def calling_number(self, number: PartyNumber) -> None:
        self.set(IE_CALLING_PARTY_NUMBER, number.to_contents())

    @property
    def call_state(self) -> int | None:
        contents = self.get(IE_CALL_STATE)
        if contents is None:
            return None
        if not contents:
            raise Q931BadInformationElementError("call state IE is empty")
        return contents[0] & 0x3F

    @call_state.setter
    def call_state(self, state: int) -> None:
        self.set(IE_CALL_STATE, bytes((state & 0x3F,)))

    def to_bytes(self) -> bytes:
        length = self.call_reference_length
        if not 0 <= length <= MAX_CALL_REFERENCE_LENGTH:
            raise Q931BadCallReferenceError(f"call reference length {length}")
        if length == 0:
            if self.call_reference:
                raise Q931BadCallReferenceError("a null call reference has no value")
            reference = b""
        else:
            limit = 1 << (8 * length - 1)
            if not 0 <= self.call_reference < limit:
                raise Q931BadCallReferenceError(
                    f"call reference {self.call_reference} does not fit {length} octets"
                )
            raw = bytearray(self.call_reference.to_bytes(length, "big"))
            if self.from_destination:
                raw[0] |= CALL_REFERENCE_FLAG
            reference = bytes(raw)
        if not 0 <= self.message_type <= 0x7F:
            raise Q931BadMessageTypeError(f"message type 0x{self.message_type:x}")
        head = bytes((PROTOCOL_DISCRIMINATOR_Q931, length)) + reference
        return head + bytes((self.message_type,)) + b"".join(ie.to_bytes() for ie in self.ies)

    def __bytes__(self) -> bytes:
        return self.to_bytes()


def parse_q931(data: bytes) -> Q931Message:
    """Parses one Q.931 message (Q.931 clause 4), keeping its IEs byte for byte.

    Raises a Q931Error subclass for anything else: a wrong discriminator, a call reference
    longer than the message, an escape message type, an IE running past the end."""
    if len(data) < 3:
        raise Q931TruncatedError(f"Q.931 message of {len(data)} bytes")
    if data[0] != PROTOCOL_DISCRIMINATOR_Q931:
        raise Q931BadDiscriminatorError(
            f"protocol discriminator 0x{data[0]:02x}, expected 0x08 (Q.931)"
        )
    if data[1] & 0xF0:
        raise Q931BadCallReferenceError(f"call reference length octet 0x{data[1]:02x}")
    length = data[1] & 0x0F
    if length > MAX_CALL_REFERENCE_LENGTH:
        raise Q931BadCallReferenceError(f"call reference of {length} octets")
    if len(data) < 2 + length + 1:
        raise Q931TruncatedError("Q.931 message ends inside its call reference or type")
    raw = data[2 : 2 + length]
    flag = bool(raw and raw[0] & CALL_REFERENCE_FLAG)
    value = int.from_bytes(bytes((raw[0] & 0x7F,)) + raw[1:], "big") if raw else 0
    message_type = data[2 + length]
    if message_type & 0x80:
        raise Q931BadMessageTypeError(f"message type 0x{message_type:02x} (escape or invalid)")
    ies: list[InformationElement] = []
    index = 3 + length
    while index < len(data):
        identifier = data[index]
        if identifier & IE_SINGLE_OCTET_BIT:
            ies.append(InformationElement(identifier))
            index += 1
            continue
        if identifier == IE_USER_USER:
            if index + 3 > len(data):
                raise Q931TruncatedError("user-user IE ends inside its length")
            ie_length = (data[index + 1] << 8) | data[index + 2]
            start = index + 3
        else:
            if index + 2 > len(data):
                raise Q931TruncatedError(f"IE 0x{identifier:02x} ends inside its length")
            ie_length = data[index + 1]
            start = index + 2
        if start + ie_length > len(data):
            raise Q931TruncatedError(
                f"IE 0x{identifier:02x} says {ie_length} bytes, {len(data) - start} left"
            )
        ies.append(InformationElement(identifier, bytes(data[start : start + ie_length])))
        index = start + ie_length
    return Q931Message(message_type, value, flag, ies, length)


__all__ = [
    "BearerCapability",
    "Cause",
    "InformationElement",
    "PartyNumber",
    "Q931Error",
    "Q931Message",
    "parse_q931",
]
