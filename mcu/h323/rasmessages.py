"""H.225.0 RAS messages (clause 7, Annex H ASN.1 RasMessage): build and parse.

Each message we send or answer is a small dataclass with `to_asn()` / `from_asn()`;
`encode_ras` and `decode_ras` go through pycrate's aligned PER, as mcu.h323.h225 does for the
call-signalling UUIEs. A RasMessage we do not model (BRQ, LRQ, ...) decodes as `UnknownRas`
with its name and sequence number, so that an endpoint can still answer it.

Both sides are here (requests and confirms): the endpoint core (mcu.h323.ras) and the test
gatekeeper (mcu.synthetic.gatekeeper) build and read the same types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import per
from .errors import RasDecodeError, RasEncodeError
from .h225 import (
    GUID_LENGTH,
    H225_PROTOCOL_OID_PREFIX,
    Address,
    Alias,
    EndpointInfo,
    VendorInfo,
    address_from_asn,
    address_to_asn,
)

RAS_PORT = 1719  # H.225.0 clause 7: the well-known RAS port (discovery multicast is not used)
RAS_PROTOCOL_VERSION = 4  # as our call signalling (mcu.h323.h225.H225_PROTOCOL_VERSION)
SEQ_MIN, SEQ_MAX = 1, 65535  # RequestSeqNum ::= INTEGER (1..65535)
CALL_MODEL_DIRECT = "direct"  # call signalling goes endpoint to endpoint
CALL_MODEL_ROUTED = "gatekeeperRouted"

# RasMessage choices
GRQ, GCF, GRJ = "gatekeeperRequest", "gatekeeperConfirm", "gatekeeperReject"
RRQ, RCF, RRJ = "registrationRequest", "registrationConfirm", "registrationReject"
URQ, UCF, URJ = "unregistrationRequest", "unregistrationConfirm", "unregistrationReject"
ARQ, ACF, ARJ = "admissionRequest", "admissionConfirm", "admissionReject"
DRQ, DCF, DRJ = "disengageRequest", "disengageConfirm", "disengageReject"
IRQ, IRR = "infoRequest", "infoRequestResponse"
RIP = "requestInProgress"
XRS = "unknownMessageResponse"

# reject and drop reasons we act on by name (the others are passed on as text)
RRJ_FULL_REGISTRATION_REQUIRED = "fullRegistrationRequired"
RRJ_DISCOVERY_REQUIRED = "discoveryRequired"
ARJ_NOT_REGISTERED = frozenset({"callerNotRegistered", "invalidEndpointIdentifier"})
DRQ_NORMAL = "normalDrop"
DRQ_FORCED = "forcedDrop"


_ras_types: dict[str, Any] = {}


def _ras_type() -> Any:
    obj = _ras_types.get("ras")
    if obj is None:
        per._patch_pycrate()  # the same SEQUENCE-extension fix as the UUIEs need
        from pycrate_asn1dir import H225  # type: ignore[import-untyped]

        obj = _ras_types["ras"] = H225.H323_MESSAGES.RasMessage
    return obj


def _protocol_id(version: int) -> tuple[int, ...]:
    return H225_PROTOCOL_OID_PREFIX + (version,)


def _addresses(values: Any) -> list[Address]:
    return [a for a in (address_from_asn(v) for v in values or []) if a is not None]


def _address(value: Any) -> Address | None:
    return address_from_asn(value) if value is not None else None


def _aliases(values: Any) -> list[Alias]:
    return [a for a in (Alias.from_asn(v) for v in values or []) if a is not None]


def _guid(raw: Any, what: str) -> bytes:
    raw = bytes(raw)
    if len(raw) != GUID_LENGTH:
        raise RasDecodeError(f"{what} of {len(raw)} bytes, expected {GUID_LENGTH}")
    return raw


def _reason(value: Any) -> str:
    return str(value[0])  # a CHOICE: (name, value); the name is what we act on


def _null_choice(name: str) -> tuple[str, int]:
    return (name, 0)


def _put(value: dict[str, Any], key: str, item: Any) -> None:
    """Sets an OPTIONAL field only when it has a value (None and [] are left out)."""
    if item is not None and item != []:
        value[key] = item


@dataclass(slots=True)
class GatekeeperRequest:
    """GRQ (clause 7.8.1): which gatekeeper will have us, and at which RAS address."""

    seq: int
    ras_address: Address
    endpoint: EndpointInfo
    gatekeeper_id: str | None = None
    aliases: list[Alias] = field(default_factory=list)
    protocol_version: int = RAS_PROTOCOL_VERSION

    name = GRQ

    def to_asn(self) -> dict[str, Any]:
        value = {"requestSeqNum": self.seq, "protocolIdentifier": _protocol_id(self.protocol_version),
                 "rasAddress": address_to_asn(self.ras_address), "endpointType": self.endpoint.to_asn()}
        _put(value, "gatekeeperIdentifier", self.gatekeeper_id)
        _put(value, "endpointAlias", [a.to_asn() for a in self.aliases])
        return value

    @classmethod
    def from_asn(cls, v: Any) -> GatekeeperRequest:
        ras = _address(v["rasAddress"])
        if ras is None:
            raise RasDecodeError("GRQ rasAddress is not an IP address")
        return cls(v["requestSeqNum"], ras, EndpointInfo.from_asn(v["endpointType"]),
                   v.get("gatekeeperIdentifier"), _aliases(v.get("endpointAlias")),
                   v["protocolIdentifier"][-1])


@dataclass(slots=True)
class GatekeeperConfirm:
    """GCF (clause 7.8.2): the gatekeeper's name and the RAS address to register at."""

    seq: int
    ras_address: Address
    gatekeeper_id: str | None = None
    protocol_version: int = RAS_PROTOCOL_VERSION

    name = GCF

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {"requestSeqNum": self.seq,
                                 "protocolIdentifier": _protocol_id(self.protocol_version)}
        _put(value, "gatekeeperIdentifier", self.gatekeeper_id)
        value["rasAddress"] = address_to_asn(self.ras_address)
        return value

    @classmethod
    def from_asn(cls, v: Any) -> GatekeeperConfirm:
        ras = _address(v["rasAddress"])
        if ras is None:
            raise RasDecodeError("GCF rasAddress is not an IP address")
        return cls(v["requestSeqNum"], ras, v.get("gatekeeperIdentifier"), v["protocolIdentifier"][-1])


