"""The endpoint side of H.225.0 RAS (clause 7): the MCU at a gatekeeper, sans-I/O.

Discovery (GRQ, unicast to the configured gatekeeper) and registration (RRQ) with every room
number as a dialedDigits alias and the server name as h323-ID, as an MCU (EndpointType mcu, mc
TRUE); lightweight keep-alive RRQs before the time to live runs out; URQ on stop; an ARQ before
each call (answerCall TRUE for calls we receive) and a DRQ when it ends; IRQs are answered with
an IRR, a gatekeeper's URQ with UCF (then we register again), its DRQ with DCF.

Requests are retransmitted with the same sequence number on H.225.0's recommended timeouts.
Time comes in as `now`; the shell sends `datagrams_to_send()`, arms `get_timer()`, calls
`handle_timer(now)` and hands `next_event()` to the call layer. A datagram that does not parse is
counted in `dropped` and ignored: a gatekeeper's bytes never raise out of this core.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field, replace

from . import rasmessages as rm
from .errors import RasDecodeError, RasEncodeError
from .h225 import (
    ALIAS_DIALED_DIGITS,
    ALIAS_H323_ID,
    ENDPOINT_MCU,
    Address,
    Alias,
    EndpointInfo,
    VendorInfo,
)

# (timeout in seconds, retries) per request: H.225.0's recommended defaults for RAS
TIMEOUTS: dict[str, tuple[float, int]] = {
    rm.GRQ: (5.0, 2), rm.RRQ: (3.0, 2), rm.URQ: (3.0, 1), rm.ARQ: (5.0, 2), rm.DRQ: (3.0, 2)}
RETRY_AFTER_FAILURE = 30.0  # s before discovering/registering again after a reject or silence
KEEPALIVE_MARGIN = 10.0  # s before the time to live ends that the keep-alive RRQ goes out...
KEEPALIVE_MIN_FRACTION = 0.5  # ...but never before half of it (short TTLs)
CALL_BANDWIDTH = 15360  # ARQ bandWidth, 100 bit/s units: 768 kbit/s each way
MAX_RIP_DELAY = 60.0  # s: a longer RequestInProgress delay is capped (a bad peer can't stall us)

# states
IDLE = "idle"  # not started, or waiting RETRY_AFTER_FAILURE
DISCOVERING = "discovering"  # GRQ sent
REGISTERING = "registering"  # full RRQ sent
REGISTERED = "registered"
UNREGISTERING = "unregistering"  # our URQ sent (stop)
STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RasConfig:
    """What the MCU tells its gatekeeper. `gatekeeper` is the IP and port the GRQ goes to."""

    gatekeeper: Address
    call_signal_address: Address  # our H.323 listener (1720)
    ras_address: Address  # our RAS socket
    aliases: tuple[Alias, ...] = ()
    gatekeeper_id: str | None = None  # the gatekeeper we ask for; None: whichever answers
    time_to_live: int = 300  # s, asked for in the RRQ; the RCF's value is the one kept
    discover: bool = True  # GRQ first (most gatekeepers expect it); False: RRQ straight away
    vendor: VendorInfo = field(default_factory=lambda: VendorInfo("open-mcu", "0.1"))


# ---------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class RasEvent:
    pass


@dataclass(frozen=True, slots=True)
class Registered(RasEvent):
    """An RCF of a full registration (not of a keep-alive)."""

    endpoint_id: str
    gatekeeper_id: str | None
    time_to_live: int


@dataclass(frozen=True, slots=True)
class RegistrationFailed(RasEvent):
    """GRJ or RRJ (`reason` is its rejectReason), or no answer ("timeout"); we try again
    after `retry_in` seconds, and calls go on without ARQ meanwhile."""

    reason: str
    retry_in: float


@dataclass(frozen=True, slots=True)
class Unregistered(RasEvent):
    """No longer registered: our URQ was answered (stop), the gatekeeper sent a URQ, or the
    keep-alive went unanswered (`reason`)."""

    reason: str
    by_gatekeeper: bool


@dataclass(frozen=True, slots=True)
class AdmissionConfirmed(RasEvent):
    call_id: bytes
    dest_call_signal_address: Address
    bandwidth: int


@dataclass(frozen=True, slots=True)
class AdmissionRejected(RasEvent):
    call_id: bytes
    reason: str  # the ARJ's rejectReason


@dataclass(frozen=True, slots=True)
class AdmissionTimedOut(RasEvent):
    """The gatekeeper did not answer the ARQ (after the retries)."""

    call_id: bytes


@dataclass(frozen=True, slots=True)
class DisengageRequested(RasEvent):
    """The gatekeeper dropped the call (its DRQ, answered with DCF): hang it up."""

    call_id: bytes
    reason: str


# ---------------------------------------------------------------------------- the core


@dataclass(frozen=True, slots=True)
class AdmittedCall:
    """A call the gatekeeper admitted (kept for the DRQ and for IRRs)."""

    call_id: bytes
    conference_id: bytes
    call_reference: int
    answer_call: bool
    bandwidth: int


@dataclass(slots=True)
class _Pending:
    message: rm.RasMessage
    deadline: float
    retries_left: int
    timeout: float
    call: AdmittedCall | None = None  # ARQ/DRQ: the call it is about


class RasEndpoint:
    """One MCU registered at one gatekeeper."""

    def __init__(self, config: RasConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random()
        self.state = IDLE
        self.endpoint_id: str | None = None
        self.gatekeeper_id = config.gatekeeper_id
        self.gatekeeper_ras = config.gatekeeper  # the GCF may move it
        self.time_to_live = config.time_to_live
        self.admitted: dict[bytes, AdmittedCall] = {}
        self.dropped: Counter[str] = Counter()  # datagrams ignored, by reason
        self._seq = self.rng.randint(rm.SEQ_MIN, rm.SEQ_MAX)
        self._pending: dict[int, _Pending] = {}
        self._keepalive_at: float | None = None
        self._retry_at: float | None = None
        self._out: list[tuple[bytes, Address]] = []
        self._events: deque[RasEvent] = deque()

    # ------------------------------------------------------------------ API

    @property
    def registered(self) -> bool:
        return self.state == REGISTERED

    def start(self, now: float) -> None:
        """Discover the gatekeeper (or register at once), as configured."""
        if self.state == IDLE:
            self._begin(now)

    def stop(self, now: float) -> None:
        """URQ if registered; `stopped` becomes True once answered (or given up)."""
        self._retry_at = self._keepalive_at = None
        for seq in [s for s, p in self._pending.items() if p.message.name != rm.DRQ]:
            del self._pending[seq]
        if self.state == REGISTERED:
            self.state = UNREGISTERING
            self._request(rm.UnregistrationRequest(
                self._next_seq(), [self.config.call_signal_address], self.endpoint_id,
                self.gatekeeper_id, list(self.config.aliases)), now)
        else:
            self.state = STOPPED

    @property
    def stopped(self) -> bool:
        return self.state == STOPPED

    def set_aliases(self, aliases: tuple[Alias, ...], now: float) -> None:
        """New rooms (a config reload): a full RRQ with the new aliases if registered."""
        if aliases == self.config.aliases:
            return
        self.config = replace(self.config, aliases=aliases)
        if self.state in (REGISTERED, REGISTERING):
            self._cancel(rm.RRQ)
            self._register(now)

    def admit(self, call_id: bytes, conference_id: bytes, call_reference: int, *, answer_call: bool,
              source_aliases: list[Alias], destination_aliases: list[Alias], now: float,
              dest_call_signal_address: Address | None = None,
              src_call_signal_address: Address | None = None) -> bool:
        """ARQ for a call; the answer comes as AdmissionConfirmed/Rejected/TimedOut. False (and
        nothing sent) when not registered: the call goes ahead without a gatekeeper."""
        if self.state != REGISTERED or self.endpoint_id is None:
            return False
        call = AdmittedCall(call_id, conference_id, call_reference, answer_call, CALL_BANDWIDTH)
        self._request(rm.AdmissionRequest(
            self._next_seq(), self.endpoint_id, call_reference, conference_id, call_id, answer_call,
            source_aliases, CALL_BANDWIDTH, destination_aliases, dest_call_signal_address,
            src_call_signal_address, self.gatekeeper_id, active_mc=True), now, call)
        return True

    def disengage(self, call_id: bytes, now: float) -> bool:
        """DRQ for an admitted call that ended; False if the gatekeeper never admitted it."""
        self._cancel(rm.ARQ, call_id)
        call = self.admitted.pop(call_id, None)
        if call is None or self.endpoint_id is None or self.state not in (REGISTERED, UNREGISTERING):
            return False
        self._request(rm.DisengageRequest(
            self._next_seq(), self.endpoint_id, call.conference_id, call.call_reference,
            rm.DRQ_NORMAL, call.call_id, self.gatekeeper_id, call.answer_call), now, call)
        return True

    # ------------------------------------------------------------------ sans-I/O plumbing

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> RasEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        times = [p.deadline for p in self._pending.values()]
        times += [t for t in (self._keepalive_at, self._retry_at) if t is not None]
        return min(times, default=None)

    def handle_timer(self, now: float) -> None:
        for seq, pending in list(self._pending.items()):
            if pending.deadline > now or seq not in self._pending:
                continue
            if pending.retries_left > 0:
                pending.retries_left -= 1
                pending.deadline = now + pending.timeout
                self._send(pending.message)
            else:
                del self._pending[seq]
                self._timed_out(pending, now)
        if self._keepalive_at is not None and now >= self._keepalive_at:
            self._keepalive_at = None
            if self.state == REGISTERED:
                self._register(now, keep_alive=True)
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            if self.state == IDLE:
                self._begin(now)

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        if addr not in (self.gatekeeper_ras, self.config.gatekeeper):
            self.dropped["unknown sender"] += 1
            return
        try:
            message = rm.decode_ras(data)
        except RasDecodeError as exc:
            self.dropped[exc.reason] += 1
            return
        if message.name in rm.REQUESTS:
            self._on_request(message, addr, now)
            return
        pending = self._pending.get(message.seq)
        if pending is None:
            self.dropped["no such request"] += 1  # late duplicate, or not ours
            return
        if isinstance(message, rm.RequestInProgress):
            pending.deadline = now + min(message.delay_ms / 1000, MAX_RIP_DELAY)
            return
        if not _answers(message.name, pending.message.name):
            self.dropped["answer of another kind"] += 1
            return
        del self._pending[message.seq]
        self._on_answer(message, pending, now)

    # ------------------------------------------------------------------ internals

    def _next_seq(self) -> int:
        self._seq = self._seq + 1 if self._seq < rm.SEQ_MAX else rm.SEQ_MIN
        return self._seq

    def _send(self, message: rm.RasMessage, to: Address | None = None) -> None:
        try:
            data = rm.encode_ras(message)
        except RasEncodeError:  # e.g. an alias pycrate refuses: counted, never raised
            self.dropped["cannot encode " + message.name] += 1
            return
        self._out.append((data, to or self.gatekeeper_ras))

    def _request(self, message: rm.RasMessage, now: float, call: AdmittedCall | None = None) -> None:
        timeout, retries = TIMEOUTS[message.name]
        self._pending[message.seq] = _Pending(message, now + timeout, retries, timeout, call)
        self._send(message)

    def _cancel(self, name: str, call_id: bytes | None = None) -> None:
        for seq, p in list(self._pending.items()):
            if p.message.name == name and (call_id is None or (p.call and p.call.call_id == call_id)):
                del self._pending[seq]

    def _endpoint(self) -> EndpointInfo:
        return EndpointInfo(self.config.vendor, ENDPOINT_MCU, mc=True)

    def _begin(self, now: float) -> None:
        self.gatekeeper_ras = self.config.gatekeeper
        if self.config.discover:
            self.state = DISCOVERING
            self._request(rm.GatekeeperRequest(
                self._next_seq(), self.config.ras_address, self._endpoint(), self.config.gatekeeper_id,
                list(self.config.aliases)), now)
        else:
            self._register(now)

    def _register(self, now: float, *, keep_alive: bool = False) -> None:
        if not keep_alive:
            self.state = REGISTERING
        self._request(rm.RegistrationRequest(
            self._next_seq(), [self.config.call_signal_address], [self.config.ras_address],
            self._endpoint(), self.config.vendor, [] if keep_alive else list(self.config.aliases),
            self.gatekeeper_id, discovery_complete=self.config.discover, time_to_live=self.time_to_live,
            keep_alive=keep_alive, endpoint_id=self.endpoint_id if keep_alive else None), now)

    def _failed(self, reason: str, now: float) -> None:
        self.state = IDLE
        self.endpoint_id = None
        self._keepalive_at = None
        self._retry_at = now + RETRY_AFTER_FAILURE
        self._events.append(RegistrationFailed(reason, RETRY_AFTER_FAILURE))

    def _lost(self, reason: str, by_gatekeeper: bool) -> None:
        """Registration over: admitted calls go on, but are no longer the gatekeeper's to drop."""
        self.endpoint_id = None
        self._keepalive_at = None
        self.admitted.clear()
        self._events.append(Unregistered(reason, by_gatekeeper))

    def _timed_out(self, pending: _Pending, now: float) -> None:
        name = pending.message.name
        if name == rm.ARQ and pending.call is not None:
            self._events.append(AdmissionTimedOut(pending.call.call_id))
        elif name == rm.URQ:
            self.state = STOPPED
            self._lost("no answer to our URQ", by_gatekeeper=False)
        elif isinstance(pending.message, rm.RegistrationRequest) and pending.message.keep_alive:
            self.state = IDLE
            self._lost("keep-alive unanswered", by_gatekeeper=False)
            self._failed("timeout", now)
        elif name in (rm.GRQ, rm.RRQ):
            self._failed("timeout", now)
        # an unanswered DRQ: the gatekeeper will time the call out itself

    def _on_answer(self, message: rm.RasMessage, pending: _Pending, now: float) -> None:
        if isinstance(message, rm.UnknownMessageResponse):
            self._timed_out(pending, now)  # XRS: the gatekeeper has no such request; as silence
        elif isinstance(message, rm.GatekeeperConfirm):
            self.gatekeeper_ras = message.ras_address
            self.gatekeeper_id = message.gatekeeper_id or self.gatekeeper_id
            self._register(now)
        elif isinstance(message, rm.GatekeeperReject):
            self._failed(message.reason, now)
        elif isinstance(message, rm.RegistrationConfirm):
            keep_alive = isinstance(pending.message, rm.RegistrationRequest) and pending.message.keep_alive
            self.endpoint_id = message.endpoint_id
            self.gatekeeper_id = message.gatekeeper_id or self.gatekeeper_id
            ttl = message.time_to_live or self.time_to_live
            self._keepalive_at = now + max(ttl - KEEPALIVE_MARGIN, ttl * KEEPALIVE_MIN_FRACTION)
            self.state = REGISTERED
            if not keep_alive:
                self._events.append(Registered(message.endpoint_id, self.gatekeeper_id, ttl))
        elif isinstance(message, rm.RegistrationReject):
            if message.reason == rm.RRJ_FULL_REGISTRATION_REQUIRED:
                self._register(now)  # the gatekeeper forgot us: register afresh
            elif message.reason == rm.RRJ_DISCOVERY_REQUIRED and self.config.discover:
                self.endpoint_id = None
                self._begin(now)
            else:
                if self.state == REGISTERED:
                    self._lost(f"keep-alive rejected: {message.reason}", by_gatekeeper=True)
                self._failed(message.reason, now)
        elif isinstance(message, (rm.UnregistrationConfirm, rm.UnregistrationReject)):
            self.state = STOPPED
            self._lost("stopped", by_gatekeeper=False)
        elif isinstance(message, rm.AdmissionConfirm) and pending.call is not None:
            self.admitted[pending.call.call_id] = pending.call
            self._events.append(AdmissionConfirmed(
                pending.call.call_id, message.dest_call_signal_address, message.bandwidth))
        elif isinstance(message, rm.AdmissionReject) and pending.call is not None:
            self._events.append(AdmissionRejected(pending.call.call_id, message.reason))
            if message.reason in rm.ARJ_NOT_REGISTERED and self.state == REGISTERED:
                self._register(now)  # the gatekeeper lost our registration: make a new one
        # DCF / DRJ: nothing more to do

    def _on_request(self, message: rm.RasMessage, addr: Address, now: float) -> None:
        if isinstance(message, rm.UnregistrationRequest):
            self._send(rm.UnregistrationConfirm(message.seq), addr)
            if self.state in (REGISTERED, REGISTERING):
                self._lost(f"gatekeeper URQ: {message.reason or 'no reason'}", by_gatekeeper=True)
                self._cancel(rm.RRQ)
                self._register(now)  # H.225.0 7.10: register again to stay reachable
        elif isinstance(message, rm.InfoRequest):
            self._answer_irq(message, addr)
        elif isinstance(message, rm.DisengageRequest):
            self._send(rm.DisengageConfirm(message.seq), addr)
            call_id = message.call_id or next(
                (c.call_id for c in self.admitted.values()
                 if c.conference_id == message.conference_id
                 and c.call_reference == message.call_reference), None)
            if call_id is not None:
                self.admitted.pop(call_id, None)
                self._events.append(DisengageRequested(call_id, message.reason))
        else:  # a request we do not implement (BRQ, LRQ, ...): H.225.0 7.16
            self._send(rm.UnknownMessageResponse(message.seq), addr)

    def _answer_irq(self, message: rm.InfoRequest, addr: Address) -> None:
        if self.endpoint_id is None:
            self.dropped["irq while unregistered"] += 1
            return
        calls = [c for c in self.admitted.values() if message.call_reference == 0
                 or c.call_reference == message.call_reference or c.call_id == message.call_id]
        self._send(rm.InfoRequestResponse(
            message.seq, self._endpoint(), self.endpoint_id, self.config.ras_address,
            [self.config.call_signal_address], list(self.config.aliases),
            [rm.CallInfo(c.call_reference, c.conference_id, c.call_id, not c.answer_call, c.bandwidth)
             for c in calls]), message.reply_address or addr)


