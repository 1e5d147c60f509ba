"""Neutral refusals and their H.323 forms: a Q.931 cause (Q.850 values) and an H.225.0
ReleaseCompleteReason (H.225.0 clause 7.4.8 and Table 5, which pairs them)."""

from __future__ import annotations

import enum

from . import h225, q931


class Refusal(enum.Enum):
    """Why a call is refused or ended, in the call layer's words."""

    NORMAL = "normal"
    NOT_FOUND = "not_found"
    BUSY = "busy"
    FULL = "full"
    FORBIDDEN = "forbidden"
    LOCKED = "locked"
    UNAVAILABLE = "unavailable"
    OVERLOAD = "overload"
    INCOMPATIBLE_MEDIA = "incompatible_media"
    NO_ANSWER = "no_answer"
    PROTOCOL_ERROR = "protocol_error"


# refusal -> (Q.850 cause value, ReleaseCompleteReason or None)
_H323_FORM: dict[Refusal, tuple[int, str | None]] = {
    Refusal.NORMAL: (q931.CAUSE_NORMAL_CALL_CLEARING, None),
    Refusal.NOT_FOUND: (q931.CAUSE_UNALLOCATED_NUMBER, h225.REASON_UNREACHABLE_DESTINATION),
    Refusal.BUSY: (q931.CAUSE_USER_BUSY, h225.REASON_IN_CONF),
    Refusal.FULL: (q931.CAUSE_NO_CIRCUIT_AVAILABLE, h225.REASON_GATEWAY_RESOURCES),
    Refusal.FORBIDDEN: (q931.CAUSE_CALL_REJECTED, h225.REASON_DESTINATION_REJECTION),
    Refusal.LOCKED: (q931.CAUSE_CALL_REJECTED, h225.REASON_NO_PERMISSION),
    Refusal.UNAVAILABLE: (q931.CAUSE_TEMPORARY_FAILURE, h225.REASON_UNDEFINED),
    Refusal.OVERLOAD: (q931.CAUSE_SWITCHING_CONGESTION, h225.REASON_ADAPTIVE_BUSY),
    Refusal.INCOMPATIBLE_MEDIA: (q931.CAUSE_INCOMPATIBLE_DESTINATION, h225.REASON_UNDEFINED),
    Refusal.NO_ANSWER: (q931.CAUSE_NO_ANSWER, h225.REASON_UNDEFINED),
    Refusal.PROTOCOL_ERROR: (q931.CAUSE_PROTOCOL_ERROR, h225.REASON_UNDEFINED),
}

_OF_CAUSE: dict[int, Refusal] = {
    q931.CAUSE_NORMAL_CALL_CLEARING: Refusal.NORMAL,
    q931.CAUSE_NORMAL_UNSPECIFIED: Refusal.NORMAL,
    q931.CAUSE_UNALLOCATED_NUMBER: Refusal.NOT_FOUND,
    q931.CAUSE_NO_ROUTE_TO_DESTINATION: Refusal.NOT_FOUND,
    q931.CAUSE_SUBSCRIBER_ABSENT: Refusal.NOT_FOUND,
    q931.CAUSE_INVALID_NUMBER_FORMAT: Refusal.NOT_FOUND,
    q931.CAUSE_USER_BUSY: Refusal.BUSY,
    q931.CAUSE_NO_CIRCUIT_AVAILABLE: Refusal.FULL,
    q931.CAUSE_CALL_REJECTED: Refusal.FORBIDDEN,
    q931.CAUSE_NO_USER_RESPONDING: Refusal.NO_ANSWER,
    q931.CAUSE_NO_ANSWER: Refusal.NO_ANSWER,
    q931.CAUSE_TEMPORARY_FAILURE: Refusal.UNAVAILABLE,
    q931.CAUSE_RESOURCE_UNAVAILABLE: Refusal.UNAVAILABLE,
    q931.CAUSE_NETWORK_OUT_OF_ORDER: Refusal.UNAVAILABLE,
    q931.CAUSE_SWITCHING_CONGESTION: Refusal.OVERLOAD,
    q931.CAUSE_BEARER_NOT_AVAILABLE: Refusal.INCOMPATIBLE_MEDIA,
    q931.CAUSE_BEARER_NOT_IMPLEMENTED: Refusal.INCOMPATIBLE_MEDIA,
    q931.CAUSE_INCOMPATIBLE_DESTINATION: Refusal.INCOMPATIBLE_MEDIA,
    q931.CAUSE_INVALID_MESSAGE: Refusal.PROTOCOL_ERROR,
    q931.CAUSE_MANDATORY_IE_MISSING: Refusal.PROTOCOL_ERROR,
    q931.CAUSE_PROTOCOL_ERROR: Refusal.PROTOCOL_ERROR,
}

# ReleaseCompleteReason -> refusal, used when no Cause IE came (H.225.0 Table 5)
_OF_REASON: dict[str, Refusal] = {
    h225.REASON_NO_BANDWIDTH: Refusal.FULL,
    h225.REASON_GATEKEEPER_RESOURCES: Refusal.OVERLOAD,
    h225.REASON_UNREACHABLE_DESTINATION: Refusal.NOT_FOUND,
    h225.REASON_DESTINATION_REJECTION: Refusal.FORBIDDEN,
    h225.REASON_NO_PERMISSION: Refusal.LOCKED,
    h225.REASON_GATEWAY_RESOURCES: Refusal.FULL,
    h225.REASON_BAD_FORMAT_ADDRESS: Refusal.NOT_FOUND,
    h225.REASON_ADAPTIVE_BUSY: Refusal.OVERLOAD,
    h225.REASON_IN_CONF: Refusal.BUSY,
    h225.REASON_CALLED_PARTY_NOT_REGISTERED: Refusal.NOT_FOUND,
    h225.REASON_SECURITY_DENIED: Refusal.FORBIDDEN,
    h225.REASON_UNDEFINED: Refusal.NORMAL,
}


def to_h323(refusal: Refusal) -> tuple[int, str | None]:
    """(Q.850 cause value, ReleaseCompleteReason or None) for a refusal."""
    return _H323_FORM[refusal]


def from_h323(cause: int | None, reason: str | None) -> Refusal:
    """The refusal a peer meant: the Cause IE first, else the ReleaseCompleteReason."""
    if cause is not None and cause in _OF_CAUSE:
        return _OF_CAUSE[cause]
    if reason is not None and reason in _OF_REASON:
        return _OF_REASON[reason]
    return Refusal.NORMAL if cause is None or cause < 32 else Refusal.UNAVAILABLE
