"""Events the UserAgent core reports through `next_event()`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Event:
    pass


@dataclass
class IncomingCall(Event):
    """A new INVITE. Answer with answer()/reject()/send_provisional()."""

    call_id: str
    request_user: str | None
    request_uri: str
    from_uri: str
    from_display: str | None
    to_uri: str
    user_agent: str | None
    body: bytes | None  # None: INVITE without offer; our 200 must carry the offer
    content_type: str | None
    remote_addr: tuple[str, int]
    transport: str
    # a cluster's front door (conf/kamailio) names the room's owner that did not answer, so this
    # node takes the room over at once instead of redirecting back to the dead one
    owner_failed: str | None = None
    front_door_source: str | None = None  # the caller's ip:port as the front door saw it (X-MCU-Source)
    is_focus: bool = False  # the caller's Contact has isfocus (RFC 4579): another MCU cascading in


@dataclass
class CallProgress(Event):
    """Provisional response (180/183) to our INVITE; body is early media SDP or None."""

    call_id: str
    status: int
    reason: str
    body: bytes | None
    content_type: str | None


@dataclass
class CallAnswered(Event):
    """2xx to our INVITE; ACK has been sent."""

    call_id: str
    status: int
    body: bytes | None
    content_type: str | None


@dataclass
class CallFailed(Event):
    """Final non-2xx to our INVITE (after any authentication retry), or a timeout (408)."""

    call_id: str
    status: int
    reason: str


@dataclass
class CallEstablished(Event):
    """The ACK for our 2xx arrived (UAS side); body is an answer carried in the ACK, if any."""

    call_id: str
    body: bytes | None = None
    content_type: str | None = None


@dataclass
class CallEnded(Event):
    """The call is gone: BYE either way, CANCEL, no ACK, session timer expiry, failure."""

    call_id: str
    reason: str
    status: int | None = None


@dataclass
class ReInvite(Event):
    """A re-INVITE with a new offer (hold, resume, codec or port change); answer with answer()."""

    call_id: str
    body: bytes | None
    content_type: str | None


@dataclass
class ReInviteAnswered(Event):
    """Final response to our re-INVITE."""

    call_id: str
    status: int
    body: bytes | None
    content_type: str | None


@dataclass
class UpdateReceived(Event):
    """An UPDATE carrying an offer; answer with answer_update()."""

    call_id: str
    body: bytes
    content_type: str | None


@dataclass
class InfoReceived(Event):
    """INFO in a dialog (already answered 200): application/dtmf-relay or application/dtmf."""

    call_id: str
    content_type: str | None
    body: bytes


@dataclass
class OptionsReceived(Event):
    """OPTIONS answered internally with 200 (for logging / keep-alive tracking)."""

    call_id: str
    from_uri: str
    remote_addr: tuple[str, int]


@dataclass
class RegistrationSucceeded(Event):
    registration_id: str
    expires: int


@dataclass
class RegistrationFailed(Event):
    registration_id: str
    status: int
    reason: str
