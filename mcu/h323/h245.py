"""H.245 control messages (H.245 clause 6 and Annex A `MultimediaSystemControlMessage`):
build and parse the ones an H.323 MCU needs.

Each message is a small dataclass with `to_asn()`; `encode_h245(message)` gives the aligned
PER (one PDU: a TPKT payload on a separate H.245 channel, or one h245Control element when
tunnelled, H.225.0 clause 10.3), and `decode_h245(data)` gives the dataclass back, or
`UnknownH245` for the messages we do not act on (the session answers some of them with
functionNotUnderstood-free silence, as H.245 clause 8 allows for indications).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from . import per
from .capabilities import (
    ROLE_CONTENT,
    ROLE_MAIN,
    CapabilitySpec,
    Codec,
    RemoteCapabilities,
    capability_table,
    codec_from_data_type,
    data_type_to_asn,
    remote_capabilities,
)
from .errors import CapabilityError, H245DecodeError, H245EncodeError
from .h239 import (
    GENERIC_MESSAGE_NAMES,
    ROLE_PRESENTATION,
    H239Message,
    content_of,
    extended_video,
    from_generic,
)

# H.245 clause 12: protocolIdentifier {itu-t(0) recommendation(0) h(8) 245 version(0) v}
H245_PROTOCOL_VERSION = 7
H245_PROTOCOL_OID = (0, 0, 8, 245, 0, H245_PROTOCOL_VERSION)

# MasterSlaveDetermination terminalType (H.323 clause 6.2.8.4, Table 1)
TERMINAL_TYPE_TERMINAL = 50
TERMINAL_TYPE_GATEWAY = 60
TERMINAL_TYPE_MCU = 190  # an MCU with an MC and MP
STATUS_DETERMINATION_MAX = (1 << 24) - 1
MSD_DECISION_MASTER = "master"
MSD_DECISION_SLAVE = "slave"

# RTP session ports in H2250 addresses are the tsapIdentifier (H.245 Annex A)
MAX_BITRATE_UNIT_BPS = 100  # FlowControlCommand maximumBitRate and maxBitRate units

Address = tuple[str, int]


def unicast_to_asn(address: Address) -> tuple[str, tuple[str, dict[str, Any]]]:
    """An H.245 TransportAddress unicastAddress for (IP, port), IPv4 or IPv6."""
    host, port = address
    ip = ipaddress.ip_address(host)
    if ip.version == 4:
        return ("unicastAddress", ("iPAddress", {"network": ip.packed, "tsapIdentifier": port}))
    return ("unicastAddress", ("iP6Address", {"network": ip.packed, "tsapIdentifier": port}))


def unicast_from_asn(value: Any) -> Address | None:
    kind, inner = value
    if kind != "unicastAddress":
        return None
    family, address = inner
    if family not in ("iPAddress", "iP6Address"):
        return None
    return (str(ipaddress.ip_address(bytes(address["network"]))), int(address["tsapIdentifier"]))


class H245Message:
    """Base of the H.245 messages we build and parse."""

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        raise NotImplementedError


@dataclass(slots=True)
class TerminalCapabilitySet(H245Message):
    """TerminalCapabilitySet (H.245 clause 6.4.x / 8.3): what we can receive."""

    sequence_number: int
    spec: CapabilitySpec | None = None  # when building
    remote: RemoteCapabilities | None = None  # when parsed
    raw_table: list[Any] = field(default_factory=list)

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        if self.spec is None:
            raise H245EncodeError("a TerminalCapabilitySet to build needs a CapabilitySpec")
        table, descriptors = capability_table(self.spec)
        value = {
            "sequenceNumber": self.sequence_number,
            "protocolIdentifier": H245_PROTOCOL_OID,
            "multiplexCapability": ("h2250Capability", _h2250_capability()),
            "capabilityTable": table,
            "capabilityDescriptors": descriptors,
        }
        return ("request", ("terminalCapabilitySet", value))

    @classmethod
    def from_asn(cls, value: Any) -> TerminalCapabilitySet:
        table = value.get("capabilityTable", [])
        return cls(value["sequenceNumber"], None, remote_capabilities(table), table)


def _h2250_capability() -> dict[str, Any]:
    """H2250Capability (H.245 Annex A) of an RTP/UDP endpoint that is an MC."""
    no_distribution = {
        "multicastCapability": False,
        "multiUniCastConference": False,
        "mediaDistributionCapability": [
            {
                "centralizedControl": True,
                "distributedControl": False,
                "centralizedAudio": True,
                "distributedAudio": False,
                "centralizedVideo": True,
                "distributedVideo": False,
            }
        ],
    }
    return {
        "maximumAudioDelayJitter": 60,
        "receiveMultipointCapability": no_distribution,
        "transmitMultipointCapability": no_distribution,
        "receiveAndTransmitMultipointCapability": no_distribution,
        "mcCapability": {"centralizedConferenceMC": True, "decentralizedConferenceMC": False},
        "rtcpVideoControlCapability": False,
        "mediaPacketizationCapability": {"h261aVideoPacketization": False},
    }


@dataclass(slots=True)
class TerminalCapabilitySetAck(H245Message):
    sequence_number: int

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("response", ("terminalCapabilitySetAck", {"sequenceNumber": self.sequence_number}))


@dataclass(slots=True)
class TerminalCapabilitySetReject(H245Message):
    sequence_number: int
    cause: str = "unspecified"

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        cause: Any = (self.cause, 0)
        return ("response", ("terminalCapabilitySetReject",
                             {"sequenceNumber": self.sequence_number, "cause": cause}))


@dataclass(slots=True)
class MasterSlaveDetermination(H245Message):
    """MasterSlaveDetermination (H.245 clause 8.2): terminal type and a random number."""

    terminal_type: int
    status_determination_number: int

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("request", ("masterSlaveDetermination", {
            "terminalType": self.terminal_type,
            "statusDeterminationNumber": self.status_determination_number,
        }))


@dataclass(slots=True)
class MasterSlaveDeterminationAck(H245Message):
    """The decision is the status of the terminal that receives the Ack."""

    decision: str

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("response", ("masterSlaveDeterminationAck", {"decision": (self.decision, 0)}))


@dataclass(slots=True)
class MasterSlaveDeterminationReject(H245Message):
    cause: str = "identicalNumbers"

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("response", ("masterSlaveDeterminationReject", {"cause": (self.cause, 0)}))


def determine_master(local_type: int, local_number: int, remote_type: int,
                     remote_number: int) -> bool | None:
    """H.245 clause 8.2 (C.2): True if the local terminal is master, False if slave, None if
    indeterminate (identical numbers: retry with a new number)."""
    if local_type != remote_type:
        return local_type > remote_type
    difference = (remote_number - local_number) & STATUS_DETERMINATION_MAX
    if difference == 0 or difference == 1 << 23:
        return None
    return difference < 1 << 23


@dataclass(slots=True)
class OpenLogicalChannel(H245Message):
    """OpenLogicalChannel (H.245 clause 8.4) of a unidirectional RTP channel (H.225.0 clause 6).

    Forward channel: `codec` is what the opener will send; `media_control` is the opener's
    RTCP address. A fast-start proposal to receive (H.323 clause 8.1.7) is a "reverse"
    channel: forward dataType nullData, and `codec`, `media` (the opener's RTP receive
    address) and `media_control` in reverseLogicalChannelParameters."""

    number: int
    codec: Codec | None
    session_id: int
    media_control: Address | None = None
    media: Address | None = None
    reverse: bool = False
    dynamic_payload_type: int | None = None
    silence_suppression: bool | None = None
    raw_data_type: Any = None  # the parsed DataType when `codec` is None (unknown format)
    role: str = ROLE_MAIN  # ROLE_CONTENT: H.239 presentation (an extendedVideoCapability)

    def _h2250(self) -> dict[str, Any]:
        value: dict[str, Any] = {"sessionID": self.session_id}
        if self.media is not None:
            value["mediaChannel"] = unicast_to_asn(self.media)
        if self.media_control is not None:
            value["mediaControlChannel"] = unicast_to_asn(self.media_control)
        if self.silence_suppression is not None:
            value["silenceSuppression"] = self.silence_suppression
        if self.dynamic_payload_type is not None:
            value["dynamicRTPPayloadType"] = self.dynamic_payload_type
        return value

    def olc_asn(self) -> dict[str, Any]:
        if self.codec is None:
            raise H245EncodeError("an OpenLogicalChannel to build needs a codec")
        data_type = (("videoData", extended_video([self.codec])) if self.role == ROLE_CONTENT
                     else data_type_to_asn(self.codec))
        value: dict[str, Any] = {"forwardLogicalChannelNumber": self.number}
        if self.reverse:
            value["forwardLogicalChannelParameters"] = {
                "dataType": ("nullData", 0),
                "multiplexParameters": ("none", 0),
            }
            value["reverseLogicalChannelParameters"] = {
                "dataType": data_type,
                "multiplexParameters": ("h2250LogicalChannelParameters", self._h2250()),
            }
        else:
            value["forwardLogicalChannelParameters"] = {
                "dataType": data_type,
                "multiplexParameters": ("h2250LogicalChannelParameters", self._h2250()),
            }
        return value

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("request", ("openLogicalChannel", self.olc_asn()))

    @classmethod
    def from_asn(cls, value: Any) -> OpenLogicalChannel:
        forward = value["forwardLogicalChannelParameters"]
        reverse = value.get("reverseLogicalChannelParameters")
        is_reverse = forward["dataType"][0] == "nullData" and reverse is not None
        params = reverse if is_reverse else forward
        data_type = params["dataType"]
        codec = codec_from_data_type(data_type)
        role = ROLE_MAIN
        content = content_of(data_type[1]) if data_type[0] == "videoData" else None
        if content is not None and content.role == ROLE_PRESENTATION and content.codecs:
            codec, role = content.codecs[0], ROLE_CONTENT
        mux = params.get("multiplexParameters")
        if mux is None or mux[0] != "h2250LogicalChannelParameters":
            raise H245DecodeError("OpenLogicalChannel without H2250LogicalChannelParameters")
        h2250 = mux[1]
        media = h2250.get("mediaChannel")
        control = h2250.get("mediaControlChannel")
        return cls(
            number=value["forwardLogicalChannelNumber"],
            codec=codec,
            session_id=h2250["sessionID"],
            media_control=unicast_from_asn(control) if control else None,
            media=unicast_from_asn(media) if media else None,
            reverse=is_reverse,
            dynamic_payload_type=h2250.get("dynamicRTPPayloadType"),
            silence_suppression=h2250.get("silenceSuppression"),
            raw_data_type=None if codec else data_type,
            role=role,
        )


def encode_fast_start(channel: OpenLogicalChannel) -> bytes:
    """One fastStart element: an OpenLogicalChannel in PER (H.225.0 Setup-UUIE.fastStart)."""
    return per.encode("olc", channel.olc_asn(), H245EncodeError)


def decode_fast_start(data: bytes) -> OpenLogicalChannel:
    value = per.decode("olc", data, H245DecodeError)
    try:
        return OpenLogicalChannel.from_asn(value)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise H245DecodeError(f"fastStart element misses a field: {exc}") from exc


@dataclass(slots=True)
class OpenLogicalChannelAck(H245Message):
    """OpenLogicalChannelAck (H.245 clause 8.4): the receiver's RTP and RTCP addresses."""

    number: int
    session_id: int
    media: Address | None
    media_control: Address | None
    dynamic_payload_type: int | None = None

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        params: dict[str, Any] = {"sessionID": self.session_id}
        if self.media is not None:
            params["mediaChannel"] = unicast_to_asn(self.media)
        if self.media_control is not None:
            params["mediaControlChannel"] = unicast_to_asn(self.media_control)
        if self.dynamic_payload_type is not None:
            params["dynamicRTPPayloadType"] = self.dynamic_payload_type
        return ("response", ("openLogicalChannelAck", {
            "forwardLogicalChannelNumber": self.number,
            "forwardMultiplexAckParameters": ("h2250LogicalChannelAckParameters", params),
        }))

    @classmethod
    def from_asn(cls, value: Any) -> OpenLogicalChannelAck:
        ack = value.get("forwardMultiplexAckParameters")
        params = ack[1] if ack and ack[0] == "h2250LogicalChannelAckParameters" else {}
        media = params.get("mediaChannel")
        control = params.get("mediaControlChannel")
        return cls(
            value["forwardLogicalChannelNumber"],
            params.get("sessionID", 0),
            unicast_from_asn(media) if media else None,
            unicast_from_asn(control) if control else None,
            params.get("dynamicRTPPayloadType"),
        )


