"""Parse and packetization errors of the RTP layer.

Every parser in mcu.rtp raises only subclasses of RtpParseError or RtcpParseError; each
carries a short machine-readable `reason` so that shells can count failures per reason.
"""

from __future__ import annotations


class MediaParseError(ValueError):
    """Base of every parse error in mcu.rtp; `reason` names the failure for counters."""

    reason: str = "malformed"

    def __init__(self, message: str = "", reason: str | None = None) -> None:
        if reason is not None:
            self.reason = reason
        super().__init__(message or self.reason)


class RtpParseError(MediaParseError):
    """An RTP packet (or a payload inside it) could not be parsed."""


class RtpShortPacketError(RtpParseError):
    reason = "short packet"


class RtpBadVersionError(RtpParseError):
    reason = "bad version"


class RtpBadPaddingError(RtpParseError):
    reason = "bad padding"


class RtpBadExtensionLengthError(RtpParseError):
    reason = "bad extension length"


class RtpBadExtensionError(RtpParseError):
    reason = "bad extension element"


class PayloadParseError(RtpParseError):
    """A payload format (H.264, VP8, H.263, telephone-event) could not be parsed."""

    reason = "bad payload"


class PayloadShortError(PayloadParseError):
    reason = "short payload"


class PayloadUnsupportedError(PayloadParseError):
    reason = "unsupported payload"


class FragmentationError(PayloadParseError):
    """A fragmented unit (FU-A, VP8 partition, H.263 run) is incomplete or out of order."""

    reason = "broken fragmentation"


class RtcpParseError(MediaParseError):
    """An RTCP compound or one of its packets could not be parsed."""


class RtcpShortPacketError(RtcpParseError):
    reason = "short packet"


class RtcpBadVersionError(RtcpParseError):
    reason = "bad version"


class RtcpBadLengthError(RtcpParseError):
    reason = "bad length"


class RtcpBadPaddingError(RtcpParseError):
    reason = "bad padding"


class RtcpBadFieldError(RtcpParseError):
    reason = "bad field"


class PacketizationError(ValueError):
    """A frame cannot be packetized under the negotiated constraints (e.g. mode 0 NAL > MTU)."""


class NalTooLargeError(PacketizationError):
    """H.264 packetization-mode 0 forbids fragmentation: the encoder must cap slice size."""
