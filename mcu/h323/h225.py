"""H.225.0 call-signalling UUIEs (H.225.0 clause 7.6 and Annex H ASN.1): build and parse.

The H323-UserInformation carried in a Q.931 User-user IE (clause 7.2.2.28) holds one body
(Setup-UUIE, Connect-UUIE, ...), the H.245 tunnelling flag and tunnelled H.245 PDUs
(clause 10.3: h245Tunnelling, h245Control). Here each body is a small dataclass;
`encode_user_information` and `decode_user_information` go through pycrate (mcu.h323.per),
and `build_q931` / `parse_signalling` wrap them in Q.931 messages.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from . import per
from .errors import H225DecodeError, H225EncodeError, H225UnexpectedError
from .q931 import (
    MSG_ALERTING,
    MSG_CALL_PROCEEDING,
    MSG_CONNECT,
    MSG_FACILITY,
    MSG_INFORMATION,
    MSG_NOTIFY,
    MSG_PROGRESS,
    MSG_RELEASE_COMPLETE,
    MSG_SETUP,
    MSG_SETUP_ACKNOWLEDGE,
    MSG_STATUS,
    MSG_STATUS_INQUIRY,
    Q931Message,
    parse_q931,
)

# H.225.0 clause 12 / Annex H: protocolIdentifier {itu-t(0) recommendation(0) h(8) 2250 0 v}
H225_PROTOCOL_VERSION = 4
H225_PROTOCOL_OID_PREFIX = (0, 0, 8, 2250, 0)
GUID_LENGTH = 16  # ConferenceIdentifier and CallIdentifier.guid (clause 7.6)

Address = tuple[str, int]  # (IP literal, port)

# AliasAddress choices (H.225.0 Annex H)
ALIAS_DIALED_DIGITS = "dialledDigits"
ALIAS_H323_ID = "h323-ID"
ALIAS_URL = "url-ID"
ALIAS_EMAIL = "email-ID"
_STRING_ALIASES = (ALIAS_DIALED_DIGITS, ALIAS_H323_ID, ALIAS_URL, ALIAS_EMAIL)

# H323-message-body choices
BODY_SETUP = "setup"
BODY_CALL_PROCEEDING = "callProceeding"
BODY_CONNECT = "connect"
BODY_ALERTING = "alerting"
BODY_INFORMATION = "information"
BODY_RELEASE_COMPLETE = "releaseComplete"
BODY_FACILITY = "facility"
BODY_PROGRESS = "progress"
BODY_EMPTY = "empty"
BODY_STATUS = "status"
BODY_STATUS_INQUIRY = "statusInquiry"
BODY_SETUP_ACKNOWLEDGE = "setupAcknowledge"
BODY_NOTIFY = "notify"

# The Q.931 message that carries each body (clause 7.3); "empty" rides in a Facility
# (clause 10.3.1: a message sent only to carry tunnelled H.245).
Q931_TYPE_OF_BODY = {
    BODY_SETUP: MSG_SETUP,
    BODY_CALL_PROCEEDING: MSG_CALL_PROCEEDING,
    BODY_CONNECT: MSG_CONNECT,
    BODY_ALERTING: MSG_ALERTING,
    BODY_INFORMATION: MSG_INFORMATION,
    BODY_RELEASE_COMPLETE: MSG_RELEASE_COMPLETE,
    BODY_FACILITY: MSG_FACILITY,
    BODY_PROGRESS: MSG_PROGRESS,
    BODY_EMPTY: MSG_FACILITY,
    BODY_STATUS: MSG_STATUS,
    BODY_STATUS_INQUIRY: MSG_STATUS_INQUIRY,
    BODY_SETUP_ACKNOWLEDGE: MSG_SETUP_ACKNOWLEDGE,
    BODY_NOTIFY: MSG_NOTIFY,
}

# FacilityReason (clause 7.4.2)
FACILITY_START_H245 = "startH245"
FACILITY_UNDEFINED = "undefinedReason"
FACILITY_TRANSPORTED_INFORMATION = "transportedInformation"
FACILITY_NO_H245 = "noH245"

# ReleaseCompleteReason (clause 7.4.8, Table 5)
REASON_NO_BANDWIDTH = "noBandwidth"
REASON_GATEKEEPER_RESOURCES = "gatekeeperResources"
REASON_UNREACHABLE_DESTINATION = "unreachableDestination"
REASON_DESTINATION_REJECTION = "destinationRejection"
REASON_INVALID_REVISION = "invalidRevision"
REASON_NO_PERMISSION = "noPermission"
REASON_GATEWAY_RESOURCES = "gatewayResources"
REASON_BAD_FORMAT_ADDRESS = "badFormatAddress"
REASON_ADAPTIVE_BUSY = "adaptiveBusy"
REASON_IN_CONF = "inConf"
REASON_UNDEFINED = "undefinedReason"
REASON_SECURITY_DENIED = "securityDenied"
REASON_CALLED_PARTY_NOT_REGISTERED = "calledPartyNotRegistered"
REASON_NEEDED_FEATURE_NOT_SUPPORTED = "neededFeatureNotSupported"

ENDPOINT_TERMINAL = "terminal"
ENDPOINT_MCU = "mcu"
ENDPOINT_GATEWAY = "gateway"


def address_to_asn(address: Address) -> tuple[str, dict[str, Any]]:
    """A TransportAddress (H.225.0 Annex H) for an (IP, port) pair, IPv4 or IPv6."""
    host, port = address
    ip = ipaddress.ip_address(host)
    kind = "ipAddress" if ip.version == 4 else "ip6Address"
    return (kind, {"ip": ip.packed, "port": port})


def address_from_asn(value: Any) -> Address | None:
    """(IP, port) from a TransportAddress; None for the kinds we cannot reach (IPX...)."""
    kind, inner = value
    if kind in ("ipAddress", "ip6Address"):
        return (str(ipaddress.ip_address(bytes(inner["ip"]))), int(inner["port"]))
    return None


@dataclass(frozen=True, slots=True)
class Alias:
    """An AliasAddress: `kind` is one of the ALIAS_* names, `value` its text."""

    kind: str
    value: str

    def to_asn(self) -> tuple[str, str]:
        if self.kind not in _STRING_ALIASES:
            raise H225EncodeError(f"alias kind {self.kind!r} is not one we build")
        return (self.kind, self.value)

    @classmethod
    def from_asn(cls, value: Any) -> Alias | None:
        kind, inner = value
        if kind in _STRING_ALIASES and isinstance(inner, str):
            return cls(kind, inner)
        return None


def _aliases_from_asn(values: Any) -> list[Alias]:
    out = []
    for value in values or []:
        alias = Alias.from_asn(value)
        if alias is not None:
            out.append(alias)
    return out


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("latin-1")


@dataclass(frozen=True, slots=True)
class VendorInfo:
    """VendorIdentifier (H.225.0 clause 7.6.x): a T.35 code and product/version strings."""

    product: str = ""
    version: str = ""
    t35_country: int = 0xB5
    t35_extension: int = 0
    manufacturer: int = 0

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "vendor": {
                "t35CountryCode": self.t35_country,
                "t35Extension": self.t35_extension,
                "manufacturerCode": self.manufacturer,
            }
        }
        if self.product:
            value["productId"] = self.product.encode("latin-1")[:256]
        if self.version:
            value["versionId"] = self.version.encode("latin-1")[:256]
        return value

    @classmethod
    def from_asn(cls, value: Any) -> VendorInfo:
        vendor = value["vendor"]
        return cls(
            _text(value.get("productId", b"")),
            _text(value.get("versionId", b"")),
            vendor["t35CountryCode"],
            vendor["t35Extension"],
            vendor["manufacturerCode"],
        )


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """EndpointType (clause 7.6.x): what the endpoint is, and whether it has an MC."""

    vendor: VendorInfo | None = None
    kind: str = ENDPOINT_TERMINAL
    mc: bool = False

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {}
        if self.vendor is not None:
            value["vendor"] = self.vendor.to_asn()
        value[self.kind] = {}
        value["mc"] = self.mc
        value["undefinedNode"] = False
        return value

    @classmethod
    def from_asn(cls, value: Any) -> EndpointInfo:
        kind = next(
            (k for k in (ENDPOINT_MCU, ENDPOINT_GATEWAY, ENDPOINT_TERMINAL) if k in value),
            ENDPOINT_TERMINAL,
        )
        vendor = VendorInfo.from_asn(value["vendor"]) if "vendor" in value else None
        return cls(vendor, kind, bool(value.get("mc", False)))


def _protocol_id(version: int) -> tuple[int, ...]:
    return H225_PROTOCOL_OID_PREFIX + (version,)


def _guid(raw: Any, what: str) -> bytes:
    raw = bytes(raw)
    if len(raw) != GUID_LENGTH:
        raise H225DecodeError(f"{what} of {len(raw)} bytes, expected {GUID_LENGTH}")
    return raw


@dataclass(slots=True)
class Setup:
    """Setup-UUIE (clause 7.3.10 / 7.4.x)."""

    conference_id: bytes
    call_id: bytes
    source_info: EndpointInfo = field(default_factory=EndpointInfo)
    source_aliases: list[Alias] = field(default_factory=list)
    destination_aliases: list[Alias] = field(default_factory=list)
    dest_call_signal_address: Address | None = None
    source_call_signal_address: Address | None = None
    h245_address: Address | None = None
    fast_start: list[bytes] | None = None  # encoded OpenLogicalChannel proposals
    active_mc: bool = False
    conference_goal: str = "create"
    media_wait_for_connect: bool = False
    protocol_version: int = H225_PROTOCOL_VERSION

    body = BODY_SETUP

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {"protocolIdentifier": _protocol_id(self.protocol_version)}
        if self.h245_address is not None:
            value["h245Address"] = address_to_asn(self.h245_address)
        if self.source_aliases:
            value["sourceAddress"] = [a.to_asn() for a in self.source_aliases]
        value["sourceInfo"] = self.source_info.to_asn()
        if self.destination_aliases:
            value["destinationAddress"] = [a.to_asn() for a in self.destination_aliases]
        if self.dest_call_signal_address is not None:
            value["destCallSignalAddress"] = address_to_asn(self.dest_call_signal_address)
        value["activeMC"] = self.active_mc
        value["conferenceID"] = self.conference_id
        value["conferenceGoal"] = (self.conference_goal, 0)
        value["callType"] = ("pointToPoint", 0)
        if self.source_call_signal_address is not None:
            value["sourceCallSignalAddress"] = address_to_asn(self.source_call_signal_address)
        value["callIdentifier"] = {"guid": self.call_id}
        if self.fast_start is not None:
            value["fastStart"] = list(self.fast_start)
        value["mediaWaitForConnect"] = self.media_wait_for_connect
        value["canOverlapSend"] = False
        value["multipleCalls"] = False
        value["maintainConnection"] = False
        return value

    @classmethod
    def from_asn(cls, value: Any) -> Setup:
        call_id = value.get("callIdentifier", {}).get("guid", value["conferenceID"])
        dest = value.get("destCallSignalAddress")
        source = value.get("sourceCallSignalAddress")
        h245 = value.get("h245Address")
        return cls(
            conference_id=_guid(value["conferenceID"], "conferenceID"),
            call_id=_guid(call_id, "callIdentifier"),
            source_info=EndpointInfo.from_asn(value["sourceInfo"]),
            source_aliases=_aliases_from_asn(value.get("sourceAddress")),
            destination_aliases=_aliases_from_asn(value.get("destinationAddress")),
            dest_call_signal_address=address_from_asn(dest) if dest else None,
            source_call_signal_address=address_from_asn(source) if source else None,
            h245_address=address_from_asn(h245) if h245 else None,
            fast_start=[bytes(b) for b in value["fastStart"]] if "fastStart" in value else None,
            active_mc=bool(value.get("activeMC", False)),
            conference_goal=value["conferenceGoal"][0],
            media_wait_for_connect=bool(value.get("mediaWaitForConnect", False)),
            protocol_version=value["protocolIdentifier"][-1],
        )


@dataclass(slots=True)
class _Answer:
    """Common shape of CallProceeding, Alerting and Connect (clauses 7.3.2, 7.3.1, 7.3.3)."""

    call_id: bytes
    destination_info: EndpointInfo = field(default_factory=EndpointInfo)
    h245_address: Address | None = None
    fast_start: list[bytes] | None = None
    protocol_version: int = H225_PROTOCOL_VERSION

    body = ""

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {"protocolIdentifier": _protocol_id(self.protocol_version)}
        if self.h245_address is not None:
            value["h245Address"] = address_to_asn(self.h245_address)
        value["destinationInfo"] = self.destination_info.to_asn()
        value["callIdentifier"] = {"guid": self.call_id}
        if self.fast_start is not None:
            value["fastStart"] = list(self.fast_start)
        value["multipleCalls"] = False
        value["maintainConnection"] = False
        return value

    @classmethod
    def _fields_from_asn(cls, value: Any) -> dict[str, Any]:
        h245 = value.get("h245Address")
        return {
            "call_id": _guid(value.get("callIdentifier", {}).get("guid", bytes(16)), "callId"),
            "destination_info": EndpointInfo.from_asn(value["destinationInfo"]),
            "h245_address": address_from_asn(h245) if h245 else None,
            "fast_start": [bytes(b) for b in value["fastStart"]] if "fastStart" in value else None,
            "protocol_version": value["protocolIdentifier"][-1],
        }

    @classmethod
    def from_asn(cls, value: Any) -> Any:
        return cls(**cls._fields_from_asn(value))


@dataclass(slots=True)
class CallProceeding(_Answer):
    body = BODY_CALL_PROCEEDING


@dataclass(slots=True)
class Alerting(_Answer):
    body = BODY_ALERTING


@dataclass(slots=True)
class Progress(_Answer):
    body = BODY_PROGRESS


@dataclass(slots=True)
class Connect(_Answer):
    """Connect-UUIE (clause 7.3.3); an MCU answers with destinationInfo.mc TRUE."""

    conference_id: bytes = bytes(GUID_LENGTH)

    body = BODY_CONNECT

    def to_asn(self) -> dict[str, Any]:
        value = _Answer.to_asn(self)
        ordered: dict[str, Any] = {}
        for key in ("protocolIdentifier", "h245Address", "destinationInfo"):
            if key in value:
                ordered[key] = value[key]
        ordered["conferenceID"] = self.conference_id
        for key in ("callIdentifier", "fastStart", "multipleCalls", "maintainConnection"):
            if key in value:
                ordered[key] = value[key]
        return ordered

    @classmethod
    def from_asn(cls, value: Any) -> Connect:
        fields = cls._fields_from_asn(value)
        return cls(conference_id=_guid(value["conferenceID"], "conferenceID"), **fields)


@dataclass(slots=True)
class ReleaseComplete:
    """ReleaseComplete-UUIE (clause 7.3.9), with an optional ReleaseCompleteReason."""

    call_id: bytes
    reason: str | None = None
    protocol_version: int = H225_PROTOCOL_VERSION

    body = BODY_RELEASE_COMPLETE

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {"protocolIdentifier": _protocol_id(self.protocol_version)}
        if self.reason is not None:
            value["reason"] = (self.reason, 0)
        value["callIdentifier"] = {"guid": self.call_id}
        return value

    @classmethod
    def from_asn(cls, value: Any) -> ReleaseComplete:
        reason = value.get("reason")
        return cls(
            _guid(value.get("callIdentifier", {}).get("guid", bytes(16)), "callIdentifier"),
            reason[0] if reason else None,
            value["protocolIdentifier"][-1],
        )


@dataclass(slots=True)
class Facility:
    """Facility-UUIE (clause 7.3.5); reason startH245 with an h245Address asks the peer to
    open a separate H.245 channel to that address (clause 8.2.3)."""

    call_id: bytes
    reason: str = FACILITY_UNDEFINED
    conference_id: bytes | None = None
    h245_address: Address | None = None
    protocol_version: int = H225_PROTOCOL_VERSION

    body = BODY_FACILITY

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {"protocolIdentifier": _protocol_id(self.protocol_version)}
        if self.conference_id is not None:
            value["conferenceID"] = self.conference_id
        value["reason"] = (self.reason, 0)
        value["callIdentifier"] = {"guid": self.call_id}
        if self.h245_address is not None:
            value["h245Address"] = address_to_asn(self.h245_address)
        value["multipleCalls"] = False
        value["maintainConnection"] = False
        return value

    @classmethod
    def from_asn(cls, value: Any) -> Facility:
        h245 = value.get("h245Address")
        conf = value.get("conferenceID")
        return cls(
            _guid(value.get("callIdentifier", {}).get("guid", bytes(16)), "callIdentifier"),
            value["reason"][0],
            _guid(conf, "conferenceID") if conf is not None else None,
            address_from_asn(h245) if h245 else None,
            value["protocolIdentifier"][-1],
        )


@dataclass(slots=True)
class _CallIdOnly:
    """Status, StatusInquiry, Information and Notify UUIEs: protocol id and call id."""

    call_id: bytes
    protocol_version: int = H225_PROTOCOL_VERSION

    body = ""

    def to_asn(self) -> dict[str, Any]:
        return {
            "protocolIdentifier": _protocol_id(self.protocol_version),
            "callIdentifier": {"guid": self.call_id},
        }

    @classmethod
    def from_asn(cls, value: Any) -> Any:
        guid = value.get("callIdentifier", {}).get("guid", bytes(16))
        return cls(_guid(guid, "callIdentifier"), value["protocolIdentifier"][-1])


@dataclass(slots=True)
class Status(_CallIdOnly):
    body = BODY_STATUS


@dataclass(slots=True)
class StatusInquiry(_CallIdOnly):
    body = BODY_STATUS_INQUIRY


@dataclass(slots=True)
class Information(_CallIdOnly):
    body = BODY_INFORMATION


@dataclass(slots=True)
class Notify(_CallIdOnly):
    body = BODY_NOTIFY


@dataclass(slots=True)
class Empty:
    """The "empty" body (v4+): a message that only carries tunnelled H.245."""

    body = BODY_EMPTY

    def to_asn(self) -> int:
        return 0  # NULL

    @classmethod
    def from_asn(cls, value: Any) -> Empty:
        return cls()


@dataclass(slots=True)
class Unknown:
    """A body we do not act on (setupAcknowledge...): kept by name only."""

    name: str

    @property
    def body(self) -> str:
        return self.name

    def to_asn(self) -> Any:
        raise H225EncodeError(f"cannot build a {self.name} body")


Body = (
    Setup
    | CallProceeding
    | Alerting
    | Progress
    | Connect
    | ReleaseComplete
    | Facility
    | Status
    | StatusInquiry
    | Information
    | Notify
    | Empty
    | Unknown
)

_BODY_TYPES: dict[str, Any] = {
    BODY_SETUP: Setup,
    BODY_CALL_PROCEEDING: CallProceeding,
    BODY_ALERTING: Alerting,
    BODY_PROGRESS: Progress,
    BODY_CONNECT: Connect,
    BODY_RELEASE_COMPLETE: ReleaseComplete,
    BODY_FACILITY: Facility,
    BODY_STATUS: Status,
    BODY_STATUS_INQUIRY: StatusInquiry,
    BODY_INFORMATION: Information,
    BODY_NOTIFY: Notify,
    BODY_EMPTY: Empty,
}


@dataclass(slots=True)
class UserInformation:
    """H323-UserInformation: one body, the tunnelling flag, tunnelled H.245 PDUs."""

    body: Body
    h245_tunnelling: bool = False
    h245_control: list[bytes] = field(default_factory=list)

    def to_asn(self) -> dict[str, Any]:
        pdu: dict[str, Any] = {"h323-message-body": (self.body.body, self.body.to_asn())}
        pdu["h245Tunnelling"] = self.h245_tunnelling
        if self.h245_control:
            pdu["h245Control"] = list(self.h245_control)
        return {"h323-uu-pdu": pdu}


def encode_user_information(info: UserInformation) -> bytes:
    """Aligned PER of an H323-UserInformation (H.225.0 Annex H)."""
    return per.encode("h225", info.to_asn(), H225EncodeError)


def decode_user_information(data: bytes) -> UserInformation:
    """Parses an H323-UserInformation; raises H225DecodeError on anything malformed."""
    value = per.decode("h225", data, H225DecodeError)
    try:
        pdu = value["h323-uu-pdu"]
        name, inner = pdu["h323-message-body"]
        body_type = _BODY_TYPES.get(name)
        body: Body = body_type.from_asn(inner) if body_type else Unknown(name)
        return UserInformation(
            body,
            bool(pdu.get("h245Tunnelling", False)),
            [bytes(b) for b in pdu.get("h245Control", [])],
        )
    except H225DecodeError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise H225DecodeError(f"H323-UserInformation misses a field: {exc}") from exc


def build_q931(
    info: UserInformation,
    call_reference: int,
    from_destination: bool,
    *,
    display: str | None = None,
    prepare: Any = None,
) -> Q931Message:
    """The Q.931 message that carries `info` (clause 7.3), with its User-user IE set.

    `prepare(message)`, if given, adds other IEs (bearer capability, numbers, cause)."""
    message = Q931Message(Q931_TYPE_OF_BODY[info.body.body], call_reference, from_destination)
    if display:
        message.display = display
    if prepare is not None:
        prepare(message)
    message.user_user = encode_user_information(info)
    return message


@dataclass(slots=True)
class SignallingMessage:
    """A parsed call-signalling message: the Q.931 envelope and the H.225.0 contents."""

    q931: Q931Message
    info: UserInformation


def parse_signalling(data: bytes) -> SignallingMessage:
    """Parses a TPKT payload of the call-signalling channel: Q.931 + H.225.0 UUIE.

    A body that another Q.931 message type should carry raises H225UnexpectedError."""
    message = parse_q931(data)
    info = decode_user_information(message.require_user_user())
    expected = Q931_TYPE_OF_BODY.get(info.body.body)
    # H.225.0 v4 endpoints send "empty" and Facility UUIEs in other messages too
    tolerated = info.body.body in (BODY_EMPTY, BODY_FACILITY)
    if expected is not None and expected != message.message_type and not tolerated:
        raise H225UnexpectedError(f"{info.body.body} UUIE inside a Q.931 {message.name} message")
    return SignallingMessage(message, info)