@dataclass(slots=True)
class _Reject:
    """The shape of GRJ and RRJ: a reason and the gatekeeper's name."""

    seq: int
    reason: str
    gatekeeper_id: str | None = None
    protocol_version: int = RAS_PROTOCOL_VERSION

    name = ""

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {"requestSeqNum": self.seq,
                                 "protocolIdentifier": _protocol_id(self.protocol_version),
                                 "rejectReason": _null_choice(self.reason)}
        _put(value, "gatekeeperIdentifier", self.gatekeeper_id)
        return value

    @classmethod
    def from_asn(cls, v: Any) -> Any:
        return cls(v["requestSeqNum"], _reason(v["rejectReason"]), v.get("gatekeeperIdentifier"),
                   v["protocolIdentifier"][-1])


@dataclass(slots=True)
class GatekeeperReject(_Reject):
    name = GRJ


@dataclass(slots=True)
class RegistrationReject(_Reject):
    name = RRJ


@dataclass(slots=True)
class RegistrationRequest:
    """RRQ (clause 7.9.1). A lightweight one (keep_alive) refreshes the time to live: it
    carries the endpointIdentifier and no aliases (clause 7.9.1, "keepAlive")."""

    seq: int
    call_signal_addresses: list[Address]
    ras_addresses: list[Address]
    terminal: EndpointInfo
    vendor: VendorInfo
    aliases: list[Alias] = field(default_factory=list)
    gatekeeper_id: str | None = None
    discovery_complete: bool = False
    time_to_live: int | None = None
    keep_alive: bool = False
    endpoint_id: str | None = None
    protocol_version: int = RAS_PROTOCOL_VERSION

    name = RRQ

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "requestSeqNum": self.seq, "protocolIdentifier": _protocol_id(self.protocol_version),
            "discoveryComplete": self.discovery_complete,
            "callSignalAddress": [address_to_asn(a) for a in self.call_signal_addresses],
            "rasAddress": [address_to_asn(a) for a in self.ras_addresses],
            "terminalType": self.terminal.to_asn(),
        }
        _put(value, "terminalAlias", [a.to_asn() for a in self.aliases])
        _put(value, "gatekeeperIdentifier", self.gatekeeper_id)
        value["endpointVendor"] = self.vendor.to_asn()
        _put(value, "timeToLive", self.time_to_live)
        value["keepAlive"] = self.keep_alive
        _put(value, "endpointIdentifier", self.endpoint_id)
        value["willSupplyUUIEs"] = False
        value["maintainConnection"] = False
        return value

    @classmethod
    def from_asn(cls, v: Any) -> RegistrationRequest:
        return cls(
            v["requestSeqNum"], _addresses(v["callSignalAddress"]), _addresses(v["rasAddress"]),
            EndpointInfo.from_asn(v["terminalType"]), VendorInfo.from_asn(v["endpointVendor"]),
            _aliases(v.get("terminalAlias")), v.get("gatekeeperIdentifier"),
            bool(v["discoveryComplete"]), v.get("timeToLive"), bool(v.get("keepAlive", False)),
            v.get("endpointIdentifier"), v["protocolIdentifier"][-1])


