"""Media capabilities in H.245 terms (H.245 clause 7.2 / Annex A `Capability`, `DataType`),
from and to a small neutral description.

A `Codec` names what the call layer knows (the SDP-style name, a kind, a static or dynamic
RTP payload type) plus the few H.245 parameters that matter: audio frames per packet,
video maximum bit rate (in units of 100 bit/s, H.245 clause 7.2.x), picture MPIs for
H.261/H.263, and for H.264 the H.241 clause 8.3 generic capability (profile parameter 41
as a boolean array, level parameter 42 as an H.241 Table 8-? level number).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .errors import CapabilityError

KIND_AUDIO = "audio"
KIND_VIDEO = "video"
ROLE_MAIN = "main"
ROLE_CONTENT = "content"  # H.239 presentation: a second video channel under the token
SESSION_CONTENT = 32  # sessionID of the content channels we open (H.239 leaves it to the master)

# H.225.0 clause 6.2.8 / H.245 H2250LogicalChannelParameters sessionID for primary media
SESSION_AUDIO = 1
SESSION_VIDEO = 2
SESSION_OF_KIND = {KIND_AUDIO: SESSION_AUDIO, KIND_VIDEO: SESSION_VIDEO}
KIND_OF_SESSION = {v: k for k, v in SESSION_OF_KIND.items()}

# Static RTP payload types (RFC 3551 Table 4 and 5)
PT_PCMU = 0
PT_PCMA = 8
PT_G722 = 9
PT_H261 = 31
PT_H263 = 34
PT_DYNAMIC_H264 = 96
DYNAMIC_PT_MIN = 96
DYNAMIC_PT_MAX = 127

# H.241 clause 8.3: the H.264 generic capability
H264_CAPABILITY_OID = (0, 0, 8, 241, 0, 0, 1)
H241_PARAM_PROFILE = 41
H241_PARAM_LEVEL = 42
H241_PARAM_MAX_MBPS = 3
H241_PARAM_MAX_FS = 4
H241_PROFILE_BASELINE = 64  # booleanArray bit for profile_idc 66
H241_PROFILE_MAIN = 32
H241_PROFILE_EXTENDED = 16
H241_PROFILE_HIGH = 8
# H.241 Table 8-3: level number -> parameter value
H241_LEVELS = {
    "1": 15, "1b": 19, "1.1": 22, "1.2": 29, "1.3": 36, "2": 43, "2.1": 50, "2.2": 57,
    "3": 64, "3.1": 71, "3.2": 78, "4": 85, "4.1": 92, "4.2": 99, "5": 106, "5.1": 113,
}

# H.245 names of the audio capabilities we speak (AudioCapability CHOICE)
_AUDIO_H245 = {"PCMU": "g711Ulaw64k", "PCMA": "g711Alaw64k", "G722": "g722-64k"}
_AUDIO_OF_H245 = {v: k for k, v in _AUDIO_H245.items()}
_STATIC_PT = {"PCMU": PT_PCMU, "PCMA": PT_PCMA, "G722": PT_G722, "H261": PT_H261,
              "H263": PT_H263}
_CLOCK = {"PCMU": 8000, "PCMA": 8000, "G722": 8000, "H261": 90000, "H263": 90000,
          "H264": 90000}

# User input (H.245 UserInputCapability): "alphanumeric" strings and "signal" (DTMF)
USER_INPUT_BASIC_STRING = "basicString"
USER_INPUT_DTMF = "dtmf"


@dataclass(frozen=True, slots=True)
class Codec:
    """One media format. `name` is the SDP encoding name (PCMU, PCMA, G722, H261, H263, H264).

    frames: audio milliseconds per packet (H.245 counts G.711/G.722 "frames" in ms);
    max_bitrate: video, in units of 100 bit/s; qcif_mpi/cif_mpi: H.261/H.263 minimum
    picture interval (1 = 29.97 fps, None = not supported); profile/level: H.264 (H.241).
    """

    name: str
    kind: str
    frames: int = 20
    max_bitrate: int = 0
    qcif_mpi: int | None = None
    cif_mpi: int | None = None
    profile: int = H241_PROFILE_BASELINE
    level: int = H241_LEVELS["3.1"]
    payload_type: int | None = None  # None: the static type, or 96 for H.264

    @property
    def rtp_payload_type(self) -> int:
        if self.payload_type is not None:
            return self.payload_type
        return _STATIC_PT.get(self.name, PT_DYNAMIC_H264)

    @property
    def clock_rate(self) -> int:
        return _CLOCK.get(self.name, 90000)

    @property
    def dynamic(self) -> bool:
        return self.name == "H264"

    def same_format(self, other: Codec) -> bool:
        """Same codec, whatever the parameters (a match for offer/answer)."""
        return self.name == other.name and self.kind == other.kind

    def to_asn(self) -> tuple[str, Any]:
        """The AudioCapability or VideoCapability CHOICE value (H.245 Annex A)."""
        if self.kind == KIND_AUDIO:
            h245 = _AUDIO_H245.get(self.name)
            if h245 is None:
                raise CapabilityError(f"no H.245 audio capability for {self.name}")
            return (h245, self.frames)
        if self.name == "H261":
            value: dict[str, Any] = {}
            if self.qcif_mpi is not None:
                value["qcifMPI"] = min(max(self.qcif_mpi, 1), 4)
            if self.cif_mpi is not None:
                value["cifMPI"] = min(max(self.cif_mpi, 1), 4)
            value.update(
                temporalSpatialTradeOffCapability=False,
                maxBitRate=min(max(self.max_bitrate, 1), 19200),
                stillImageTransmission=False,
            )
            return ("h261VideoCapability", value)
        if self.name == "H263":
            value = {}
            if self.qcif_mpi is not None:
                value["qcifMPI"] = min(max(self.qcif_mpi, 1), 32)
            if self.cif_mpi is not None:
                value["cifMPI"] = min(max(self.cif_mpi, 1), 32)
            value.update(
                maxBitRate=min(max(self.max_bitrate, 1), 192400),
                unrestrictedVector=False,
                arithmeticCoding=False,
                advancedPrediction=False,
                pbFrames=False,
                temporalSpatialTradeOffCapability=False,
            )
            return ("h263VideoCapability", value)
        if self.name == "H264":
            return (
                "genericVideoCapability",
                {
                    "capabilityIdentifier": ("standard", H264_CAPABILITY_OID),
                    "maxBitRate": self.max_bitrate,
                    "collapsing": [
                        {
                            "parameterIdentifier": ("standard", H241_PARAM_PROFILE),
                            "parameterValue": ("booleanArray", self.profile),
                        },
                        {
                            "parameterIdentifier": ("standard", H241_PARAM_LEVEL),
                            "parameterValue": ("unsignedMin", self.level),
                        },
                    ],
                },
            )
        raise CapabilityError(f"no H.245 video capability for {self.name}")

    @classmethod
    def from_asn(cls, kind: str, value: Any) -> Codec | None:
        """The codec of an AudioCapability/VideoCapability value; None if we do not know it."""
        name, inner = value
        if kind == KIND_AUDIO:
            ours = _AUDIO_OF_H245.get(name)
            if ours is None:
                return None
            return cls(ours, KIND_AUDIO, frames=int(inner))
        if name == "h261VideoCapability":
            return cls("H261", KIND_VIDEO, max_bitrate=inner.get("maxBitRate", 0),
                       qcif_mpi=inner.get("qcifMPI"), cif_mpi=inner.get("cifMPI"))
        if name == "h263VideoCapability":
            return cls("H263", KIND_VIDEO, max_bitrate=inner.get("maxBitRate", 0),
                       qcif_mpi=inner.get("qcifMPI"), cif_mpi=inner.get("cifMPI"))
        if name == "genericVideoCapability":
            identifier = inner.get("capabilityIdentifier")
            if identifier != ("standard", H264_CAPABILITY_OID):
                return None
            profile, level = H241_PROFILE_BASELINE, H241_LEVELS["1"]
            for param in inner.get("collapsing", []):
                pid = param["parameterIdentifier"]
                pvalue = param["parameterValue"]
                if pid == ("standard", H241_PARAM_PROFILE):
                    profile = int(pvalue[1])
                elif pid == ("standard", H241_PARAM_LEVEL):
                    level = int(pvalue[1])
            return cls("H264", KIND_VIDEO, max_bitrate=inner.get("maxBitRate", 0),
                       profile=profile, level=level)
        return None


def data_type_to_asn(codec: Codec) -> tuple[str, Any]:
    """The OpenLogicalChannel DataType (H.245 Annex A) for a codec."""
    return ("audioData" if codec.kind == KIND_AUDIO else "videoData", codec.to_asn())


def codec_from_data_type(value: Any) -> Codec | None:
    """The codec of a DataType; None for nullData, data, or a codec we do not know."""
    name, inner = value
    if name == "audioData":
        return Codec.from_asn(KIND_AUDIO, inner)
    if name == "videoData":
        return Codec.from_asn(KIND_VIDEO, inner)
    return None


# Default capabilities of the MCU, best first (H.264 level 3.1 = 720p30, 2 Mbit/s)
G711U = Codec("PCMU", KIND_AUDIO)
G711A = Codec("PCMA", KIND_AUDIO)
G722 = Codec("G722", KIND_AUDIO)
H264 = Codec("H264", KIND_VIDEO, max_bitrate=20480)
H263 = Codec("H263", KIND_VIDEO, max_bitrate=20480, qcif_mpi=1, cif_mpi=1)
H261 = Codec("H261", KIND_VIDEO, max_bitrate=19200, qcif_mpi=1, cif_mpi=1)


@dataclass(slots=True)
class CapabilitySpec:
    """What an endpoint can receive, best first per kind, and whether it takes user input."""

    audio: list[Codec] = field(default_factory=lambda: [G722, G711U, G711A])
    video: list[Codec] = field(default_factory=lambda: [H264, H263, H261])
    user_input: bool = True
    content: list[Codec] = field(default_factory=list)  # H.239 presentation; empty: no H.239

    def codecs(self, kind: str) -> list[Codec]:
        return self.audio if kind == KIND_AUDIO else self.video if kind == KIND_VIDEO else []

    def best_match(self, kind: str, remote: list[Codec]) -> Codec | None:
        """Our most preferred codec of `kind` that the remote also has, with the remote's
        limits applied (its bitrate, H.264 level, frames per packet)."""
        for ours in self.codecs(kind):
            for theirs in remote:
                if ours.same_format(theirs):
                    return _intersect(ours, theirs)
        return None


def _intersect(ours: Codec, theirs: Codec) -> Codec:
    if ours.kind == KIND_AUDIO:
        return replace(ours, frames=min(ours.frames, theirs.frames) or ours.frames)
    bitrate = min(b for b in (ours.max_bitrate, theirs.max_bitrate) if b) if (
        ours.max_bitrate or theirs.max_bitrate) else 0
    if ours.name == "H264":
        profile = ours.profile & theirs.profile or H241_PROFILE_BASELINE
        return replace(ours, max_bitrate=bitrate, profile=profile,
                       level=min(ours.level, theirs.level))
    return replace(ours, max_bitrate=bitrate,
                   qcif_mpi=_worse_mpi(ours.qcif_mpi, theirs.qcif_mpi),
                   cif_mpi=_worse_mpi(ours.cif_mpi, theirs.cif_mpi))


def _worse_mpi(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return None
    return max(a, b)


@dataclass(slots=True)
class RemoteCapabilities:
    """What the peer's TerminalCapabilitySet says it can receive (we send it that)."""

    audio: list[Codec] = field(default_factory=list)
    video: list[Codec] = field(default_factory=list)
    user_input: set[str] = field(default_factory=set)
    unknown: int = 0  # table entries we do not understand
    h239: bool = False  # it has H.239's control capability: it speaks the presentation token
    content: list[Codec] = field(default_factory=list)  # what it takes as H.239 presentation

    def codecs(self, kind: str) -> list[Codec]:
        return self.audio if kind == KIND_AUDIO else self.video if kind == KIND_VIDEO else []