@dataclass(slots=True)
class OpenLogicalChannelReject(H245Message):
    number: int
    cause: str = "dataTypeNotSupported"

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("response", ("openLogicalChannelReject", {
            "forwardLogicalChannelNumber": self.number, "cause": (self.cause, 0)}))


@dataclass(slots=True)
class CloseLogicalChannel(H245Message):
    number: int
    source: str = "user"

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("request", ("closeLogicalChannel", {
            "forwardLogicalChannelNumber": self.number, "source": (self.source, 0)}))


@dataclass(slots=True)
class CloseLogicalChannelAck(H245Message):
    number: int

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("response", ("closeLogicalChannelAck", {"forwardLogicalChannelNumber": self.number}))


@dataclass(slots=True)
class RoundTripDelayRequest(H245Message):
    sequence_number: int

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("request", ("roundTripDelayRequest", {"sequenceNumber": self.sequence_number}))


@dataclass(slots=True)
class RoundTripDelayResponse(H245Message):
    sequence_number: int

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("response", ("roundTripDelayResponse", {"sequenceNumber": self.sequence_number}))


@dataclass(slots=True)
class EndSessionCommand(H245Message):
    """endSessionCommand disconnect (H.245 clause 6.x): the H.245 session ends."""

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("command", ("endSessionCommand", ("disconnect", 0)))


