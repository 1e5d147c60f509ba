"""The floor control server of one room's content floor (RFC 8855), sans-I/O.

Inputs: ``receive(data, peer, now)`` for every message of this conference, ``handle_timer(now)``
and the operator's calls (``grant``, ``revoke``, ``operator_start``/``operator_stop``). Outputs:
``datagrams_to_send()`` (peer, bytes) and ``next_event()`` (who holds the floor, request results).

We are the only floor control server (``a=floorctrl:s-only``): users request, release and query;
chair actions are refused. Every change of the floor goes to every user as an unsolicited
FloorStatus (some terminals never send FloorQuery), and a request's own changes (Granted after
Pending, Revoked) as FloorRequestStatus. Over UDP our messages are retransmitted until the
user's Ack arrives; over TCP they use transaction id 0 (RFC 8855 8.1).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from .constants import (
    FIRST_SERVER_TRANSACTION,
    LEGACY_UDP_PRIMITIVES,
    LEGACY_UDP_WIRE,
    POLYCOM_FLOOR_REQUEST_STATUS_ACK,
    SUPPORTED_ATTRIBUTES,
    SUPPORTED_PRIMITIVES,
    VERSION_RELIABLE,
    VERSION_UNRELIABLE,
    AttributeType,
    ErrorCode,
    Primitive,
    RequestStatus,
)
from .message import Attribute, BfcpParseError, Group, Message, decode, encode, request_status
from .transaction import Peer, Reliability

A = AttributeType
P = Primitive
S = RequestStatus

POLICIES = ("anyone", "chair", "operator")
OPERATOR = 0  # the holder when the MCU itself presents (operator slides); no BFCP user has id 0
ACTIVE = (S.PENDING, S.ACCEPTED, S.GRANTED)


@dataclass(frozen=True)
class FloorPolicy:
    """Who may take the floor (`anyone`, `chair` sites only, or `operator` decides) and whether a
    new presenter takes it from the current one (`takeover`) or waits in the queue."""

    mode: str = "anyone"
    takeover: bool = True

    def __post_init__(self) -> None:
        if self.mode not in POLICIES:
            raise ValueError(f"content policy must be one of {POLICIES}, got {self.mode!r}")


# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FloorChanged:
    """The floor's holder changed: a user id, OPERATOR, or None (free)."""

    holder: int | None
    previous: int | None
    reason: str


@dataclass(frozen=True)
class RequestOutcome:
    """What became of a floor request (for metrics and the log): granted, pending, denied..."""

    user_id: int
    result: str


Event = FloorChanged | RequestOutcome


# --- state -----------------------------------------------------------------------------


@dataclass
class User:
    user_id: int
    display_name: str = ""
    chair: bool = False
    nested: bool = True  # vendor variant: grouped attributes nested (standard) or flat
    peer: Peer | None = None
    version: int | None = None  # what it speaks; None until it spoke (then per its transport)
    legacy_numbers: bool = False  # version 1 over UDP with the bfcpbis draft's primitive numbers


@dataclass
class FloorRequest:
    request_id: int
    user_id: int
    status: S
    queue_position: int = 0


class NotForUs(Exception):
    """A message for another conference (the registry answers it)."""


