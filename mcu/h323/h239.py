"""H.239 over H.245: the presentation token and the extended-video ("content") channel.

An H.323 room system presents slides on a second video channel whose data type is an
`extendedVideoCapability` carrying the H.239 role label "presentation", under a token that
one terminal of the conference holds at a time. The MCU is the token manager: a terminal asks
with presentationTokenRequest, the MCU answers presentationTokenResponse (acknowledge or
reject) and tells everyone who holds it with presentationTokenIndicateOwner; the owner gives it
back with presentationTokenRelease; to take it away the MCU sends the owner a
presentationTokenRequest of its own, which the owner acknowledges and then releases.

The messages are H.245 GenericMessages (request, response, command, indication) identified by
{itu-t(0) recommendation(0) h(8) 239 generic-message(2)} and a subMessageIdentifier
(H.239 Table 7); their parameters are GenericParameters with small standard numbers
(bitRate 41, channelId 42, symmetryBreaking 43, terminalLabel 44, acknowledge 126,
reject 127). The capabilities are a genericControlCapability {0 0 8 239 1 1} and an
extendedVideoCapability whose videoCapabilityExtension is {0 0 8 239 1 2} with the roleLabel
parameter (1) as a boolean array: 1 = presentation, 2 = live.

This module is sans-I/O: dataclasses that `mcu.h323.h245` encodes and decodes, the capability
table entries, and `TokenManager`, the MCU's side of one call's token exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .capabilities import KIND_VIDEO, Codec
from .errors import H245DecodeError

H239_CONTROL_OID = (0, 0, 8, 239, 1, 1)
H239_EXTENDED_VIDEO_OID = (0, 0, 8, 239, 1, 2)
H239_MESSAGE_OID = (0, 0, 8, 239, 2)

ROLE_LABEL_PARAM = 1
ROLE_PRESENTATION = 1  # booleanArray bit of the roleLabel parameter
ROLE_LIVE = 2

# H.239 Table 7: subMessageIdentifier
FLOW_CONTROL_RELEASE_REQUEST = 1
FLOW_CONTROL_RELEASE_RESPONSE = 2
PRESENTATION_TOKEN_REQUEST = 3
PRESENTATION_TOKEN_RESPONSE = 4
PRESENTATION_TOKEN_RELEASE = 5
PRESENTATION_TOKEN_INDICATE_OWNER = 6

# H.239 generic parameters
PARAM_BIT_RATE = 41  # units of 100 bit/s
PARAM_CHANNEL_ID = 42
PARAM_SYMMETRY_BREAKING = 43  # 1..127, to settle two requests that cross
PARAM_TERMINAL_LABEL = 44
PARAM_ACKNOWLEDGE = 126
PARAM_REJECT = 127

# The H.245 GenericMessage category each sub-message travels in
_CATEGORY = {
    FLOW_CONTROL_RELEASE_REQUEST: ("request", "genericRequest"),
    FLOW_CONTROL_RELEASE_RESPONSE: ("response", "genericResponse"),
    PRESENTATION_TOKEN_REQUEST: ("request", "genericRequest"),
    PRESENTATION_TOKEN_RESPONSE: ("response", "genericResponse"),
    PRESENTATION_TOKEN_RELEASE: ("command", "genericCommand"),
    PRESENTATION_TOKEN_INDICATE_OWNER: ("indication", "genericIndication"),
}
GENERIC_MESSAGE_NAMES = frozenset(name for _, name in _CATEGORY.values())


def _unsigned(number: int, value: int) -> dict[str, Any]:
    return {"parameterIdentifier": ("standard", number), "parameterValue": ("unsignedMin", value)}


def _unsigned32(number: int, value: int) -> dict[str, Any]:
    return {"parameterIdentifier": ("standard", number), "parameterValue": ("unsigned32Min", value)}


def _flag(number: int) -> dict[str, Any]:
    return {"parameterIdentifier": ("standard", number), "parameterValue": ("logical", 0)}


@dataclass(slots=True)
class H239Message:
    """One H.239 generic message. Only the parameters its sub-message carries are used."""

    sub: int
    channel: int = 0
    terminal_label: int | None = None
    symmetry_breaking: int | None = None
    bitrate: int | None = None  # 100 bit/s
    accepted: bool | None = None  # responses: acknowledge or reject

    def to_asn(self) -> tuple[str, tuple[str, Any]]:
        category, choice = _CATEGORY[self.sub]
        content: list[dict[str, Any]] = []
        if self.accepted is not None:
            content.append(_flag(PARAM_ACKNOWLEDGE if self.accepted else PARAM_REJECT))
        if self.sub in (FLOW_CONTROL_RELEASE_REQUEST, FLOW_CONTROL_RELEASE_RESPONSE):
            content.append(_unsigned(PARAM_CHANNEL_ID, self.channel))
            if self.bitrate is not None:
                content.append(_unsigned32(PARAM_BIT_RATE, self.bitrate))
        else:
            if self.terminal_label is not None:
                content.append(_unsigned(PARAM_TERMINAL_LABEL, self.terminal_label))
            content.append(_unsigned(PARAM_CHANNEL_ID, self.channel))
            if self.symmetry_breaking is not None:
                content.append(_unsigned(PARAM_SYMMETRY_BREAKING, self.symmetry_breaking))
        value = {"messageIdentifier": ("standard", H239_MESSAGE_OID),
                 "subMessageIdentifier": self.sub, "messageContent": content}
        return (category, (choice, value))

    @property
    def name(self) -> str:
        return _NAMES[self.sub]


_NAMES = {
    FLOW_CONTROL_RELEASE_REQUEST: "flowControlReleaseRequest",
    FLOW_CONTROL_RELEASE_RESPONSE: "flowControlReleaseResponse",
    PRESENTATION_TOKEN_REQUEST: "presentationTokenRequest",
    PRESENTATION_TOKEN_RESPONSE: "presentationTokenResponse",
    PRESENTATION_TOKEN_RELEASE: "presentationTokenRelease",
    PRESENTATION_TOKEN_INDICATE_OWNER: "presentationTokenIndicateOwner",
}


def token_request(channel: int, terminal_label: int, symmetry_breaking: int) -> H239Message:
    return H239Message(PRESENTATION_TOKEN_REQUEST, channel, terminal_label, symmetry_breaking)


def token_response(accepted: bool, channel: int, terminal_label: int) -> H239Message:
    return H239Message(PRESENTATION_TOKEN_RESPONSE, channel, terminal_label, accepted=accepted)


def token_release(channel: int, terminal_label: int) -> H239Message:
    return H239Message(PRESENTATION_TOKEN_RELEASE, channel, terminal_label)


def indicate_owner(channel: int, terminal_label: int) -> H239Message:
    return H239Message(PRESENTATION_TOKEN_INDICATE_OWNER, channel, terminal_label)


def flow_control_release_request(channel: int, bitrate: int) -> H239Message:
    return H239Message(FLOW_CONTROL_RELEASE_REQUEST, channel, bitrate=bitrate)


def flow_control_release_response(accepted: bool, channel: int) -> H239Message:
    return H239Message(FLOW_CONTROL_RELEASE_RESPONSE, channel, accepted=accepted)


def from_generic(choice: str, value: Any) -> H239Message | None:
    """The H.239 message of a GenericMessage, or None when it is another standard's."""
    if value.get("messageIdentifier") != ("standard", H239_MESSAGE_OID):
        return None
    sub = value.get("subMessageIdentifier")
    if sub not in _CATEGORY:
        raise H245DecodeError(f"H.239 subMessageIdentifier {sub} is not one of H.239 Table 7")
    if _CATEGORY[sub][1] != choice:
        raise H245DecodeError(f"H.239 {_NAMES[sub]} came as a {choice}, not a {_CATEGORY[sub][1]}")
    message = H239Message(sub)
    for param in value.get("messageContent", []):
        kind, number = param["parameterIdentifier"]
        if kind != "standard":
            continue  # a vendor's own parameter: not ours to judge
        _, parameter = param["parameterValue"]
        if number == PARAM_CHANNEL_ID:
            message.channel = int(parameter)
        elif number == PARAM_TERMINAL_LABEL:
            message.terminal_label = int(parameter)
        elif number == PARAM_SYMMETRY_BREAKING:
            message.symmetry_breaking = int(parameter)
        elif number == PARAM_BIT_RATE:
            message.bitrate = int(parameter)
        elif number == PARAM_ACKNOWLEDGE:
            message.accepted = True
        elif number == PARAM_REJECT:
            message.accepted = False
    if sub in (PRESENTATION_TOKEN_RESPONSE, FLOW_CONTROL_RELEASE_RESPONSE) and message.accepted is None:
        raise H245DecodeError(f"H.239 {_NAMES[sub]} has neither acknowledge nor reject")
    return message