_RECEIVE_AUDIO = ("receiveAudioCapability", "receiveAndTransmitAudioCapability")
_RECEIVE_VIDEO = ("receiveVideoCapability", "receiveAndTransmitVideoCapability")
_RECEIVE_UII = ("receiveUserInputCapability", "receiveAndTransmitUserInputCapability")


def capability_table(spec: CapabilitySpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """capabilityTable and one capabilityDescriptor for a TerminalCapabilitySet
    (H.245 clause 8.3): audio alternatives, video alternatives, user input, simultaneous."""
    table: list[dict[str, Any]] = []
    simultaneous: list[list[int]] = []
    number = 1
    for kind, choice in ((KIND_AUDIO, "receiveAudioCapability"),
                         (KIND_VIDEO, "receiveVideoCapability")):
        alternatives = []
        for codec in spec.codecs(kind):
            table.append({"capabilityTableEntryNumber": number,
                          "capability": (choice, codec.to_asn())})
            alternatives.append(number)
            number += 1
        if alternatives:
            simultaneous.append(alternatives)
    if spec.user_input:
        alternatives = []
        for uii in (USER_INPUT_BASIC_STRING, USER_INPUT_DTMF):
            table.append({"capabilityTableEntryNumber": number,
                          "capability": ("receiveUserInputCapability", (uii, 0))})
            alternatives.append(number)
            number += 1
        simultaneous.append(alternatives)
    if spec.content:  # H.239 clause 9: the control capability beside an extended video one
        from .h239 import control_capability, extended_video  # (h239 imports us)
        table.append({"capabilityTableEntryNumber": number, "capability": control_capability()})
        table.append({"capabilityTableEntryNumber": number + 1,
                      "capability": ("receiveVideoCapability", extended_video(spec.content))})
        simultaneous += [[number], [number + 1]]
        number += 2
    descriptors = [{"capabilityDescriptorNumber": 0, "simultaneousCapabilities": simultaneous}]
    return table, descriptors


def remote_capabilities(table: list[Any]) -> RemoteCapabilities:
    """The receive capabilities of a peer's capabilityTable (descriptors are not used:
    an MCU sends one audio and one video stream, which every terminal takes together)."""
    from .h239 import ROLE_PRESENTATION, content_of, is_control_capability  # (h239 imports us)
    remote = RemoteCapabilities()
    for entry in table or []:
        capability = entry.get("capability")
        if capability is None:
            continue
        choice, inner = capability
        codec = None
        if is_control_capability(choice, inner):
            remote.h239 = True
            continue
        if choice in _RECEIVE_AUDIO:
            codec = Codec.from_asn(KIND_AUDIO, inner)
        elif choice in _RECEIVE_VIDEO:
            content = content_of(inner)
            if content is not None:
                if content.role == ROLE_PRESENTATION:
                    remote.content.extend(content.codecs)
                continue
            codec = Codec.from_asn(KIND_VIDEO, inner)
        elif choice in _RECEIVE_UII:
            remote.user_input.add(inner[0])
            continue
        if codec is None:
            remote.unknown += 1
        else:
            remote.codecs(codec.kind).append(codec)
    return remote