def _answers(answer: str, request: str) -> bool:
    """Does a confirm/reject of kind `answer` answer a request of kind `request`?"""
    return answer in _ANSWERS.get(request, ()) or answer == rm.XRS


_ANSWERS = {rm.GRQ: (rm.GCF, rm.GRJ), rm.RRQ: (rm.RCF, rm.RRJ), rm.URQ: (rm.UCF, rm.URJ),
            rm.ARQ: (rm.ACF, rm.ARJ), rm.DRQ: (rm.DCF, rm.DRJ)}


def mcu_aliases(rooms: list[str] | tuple[str, ...], server_name: str) -> tuple[Alias, ...]:
    """Every room number as a dialedDigits alias (E.164 digits only, per H.225.0: others as
    h323-ID), then the server name as h323-ID."""
    aliases = [Alias(ALIAS_DIALED_DIGITS if _is_e164(r) else ALIAS_H323_ID, r) for r in sorted(rooms)]
    if server_name:
        aliases.append(Alias(ALIAS_H323_ID, server_name))
    return tuple(aliases)


def _is_e164(text: str) -> bool:
    """dialledDigits IA5String (SIZE (1..128)) FROM ("0123456789#*,")."""
    return 0 < len(text) <= 128 and all(c in "0123456789#*," for c in text)
