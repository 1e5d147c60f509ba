"""Why a call is refused, in words every signalling protocol can say.

The conference and the limits decide with a `Refusal`; each protocol adapter maps it to its own
code: a SIP status (RFC 3261 21), or a Q.850 cause with an H.225 release reason
(mcu.calls.h323_adapter.REFUSALS).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Refusal(Enum):
    """Each reason a call is refused; SIP_STATUS gives its SIP status (the H.323 adapter maps it
    to a Q.850 cause through mcu.h323.refusal)."""

    NOT_FOUND = "not found"
    LOCKED = "locked"
    FULL = "full"
    PIN_LOCKOUT = "pin lockout"
    RATE_LIMITED = "rate limited"
    UNCONFIRMED = "unconfirmed calls"
    OVERLOAD = "overload"
    QUOTA = "quota"  # the tenant's own limit (conf/tenants.toml [tenant.quota])
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
        return SIP_STATUS[self]


SIP_STATUS: dict[Refusal, int] = {
    Refusal.NOT_FOUND: 404,
    Refusal.LOCKED: 403,
    Refusal.FULL: 486,
    Refusal.PIN_LOCKOUT: 403,
    Refusal.RATE_LIMITED: 503,
    Refusal.UNCONFIRMED: 503,
    Refusal.OVERLOAD: 503,
    Refusal.QUOTA: 486,
    Refusal.OUT_OF_PORTS: 503,
    Refusal.NO_COMMON_MEDIA: 488,
    Refusal.ENCRYPTION_REQUIRED: 488,
    Refusal.BAD_MEDIA_ADDRESS: 488,
    Refusal.TOO_LARGE: 488,
    Refusal.BAD_OFFER: 400,
    Refusal.GONE: 481,
    Refusal.INTERNAL: 500,
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