# ----------------------------------------------------------------------------- capabilities

def control_capability() -> tuple[str, Any]:
    """The capabilityTable entry that says we speak H.239 (genericControlCapability)."""
    return ("genericControlCapability", {"capabilityIdentifier": ("standard", H239_CONTROL_OID)})


def extended_video(codecs: list[Codec], role: int = ROLE_PRESENTATION) -> tuple[str, Any]:
    """The VideoCapability of content: the codecs it may use, labelled with the role."""
    return ("extendedVideoCapability", {
        "videoCapability": [codec.to_asn() for codec in codecs],
        "videoCapabilityExtension": [{
            "capabilityIdentifier": ("standard", H239_EXTENDED_VIDEO_OID),
            "collapsing": [{"parameterIdentifier": ("standard", ROLE_LABEL_PARAM),
                            "parameterValue": ("booleanArray", role)}],
        }],
    })


def is_control_capability(choice: str, inner: Any) -> bool:
    return (choice == "genericControlCapability"
            and inner.get("capabilityIdentifier") == ("standard", H239_CONTROL_OID))


@dataclass(frozen=True, slots=True)
class ContentCapability:
    """What an extendedVideoCapability offers: its codecs and role (presentation or live)."""

    codecs: tuple[Codec, ...]
    role: int = ROLE_PRESENTATION