@dataclass(slots=True)
class FlowControlCommand(H245Message):
    """flowControlCommand: send at most `max_bitrate` x 100 bit/s on `channel` (None: the
    whole multiplex)."""

    max_bitrate: int | None
    channel: int | None = None

    @property
    def kbps(self) -> int | None:
        if self.max_bitrate is None:
            return None
        return self.max_bitrate * MAX_BITRATE_UNIT_BPS // 1000

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        scope: Any = ("logicalChannelNumber", self.channel) if self.channel is not None else (
            "wholeMultiplex", 0)
        restriction: Any = ("maximumBitRate", self.max_bitrate) if (
            self.max_bitrate is not None) else ("noRestriction", 0)
        return ("command", ("flowControlCommand", {"scope": scope, "restriction": restriction}))


@dataclass(slots=True)
class VideoFastUpdatePicture(H245Message):
    """miscellaneousCommand videoFastUpdatePicture: send an intra picture on `channel`."""

    channel: int

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        return ("command", ("miscellaneousCommand", {
            "logicalChannelNumber": self.channel, "type": ("videoFastUpdatePicture", 0)}))


@dataclass(slots=True)
class MiscellaneousCommand(H245Message):
    """Another miscellaneousCommand type (kept by name)."""

    channel: int
    kind: str

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        raise H245EncodeError(f"building miscellaneousCommand {self.kind} is not supported")


