"""Sans-I/O SIP user agent core (UAS and UAC), in the aioquic style.

Inputs: receive_datagram(), receive_stream_data(), connection_lost(), handle_timer(now) and the
API calls (answer, reject, send_provisional, hangup, reinvite, dial, cancel, register, ...).
Outputs: datagrams_to_send(now) -> [(bytes, addr, TransportInfo)], connections_to_close(),
get_timer() -> float | None and next_event() -> Event | None. No exception escapes an input.
"""

from __future__ import annotations

import heapq
import itertools
import secrets
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mcu.sip import events as ev
from mcu.sip.auth import authorization_header, parse_challenge
from mcu.sip.dialog import CONFIRMED, TERMINATED, Dialog
from mcu.sip.errors import (
    REFUSAL_TOO_LARGE,
    STATUS_TOO_LARGE,
    SipError,
    SipFramingError,
    SipLimitError,
    SipParseError,
    SipStateError,
    UnknownCallError,
)
from mcu.sip.headers import NameAddr, Via, format_params, parse_params, split_commas
from mcu.sip.message import (
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_MESSAGE_BYTES,
    TOO_LARGE,
    Headers,
    SipMessage,
    SipRequest,
    SipResponse,
    StreamFramer,
    parse_message,
    request_head,
)
from mcu.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    TimerConfig,
    Transaction,
    invite_key_for_cancel,
    new_branch,
)
from mcu.sip.transport import TCP, TLS, UDP, Address, TransportInfo
from mcu.sip.uri import SipUri

OWNER_FAILED_HEADER = "X-MCU-Owner-Failed"  # set by the cluster front door only (it strips callers' own)
SOURCE_HEADER = "X-MCU-Source"  # the caller's address, added by the cluster front door (trusted only then)
UNAVAILABLE_RETRY_AFTER = 30  # seconds, in the 503 to OPTIONS of a full node
ALLOWED_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE")
KNOWN_NOT_ALLOWED = frozenset(
    {"REGISTER", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PRACK", "PUBLISH"}
)
SUPPORTED_TAGS = ("timer",)
SDP = "application/sdp"
DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")
ACCEPT = ", ".join((SDP, *DTMF_TYPES))
ALLOW = ", ".join(ALLOWED_METHODS)
SUPPORTED = ", ".join(SUPPORTED_TAGS)
SESSION_EXPIRY_MARGIN = 32.0  # RFC 4028 10: expire at SE - min(32, SE/3)
MAX_AUTH_ATTEMPTS = 2
REGISTER_RETRY_S = 60.0
REGISTER_REFRESH_MARGIN_S = 30.0
DEFAULT_SIP_PORT = 5060
UAS_ROLE = "uas"
UAC_ROLE = "uac"


@dataclass
class UaConfig:
    user_agent: str = "open-mcu/0.1"
    contact_user: str = "mcu"
    display_name: str | None = None
    timers: TimerConfig = field(default_factory=TimerConfig)
    session_expires: int = 1800  # offered on dial-out; 0 disables session timers we start
    min_se: int = 90
    send_100_trying: bool = True
    report_options: bool = False  # emit OptionsReceived events
    # [limits] sip_message_bytes and sip_headers: a longer message gets 413 (over TCP the
    # connection is closed too), more header fields 400 Too Many Headers
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_headers: int = DEFAULT_MAX_HEADERS


@dataclass
class UaCounters:
    requests_in: Counter[str] = field(default_factory=Counter)
    requests_out: Counter[str] = field(default_factory=Counter)
    responses_in: Counter[int] = field(default_factory=Counter)
    responses_out: Counter[int] = field(default_factory=Counter)
    # (request method, status) of every response sent: what the metrics export
    responses_out_by_method: Counter[tuple[str, int]] = field(default_factory=Counter)
    parse_errors: int = 0
    dropped: int = 0
    internal_errors: int = 0
    stray_responses: int = 0
    calls_started: int = 0
    calls_ended: int = 0
    # messages refused by a limit, by reason: "sip_too_large", "sip_too_many_headers"
    refusals: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "requests_in": dict(self.requests_in),
            "requests_out": dict(self.requests_out),
            "responses_in": dict(self.responses_in),
            "responses_out": dict(self.responses_out),
            "parse_errors": self.parse_errors,
            "dropped": self.dropped,
            "internal_errors": self.internal_errors,
            "stray_responses": self.stray_responses,
            "calls_started": self.calls_started,
            "calls_ended": self.calls_ended,
            "refusals": dict(self.refusals),
        }