@dataclass(slots=True)
class RegistrationConfirm:
    """RCF (clause 7.9.2): our endpointIdentifier and the time to live the gatekeeper grants."""

    seq: int
    call_signal_addresses: list[Address]
    endpoint_id: str
    gatekeeper_id: str | None = None
    aliases: list[Alias] = field(default_factory=list)
    time_to_live: int | None = None
    protocol_version: int = RAS_PROTOCOL_VERSION

    name = RCF

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "requestSeqNum": self.seq, "protocolIdentifier": _protocol_id(self.protocol_version),
            "callSignalAddress": [address_to_asn(a) for a in self.call_signal_addresses]}
        _put(value, "terminalAlias", [a.to_asn() for a in self.aliases])
        _put(value, "gatekeeperIdentifier", self.gatekeeper_id)
        value["endpointIdentifier"] = self.endpoint_id
        _put(value, "timeToLive", self.time_to_live)
        value["willRespondToIRR"] = False
        value["maintainConnection"] = False
        return value

    @classmethod
    def from_asn(cls, v: Any) -> RegistrationConfirm:
        return cls(v["requestSeqNum"], _addresses(v["callSignalAddress"]), v["endpointIdentifier"],
                   v.get("gatekeeperIdentifier"), _aliases(v.get("terminalAlias")),
                   v.get("timeToLive"), v["protocolIdentifier"][-1])


@dataclass(slots=True)
class UnregistrationRequest:
    """URQ (clause 7.10.1), sent by either side."""

    seq: int
    call_signal_addresses: list[Address]
    endpoint_id: str | None = None
    gatekeeper_id: str | None = None
    aliases: list[Alias] = field(default_factory=list)
    reason: str | None = None

    name = URQ

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "requestSeqNum": self.seq,
            "callSignalAddress": [address_to_asn(a) for a in self.call_signal_addresses]}
        _put(value, "endpointAlias", [a.to_asn() for a in self.aliases])
        _put(value, "endpointIdentifier", self.endpoint_id)
        _put(value, "gatekeeperIdentifier", self.gatekeeper_id)
        if self.reason is not None:
            value["reason"] = _null_choice(self.reason)
        return value

    @classmethod
    def from_asn(cls, v: Any) -> UnregistrationRequest:
        reason = v.get("reason")
        return cls(v["requestSeqNum"], _addresses(v["callSignalAddress"]), v.get("endpointIdentifier"),
                   v.get("gatekeeperIdentifier"), _aliases(v.get("endpointAlias")),
                   _reason(reason) if reason is not None else None)


@dataclass(slots=True)
class _SeqOnly:
    """UCF and DCF: the sequence number of the request they confirm."""

    seq: int

    name = ""

    def to_asn(self) -> dict[str, Any]:
        return {"requestSeqNum": self.seq}

    @classmethod
    def from_asn(cls, v: Any) -> Any:
        return cls(v["requestSeqNum"])


@dataclass(slots=True)
class UnregistrationConfirm(_SeqOnly):
    name = UCF


@dataclass(slots=True)
class DisengageConfirm(_SeqOnly):
    name = DCF


@dataclass(slots=True)
class _SeqReason:
    """URJ, ARJ and DRJ: the sequence number and a reject reason."""

    seq: int
    reason: str

    name = ""

    def to_asn(self) -> dict[str, Any]:
        return {"requestSeqNum": self.seq, "rejectReason": _null_choice(self.reason)}

    @classmethod
    def from_asn(cls, v: Any) -> Any:
        return cls(v["requestSeqNum"], _reason(v["rejectReason"]))