@dataclass
class FloorServer:
    conference_id: int
    floor_id: int = 1
    policy: FloorPolicy = field(default_factory=FloorPolicy)
    users: dict[int, User] = field(default_factory=dict)
    requests: dict[int, FloorRequest] = field(default_factory=dict)
    holder: int | None = None  # a request id, or OPERATOR
    errors_sent: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.reliability = Reliability()
        self._next_request = 1
        self._next_transaction = FIRST_SERVER_TRANSACTION
        self._out: list[tuple[Peer, bytes]] = []
        self._events: deque[Event] = deque()
        self._queue: list[int] = []  # request ids waiting for the floor, oldest first

    # ------------------------------------------------------------------ users

    def add_user(self, user_id: int, display_name: str = "", chair: bool = False, nested: bool = True,
                 peer: Peer | None = None) -> User:
        if user_id == OPERATOR:
            raise ValueError("user id 0 is the operator's")
        user = User(user_id, display_name, chair, nested, peer)
        self.users[user_id] = user
        return user

    def remove_user(self, user_id: int, now: float) -> None:
        """A call left: its requests end (a held floor is released) and its peer is forgotten."""
        self._end_requests_of(user_id, now, notify_owner=False)
        user = self.users.pop(user_id, None)
        if user is not None and user.peer is not None and not self._peer_in_use(user.peer):
            self.reliability.forget_peer(user.peer)

    def _peer_in_use(self, peer: Peer) -> bool:
        return any(u.peer == peer for u in self.users.values())

    @property
    def holder_user(self) -> int | None:
        """The user id holding the floor, OPERATOR, or None."""
        if self.holder is None or self.holder == OPERATOR:
            return self.holder
        request = self.requests.get(self.holder)
        return request.user_id if request else None

    def pending_users(self) -> list[int]:
        return [self.requests[r].user_id for r in self._queue if r in self.requests]

    # ------------------------------------------------------------------ I/O-free plumbing

    def datagrams_to_send(self) -> list[tuple[Peer, bytes]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        return self.reliability.next_timer()

    def handle_timer(self, now: float) -> None:
        self._out.extend(self.reliability.due(now))

    # ------------------------------------------------------------------ receiving

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        """One message from `peer`. Raises BfcpParseError for bytes that cannot be read (the
        caller counts and answers them) and NotForUs for another conference's message."""
        udp = _is_udp(peer)
        try:
            message = decode(data)
        except BfcpParseError as exc:
            if exc.header is not None and exc.header.conference_id == self.conference_id:
                h = exc.header
                version = h.version if h.version in (1, 2) else (VERSION_UNRELIABLE if udp else VERSION_RELIABLE)
                self._send_error(peer, version, h.transaction_id, h.user_id, exc.code, exc.fault, now,
                                 legacy=False, nested=True)
            raise
        if message.conference_id != self.conference_id:
            raise NotForUs(message.conference_id)
        legacy = udp and message.version == 1
        primitive: int | None = message.primitive
        if legacy and message.primitive in LEGACY_UDP_PRIMITIVES:
            primitive = LEGACY_UDP_PRIMITIVES[message.primitive]
            if primitive is None:  # ErrorAck
                self.reliability.acknowledged(peer, message.transaction_id)
                return
        assert primitive is not None
        if primitive == POLYCOM_FLOOR_REQUEST_STATUS_ACK:
            primitive = P.FLOOR_REQUEST_STATUS_ACK
        if message.responder or primitive in (P.FLOOR_REQUEST_STATUS_ACK, P.FLOOR_STATUS_ACK, P.GOODBYE_ACK,
                                              P.CHAIR_ACTION_ACK, P.ERROR):
            # a response to one of ours (an Ack, or an Error about what we sent): never answered,
            # so two servers cannot ping-pong Errors
            self.reliability.acknowledged(peer, message.transaction_id)
            return
        if udp:
            cached = self.reliability.cached_response(peer, message.transaction_id, primitive, now)
            if cached is not None:  # a retransmission: same answer, no second action
                self._out.append((peer, cached))
                return
        user = self.users.get(message.user_id)
        if user is None:
            self._reply_error(peer, message, ErrorCode.USER_DOES_NOT_EXIST,
                              f"user {message.user_id} is not in conference {self.conference_id}", now)
            return
        if user.peer != peer:
            if user.peer is not None and user.peer != peer and not self._peer_in_use_by_other(user):
                self.reliability.forget_peer(user.peer)
            user.peer = peer
        user.version = message.version
        user.legacy_numbers = legacy
        if message.unknown_mandatory:
            details = bytes((t & 0x7F) << 1 for t in message.unknown_mandatory)
            self._reply_error(peer, message, ErrorCode.UNKNOWN_MANDATORY_ATTRIBUTE,
                              "mandatory attributes we do not know", now, details)
            return
        handler = _HANDLERS.get(primitive)
        if handler is None:
            self._reply_error(peer, message, ErrorCode.UNKNOWN_PRIMITIVE,
                              f"primitive {message.primitive} is not a request a floor control server takes",
                              now)
            return
        handler(self, message, user, peer, now)

    def _peer_in_use_by_other(self, user: User) -> bool:
        return any(u.peer == user.peer for u in self.users.values() if u is not user)

    # ------------------------------------------------------------------ handlers

    def _hello(self, message: Message, user: User, peer: Peer, now: float) -> None:
        self._respond(peer, message, P.HELLO_ACK, [
            Attribute(A.SUPPORTED_PRIMITIVES, tuple(int(p) for p in SUPPORTED_PRIMITIVES), True),
            Attribute(A.SUPPORTED_ATTRIBUTES, tuple(int(a) for a in SUPPORTED_ATTRIBUTES), True)], now)
        self._send_floor_status(user, now)  # a terminal that just connected learns who presents

    def _goodbye(self, message: Message, user: User, peer: Peer, now: float) -> None:
        self._respond(peer, message, P.GOODBYE_ACK, [], now)
        user.peer = None  # first: the FloorStatus that follows goes to the others only
        self._end_requests_of(user.user_id, now, notify_owner=False)

    def _floor_request(self, message: Message, user: User, peer: Peer, now: float) -> None:
        floors = [a.value for a in message.all(A.FLOOR_ID)]
        if not floors:
            self._reply_error(peer, message, ErrorCode.PARSE_ERROR, "FloorRequest without FLOOR-ID", now)
            return
        if any(f != self.floor_id for f in floors):
            self._reply_error(peer, message, ErrorCode.INVALID_FLOOR_ID,
                              f"this conference has floor {self.floor_id} only", now)
            return
        beneficiary = message.first(A.BENEFICIARY_ID)
        if beneficiary is not None and beneficiary.value != user.user_id:
            self._reply_error(peer, message, ErrorCode.UNAUTHORIZED_OPERATION,
                              "third-party floor requests are for chairs, and we are the only chair", now)
            return
        existing = self._active_request_of(user.user_id)
        if existing is not None:  # a terminal that asks again (it restarted, or lost our answer)
            self._respond_status(peer, message, user, existing, now)
            return
        request = FloorRequest(self._next_request, user.user_id, S.PENDING)
        self._next_request = self._next_request % 0xFFFF + 1
        self.requests[request.request_id] = request
        if self.policy.mode == "chair" and not user.chair:
            request.status = S.DENIED
            self._respond_status(peer, message, user, request, now, info="only the chair may present")
            del self.requests[request.request_id]
            self._events.append(RequestOutcome(user.user_id, "denied"))
            return
        current = self.holder_user
        if self.policy.mode == "operator" or (current is not None and not self.policy.takeover):
            self._queue.append(request.request_id)
            request.queue_position = len(self._queue)
            self._respond_status(peer, message, user, request, now)
            self._events.append(RequestOutcome(user.user_id, "pending"))
            self._broadcast_floor_status(now)
            return
        self._take_floor(request, now, respond_to=(peer, message))
        self._events.append(RequestOutcome(user.user_id, "granted"))

    def _floor_release(self, message: Message, user: User, peer: Peer, now: float) -> None:
        request = self._request_for(message, user, peer, now)
        if request is None:
            return
        was_holder = self.holder == request.request_id
        request.status = S.RELEASED if request.status == S.GRANTED else S.CANCELLED
        self._respond_status(peer, message, user, request, now)
        self._drop_request(request)
        if was_holder:
            self._floor_free("released", user.user_id, now)
        self._broadcast_floor_status(now)

    def _floor_request_query(self, message: Message, user: User, peer: Peer, now: float) -> None:
        request = self._request_for(message, user, peer, now, owner_only=False)
        if request is not None:
            self._respond_status(peer, message, user, request, now)

    def _floor_query(self, message: Message, user: User, peer: Peer, now: float) -> None:
        floors = [a.value for a in message.all(A.FLOOR_ID)]
        if any(f != self.floor_id for f in floors):
            self._reply_error(peer, message, ErrorCode.INVALID_FLOOR_ID,
                              f"this conference has floor {self.floor_id} only", now)
            return
        self._respond(peer, message, P.FLOOR_STATUS, self._floor_status_attributes(), now)

    def _user_query(self, message: Message, user: User, peer: Peer, now: float) -> None:
        asked = message.first(A.BENEFICIARY_ID)
        who = self.users.get(int(asked.value)) if asked is not None and isinstance(asked.value, int) else user
        if who is None:
            self._reply_error(peer, message, ErrorCode.USER_DOES_NOT_EXIST, "no such beneficiary", now)
            return
        attrs = [Attribute(A.BENEFICIARY_INFORMATION, Group(who.user_id, (
            (Attribute(A.USER_DISPLAY_NAME, who.display_name),) if who.display_name else ())))]
        attrs += [self._info(r) for r in self.requests.values() if r.user_id == who.user_id]
        self._respond(peer, message, P.USER_STATUS, attrs, now)

    def _chair_action(self, message: Message, user: User, peer: Peer, now: float) -> None:
        self._reply_error(peer, message, ErrorCode.UNAUTHORIZED_OPERATION,
                          "the MCU is the only chair of this floor (floorctrl s-only)", now)

    # ------------------------------------------------------------------ without BFCP (H.239 token)

    def request_floor(self, user_id: int, now: float) -> S:
        """A floor request that came by another protocol (an H.239 presentationTokenRequest): the
        same policy as a FloorRequest; returns Granted, Pending or Denied."""
        user = self.users.get(user_id)
        if user is None:
            raise KeyError(f"user {user_id} is not in this conference")
        existing = self._active_request_of(user_id)
        if existing is not None:
            return existing.status
        request = FloorRequest(self._next_request, user_id, S.PENDING)
        self._next_request = self._next_request % 0xFFFF + 1
        self.requests[request.request_id] = request
        if self.policy.mode == "chair" and not user.chair:
            del self.requests[request.request_id]
            self._events.append(RequestOutcome(user_id, "denied"))
            return S.DENIED
        if self.policy.mode == "operator" or (self.holder_user is not None and not self.policy.takeover):
            self._queue.append(request.request_id)
            request.queue_position = len(self._queue)
            self._events.append(RequestOutcome(user_id, "pending"))
            self._broadcast_floor_status(now)
            return S.PENDING
        self._take_floor(request, now)
        self._events.append(RequestOutcome(user_id, "granted"))
        return S.GRANTED

    def release_floor(self, user_id: int, now: float) -> None:
        """The user gives the floor back (or withdraws its waiting request), whatever the protocol."""
        self._end_requests_of(user_id, now, notify_owner=True)

    # ------------------------------------------------------------------ operator

    def grant(self, user_id: int, now: float) -> None:
        """The operator gives the floor to a user (its pending request, or a new one)."""
        if user_id not in self.users:
            raise KeyError(f"user {user_id} is not in this conference")
        request = self._active_request_of(user_id)
        if request is None:
            request = FloorRequest(self._next_request, user_id, S.PENDING)
            self._next_request = self._next_request % 0xFFFF + 1
            self.requests[request.request_id] = request
        if request.status == S.GRANTED:
            return
        self._take_floor(request, now)
        self._events.append(RequestOutcome(user_id, "granted"))

    def revoke(self, now: float) -> int | None:
        """The operator takes the floor back from whoever holds it; returns that user (or None)."""
        holder = self.holder_user
        if holder is None:
            return None
        if holder == OPERATOR:
            self.operator_stop(now)
            return OPERATOR
        self._revoke_holder(now, "revoked by the operator")
        self._grant_next(now)
        self._broadcast_floor_status(now)
        return holder

    def deny(self, user_id: int, now: float) -> bool:
        """The operator refuses a user's pending request."""
        request = self._active_request_of(user_id)
        if request is None or request.status == S.GRANTED:
            return False
        request.status = S.DENIED
        self._notify_owner(request, now)
        self._drop_request(request)
        self._events.append(RequestOutcome(user_id, "denied"))
        self._broadcast_floor_status(now)
        return True

    def operator_start(self, now: float) -> None:
        """The MCU itself presents (slides): whoever held the floor is Revoked."""
        if self.holder == OPERATOR:
            return
        previous = self.holder_user
        if previous is not None:
            self._revoke_holder(now, "the operator presents", emit=False)
        self.holder = OPERATOR
        self._events.append(FloorChanged(OPERATOR, previous, "operator content"))
        self._broadcast_floor_status(now)

    def operator_stop(self, now: float) -> None:
        if self.holder != OPERATOR:
            return
        self.holder = None
        self._events.append(FloorChanged(None, OPERATOR, "operator content stopped"))
        self._grant_next(now)
        self._broadcast_floor_status(now)

    # ------------------------------------------------------------------ floor moves

    def _take_floor(self, request: FloorRequest, now: float,
                    respond_to: tuple[Peer, Message] | None = None) -> None:
        previous = self.holder_user
        if previous is not None:
            if previous == OPERATOR:
                self.holder = None
            else:
                self._revoke_holder(now, "another site presents", emit=False)
        if request.request_id in self._queue:
            self._queue.remove(request.request_id)
            self._renumber_queue()
        request.status, request.queue_position = S.GRANTED, 0
        self.holder = request.request_id
        owner = self.users[request.user_id]
        if respond_to is not None:
            self._respond_status(respond_to[0], respond_to[1], owner, request, now)
        else:
            self._notify_owner(request, now)
        self._events.append(FloorChanged(request.user_id, previous, "granted"))
        self._broadcast_floor_status(now)

    def _revoke_holder(self, now: float, why: str, emit: bool = True) -> None:
        if self.holder is None or self.holder == OPERATOR:
            return
        request = self.requests.get(self.holder)
        self.holder = None
        if request is None:
            return
        request.status = S.REVOKED
        self._notify_owner(request, now, info=why)
        self._drop_request(request)
        if emit:
            self._events.append(FloorChanged(None, request.user_id, "revoked"))

    def _floor_free(self, reason: str, previous: int, now: float) -> None:
        self.holder = None
        self._events.append(FloorChanged(None, previous, reason))
        self._grant_next(now)

    def _grant_next(self, now: float) -> None:
        """Under `wait`, the oldest waiting request gets the floor when it falls free (under the
        `operator` policy requests wait for the operator's grant)."""
        if self.holder is not None or self.policy.mode == "operator":
            return
        while self._queue:
            request = self.requests.get(self._queue[0])
            if request is None:
                self._queue.pop(0)
                continue
            self._take_floor(request, now)
            self._events.append(RequestOutcome(request.user_id, "granted"))
            return

    def _end_requests_of(self, user_id: int, now: float, notify_owner: bool) -> None:
        ending = [r for r in self.requests.values() if r.user_id == user_id]
        if not ending:
            return
        for request in ending:
            was_holder = self.holder == request.request_id
            request.status = S.RELEASED if request.status == S.GRANTED else S.CANCELLED
            if notify_owner:
                self._notify_owner(request, now)
            self._drop_request(request)
            if was_holder:
                self._floor_free("left", user_id, now)
        self._broadcast_floor_status(now)

    def _drop_request(self, request: FloorRequest) -> None:
        self.requests.pop(request.request_id, None)
        if request.request_id in self._queue:
            self._queue.remove(request.request_id)
            self._renumber_queue()

    def _renumber_queue(self) -> None:
        for position, request_id in enumerate(self._queue, 1):
            if request_id in self.requests:
                self.requests[request_id].queue_position = position

    def _active_request_of(self, user_id: int) -> FloorRequest | None:
        return next((r for r in self.requests.values() if r.user_id == user_id and r.status in ACTIVE), None)

    def _request_for(self, message: Message, user: User, peer: Peer, now: float,
                     owner_only: bool = True) -> FloorRequest | None:
        attr = message.first(A.FLOOR_REQUEST_ID)
        if attr is None:
            self._reply_error(peer, message, ErrorCode.PARSE_ERROR, "no FLOOR-REQUEST-ID", now)
            return None
        request = self.requests.get(int(attr.value)) if isinstance(attr.value, int) else None
        if request is None:
            self._reply_error(peer, message, ErrorCode.FLOOR_REQUEST_ID_DOES_NOT_EXIST,
                              f"no floor request {attr.value}", now)
            return None
        if owner_only and request.user_id != user.user_id:
            self._reply_error(peer, message, ErrorCode.UNAUTHORIZED_OPERATION,
                              "that floor request is another user's", now)
            return None
        return request

    # ------------------------------------------------------------------ sending

    def _info(self, request: FloorRequest, info: str | None = None) -> Attribute:
        return request_status(request.request_id, self.floor_id, request.status, request.queue_position,
                              beneficiary_id=request.user_id, info=info)

    def _floor_status_attributes(self) -> list[Attribute]:
        attrs = [Attribute(A.FLOOR_ID, self.floor_id, True)]
        active = [r for r in self.requests.values() if r.status in ACTIVE]
        active.sort(key=lambda r: (r.status != S.GRANTED, r.queue_position))
        return attrs + [self._info(r) for r in active]

    def _respond_status(self, peer: Peer, message: Message, user: User, request: FloorRequest, now: float,
                        info: str | None = None) -> None:
        self._respond(peer, message, P.FLOOR_REQUEST_STATUS, [self._info(request, info)], now)

    def _respond(self, peer: Peer, request: Message, primitive: P, attributes: list[Attribute], now: float) -> None:
        user = self.users.get(request.user_id)
        response = Message(primitive, self.conference_id, request.transaction_id, request.user_id, attributes,
                           version=request.version, responder=request.version == VERSION_UNRELIABLE)
        legacy = _is_udp(peer) and request.version == 1
        data = encode(response, nested=user.nested if user else True,
                      primitive_number=LEGACY_UDP_WIRE.get(primitive) if legacy else None)
        self._out.append((peer, data))
        if _is_udp(peer):
            self.reliability.sent_response(peer, request.transaction_id, _canonical(request, legacy), data, now)

    def _reply_error(self, peer: Peer, request: Message, code: ErrorCode, info: str, now: float,
                     details: bytes = b"") -> None:
        self.errors_sent[code.name.lower()] += 1
        if request.user_id in self.users:
            attributes = [Attribute(A.ERROR_CODE, (int(code), details), True), Attribute(A.ERROR_INFO, info)]
            self._respond(peer, request, P.ERROR, attributes, now)
            return
        legacy = _is_udp(peer) and request.version == 1
        self._send_error(peer, request.version, request.transaction_id, request.user_id, code, info, now,
                         legacy=legacy, nested=True, details=details, count=False,
                         primitive=_canonical(request, legacy))

    def _send_error(self, peer: Peer, version: int, transaction_id: int, user_id: int, code: ErrorCode, info: str,
                    now: float, *, legacy: bool, nested: bool, details: bytes = b"", count: bool = True,
                    primitive: int | None = None) -> None:
        if count:
            self.errors_sent[code.name.lower()] += 1
        error = Message(P.ERROR, self.conference_id, transaction_id, user_id,
                        [Attribute(A.ERROR_CODE, (int(code), details), True), Attribute(A.ERROR_INFO, info)],
                        version=version, responder=version == VERSION_UNRELIABLE)
        data = encode(error, nested=nested)
        self._out.append((peer, data))
        if _is_udp(peer) and primitive is not None:
            self.reliability.sent_response(peer, transaction_id, primitive, data, now)

    def _notify(self, user: User, primitive: P, attributes: list[Attribute], now: float, slot: str) -> None:
        """A message we start (not a response): over UDP a new transaction we retransmit until
        acknowledged; over TCP transaction id 0."""
        peer = user.peer
        if peer is None:
            return
        udp = _is_udp(peer)
        version = user.version or (VERSION_UNRELIABLE if udp else VERSION_RELIABLE)
        transaction_id = 0
        if udp:
            transaction_id = self._next_transaction
            self._next_transaction = self._next_transaction + 1 if self._next_transaction < 0xFFFF \
                else FIRST_SERVER_TRANSACTION
        message = Message(primitive, self.conference_id, transaction_id, user.user_id, attributes, version=version)
        legacy = udp and version == 1
        data = encode(message, nested=user.nested, primitive_number=LEGACY_UDP_WIRE.get(primitive) if legacy else None)
        self._out.append((peer, data))
        if udp:
            self.reliability.sent_request(peer, transaction_id, data, now, slot=slot)

    def _notify_owner(self, request: FloorRequest, now: float, info: str | None = None) -> None:
        owner = self.users.get(request.user_id)
        if owner is not None:
            self._notify(owner, P.FLOOR_REQUEST_STATUS, [self._info(request, info)], now,
                         slot=f"request-{request.request_id}")

    def _send_floor_status(self, user: User, now: float) -> None:
        self._notify(user, P.FLOOR_STATUS, self._floor_status_attributes(), now, slot="floor-status")

    def _broadcast_floor_status(self, now: float) -> None:
        for user in self.users.values():
            self._send_floor_status(user, now)


def _is_udp(peer: Peer) -> bool:
    return isinstance(peer, tuple) and bool(peer) and peer[0] == "udp"


def _canonical(message: Message, legacy: bool) -> int:
    if legacy and message.primitive in LEGACY_UDP_PRIMITIVES:
        return int(LEGACY_UDP_PRIMITIVES[message.primitive] or 0)
    return message.primitive


_HANDLERS = {
    P.HELLO: FloorServer._hello,
    P.GOODBYE: FloorServer._goodbye,
    P.FLOOR_REQUEST: FloorServer._floor_request,
    P.FLOOR_RELEASE: FloorServer._floor_release,
    P.FLOOR_REQUEST_QUERY: FloorServer._floor_request_query,
    P.FLOOR_QUERY: FloorServer._floor_query,
    P.USER_QUERY: FloorServer._user_query,
    P.CHAIR_ACTION: FloorServer._chair_action,
}
