"""Why a call is refused, in words every signalling protocol can say.

The conference and the limits decide with a `Refusal`; each protocol adapter maps it to its own
code: a SIP status (RFC 3261 21) or a Q.931 cause (ITU-T Q.850) with an H.225 release reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Refusal(Enum):
    """Each reason a call is refused; CODES gives its SIP status and Q.850 cause."""

    NOT_FOUND = "not found"
    LOCKED = "locked"
    FULL = "full"
    PIN_LOCKOUT = "pin lockout"
    RATE_LIMITED = "rate limited"
    UNCONFIRMED = "unconfirmed calls"
    OVERLOAD = "overload"
    OUT_OF_PORTS = "out of ports"
    NO_COMMON_MEDIA = "no common media"
    ENCRYPTION_REQUIRED = "encryption required"
    BAD_MEDIA_ADDRESS = "bad media address"
    TOO_LARGE = "too large"
    BAD_OFFER = "bad offer"
    GONE = "gone"
    INTERNAL = "internal"

    @property
    def sip_status(self) -> int:
        return CODES[self][0]

    @property
    def q850_cause(self) -> int:
        return CODES[self][1]


CODES: dict[Refusal, tuple[int, int]] = {  # (SIP status, Q.850 cause)
    Refusal.NOT_FOUND: (404, 1),  # unallocated number
    Refusal.LOCKED: (403, 21),  # call rejected
    Refusal.FULL: (486, 17),  # user busy
    Refusal.PIN_LOCKOUT: (403, 21),
    Refusal.RATE_LIMITED: (503, 42),  # switching equipment congestion
    Refusal.UNCONFIRMED: (503, 42),
    Refusal.OVERLOAD: (503, 42),
    Refusal.OUT_OF_PORTS: (503, 47),  # resource unavailable
    Refusal.NO_COMMON_MEDIA: (488, 65),  # bearer capability not implemented
    Refusal.ENCRYPTION_REQUIRED: (488, 65),
    Refusal.BAD_MEDIA_ADDRESS: (488, 100),  # invalid information element contents
    Refusal.TOO_LARGE: (488, 100),
    Refusal.BAD_OFFER: (400, 100),
    Refusal.GONE: (481, 81),  # invalid call reference
    Refusal.INTERNAL: (500, 41),  # temporary failure
}


@dataclass(frozen=True)
class Rejection:
    """A refused call: the neutral reason, the words for the operator and the caller (SIP reason
    phrase, H.225 display), and when to try again (seconds) if it may."""

    refusal: Refusal
    reason: str
    retry_after: int | None = None

    @property
    def status(self) -> int:
        """The SIP status of the refusal."""
        return self.refusal.sip_status
