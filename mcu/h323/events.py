"""Events the H.323 cores report through `next_event()`: neutral, for the call layer.

Streams are keyed by (kind, role) as in mcu/calls: kind "audio" or "video", role "main"
(H.239 content, role "content", is not negotiated yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .capabilities import Codec
from .h225 import Address, Alias, VendorInfo
from .refusal import Refusal

StreamKey = tuple[str, str]  # (kind, role)

H245_TUNNELLED = "tunnelled"  # H.245 inside the call-signalling messages (H.225.0 10.3)
H245_CONNECT = "connect"  # the caller gave an h245Address: the shell connects to it
H245_LISTEN = "listen"  # neither: the shell listens and gives accept() the address


@dataclass(frozen=True, slots=True)
class MediaPorts:
    """Where we receive one kind of media: our IP and RTP/RTCP ports (an API input)."""

    address: str
    rtp_port: int
    rtcp_port: int

    @property
    def rtp(self) -> Address:
        return (self.address, self.rtp_port)

    @property
    def rtcp(self) -> Address:
        return (self.address, self.rtcp_port)


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One open unidirectional logical channel (H.245 clause 8.4)."""

    channel: int  # the forwardLogicalChannelNumber, in its opener's numbering
    codec: Codec
    payload_type: int  # RTP payload type on the wire
    remote_rtp: Address | None  # where we send RTP (send channels only)
    remote_rtcp: Address | None  # the peer's RTCP address for this session


@dataclass(frozen=True, slots=True)
class NegotiatedStream:
    kind: str
    role: str
    local: MediaPorts
    send: ChannelInfo | None = None  # what we send to the peer
    receive: ChannelInfo | None = None  # what the peer sends us


@dataclass(frozen=True, slots=True)
class Event:
    pass


@dataclass(frozen=True, slots=True)
class IncomingCall(Event):
    """A Setup arrived (CallProceeding was sent). Answer with accept() or reject()."""

    call_id: str  # CallIdentifier GUID, hex
    conference_id: str
    source_aliases: list[Alias]
    destination_aliases: list[Alias]
    called_number: str | None  # Q.931 Called party number digits
    calling_number: str | None
    display: str | None  # Q.931 Display IE
    vendor: VendorInfo | None
    remote_address: Address
    h245_mode: str  # H245_TUNNELLED, H245_CONNECT or H245_LISTEN
    fast_start: bool  # the Setup proposed fast-connect channels


@dataclass(frozen=True, slots=True)
class MediaOffered(Event):
    """Fast-connect proposals of the Setup (H.323 clause 8.1.7), per stream: the formats the
    caller offers to send, and those it offers to receive."""

    send: dict[StreamKey, list[Codec]] = field(default_factory=dict)  # caller sends
    receive: dict[StreamKey, list[Codec]] = field(default_factory=dict)  # caller receives


@dataclass(frozen=True, slots=True)
class CallAnswered(Event):
    """Outgoing calls: the callee's Connect arrived."""

    vendor: VendorInfo | None


@dataclass(frozen=True, slots=True)
class H245ChannelWanted(Event):
    """Open a TCP connection to `address` for H.245, then call h245_connected()."""

    address: Address


@dataclass(frozen=True, slots=True)
class MediaNegotiated(Event):
    """The open channels changed: the full set of streams now (replaces earlier ones)."""

    streams: dict[StreamKey, NegotiatedStream]


@dataclass(frozen=True, slots=True)
class DtmfReceived(Event):
    digit: str
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class KeyframeRequested(Event):
    """The peer asks for an intra picture on what we send (videoFastUpdatePicture)."""

    kind: str = "video"
    role: str = "main"


@dataclass(frozen=True, slots=True)
class BitrateLimited(Event):
    """flowControlCommand: send at most `kbps` (None: no restriction) on `kind` (None: all)."""

    kbps: int | None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class MediaActivity(Event):
    """logicalChannelActive/Inactive: the peer resumed or paused sending `kind`."""

    kind: str
    active: bool


@dataclass(frozen=True, slots=True)
class ProtocolViolation(Event):
    """A message was refused and ignored (the call goes on); `reason` is for counters."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class CallEnded(Event):
    """The call is over: close the connections once data_to_send() is drained."""

    refusal: Refusal
    cause: int | None  # Q.850 cause value, sent or received
    reason: str | None  # H.225.0 ReleaseCompleteReason, sent or received
    by_remote: bool
    detail: str = ""


__all__ = [
    "BitrateLimited",
    "CallAnswered",
    "CallEnded",
    "ChannelInfo",
    "DtmfReceived",
    "Event",
    "H245ChannelWanted",
    "IncomingCall",
    "KeyframeRequested",
    "MediaActivity",
    "MediaNegotiated",
    "MediaOffered",
    "MediaPorts",
    "NegotiatedStream",
    "ProtocolViolation",
]


@dataclass(frozen=True, slots=True)
class ContentTokenMessage(Event):
    """An H.239 message of the call (presentation token, flow control release) for the
    conference's TokenManager of this call (mcu.h323.h239)."""

    message: object  # mcu.h323.h239.H239Message
