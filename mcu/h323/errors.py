"""Errors of the H.323 cores.

Every parser in mcu.h323 raises only subclasses of H323Error; each carries a short
machine-readable `reason` so that shells can count failures per reason (as mcu.rtp does).
A framing error (TPKT) means the TCP stream is out of step: the shell should close it.
"""

from __future__ import annotations


class H323Error(ValueError):
    """Base of every parse and build error in mcu.h323; `reason` names the failure."""

    reason: str = "malformed"

    def __init__(self, message: str = "", reason: str | None = None) -> None:
        if reason is not None:
            self.reason = reason
        super().__init__(message or self.reason)


# TPKT (RFC 1006 clause 6)


class TpktError(H323Error):
    """The TCP byte stream is not a sequence of TPKTs; close the connection."""

    reason = "bad tpkt"


class TpktBadVersionError(TpktError):
    reason = "tpkt version is not 3"


class TpktBadLengthError(TpktError):
    reason = "tpkt length below 4"


class TpktTooLongError(TpktError):
    reason = "tpkt payload too long"


# Q.931 as profiled by H.225.0 clause 7


class Q931Error(H323Error):
    """A Q.931 message could not be parsed or built."""

    reason = "bad q931"


class Q931TruncatedError(Q931Error):
    reason = "q931 truncated"


class Q931BadDiscriminatorError(Q931Error):
    reason = "q931 protocol discriminator is not 8"


class Q931BadCallReferenceError(Q931Error):
    reason = "q931 bad call reference"


class Q931BadMessageTypeError(Q931Error):
    reason = "q931 bad message type"


class Q931BadInformationElementError(Q931Error):
    reason = "q931 bad information element"


class Q931MissingUserUserError(Q931Error):
    """H.225.0 clause 7.2.2.28: every call-signalling message carries a User-user IE."""

    reason = "q931 message has no user-user ie"


# ASN.1 PER (H.225.0 and H.245)


class AsnError(H323Error):
    reason = "bad asn.1"


class H225DecodeError(AsnError):
    reason = "h225 decode failed"


class H225EncodeError(AsnError):
    reason = "h225 encode failed"


class H225UnexpectedError(AsnError):
    """A well-formed UUIE that does not fit the Q.931 message carrying it."""

    reason = "h225 unexpected message"


class H245DecodeError(AsnError):
    reason = "h245 decode failed"


class H245EncodeError(AsnError):
    reason = "h245 encode failed"


class CapabilityError(H323Error):
    """A capability or a logical channel proposal we cannot read or cannot accept."""

    reason = "bad capability"


class H323StateError(RuntimeError):
    """An API call that the call's state does not allow (a bug of the caller, not the peer)."""


# RAS (H.225.0 clause 7: registration, admission and status over UDP)


class RasError(AsnError):
    reason = "bad ras"


class RasDecodeError(RasError):
    """A datagram that is not a RasMessage (truncated, garbage, a mandatory field missing)."""

    reason = "ras decode failed"


class RasEncodeError(RasError):
    reason = "ras encode failed"