@dataclass(slots=True)
class UnregistrationReject(_SeqReason):
    name = URJ


@dataclass(slots=True)
class AdmissionReject(_SeqReason):
    name = ARJ


@dataclass(slots=True)
class DisengageReject(_SeqReason):
    name = DRJ


@dataclass(slots=True)
class AdmissionRequest:
    """ARQ (clause 7.11.1): may this call go ahead? `answer_call` TRUE for a call we receive.
    `bandwidth` is both directions together, in units of 100 bit/s (BandWidth)."""

    seq: int
    endpoint_id: str
    call_reference: int
    conference_id: bytes
    call_id: bytes
    answer_call: bool
    source_aliases: list[Alias]
    bandwidth: int
    destination_aliases: list[Alias] = field(default_factory=list)
    dest_call_signal_address: Address | None = None
    src_call_signal_address: Address | None = None
    gatekeeper_id: str | None = None
    active_mc: bool = False
    call_model: str = CALL_MODEL_DIRECT

    name = ARQ

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {"requestSeqNum": self.seq, "callType": _null_choice("pointToPoint"),
                                 "callModel": _null_choice(self.call_model),
                                 "endpointIdentifier": self.endpoint_id}
        _put(value, "destinationInfo", [a.to_asn() for a in self.destination_aliases])
        if self.dest_call_signal_address is not None:
            value["destCallSignalAddress"] = address_to_asn(self.dest_call_signal_address)
        value["srcInfo"] = [a.to_asn() for a in self.source_aliases]
        if self.src_call_signal_address is not None:
            value["srcCallSignalAddress"] = address_to_asn(self.src_call_signal_address)
        value.update({"bandWidth": self.bandwidth, "callReferenceValue": self.call_reference,
                      "conferenceID": self.conference_id, "activeMC": self.active_mc,
                      "answerCall": self.answer_call, "canMapAlias": False,
                      "callIdentifier": {"guid": self.call_id}})
        _put(value, "gatekeeperIdentifier", self.gatekeeper_id)
        value["willSupplyUUIEs"] = False
        return value

    @classmethod
    def from_asn(cls, v: Any) -> AdmissionRequest:
        call_id = v.get("callIdentifier", {}).get("guid", v["conferenceID"])
        model = v.get("callModel")
        return cls(
            v["requestSeqNum"], v["endpointIdentifier"], v["callReferenceValue"],
            _guid(v["conferenceID"], "conferenceID"), _guid(call_id, "callIdentifier"),
            bool(v["answerCall"]), _aliases(v["srcInfo"]), v["bandWidth"],
            _aliases(v.get("destinationInfo")), _address(v.get("destCallSignalAddress")),
            _address(v.get("srcCallSignalAddress")), v.get("gatekeeperIdentifier"),
            bool(v["activeMC"]), _reason(model) if model else CALL_MODEL_DIRECT)


@dataclass(slots=True)
class AdmissionConfirm:
    """ACF (clause 7.11.2): the bandwidth granted and where to send the Setup (direct model:
    the callee; routed: the gatekeeper)."""

    seq: int
    bandwidth: int
    dest_call_signal_address: Address
    call_model: str = CALL_MODEL_DIRECT
    irr_frequency: int | None = None

    name = ACF

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {"requestSeqNum": self.seq, "bandWidth": self.bandwidth,
                                 "callModel": _null_choice(self.call_model),
                                 "destCallSignalAddress": address_to_asn(self.dest_call_signal_address)}
        _put(value, "irrFrequency", self.irr_frequency)
        value["willRespondToIRR"] = False
        value["uuiesRequested"] = {k: False for k in (
            "setup", "callProceeding", "connect", "alerting", "information", "releaseComplete",
            "facility", "progress", "empty")}
        return value

    @classmethod
    def from_asn(cls, v: Any) -> AdmissionConfirm:
        dest = _address(v["destCallSignalAddress"])
        if dest is None:
            raise RasDecodeError("ACF destCallSignalAddress is not an IP address")
        return cls(v["requestSeqNum"], v["bandWidth"], dest, _reason(v["callModel"]),
                   v.get("irrFrequency"))