class _Timed(Protocol):
    scheduled_at: float | None

    def next_deadline(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...


class _TimerOwner:
    """Named deadlines; the UA fires them through `fire`."""

    def __init__(self) -> None:
        self.timers: dict[str, float] = {}
        self.scheduled_at: float | None = None

    def next_deadline(self) -> float | None:
        return min(self.timers.values()) if self.timers else None

    def due(self, now: float) -> list[str]:
        names = [n for n, t in sorted(self.timers.items(), key=lambda kv: kv[1]) if t <= now]
        for name in names:
            del self.timers[name]
        return names


class Call(_TimerOwner):
    """One call (dialog plus the transactions that belong to it)."""

    def __init__(self, ua: UserAgent, call_id: str, role: str, transport: TransportInfo,
                 addr: Address) -> None:
        super().__init__()
        self.ua = ua
        self.call_id = call_id
        self.role = role
        self.transport = transport
        self.addr = addr
        self.dialog: Dialog | None = None
        self.local_tag = ""
        self.invite: SipRequest | None = None
        self.invite_stx: ServerTransaction | None = None
        self.invite_ctx: ClientTransaction | None = None
        self.answered = False
        self.acked = False
        self.ended = False
        self.local_body: bytes | None = None
        self.local_type: str | None = None
        self.remote_body: bytes | None = None
        self.peer_allow: list[str] = []
        # UAS 2xx retransmission (13.3.1.4)
        self.ok_data: bytes | None = None
        self.ok_interval = 0.0
        self.ok_cseq = 0
        self.pending_reinvite: ServerTransaction | None = None
        self.pending_update: ServerTransaction | None = None
        # UAC
        self.credentials: tuple[str, str] | None = None
        self.auth_attempts = 0
        self.cancel_requested = False
        self.ack_data: bytes | None = None
        self.reinvite_ctx: ClientTransaction | None = None
        # RFC 4028
        self.se_interval = 0
        self.we_refresh = False

    def handle_timer(self, now: float) -> None:
        for name in self.due(now):
            self.ua._call_timer(self, name, now)


class Registration(_TimerOwner):
    def __init__(self, reg_id: str, aor: NameAddr, registrar: SipUri, user: str, password: str,
                 expires: int, transport: TransportInfo, ua: UserAgent) -> None:
        super().__init__()
        self.reg_id = reg_id
        self.aor = aor
        self.registrar = registrar
        self.user = user
        self.password = password
        self.expires = expires
        self.transport = transport
        self.ua = ua
        self.call_id = ua._new_id()
        self.tag = ua._new_tag()
        self.cseq = 0
        self.auth_attempts = 0
        self.nc = 0
        self.removing = False

    def handle_timer(self, now: float) -> None:
        for _ in self.due(now):
            self.ua._send_register(self, now, None)


class UserAgent:
    """The SIP user agent core. Call `add_transport` for every socket the shell listens on."""

    def __init__(self, config: UaConfig | None = None) -> None:
        self.config = config or UaConfig()
        self.counters = UaCounters()
        self.transports: list[TransportInfo] = []
        self._out: list[tuple[bytes, Address, TransportInfo]] = []
        self._closes: list[tuple[Address, TransportInfo]] = []
        self._events: deque[ev.Event] = deque()
        self._calls: dict[str, Call] = {}
        self._server_txs: dict[tuple[str, ...], ServerTransaction] = {}
        self._client_txs: dict[tuple[str, str], ClientTransaction] = {}
        self._tx_owner: dict[int, tuple[str, object]] = {}
        self._registrations: dict[str, Registration] = {}
        self._framers: dict[tuple[TransportInfo, Address], StreamFramer] = {}
        self._heap: list[tuple[float, int, _Timed]] = []
        self._seq = itertools.count()
        self._dirty: set[_Timed] = set()
        self._now = 0.0
        # the I/O shell may inject its loop clock so API calls made between inputs get `now`
        self.clock: Callable[[], float] | None = None
        self.unavailable = False  # True: OPTIONS outside a dialog gets 503 (a full cluster node)

    # ------------------------------------------------------------------ outputs
    def _api_now(self, now: float | None) -> float:
        """Time for an API call: given, else the shell's injected clock, else the last input."""
        if now is not None:
            return now
        if self.clock is not None:
            return self.clock()
        return self._now

    def add_transport(self, transport: TransportInfo) -> None:
        self.transports.append(transport)

    def datagrams_to_send(self, now: float | None = None) -> list[tuple[bytes, Address, TransportInfo]]:
        out, self._out = self._out, []
        return out

    def connections_to_close(self) -> list[tuple[Address, TransportInfo]]:
        out, self._closes = self._closes, []
        return out

    def next_event(self) -> ev.Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].scheduled_at != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    @property
    def active_dialogs(self) -> int:
        return sum(1 for c in self._calls.values() if c.dialog and c.dialog.state == CONFIRMED)

    def stats(self) -> dict[str, object]:
        out = self.counters.as_dict()
        out["active_dialogs"] = self.active_dialogs
        out["calls"] = len(self._calls)
        out["transactions"] = len(self._server_txs) + len(self._client_txs)
        return out

    def call_ids(self) -> list[str]:
        return list(self._calls)

    # ------------------------------------------------------------------ inputs
    def receive_datagram(self, data: bytes, addr: Address, now: float,
                         transport: TransportInfo) -> None:
        self._now = now
        try:
            if len(data) > self.config.max_message_bytes:
                self._refuse_too_large(data, addr, transport)
            else:
                self._receive(data, addr, now, transport, stream=False)
        except Exception:  # noqa: BLE001 - the loop must never see one
            self.counters.internal_errors += 1
        self._flush()

    def receive_stream_data(self, data: bytes, addr: Address, now: float,
                            transport: TransportInfo) -> None:
        self._now = now
        key = (transport, addr)
        framer = self._framers.get(key)
        if framer is None:
            framer = self._framers[key] = StreamFramer(self.config.max_message_bytes)
        try:
            messages = framer.feed(data)
        except SipFramingError as exc:
            head = exc.message if isinstance(exc.message, bytes) else b""
            try:
                if isinstance(exc, SipLimitError):
                    self._refuse_too_large(head, addr, transport)
                else:
                    self.counters.parse_errors += 1
                    parse_message(head + b"\r\n")
            except SipParseError as inner:
                self._answer_parse_error(inner, addr, transport, now)
            except Exception:  # noqa: BLE001
                self.counters.internal_errors += 1
            self._framers.pop(key, None)
            self._closes.append((addr, transport))
            self._flush()
            return
        for message in messages:
            try:
                self._receive(message, addr, now, transport, stream=True)
            except Exception:  # noqa: BLE001
                self.counters.internal_errors += 1
        self._flush()

    def connection_lost(self, addr: Address, transport: TransportInfo) -> None:
        self._framers.pop((transport, addr), None)

    def handle_timer(self, now: float) -> None:
        self._now = now
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, obj = heapq.heappop(heap)
            if obj.scheduled_at != deadline:
                continue
            obj.scheduled_at = None
            try:
                obj.handle_timer(now)
            except Exception:  # noqa: BLE001
                self.counters.internal_errors += 1
            self._dirty.add(obj)
        self._flush()

    # ------------------------------------------------------------------ scheduling
    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for obj in dirty:
            deadline = obj.next_deadline()
            if deadline is None:
                obj.scheduled_at = None
            elif deadline != obj.scheduled_at:
                obj.scheduled_at = deadline
                heapq.heappush(self._heap, (deadline, next(self._seq), obj))

    # TransactionUser protocol
    def tx_send(self, data: bytes, addr: Address, transport: TransportInfo) -> None:
        self._out.append((data, addr, transport))

    def tx_terminated(self, tx: Transaction) -> None:
        if isinstance(tx, ServerTransaction):
            if self._server_txs.get(tx.key) is tx:
                del self._server_txs[tx.key]
        elif isinstance(tx, ClientTransaction):
            if self._client_txs.get(tx.key) is tx:
                del self._client_txs[tx.key]
            self._tx_owner.pop(id(tx), None)

    def tx_timeout(self, tx: Transaction, now: float) -> None:
        if isinstance(tx, ClientTransaction):
            timeout = SipResponse(408, "Request Timeout")
            self._client_outcome(tx, timeout, now, timed_out=True)
        elif tx.is_invite:  # Timer H: no ACK for our non-2xx; nothing else to do
            self.counters.dropped += 0

    def tx_response(self, tx: ClientTransaction, response: SipResponse, now: float) -> None:
        self._client_outcome(tx, response, now, timed_out=False)

    # ------------------------------------------------------------------ receiving
    def _receive(self, data: bytes, addr: Address, now: float, transport: TransportInfo,
                 stream: bool) -> None:
        if not data.strip(b"\r\n"):
            return  # keep-alive
        try:
            message = parse_message(data, stream=stream, max_headers=self.config.max_headers)
        except SipLimitError as exc:
            self.counters.refusals[exc.refusal] += 1
            self._answer_parse_error(exc, addr, transport, now)
            return
        except SipParseError as exc:
            self.counters.parse_errors += 1
            self._answer_parse_error(exc, addr, transport, now)
            return
        if isinstance(message, SipResponse):
            self.counters.responses_in[message.status] += 1
            self._on_response(message, now)
        else:
            self.counters.requests_in[message.method] += 1
            self._on_request(message, addr, transport, now)

    def _refuse_too_large(self, data: bytes, addr: Address, transport: TransportInfo) -> None:
        """413 to a message over max_message_bytes if its head names a request and a Via
        (only that many bytes of it are read); otherwise it is dropped. Counted either way."""
        self.counters.refusals[REFUSAL_TOO_LARGE] += 1
        request = request_head(data, self.config.max_message_bytes)
        self._answer_parse_error(SipParseError(TOO_LARGE, STATUS_TOO_LARGE, request), addr,
                                 transport, self._now)

    def _answer_parse_error(self, exc: SipParseError, addr: Address, transport: TransportInfo,
                            now: float) -> None:
        """Stateless answer to a request that cannot be processed (RFC 3261 16.3, 21.4.1)."""
        request = exc.message
        if not isinstance(request, SipRequest) or request.method == "ACK":
            self.counters.dropped += 1
            return
        vias = request.headers.get_all("via")
        if not vias:
            self.counters.dropped += 1
            return
        headers = Headers()
        for via in vias:
            headers.add("Via", via)
        for name in ("From", "To", "Call-ID", "CSeq"):
            value = request.headers.get(name)
            if value is not None:
                headers.add(name, value)
        headers.add("Server", self.config.user_agent)
        if exc.status == 505:
            reason = "Version Not Supported"
        else:
            reason = _reason_text(exc.reason)
        response = SipResponse(exc.status, reason, headers)
        self.counters.responses_out[exc.status] += 1
        self.counters.responses_out_by_method[(request.method, exc.status)] += 1
        try:
            reply_addr = response_address(Via.parse(split_commas(vias[0])[0]), addr, transport)
        except SipParseError:
            reply_addr = addr  # no usable Via: where the request came from
        self._out.append((response.to_bytes(), reply_addr, transport))

    def _on_response(self, response: SipResponse, now: float) -> None:
        via = response.top_via
        key = (via.branch or "", response.cseq.method)
        tx = self._client_txs.get(key)
        if tx is None:
            self.counters.stray_responses += 1
            return
        tx.receive_response(response, now)
        self._dirty.add(tx)

    def _on_request(self, request: SipRequest, addr: Address, transport: TransportInfo,
                    now: float) -> None:
        via = request.top_via
        vias = request.headers.get_list("via")
        vias[0] = str(_stamp_via(via, addr))
        reply_addr = response_address(via, addr, transport)
        if request.method == "ACK":
            self._on_ack(request, now)
            return
        stx = ServerTransaction(self, request, reply_addr, transport, now, self.config.timers)
        existing = self._server_txs.get(stx.key)
        if existing is not None:
            existing.receive_retransmission(request, now)
            self._dirty.add(existing)
            return
        stx.response_vias = vias  # type: ignore[attr-defined]
        self._server_txs[stx.key] = stx
        self._dirty.add(stx)
        try:
            self._dispatch(request, stx, addr, transport, now)
        except SipParseError as exc:
            self.counters.parse_errors += 1
            if not stx.final_sent:
                self._respond(stx, exc.status, _reason_text(exc.reason), now, tag=self._new_tag())
        except Exception:  # noqa: BLE001
            self.counters.internal_errors += 1
            if not stx.final_sent:
                self._respond(stx, 500, None, now, tag=self._new_tag())

    def _on_ack(self, ack: SipRequest, now: float) -> None:
        stx = self._server_txs.get(invite_key_for_ack(ack))
        if stx is not None and stx.state == "completed":
            stx.receive_retransmission(ack, now)
            self._dirty.add(stx)
            return
        call = self._calls.get(ack.call_id)
        if call is None or call.ok_data is None or ack.cseq.seq != call.ok_cseq:
            return  # ACK of a call already gone: nothing to answer
        call.ok_data = None
        call.timers.pop("ok_retx", None)
        call.timers.pop("ok_timeout", None)
        self._dirty.add(call)
        body = ack.body or None
        if body is not None:
            call.remote_body = body
        if not call.acked:
            call.acked = True
            self._start_session_timer(call, now)
            self._events.append(ev.CallEstablished(call.call_id, body, ack.content_type))

    # ------------------------------------------------------------------ UAS dispatch
    def _dispatch(self, req: SipRequest, stx: ServerTransaction, addr: Address,
                  transport: TransportInfo, now: float) -> None:
        method = req.method
        if method == "CANCEL":
            self._on_cancel(req, stx, now)
            return
        if not req.uri.is_sip and req.uri.scheme.lower() != "tel":
            self._respond(stx, 416, None, now, tag=self._new_tag())
            return
        unsupported = [t for t in req.headers.get_list("require")
                       if t.lower() not in SUPPORTED_TAGS]
        if unsupported:
            self._respond(stx, 420, None, now, tag=self._new_tag(),
                          extra=[("Unsupported", ", ".join(unsupported))])
            return
        if method not in ALLOWED_METHODS:
            status = 405 if method in KNOWN_NOT_ALLOWED else 501
            self._respond(stx, status, None, now, tag=self._new_tag(), extra=[("Allow", ALLOW)])
            return
        if req.body and method in ("INVITE", "UPDATE", "INFO"):
            accepted = DTMF_TYPES if method == "INFO" else (SDP,)
            if req.content_type not in accepted:
                self._respond(stx, 415, None, now, tag=self._new_tag(),
                              extra=[("Accept", ", ".join(accepted))])
                return
        if method == "INVITE" and "accept" in req.headers:
            types = [t.split(";", 1)[0].strip().lower() for t in req.headers.get_list("accept")]
            if not any(t in (SDP, "application/*", "*/*") for t in types):
                self._respond(stx, 406, None, now, tag=self._new_tag(), extra=[("Accept", SDP)])
                return
        to_tag = req.to.tag
        if method == "OPTIONS":
            if self.unavailable and to_tag is None:
                # A cluster node that takes no new rooms: the front door's keep-alive probe
                # (Kamailio dispatcher) marks it inactive and sends new rooms elsewhere.
                self._respond(stx, 503, None, now, tag=self._new_tag(),
                              extra=[("Retry-After", str(UNAVAILABLE_RETRY_AFTER))])
            else:
                self._respond(stx, 200, None, now, tag=to_tag or self._new_tag(), extra=[
                    ("Allow", ALLOW), ("Accept", ACCEPT), ("Supported", SUPPORTED),
                ])
            if self.config.report_options:
                self._events.append(ev.OptionsReceived(req.call_id, str(req.from_.uri), addr))
            return
        if to_tag is None:
            if method == "INVITE":
                self._new_incoming_call(req, stx, addr, transport, now)
            else:
                self._respond(stx, 481, None, now, tag=self._new_tag())
            return
        call = self._calls.get(req.call_id)
        if call is None or call.dialog is None or call.dialog.local_tag != to_tag or call.ended:
            self._respond(stx, 481, None, now, tag=to_tag)
            return
        dialog = call.dialog
        seq = req.cseq.seq
        if dialog.remote_seq is not None and seq <= dialog.remote_seq:
            self._respond(stx, 500, "CSeq Out of Order", now, tag=to_tag)
            return
        dialog.remote_seq = seq
        if method == "BYE":
            self._respond(stx, 200, None, now, tag=to_tag)
            self._end_call(call, "remote hangup", None, now, send_bye=False)
        elif method == "INFO":
            self._respond(stx, 200, None, now, tag=to_tag)
            self._events.append(ev.InfoReceived(call.call_id, req.content_type, req.body))
        elif method == "UPDATE":
            self._on_update(call, req, stx, now)
        elif method == "INVITE":
            self._on_reinvite(call, req, stx, now)

    def _new_incoming_call(self, req: SipRequest, stx: ServerTransaction, addr: Address,
                           transport: TransportInfo, now: float) -> None:
        if req.call_id in self._calls:
            self._respond(stx, 482, None, now, tag=self._new_tag())
            return
        se = _session_expires(req)
        if se is not None and se[0] < self.config.min_se:
            self._respond(stx, 422, None, now, tag=self._new_tag(),
                          extra=[("Min-SE", str(self.config.min_se))])
            return
        call = Call(self, req.call_id, UAS_ROLE, transport, addr)
        call.local_tag = self._new_tag()
        call.invite = req
        call.invite_stx = stx
        call.peer_allow = [m.upper() for m in req.headers.get_list("allow")]
        call.dialog = Dialog.for_uas(req, call.local_tag, transport, addr)
        call.remote_body = req.body or None
        self._calls[call.call_id] = call
        self.counters.calls_started += 1
        if self.config.send_100_trying:
            self._respond(stx, 100, None, now)
        from_ = req.from_
        self._events.append(ev.IncomingCall(
            call_id=call.call_id,
            request_user=req.uri.user if req.uri.is_sip else None,
            request_uri=str(req.uri),
            from_uri=str(from_.uri),
            from_display=from_.display,
            to_uri=str(req.to.uri),
            user_agent=req.headers.get("user-agent"),
            body=req.body or None,
            content_type=req.content_type if req.body else None,
            remote_addr=addr,
            transport=transport.proto,
            owner_failed=req.headers.get(OWNER_FAILED_HEADER),
            front_door_source=req.headers.get(SOURCE_HEADER),
            is_focus=bool(req.contacts) and "isfocus" in req.contacts[0].params,
        ))

    def _on_cancel(self, req: SipRequest, stx: ServerTransaction, now: float) -> None:
        invite_tx = self._server_txs.get(invite_key_for_cancel(req))
        if invite_tx is None:
            self._respond(stx, 481, None, now, tag=self._new_tag())
            return
        call = self._calls.get(req.call_id)
        tag = call.local_tag if call is not None else self._new_tag()
        self._respond(stx, 200, None, now, tag=tag)
        if not invite_tx.final_sent:
            self._respond(invite_tx, 487, None, now, tag=tag)
            if call is not None and call.invite_stx is invite_tx:
                self._end_call(call, "cancelled", 487, now, send_bye=False)
            elif call is not None and call.pending_reinvite is invite_tx:
                call.pending_reinvite = None

    def _on_reinvite(self, call: Call, req: SipRequest, stx: ServerTransaction,
                     now: float) -> None:
        if call.pending_reinvite is not None or call.reinvite_ctx is not None or (
            call.invite_stx is not None and not call.invite_stx.final_sent
        ):
            self._respond(stx, 491, None, now, tag=call.local_tag)
            return
        if not self._refresh_dialog(call, req, stx, now):
            return
        call.invite = req
        body = req.body or None
        if body is not None and body == call.remote_body and call.local_body is not None:
            # a session refresh carrying the unchanged offer: answer with the unchanged answer
            self._send_2xx(call, stx, call.local_body, call.local_type, now)
            return
        call.pending_reinvite = stx
        call.remote_body = body if body is not None else call.remote_body
        self._respond(stx, 100, None, now)
        self._events.append(ev.ReInvite(call.call_id, body, req.content_type if body else None))

    def _refresh_dialog(self, call: Call, req: SipRequest, stx: ServerTransaction,
                        now: float) -> bool:
        """Target refresh and session-timer checks that re-INVITE and UPDATE share.

        False when `req` was answered 422 (Session-Expires below our Min-SE, RFC 4028 8).
        """
        assert call.dialog is not None
        call.dialog.update_target(req)
        se = _session_expires(req)
        if se is not None and se[0] < self.config.min_se:
            self._respond(stx, 422, None, now, tag=call.local_tag,
                          extra=[("Min-SE", str(self.config.min_se))])
            return False
        if se is not None or call.se_interval:
            self._negotiate_session_timer(call, req)
        return True

    def _on_update(self, call: Call, req: SipRequest, stx: ServerTransaction, now: float) -> None:
        if not self._refresh_dialog(call, req, stx, now):
            return
        if req.body:
            if call.pending_update is not None:
                self._respond(stx, 491, None, now, tag=call.local_tag)
                return
            call.pending_update = stx
            self._events.append(ev.UpdateReceived(call.call_id, req.body, req.content_type))
            return
        self._respond(stx, 200, None, now, tag=call.local_tag, extra=self._se_headers(call))
        self._start_session_timer(call, now)

    # ------------------------------------------------------------------ session timers
    def _negotiate_session_timer(self, call: Call, req: SipRequest) -> None:
        """We are the UAS of `req`: pick interval and refresher (RFC 4028 9)."""
        se = _session_expires(req)
        peer_supports = "timer" in req.option_tags("supported")
        if se is None:
            if not call.se_interval:
                return
            interval, refresher = call.se_interval, None
        else:
            interval, refresher = se
        if refresher is None:
            refresher = "uac" if peer_supports else "uas"
        call.se_interval = interval
        call.we_refresh = refresher == "uas"
        call.se_peer_supports = peer_supports  # type: ignore[attr-defined]

    def _se_headers(self, call: Call) -> list[tuple[str, str]]:
        if not call.se_interval:
            return []
        our_role_refreshes = call.we_refresh
        # in a response we are the UAS of that request
        refresher = "uas" if our_role_refreshes else "uac"
        out = [("Session-Expires", f"{call.se_interval};refresher={refresher}")]
        if getattr(call, "se_peer_supports", False):
            out.append(("Require", "timer"))
        return out

    def _start_session_timer(self, call: Call, now: float) -> None:
        call.timers.pop("se_refresh", None)
        call.timers.pop("se_expire", None)
        if not call.se_interval or call.ended:
            return
        interval = float(call.se_interval)
        if call.we_refresh:
            call.timers["se_refresh"] = now + interval / 2
        else:
            call.timers["se_expire"] = now + interval - min(SESSION_EXPIRY_MARGIN, interval / 3)
        self._dirty.add(call)

    def _send_refresh(self, call: Call, now: float) -> None:
        if call.dialog is None or call.ended:
            return
        # the refresher of a refresh is the UAC of that refresh: us
        extra = [("Session-Expires", f"{call.se_interval};refresher=uac"),
                 ("Supported", SUPPORTED)]
        if "UPDATE" in call.peer_allow:
            tx = self._send_in_dialog(call, "UPDATE", now, extra=extra)
            self._tx_owner[id(tx)] = ("refresh", call)
        else:
            tx = self._send_in_dialog(call, "INVITE", now, extra=extra,
                                      body=call.local_body or b"", content_type=call.local_type)
            call.reinvite_ctx = tx
            self._tx_owner[id(tx)] = ("refresh", call)

    def _call_timer(self, call: Call, name: str, now: float) -> None:
        if name == "ok_retx" and call.ok_data is not None:
            self._out.append((call.ok_data, call.addr, call.transport))
            call.ok_interval = min(2 * call.ok_interval, self.config.timers.t2)
            call.timers["ok_retx"] = now + call.ok_interval
        elif name == "ok_timeout" and call.ok_data is not None:
            call.ok_data = None
            call.timers.pop("ok_retx", None)
            if call.acked:
                return
            self._end_call(call, "no ACK", 408, now)
        elif name == "se_refresh":
            self._send_refresh(call, now)
        elif name == "se_expire":
            self._end_call(call, "session timer expired", 408, now)

    # ------------------------------------------------------------------ responding
    def _respond(self, stx: ServerTransaction, status: int, reason: str | None, now: float,
                 tag: str | None = None, extra: list[tuple[str, str]] | None = None,
                 body: bytes = b"", content_type: str | None = None) -> SipResponse:
        req = stx.request
        headers = Headers()
        for via in getattr(stx, "response_vias", None) or req.headers.get_list("via"):
            headers.add("Via", via)
        headers.add("From", req.headers.get("from") or "")
        to = req.headers.get("to") or ""
        if tag and status > 100 and ";tag=" not in to.replace(" ", "").lower():
            to = f"{to};tag={tag}"
        headers.add("To", to)
        headers.add("Call-ID", req.call_id)
        headers.add("CSeq", req.headers.get("cseq") or "")
        headers.add("Server", self.config.user_agent)
        if req.method == "INVITE" and 100 < status < 300:
            # RFC 3261 12.1.1: the proxies that record-routed (a front door such as Kamailio)
            # stay on the dialog's path: the UAC builds its route set from these.
            for route in req.headers.get_all("record-route"):
                headers.add("Record-Route", route)
        for name, value in extra or ():
            headers.add(name, value)
        if body:
            headers.add("Content-Type", content_type or SDP)
        response = SipResponse(status, reason, headers, body)
        self.counters.responses_out[status] += 1
        self.counters.responses_out_by_method[(req.method, status)] += 1
        stx.send_response(response, now)
        self._dirty.add(stx)
        return response

    def _contact(self, transport: TransportInfo) -> str:
        return f"<{transport.contact_uri(self.config.contact_user)}>"

    def _send_2xx(self, call: Call, stx: ServerTransaction, body: bytes | None,
                  content_type: str | None, now: float) -> None:
        extra = [("Contact", self._contact(call.transport)), ("Allow", ALLOW),
                 ("Supported", SUPPORTED), *self._se_headers(call)]
        response = self._respond(stx, 200, None, now, tag=call.local_tag, extra=extra,
                                 body=body or b"", content_type=content_type)
        call.ok_data = response.to_bytes()
        call.ok_cseq = stx.request.cseq.seq
        call.ok_interval = self.config.timers.t1
        if not call.transport.reliable:
            call.timers["ok_retx"] = now + call.ok_interval
        call.timers["ok_timeout"] = now + self.config.timers.timeout
        if body is not None:
            call.local_body, call.local_type = body, content_type or SDP
        self._start_session_timer(call, now) if call.acked else None
        self._dirty.add(call)

    # ------------------------------------------------------------------ UAS API
    def _call(self, call_id: str) -> Call:
        call = self._calls.get(call_id)
        if call is None or call.ended:
            raise UnknownCallError(f"no active call {call_id!r}")
        return call

    def answer(self, call_id: str, status: int = 200, body: bytes | None = None,
               content_type: str | None = SDP, now: float | None = None) -> None:
        """Final response to the pending INVITE or re-INVITE of `call_id`."""
        now = self._api_now(now)
        call = self._call(call_id)
        stx = call.pending_reinvite
        if stx is None:
            stx = call.invite_stx
            if stx is None or stx.final_sent or call.role != UAS_ROLE:
                raise SipStateError(f"call {call_id!r} has no INVITE waiting for an answer")
        if status >= 300:
            self.reject(call_id, status, now=now)
            return
        if stx is call.pending_reinvite:
            call.pending_reinvite = None
        else:
            call.answered = True
            if call.dialog is not None:
                call.dialog.state = CONFIRMED
            if call.invite is not None:
                self._negotiate_session_timer(call, call.invite)
        self._send_2xx(call, stx, body, content_type, now)
        self._flush()

    def answer_update(self, call_id: str, status: int = 200, body: bytes | None = None,
                      content_type: str | None = SDP, now: float | None = None) -> None:
        now = self._api_now(now)
        call = self._call(call_id)
        stx = call.pending_update
        if stx is None:
            raise SipStateError(f"call {call_id!r} has no UPDATE waiting for an answer")
        call.pending_update = None
        extra = self._se_headers(call) if status < 300 else []
        self._respond(stx, status, None, now, tag=call.local_tag, extra=extra,
                      body=body or b"", content_type=content_type)
        if status < 300 and body:
            call.local_body, call.local_type = body, content_type
            self._start_session_timer(call, now)
        self._flush()

    def reject(self, call_id: str, status: int = 486, reason: str | None = None,
               now: float | None = None, headers: list[tuple[str, str]] | None = None) -> None:
        """Refuse the INVITE (or re-INVITE) waiting for an answer; `headers` go in the response
        (e.g. Retry-After with a 503)."""
        now = self._api_now(now)
        call = self._call(call_id)
        if call.pending_reinvite is not None:
            self._respond(call.pending_reinvite, status, reason, now, tag=call.local_tag, extra=headers)
            call.pending_reinvite = None
            self._flush()
            return
        stx = call.invite_stx
        if stx is None or stx.final_sent:
            raise SipStateError(f"call {call_id!r} has no INVITE waiting for an answer")
        self._respond(stx, status, reason, now, tag=call.local_tag, extra=headers)
        self._end_call(call, "rejected", status, now, send_bye=False)
        self._flush()

    def send_provisional(self, call_id: str, status: int = 180, body: bytes | None = None,
                         content_type: str | None = SDP, now: float | None = None) -> None:
        now = self._api_now(now)
        if not 101 <= status <= 199:
            raise SipStateError(f"status {status} is not a provisional response")
        call = self._call(call_id)
        stx = call.invite_stx
        if stx is None or stx.final_sent:
            raise SipStateError(f"call {call_id!r} has no INVITE waiting for an answer")
        self._respond(stx, status, None, now, tag=call.local_tag,
                      extra=[("Contact", self._contact(call.transport))],
                      body=body or b"", content_type=content_type)
        self._flush()

    def hangup(self, call_id: str, now: float | None = None) -> None:
        """BYE an established call; decline an unanswered incoming one; cancel a dial-out."""
        now = self._api_now(now)
        call = self._call(call_id)
        if call.role == UAS_ROLE and not call.answered:
            self.reject(call_id, 603, now=now)
            return
        if call.role == UAC_ROLE and call.dialog is None:
            self.cancel(call_id, now=now)
            return
        self._end_call(call, "local hangup", None, now)
        self._flush()

    def send_info(self, call_id: str, body: bytes, content_type: str = "application/dtmf-relay",
                  now: float | None = None) -> None:
        now = self._api_now(now)
        call = self._call(call_id)
        self._send_in_dialog(call, "INFO", now, body=body, content_type=content_type)
        self._flush()

    def reinvite(self, call_id: str, body: bytes, content_type: str = SDP,
                 now: float | None = None) -> None:
        """Send a re-INVITE with a new offer; the result comes as ReInviteAnswered."""
        now = self._api_now(now)
        call = self._call(call_id)
        if call.dialog is None or call.reinvite_ctx is not None or call.pending_reinvite:
            raise SipStateError(f"call {call_id!r} cannot re-INVITE now (no dialog or pending)")
        tx = self._send_in_dialog(call, "INVITE", now, body=body, content_type=content_type)
        call.reinvite_ctx = tx
        call.pending_offer = (body, content_type)  # type: ignore[attr-defined]
        self._tx_owner[id(tx)] = ("reinvite", call)
        self._flush()

    # ------------------------------------------------------------------ sending requests
    def _via(self, transport: TransportInfo) -> str:
        return f"SIP/2.0/{transport.via_name} {transport.sent_by()};branch={new_branch(self._new_id())};rport"

    def _send_request(self, request: SipRequest, addr: Address, transport: TransportInfo,
                      now: float) -> ClientTransaction:
        request.headers.add("User-Agent", self.config.user_agent)
        self.counters.requests_out[request.method] += 1
        tx = ClientTransaction(self, request, addr, transport, now, self.config.timers)
        self._client_txs[tx.key] = tx
        self._dirty.add(tx)
        return tx

    def _send_in_dialog(self, call: Call, method: str, now: float,
                        extra: list[tuple[str, str]] | None = None, body: bytes = b"",
                        content_type: str | None = None) -> ClientTransaction:
        dialog = call.dialog
        if dialog is None:
            raise SipStateError(f"call {call.call_id!r} has no dialog")
        headers = list(extra or [])
        if method in ("INVITE", "UPDATE"):
            headers += [("Contact", self._contact(call.transport)), ("Allow", ALLOW)]
        request = dialog.new_request(method, self._via(call.transport), headers, body,
                                     content_type)
        return self._send_request(request, dialog.destination(), call.transport, now)

    def _send_ack(self, call: Call, now: float) -> None:
        dialog = call.dialog
        assert dialog is not None and call.invite is not None
        ack = dialog.new_request("ACK", self._via(call.transport), cseq=call.invite.cseq.seq)
        ack.headers.add("User-Agent", self.config.user_agent)
        call.ack_data = ack.to_bytes()
        self.counters.requests_out["ACK"] += 1
        self._out.append((call.ack_data, dialog.destination(), call.transport))

    def _end_call(self, call: Call, reason: str, status: int | None, now: float,
                  send_bye: bool = True) -> None:
        if call.ended:
            return
        call.ended = True
        if send_bye and call.dialog is not None and call.dialog.state == CONFIRMED:
            try:
                self._send_in_dialog(call, "BYE", now)
            except SipError:
                self.counters.internal_errors += 1
        if call.dialog is not None:
            call.dialog.state = TERMINATED
        call.timers.clear()
        self._dirty.add(call)
        self._calls.pop(call.call_id, None)
        self.counters.calls_ended += 1
        self._events.append(ev.CallEnded(call.call_id, reason, status))

    # ------------------------------------------------------------------ UAC API
    def _pick_transport(self, proto: str, host: str) -> TransportInfo:
        want_v6 = ":" in host
        for t in self.transports:
            if t.proto == proto and t.is_ipv6 == want_v6:
                return t
        for t in self.transports:
            if t.proto == proto:
                return t
        raise SipStateError(f"no {proto} transport to reach {host}: add one with add_transport")

    def dial(self, uri: str, body: bytes | None = None, content_type: str = SDP,
             from_user: str | None = None, display_name: str | None = None,
             auth: tuple[str, str] | None = None, headers: list[tuple[str, str]] | None = None,
             now: float | None = None, focus: bool = False) -> str:
        """Send an INVITE to `uri` (our offer in `body`); returns the new call id. `focus`: our
        Contact carries `isfocus` (RFC 4579): this call is a conference joining another one."""
        now = self._api_now(now)
        target = SipUri.parse(uri)
        if not target.is_sip:
            raise SipStateError(f"cannot dial {uri!r}: only sip: and sips: URIs")
        host, port = target.host_port()
        transport = self._pick_transport(target.transport, host)
        call_id = self._new_id()
        call = Call(self, call_id, UAC_ROLE, transport, (host, port))
        call.local_tag = self._new_tag()
        call.credentials = auth
        call.local_body, call.local_type = body, content_type if body else None
        user = from_user or self.config.contact_user
        display = display_name or self.config.display_name
        from_value = str(NameAddr(SipUri(
            scheme="sips" if transport.proto == TLS else "sip", user=user,
            host=transport.sent_by().rsplit(":", 1)[0], port=transport.port,
        ), display, {"tag": call.local_tag}))
        request_headers = Headers()
        request_headers.add("Via", self._via(transport))
        request_headers.add("Max-Forwards", "70")
        request_headers.add("From", from_value)
        request_headers.add("To", f"<{target}>")
        request_headers.add("Call-ID", call_id)
        request_headers.add("CSeq", "1 INVITE")
        request_headers.add("Contact", self._contact(transport) + (";isfocus" if focus else ""))
        request_headers.add("Allow", ALLOW)
        request_headers.add("Supported", SUPPORTED)
        if self.config.session_expires:
            request_headers.add("Session-Expires", str(self.config.session_expires))
        for name, value in headers or ():
            request_headers.add(name, value)
        if body:
            request_headers.add("Content-Type", content_type)
        invite = SipRequest("INVITE", target, request_headers, body or b"")
        call.invite = invite
        self._calls[call_id] = call
        self.counters.calls_started += 1
        tx = self._send_request(invite, call.addr, transport, now)
        call.invite_ctx = tx
        self._tx_owner[id(tx)] = ("invite", call)
        self._flush()
        return call_id

    def cancel(self, call_id: str, now: float | None = None) -> None:
        """CANCEL our pending INVITE (sent once a provisional response has arrived)."""
        now = self._api_now(now)
        call = self._call(call_id)
        tx = call.invite_ctx
        if call.role != UAC_ROLE or tx is None or call.dialog is not None:
            raise SipStateError(f"call {call_id!r} has no pending outgoing INVITE")
        call.cancel_requested = True
        if tx.state == "proceeding":
            self._send_cancel(call, now)
        self._flush()

    def _send_cancel(self, call: Call, now: float) -> None:
        invite = call.invite
        assert invite is not None
        if getattr(call, "cancel_sent", False):
            return
        call.cancel_sent = True  # type: ignore[attr-defined]
        headers = Headers()
        headers.add("Via", invite.headers.get_list("via")[0])
        for route in invite.headers.get_all("route"):
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        headers.add("From", invite.headers.get("from") or "")
        headers.add("To", invite.headers.get("to") or "")
        headers.add("Call-ID", invite.call_id)
        headers.add("CSeq", f"{invite.cseq.seq} CANCEL")
        cancel = SipRequest("CANCEL", invite.uri, headers)
        tx = self._send_request(cancel, call.addr, call.transport, now)
        self._tx_owner[id(tx)] = ("cancel", call)

    def _client_outcome(self, tx: ClientTransaction, response: SipResponse, now: float,
                        timed_out: bool) -> None:
        owner = self._tx_owner.get(id(tx))
        if owner is None:
            return
        purpose, obj = owner
        if purpose == "invite" and isinstance(obj, Call):
            self._invite_outcome(obj, tx, response, now, timed_out)
        elif purpose in ("reinvite", "refresh") and isinstance(obj, Call):
            self._reinvite_outcome(obj, tx, response, now, purpose)
        elif purpose == "register" and isinstance(obj, Registration):
            self._register_outcome(obj, response, now)

    def _invite_outcome(self, call: Call, tx: ClientTransaction, response: SipResponse,
                        now: float, timed_out: bool) -> None:
        status = response.status
        body = response.body or None
        ctype = response.content_type if body else None
        if status < 200:
            if call.cancel_requested:
                self._send_cancel(call, now)
            elif status > 100 and not call.ended:
                self._events.append(ev.CallProgress(call.call_id, status, response.reason,
                                                    body, ctype))
            return
        if status < 300:
            if call.dialog is None:
                assert call.invite is not None
                call.dialog = Dialog.for_uac(call.invite, response, call.transport, call.addr)
                call.dialog.state = CONFIRMED
                call.peer_allow = [m.upper() for m in response.headers.get_list("allow")]
                call.answered = True
                self._send_ack(call, now)
                if call.cancel_requested or call.ended:
                    call.ended = False
                    self._end_call(call, "cancelled", 487, now)
                    return
                se = _session_expires(response)
                if se is not None:
                    call.se_interval = se[0]
                    call.we_refresh = (se[1] or "uac") == "uac"
                    self._start_session_timer(call, now)
                call.remote_body = body
                self._events.append(ev.CallAnswered(call.call_id, status, body, ctype))
            elif call.ack_data is not None:
                self._out.append((call.ack_data, call.dialog.destination(), call.transport))
            return
        if call.ended:
            return
        if status in (401, 407) and call.credentials and self._retry_invite_auth(
            call, response, now
        ):
            return
        reason = "Request Timeout" if timed_out else response.reason
        call.ended = True
        self._calls.pop(call.call_id, None)
        self.counters.calls_ended += 1
        self._events.append(ev.CallFailed(call.call_id, status, reason))

    def _retry_invite_auth(self, call: Call, response: SipResponse, now: float) -> bool:
        if call.auth_attempts >= MAX_AUTH_ATTEMPTS or call.credentials is None:
            return False
        invite = call.invite
        assert invite is not None
        auth = _authorization_for(response, invite.method, str(invite.uri), *call.credentials,
                                  nc=1, cnonce=self._new_tag())
        if auth is None:
            return False
        call.auth_attempts += 1
        headers = invite.headers.copy()
        headers.remove("via")
        headers.remove("user-agent")
        headers.remove("authorization")
        headers.remove("proxy-authorization")
        headers.insert_first("Via", self._via(call.transport))
        headers.set("CSeq", f"{invite.cseq.seq + 1} INVITE")
        headers.add(auth[0], auth[1])
        new_invite = SipRequest("INVITE", invite.uri, headers, invite.body)
        call.invite = new_invite
        tx = self._send_request(new_invite, call.addr, call.transport, now)
        call.invite_ctx = tx
        self._tx_owner[id(tx)] = ("invite", call)
        return True

    def _reinvite_outcome(self, call: Call, tx: ClientTransaction, response: SipResponse,
                          now: float, purpose: str) -> None:
        status = response.status
        if status < 200:
            return
        is_invite = tx.request.method == "INVITE"
        if is_invite and call.reinvite_ctx is tx:
            call.reinvite_ctx = None
        if call.ended or call.dialog is None:
            return
        if status < 300:
            if is_invite:
                ack = call.dialog.new_request("ACK", self._via(call.transport),
                                              cseq=tx.request.cseq.seq)
                ack.headers.add("User-Agent", self.config.user_agent)
                self.counters.requests_out["ACK"] += 1
                self._out.append((ack.to_bytes(), call.dialog.destination(), call.transport))
            call.dialog.update_target(response)
            se = _session_expires(response)
            if se is not None:
                call.se_interval = se[0]
                call.we_refresh = (se[1] or "uac") == "uac"
            self._start_session_timer(call, now)
        if purpose == "reinvite":
            body = response.body or None
            if status < 300:
                offer = getattr(call, "pending_offer", None)
                if offer is not None:
                    call.local_body, call.local_type = offer
                call.remote_body = body or call.remote_body
            self._events.append(ev.ReInviteAnswered(
                call.call_id, status, body, response.content_type if body else None))
        elif status in (408, 481):
            self._end_call(call, "session refresh failed", status, now, send_bye=status != 481)
        elif status >= 300:
            self._start_session_timer(call, now)  # keep trying at the next refresh point

    # ------------------------------------------------------------------ REGISTER
    def register(self, aor: str, registrar: str, user: str, password: str,
                 expires: int = 3600, now: float | None = None) -> str:
        """Register `aor` (sip:room@domain) at `registrar` (sip:host[:port][;transport=..])."""
        now = self._api_now(now)
        registrar_uri = SipUri.parse(registrar)
        host, _ = registrar_uri.host_port()
        transport = self._pick_transport(registrar_uri.transport, host)
        reg = Registration(self._new_id(), NameAddr(SipUri.parse(aor)), registrar_uri, user,
                           password, expires, transport, self)
        self._registrations[reg.reg_id] = reg
        self._send_register(reg, now, None)
        self._flush()
        return reg.reg_id

    def unregister(self, reg_id: str, now: float | None = None) -> None:
        now = self._api_now(now)
        reg = self._registrations.get(reg_id)
        if reg is None:
            raise SipStateError(f"no registration {reg_id!r}")
        reg.removing = True
        reg.timers.clear()
        self._send_register(reg, now, None)
        self._flush()

    def _send_register(self, reg: Registration, now: float,
                       auth: tuple[str, str] | None) -> None:
        reg.cseq += 1
        headers = Headers()
        headers.add("Via", self._via(reg.transport))
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<{reg.aor.uri}>;tag={reg.tag}")
        headers.add("To", f"<{reg.aor.uri}>")
        headers.add("Call-ID", reg.call_id)
        headers.add("CSeq", f"{reg.cseq} REGISTER")
        headers.add("Contact", f"<{reg.transport.contact_uri(reg.aor.uri.user)}>")
        headers.add("Expires", "0" if reg.removing else str(reg.expires))
        if auth is not None:
            headers.add(auth[0], auth[1])
        request = SipRequest("REGISTER", reg.registrar, headers)
        tx = self._send_request(request, reg.registrar.host_port(), reg.transport, now)
        self._tx_owner[id(tx)] = ("register", reg)
        self._dirty.add(reg)

    def _register_outcome(self, reg: Registration, response: SipResponse, now: float) -> None:
        status = response.status
        if status < 200:
            return
        if status in (401, 407) and reg.auth_attempts < MAX_AUTH_ATTEMPTS:
            reg.nc += 1
            auth = _authorization_for(response, "REGISTER", str(reg.registrar), reg.user,
                                      reg.password, nc=reg.nc, cnonce=self._new_tag())
            if auth is not None:
                reg.auth_attempts += 1
                self._send_register(reg, now, auth)
                return
        reg.auth_attempts = 0
        if reg.removing:
            self._registrations.pop(reg.reg_id, None)
            return
        if 200 <= status < 300:
            granted = _granted_expires(response, reg)
            reg.timers["refresh"] = now + max(
                1.0, granted - min(REGISTER_REFRESH_MARGIN_S, granted / 2)
            )
            self._events.append(ev.RegistrationSucceeded(reg.reg_id, granted))
        else:
            reg.timers["refresh"] = now + REGISTER_RETRY_S
            self._events.append(ev.RegistrationFailed(reg.reg_id, status, response.reason))
        self._dirty.add(reg)

    # ------------------------------------------------------------------ ids
    def _new_id(self) -> str:
        return secrets.token_hex(8)

    def _new_tag(self) -> str:
        return secrets.token_hex(4)