@dataclass(slots=True)
class LogicalChannelActivity(H245Message):
    """miscellaneousIndication logicalChannelActive / logicalChannelInactive."""

    channel: int
    active: bool

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        kind = "logicalChannelActive" if self.active else "logicalChannelInactive"
        return ("indication", ("miscellaneousIndication", {
            "logicalChannelNumber": self.channel, "type": (kind, 0)}))


@dataclass(slots=True)
class UserInputIndication(H245Message):
    """userInput (H.245 clause 6.x): `alphanumeric` text, or a DTMF `signal` (0-9 * # A-D !)
    with an optional duration in ms."""

    alphanumeric: str | None = None
    signal: str | None = None
    duration: int | None = None

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        if self.signal is not None:
            value: dict[str, Any] = {"signalType": self.signal}
            if self.duration is not None:
                value["duration"] = self.duration
            return ("indication", ("userInput", ("signal", value)))
        if self.alphanumeric is None:
            raise H245EncodeError("a UserInputIndication needs alphanumeric or signal")
        return ("indication", ("userInput", ("alphanumeric", self.alphanumeric)))

    @property
    def digits(self) -> str:
        return self.signal if self.signal is not None else (self.alphanumeric or "")


@dataclass(slots=True)
class UnknownH245(H245Message):
    """A message we do not act on: its category (request, response, command, indication)
    and name."""

    category: str
    name: str

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        raise H245EncodeError(f"cannot build {self.category} {self.name}")