@dataclass(slots=True)
class DisengageRequest:
    """DRQ (clause 7.12.1): the call is over (from us), or must be dropped (from the gatekeeper)."""

    seq: int
    endpoint_id: str
    conference_id: bytes
    call_reference: int
    reason: str = DRQ_NORMAL
    call_id: bytes | None = None
    gatekeeper_id: str | None = None
    answered_call: bool = False

    name = DRQ

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {"requestSeqNum": self.seq, "endpointIdentifier": self.endpoint_id,
                                 "conferenceID": self.conference_id,
                                 "callReferenceValue": self.call_reference,
                                 "disengageReason": _null_choice(self.reason)}
        if self.call_id is not None:
            value["callIdentifier"] = {"guid": self.call_id}
        _put(value, "gatekeeperIdentifier", self.gatekeeper_id)
        value["answeredCall"] = self.answered_call
        return value

    @classmethod
    def from_asn(cls, v: Any) -> DisengageRequest:
        call_id = v.get("callIdentifier", {}).get("guid")
        return cls(v["requestSeqNum"], v["endpointIdentifier"], _guid(v["conferenceID"], "conferenceID"),
                   v["callReferenceValue"], _reason(v["disengageReason"]),
                   _guid(call_id, "callIdentifier") if call_id is not None else None,
                   v.get("gatekeeperIdentifier"), bool(v.get("answeredCall", False)))


@dataclass(slots=True)
class InfoRequest:
    """IRQ (clause 7.15.1): the gatekeeper asks about one call, or all (call_reference 0)."""

    seq: int
    call_reference: int = 0
    call_id: bytes | None = None
    reply_address: Address | None = None

    name = IRQ

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {"requestSeqNum": self.seq, "callReferenceValue": self.call_reference}
        if self.reply_address is not None:
            value["replyAddress"] = address_to_asn(self.reply_address)
        if self.call_id is not None:
            value["callIdentifier"] = {"guid": self.call_id}
        return value

    @classmethod
    def from_asn(cls, v: Any) -> InfoRequest:
        call_id = v.get("callIdentifier", {}).get("guid")
        return cls(v["requestSeqNum"], v["callReferenceValue"],
                   _guid(call_id, "callIdentifier") if call_id is not None else None,
                   _address(v.get("replyAddress")))


@dataclass(frozen=True, slots=True)
class CallInfo:
    """One call in an IRR's perCallInfo."""

    call_reference: int
    conference_id: bytes
    call_id: bytes
    originator: bool
    bandwidth: int

    def to_asn(self) -> dict[str, Any]:
        return {"callReferenceValue": self.call_reference, "conferenceID": self.conference_id,
                "originator": self.originator, "h245": {}, "callSignalling": {},
                "callType": _null_choice("pointToPoint"), "bandWidth": self.bandwidth,
                "callModel": _null_choice(CALL_MODEL_DIRECT), "callIdentifier": {"guid": self.call_id}}

    @classmethod
    def from_asn(cls, v: Any) -> CallInfo:
        call_id = v.get("callIdentifier", {}).get("guid", v["conferenceID"])
        return cls(v["callReferenceValue"], _guid(v["conferenceID"], "conferenceID"),
                   _guid(call_id, "callIdentifier"), bool(v.get("originator", False)), v["bandWidth"])


@dataclass(slots=True)
class InfoRequestResponse:
    """IRR (clause 7.15.2): who we are and the calls the IRQ asked about."""

    seq: int
    endpoint: EndpointInfo
    endpoint_id: str
    ras_address: Address
    call_signal_addresses: list[Address]
    aliases: list[Alias] = field(default_factory=list)
    calls: list[CallInfo] = field(default_factory=list)

    name = IRR

    def to_asn(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "requestSeqNum": self.seq, "endpointType": self.endpoint.to_asn(),
            "endpointIdentifier": self.endpoint_id, "rasAddress": address_to_asn(self.ras_address),
            "callSignalAddress": [address_to_asn(a) for a in self.call_signal_addresses]}
        _put(value, "endpointAlias", [a.to_asn() for a in self.aliases])
        _put(value, "perCallInfo", [c.to_asn() for c in self.calls])
        value["needResponse"] = False
        value["unsolicited"] = False
        return value

    @classmethod
    def from_asn(cls, v: Any) -> InfoRequestResponse:
        ras = _address(v["rasAddress"])
        if ras is None:
            raise RasDecodeError("IRR rasAddress is not an IP address")
        return cls(v["requestSeqNum"], EndpointInfo.from_asn(v["endpointType"]), v["endpointIdentifier"],
                   ras, _addresses(v["callSignalAddress"]), _aliases(v.get("endpointAlias")),
                   [CallInfo.from_asn(c) for c in v.get("perCallInfo", [])])