def invite_key_for_ack(ack: SipRequest) -> tuple[str, ...]:
    from mcu.sip.transaction import server_key

    return server_key(ack)


def response_address(via: Via, source: Address, transport: TransportInfo) -> Address:
    """Where the responses to a request go (RFC 3261 18.2.2, RFC 3581 4).

    Over TCP/TLS: back on the connection it came on (the source). Over UDP: to the `received`
    address (the source IP) at the port of the Via sent-by (5060 when it has none), unless the
    Via asks for `rport` or names another transport than the one the request came on: then that
    sent-by is not a UDP address of the sender, so the answer goes where the request came from.
    """
    if transport.reliable or "rport" in via.params or via.transport != transport.via_name:
        return source
    return (source[0], via.port or DEFAULT_SIP_PORT)


def _stamp_via(via: Via, addr: Address) -> Via:
    """RFC 3261 18.2.1 `received` and RFC 3581 `rport` on the top Via of a request."""
    if via.host != addr[0]:
        via.params["received"] = addr[0]
    if "rport" in via.params:
        via.params["received"] = addr[0]
        via.params["rport"] = str(addr[1])
    return via


def _reason_text(reason: str) -> str:
    """A reason phrase must stay on one line."""
    return reason.replace("\r", " ").replace("\n", " ")[:120]