def content_of(video_capability: Any) -> ContentCapability | None:
    """The content capability of a VideoCapability CHOICE value; None for people video or an
    extended video that is not H.239's."""
    name, inner = video_capability
    if name != "extendedVideoCapability":
        return None
    role = None
    for extension in inner.get("videoCapabilityExtension", []):
        if extension.get("capabilityIdentifier") != ("standard", H239_EXTENDED_VIDEO_OID):
            continue
        role = ROLE_PRESENTATION  # a terminal that leaves the label out means presentation
        for param in extension.get("collapsing", []):
            if param["parameterIdentifier"] == ("standard", ROLE_LABEL_PARAM):
                role = int(param["parameterValue"][1])
    if role is None:
        return None
    codecs = tuple(c for c in (Codec.from_asn(KIND_VIDEO, v) for v in inner.get("videoCapability", []))
                   if c is not None)
    return ContentCapability(codecs, role)


# ---------------------------------------------------------------------------- token manager

@dataclass(slots=True)
class TokenRequested:
    """The terminal asks for the presentation token (to open or keep its content channel)."""

    channel: int
    terminal_label: int | None


@dataclass(slots=True)
class TokenReleased:
    """The terminal gave the token back (or acknowledged our request to take it)."""


@dataclass(slots=True)
class BitrateRequested:
    """flowControlReleaseRequest: the terminal wants to send `bitrate` (100 bit/s) on `channel`."""

    channel: int
    bitrate: int | None


@dataclass
class TokenManager:
    """The MCU's side of one H.323 call's presentation token (H.239 clause 7).

    Feed it the call's H.239 messages (`receive`); it keeps who holds the token as far as this
    call goes and returns what the conference must decide (`TokenRequested`, ...). The
    conference's decisions come back as `grant`, `deny`, `revoke` and `announce`, each giving
    the messages to send. A message out of turn (a release without the token, a response to
    nothing) is counted in `ignored` and changes nothing: a confused terminal cannot take the
    token from another site."""

    terminal_label: int = 0  # the label the MCU gave this terminal (M.T of H.243: ours is 0)
    channel: int = 0  # the content channel it asked about
    holds: bool = False
    revoking: bool = False
    ignored: int = 0
    out: list[H239Message] = field(default_factory=list)

    def receive(self, message: H239Message) -> list[object]:
        sub = message.sub
        if sub == PRESENTATION_TOKEN_REQUEST:
            self.channel = message.channel
            if self.holds:  # asked again while holding it: say yes again, nothing changes
                self.out.append(token_response(True, self.channel, self.terminal_label))
                return []
            return [TokenRequested(message.channel, message.terminal_label)]
        if sub == PRESENTATION_TOKEN_RELEASE:
            if not self.holds:
                self.ignored += 1
                return []
            self.holds = self.revoking = False
            return [TokenReleased()]
        if sub == PRESENTATION_TOKEN_RESPONSE:
            if not self.revoking:  # we asked nothing
                self.ignored += 1
                return []
            self.revoking = False
            return []  # agreed (it closes its channel) or refused (its content is dropped anyway)
        if sub == FLOW_CONTROL_RELEASE_REQUEST:
            return [BitrateRequested(message.channel, message.bitrate)]
        if sub == PRESENTATION_TOKEN_INDICATE_OWNER and self.holds:
            return []  # the owner announcing itself (H.239 clause 7): the MCU tells the others
        self.ignored += 1  # the rest are the MCU's to send
        return []

    def take(self) -> list[H239Message]:
        out, self.out = self.out, []
        return out

    def grant(self) -> list[H239Message]:
        self.holds, self.revoking = True, False
        return [token_response(True, self.channel, self.terminal_label)]

    def deny(self) -> list[H239Message]:
        return [token_response(False, self.channel, self.terminal_label)]

    def revoke(self, symmetry_breaking: int = 127) -> list[H239Message]:
        """Ask the owner to give the token back (another site takes over, or the operator). The
        floor has moved already: its content is no longer taken whatever it answers."""
        if not self.holds:
            return []
        self.holds, self.revoking = False, True
        return [token_request(self.channel, 0, symmetry_breaking)]

    def announce(self, owner_label: int, channel: int = 0) -> list[H239Message]:
        """Tell this terminal who presents now (every site hears of each change)."""
        return [indicate_owner(channel, owner_label)]

    def answer_bitrate(self, accepted: bool, channel: int) -> list[H239Message]:
        return [flow_control_release_response(accepted, channel)]