def encode_h245(message: H245Message | H239Message) -> bytes:
    """Aligned PER of one MultimediaSystemControlMessage."""
    return per.encode("h245", message.to_asn(), H245EncodeError)


def decode_h245(data: bytes) -> H245Message | H239Message:
    """Parses one MultimediaSystemControlMessage; raises H245DecodeError if malformed."""
    value = per.decode("h245", data, H245DecodeError)
    try:
        return _from_asn(value)
    except CapabilityError as exc:
        raise H245DecodeError(str(exc)) from exc
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise H245DecodeError(f"H.245 message misses a field: {exc}") from exc


def _from_asn(value: Any) -> H245Message | H239Message:
    category, (name, inner) = value
    if name in GENERIC_MESSAGE_NAMES:
        h239 = from_generic(name, inner)
        if h239 is not None:
            return h239
    if name == "terminalCapabilitySet":
        return TerminalCapabilitySet.from_asn(inner)
    if name == "terminalCapabilitySetAck":
        return TerminalCapabilitySetAck(inner["sequenceNumber"])
    if name == "terminalCapabilitySetReject":
        return TerminalCapabilitySetReject(inner["sequenceNumber"], inner["cause"][0])
    if name == "masterSlaveDetermination":
        return MasterSlaveDetermination(inner["terminalType"], inner["statusDeterminationNumber"])
    if name == "masterSlaveDeterminationAck":
        return MasterSlaveDeterminationAck(inner["decision"][0])
    if name == "masterSlaveDeterminationReject":
        return MasterSlaveDeterminationReject(inner["cause"][0])
    if name == "openLogicalChannel":
        return OpenLogicalChannel.from_asn(inner)
    if name == "openLogicalChannelAck":
        return OpenLogicalChannelAck.from_asn(inner)
    if name == "openLogicalChannelReject":
        return OpenLogicalChannelReject(inner["forwardLogicalChannelNumber"], inner["cause"][0])
    if name == "closeLogicalChannel":
        return CloseLogicalChannel(inner["forwardLogicalChannelNumber"], inner["source"][0])
    if name == "closeLogicalChannelAck":
        return CloseLogicalChannelAck(inner["forwardLogicalChannelNumber"])
    if name == "roundTripDelayRequest":
        return RoundTripDelayRequest(inner["sequenceNumber"])
    if name == "roundTripDelayResponse":
        return RoundTripDelayResponse(inner["sequenceNumber"])
    if name == "endSessionCommand":
        return EndSessionCommand()
    if name == "flowControlCommand":
        scope, restriction = inner["scope"], inner["restriction"]
        channel = scope[1] if scope[0] == "logicalChannelNumber" else None
        bitrate = restriction[1] if restriction[0] == "maximumBitRate" else None
        return FlowControlCommand(bitrate, channel)
    if name == "miscellaneousCommand":
        kind = inner["type"][0]
        if kind == "videoFastUpdatePicture":
            return VideoFastUpdatePicture(inner["logicalChannelNumber"])
        return MiscellaneousCommand(inner["logicalChannelNumber"], kind)
    if name == "miscellaneousIndication":
        kind = inner["type"][0]
        if kind in ("logicalChannelActive", "logicalChannelInactive"):
            return LogicalChannelActivity(inner["logicalChannelNumber"],
                                          kind == "logicalChannelActive")
    if name == "userInput":
        kind, user = inner
        if kind == "alphanumeric":
            return UserInputIndication(alphanumeric=user)
        if kind == "signal":
            return UserInputIndication(signal=user["signalType"], duration=user.get("duration"))
    return UnknownH245(category, name)