@dataclass(slots=True)
class RequestInProgress:
    """RIP (clause 7.17): the answer will take up to `delay_ms`; wait instead of retrying."""

    seq: int
    delay_ms: int

    name = RIP

    def to_asn(self) -> dict[str, Any]:
        return {"requestSeqNum": self.seq, "delay": self.delay_ms}

    @classmethod
    def from_asn(cls, v: Any) -> RequestInProgress:
        return cls(v["requestSeqNum"], v["delay"])


@dataclass(slots=True)
class UnknownMessageResponse:
    """XRS (clause 7.16): the answer to a RAS request we do not implement."""

    seq: int
    not_understood: bytes = b""

    name = XRS

    def to_asn(self) -> dict[str, Any]:
        return {"requestSeqNum": self.seq, "messageNotUnderstood": self.not_understood}

    @classmethod
    def from_asn(cls, v: Any) -> UnknownMessageResponse:
        return cls(v["requestSeqNum"], bytes(v.get("messageNotUnderstood", b"")))


@dataclass(slots=True)
class UnknownRas:
    """A well-formed RasMessage we do not model (BRQ, LRQ, RAI...): its name and sequence
    number (every RAS message has one), so that a request can be answered with XRS."""

    name: str
    seq: int

    def to_asn(self) -> Any:
        raise RasEncodeError(f"cannot build a {self.name}")


RasMessage = (
    GatekeeperRequest | GatekeeperConfirm | GatekeeperReject
    | RegistrationRequest | RegistrationConfirm | RegistrationReject
    | UnregistrationRequest | UnregistrationConfirm | UnregistrationReject
    | AdmissionRequest | AdmissionConfirm | AdmissionReject
    | DisengageRequest | DisengageConfirm | DisengageReject
    | InfoRequest | InfoRequestResponse | RequestInProgress | UnknownMessageResponse | UnknownRas
)

_TYPES: dict[str, Any] = {cls.name: cls for cls in (
    GatekeeperRequest, GatekeeperConfirm, GatekeeperReject,
    RegistrationRequest, RegistrationConfirm, RegistrationReject,
    UnregistrationRequest, UnregistrationConfirm, UnregistrationReject,
    AdmissionRequest, AdmissionConfirm, AdmissionReject,
    DisengageRequest, DisengageConfirm, DisengageReject,
    InfoRequest, InfoRequestResponse, RequestInProgress, UnknownMessageResponse)}

# requests a gatekeeper may send us, and those we send: the rest are answers to a request
REQUESTS = frozenset({GRQ, RRQ, URQ, ARQ, DRQ, IRQ, "bandwidthRequest", "locationRequest",
                      "resourcesAvailableIndicate", "serviceControlIndication", "nonStandardMessage"})


def encode_ras(message: RasMessage) -> bytes:
    """Aligned PER of a RasMessage (H.225.0 Annex H)."""
    obj = _ras_type()
    value = (message.name, message.to_asn())
    try:
        obj.set_val(value)
        return bytes(obj.to_aper())
    except Exception as exc:  # pycrate raises assorted types (see mcu.h323.per)
        raise RasEncodeError(f"cannot encode {message.name}: {exc}") from exc


def decode_ras(data: bytes) -> RasMessage:
    """Parses one RAS datagram; raises RasDecodeError on anything malformed or truncated."""
    if not data:
        raise RasDecodeError("empty RAS datagram")
    obj = _ras_type()
    try:
        obj.from_aper(data)
        name, value = obj.get_val()
    except Exception as exc:  # pycrate raises assorted types (see mcu.h323.per)
        raise RasDecodeError(f"cannot decode RAS: {exc}") from exc
    try:
        kind = _TYPES.get(name)
        if kind is None:
            return UnknownRas(name, int(value.get("requestSeqNum", 0)) if isinstance(value, dict) else 0)
        message: RasMessage = kind.from_asn(value)
        return message
    except RasDecodeError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise RasDecodeError(f"{name} misses a field: {exc}") from exc


def warm_up() -> None:
    """Imports the ASN.1 module now (a shell may call this at start, not on the first datagram)."""
    _ras_type()