def _session_expires(message: SipMessage) -> tuple[int, str | None] | None:
    value = message.headers.get("session-expires")
    if value is None:
        return None
    number, _, rest = value.partition(";")
    number = number.strip()
    if not number.isdigit():
        raise SipParseError("Malformed Session-Expires header")
    params = parse_params(";" + rest if rest else "", "Session-Expires header")
    refresher = params.get("refresher")
    return int(number), refresher.lower() if refresher else None


def _authorization_for(response: SipResponse, method: str, uri: str, user: str, password: str,
                       nc: int, cnonce: str) -> tuple[str, str] | None:
    if response.status == 401:
        values, header = response.headers.get_all("www-authenticate"), "Authorization"
    else:
        values, header = response.headers.get_all("proxy-authenticate"), "Proxy-Authorization"
    for value in values:
        try:
            challenge = parse_challenge(value)
        except SipParseError:
            continue
        return header, authorization_header(challenge, method, uri, user, password, nc, cnonce)
    return None


def _granted_expires(response: SipResponse, reg: Registration) -> int:
    ours = reg.transport.contact_uri(reg.aor.uri.user)
    for value in response.headers.get_list("contact"):
        try:
            contact = NameAddr.parse(value, "Contact header")
        except SipParseError:
            continue
        if str(contact.uri) == ours and (contact.params.get("expires") or "").isdigit():
            return int(contact.params["expires"] or 0)
    expires = (response.headers.get("expires") or "").strip()
    return int(expires) if expires.isdigit() else reg.expires


__all__ = [
    "ACCEPT",
    "ALLOW",
    "SUPPORTED",
    "TCP",
    "TLS",
    "UDP",
    "Call",
    "TransportInfo",
    "UaConfig",
    "UaCounters",
    "UserAgent",
    "format_params",
    "response_address",
    "split_commas",
]
