"""RFC 3261 section 17 transactions (with the RFC 6026 Accepted state), driven by `now`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mcu.sip.headers import BRANCH_MAGIC, Via
from mcu.sip.message import Headers, SipRequest, SipResponse
from mcu.sip.transport import Address, TransportInfo

# states
CALLING = "calling"
TRYING = "trying"
PROCEEDING = "proceeding"
COMPLETED = "completed"
CONFIRMED = "confirmed"
ACCEPTED = "accepted"
TERMINATED = "terminated"

NON_2XX_ACK_WAIT_UDP = 32.0  # Timer D lower bound over UDP


@dataclass(frozen=True)
class TimerConfig:
    """RFC 3261 timer base values in seconds (T1 RTT estimate, T2 cap, T4 network lifetime)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J, L, M."""
        return 64 * self.t1


class TransactionUser(Protocol):
    def tx_send(self, data: bytes, addr: Address, transport: TransportInfo) -> None: ...
    def tx_response(self, tx: ClientTransaction, response: SipResponse, now: float) -> None: ...
    def tx_timeout(self, tx: Transaction, now: float) -> None: ...
    def tx_terminated(self, tx: Transaction) -> None: ...


class Transaction:
    """Timer bookkeeping shared by client and server transactions."""

    def __init__(
        self, tu: TransactionUser, request: SipRequest, addr: Address,
        transport: TransportInfo, timers: TimerConfig,
    ) -> None:
        self.tu = tu
        self.request = request
        self.addr = addr
        self.transport = transport
        self.config = timers
        self.reliable = transport.reliable
        self.is_invite = request.method == "INVITE"
        self.state = ""
        self.timers: dict[str, float] = {}
        self.scheduled_at: float | None = None  # owned by the scheduler of the UA
        self.retransmissions = 0

    def next_deadline(self) -> float | None:
        return min(self.timers.values()) if self.timers else None

    def _send(self, data: bytes) -> None:
        self.tu.tx_send(data, self.addr, self.transport)

    def _terminate(self) -> None:
        if self.state != TERMINATED:
            self.state = TERMINATED
            self.timers.clear()
            self.tu.tx_terminated(self)

    def handle_timer(self, now: float) -> None:
        for name, deadline in sorted(self.timers.items(), key=lambda kv: kv[1]):
            if deadline <= now and self.timers.get(name) == deadline and self.state != TERMINATED:
                del self.timers[name]
                self._fire(name, now)

    def _fire(self, name: str, now: float) -> None:
        raise NotImplementedError


class ClientTransaction(Transaction):
    """INVITE client (17.1.1) and non-INVITE client (17.1.2) transaction."""

    def __init__(
        self, tu: TransactionUser, request: SipRequest, addr: Address,
        transport: TransportInfo, now: float, timers: TimerConfig | None = None,
    ) -> None:
        super().__init__(tu, request, addr, transport, timers or TimerConfig())
        via = request.top_via
        self.branch = via.branch or ""
        self.key = (self.branch, request.method)
        self.data = request.to_bytes()
        self.state = CALLING if self.is_invite else TRYING
        self.interval = self.config.t1
        self.last_response: SipResponse | None = None
        self.ack_data: bytes | None = None
        if not self.reliable:
            self.timers["A" if self.is_invite else "E"] = now + self.interval
        self.timers["B" if self.is_invite else "F"] = now + self.config.timeout
        self._send(self.data)

    def receive_response(self, response: SipResponse, now: float) -> None:
        status = response.status
        if self.state == TERMINATED:
            return
        if self.is_invite:
            self._invite_response(response, status, now)
        else:
            self._non_invite_response(response, status, now)

    def _invite_response(self, response: SipResponse, status: int, now: float) -> None:
        if status < 200:
            if self.state in (CALLING, PROCEEDING):
                self.state = PROCEEDING
                self.timers.pop("A", None)
                self.last_response = response
                self.tu.tx_response(self, response, now)
        elif status < 300:
            if self.state in (CALLING, PROCEEDING):
                self.state = ACCEPTED
                self.timers.clear()
                self.timers["M"] = now + self.config.timeout
                self.last_response = response
                self.tu.tx_response(self, response, now)
            elif self.state == ACCEPTED:
                self.tu.tx_response(self, response, now)  # retransmitted 2xx: TU re-ACKs
        elif self.state in (CALLING, PROCEEDING):
            self.state = COMPLETED
            self.timers.clear()
            self.ack_data = build_non2xx_ack(self.request, response).to_bytes()
            self._send(self.ack_data)
            self.timers["D"] = now + (0.0 if self.reliable else NON_2XX_ACK_WAIT_UDP)
            self.last_response = response
            self.tu.tx_response(self, response, now)
        elif self.state == COMPLETED and self.ack_data is not None:
            self._send(self.ack_data)

    def _non_invite_response(self, response: SipResponse, status: int, now: float) -> None:
        if self.state not in (TRYING, PROCEEDING):
            return
        self.last_response = response
        if status < 200:
            self.state = PROCEEDING
            self.tu.tx_response(self, response, now)
            return
        self.state = COMPLETED
        self.timers.clear()
        self.timers["K"] = now + (0.0 if self.reliable else self.config.t4)
        self.tu.tx_response(self, response, now)

    def _fire(self, name: str, now: float) -> None:
        if name == "A":
            self._send(self.data)
            self.retransmissions += 1
            self.interval *= 2
            self.timers["A"] = now + self.interval
        elif name == "E":
            self._send(self.data)
            self.retransmissions += 1
            if self.state == PROCEEDING:
                self.interval = self.config.t2
            else:
                self.interval = min(2 * self.interval, self.config.t2)
            self.timers["E"] = now + self.interval
        elif name in ("B", "F"):
            self.tu.tx_timeout(self, now)
            self._terminate()
        else:  # D, K, M
            self._terminate()


class ServerTransaction(Transaction):
    """INVITE server (17.2.1) and non-INVITE server (17.2.2) transaction."""

    def __init__(
        self, tu: TransactionUser, request: SipRequest, addr: Address,
        transport: TransportInfo, now: float, timers: TimerConfig | None = None,
    ) -> None:
        super().__init__(tu, request, addr, transport, timers or TimerConfig())
        self.key = server_key(request)
        self.state = PROCEEDING if self.is_invite else TRYING
        self.last_data: bytes | None = None
        self.last_status = 0
        self.interval = self.config.t1

    @property
    def final_sent(self) -> bool:
        return self.last_status >= 200

    def send_response(self, response: SipResponse, now: float) -> None:
        if self.state in (COMPLETED, CONFIRMED, TERMINATED, ACCEPTED):
            return  # a final response went out already
        data = response.to_bytes()
        self.last_data = data
        self.last_status = response.status
        self._send(data)
        status = response.status
        if status < 200:
            if not self.is_invite:
                self.state = PROCEEDING
            return
        if self.is_invite:
            if status < 300:
                self.state = ACCEPTED  # 2xx retransmission belongs to the TU (dialog)
                self.timers["L"] = now + self.config.timeout
            else:
                self.state = COMPLETED
                if not self.reliable:
                    self.timers["G"] = now + self.interval
                self.timers["H"] = now + self.config.timeout
        else:
            self.state = COMPLETED
            self.timers["J"] = now + (0.0 if self.reliable else self.config.timeout)

    def receive_retransmission(self, request: SipRequest, now: float) -> None:
        """A request matching this transaction arrived again (or the ACK for a non-2xx)."""
        if request.method == "ACK":
            if self.state == COMPLETED:
                self.state = CONFIRMED
                self.timers.pop("G", None)
                self.timers.pop("H", None)
                self.timers["I"] = now + (0.0 if self.reliable else self.config.t4)
            return
        if self.state in (PROCEEDING, COMPLETED) and self.last_data is not None:
            self.retransmissions += 1
            self._send(self.last_data)

    def _fire(self, name: str, now: float) -> None:
        if name == "G":
            if self.last_data is not None:
                self._send(self.last_data)
                self.retransmissions += 1
            self.interval = min(2 * self.interval, self.config.t2)
            self.timers["G"] = now + self.interval
        elif name == "H":
            self.tu.tx_timeout(self, now)
            self._terminate()
        else:  # I, J, L
            self._terminate()


def server_key(request: SipRequest) -> tuple[str, ...]:
    """Matching key of 17.2.3; RFC 2543 fallback when the branch lacks the magic cookie.

    With a magic-cookie branch the key also holds the Call-ID and the CSeq number, which a
    retransmission, the ACK of a non-2xx and a CANCEL all repeat: a different request that
    reuses a branch (a weak client, or RFC 4475's unkscm and novelsc sent one after the other)
    is then a new transaction, not a retransmission whose answer goes to another peer.
    """
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    if via.rfc3261_branch:
        return (via.branch or "", via.sent_by().lower(), method, request.call_id,
                str(request.cseq.seq))
    cseq = request.cseq
    return (
        "2543", request.call_id, request.from_.tag or "", str(cseq.seq), method,
        str(request.uri), str(via),
    )


def invite_key_for_cancel(cancel: SipRequest) -> tuple[str, ...]:
    """Key of the INVITE server transaction that a CANCEL names (same branch, method INVITE)."""
    via = cancel.top_via
    if via.rfc3261_branch:
        return (via.branch or "", via.sent_by().lower(), "INVITE", cancel.call_id,
                str(cancel.cseq.seq))
    cseq = cancel.cseq
    return ("2543", cancel.call_id, cancel.from_.tag or "", str(cseq.seq), "INVITE",
            str(cancel.uri), str(via))


def build_non2xx_ack(request: SipRequest, response: SipResponse) -> SipRequest:
    """ACK for a non-2xx final response: same Via/branch, To with the response's tag (17.1.1.3)."""
    headers = Headers()
    headers.add("Via", request.headers.get_list("via")[0])
    for name in ("Route",):
        for value in request.headers.get_all(name):
            headers.add(name, value)
    headers.add("Max-Forwards", "70")
    headers.add("From", request.headers.get("from") or "")
    headers.add("To", response.headers.get("to") or "")
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq.seq} ACK")
    return SipRequest("ACK", request.uri, headers)


def new_branch(token: str) -> str:
    return BRANCH_MAGIC + token


__all__ = [
    "ClientTransaction", "ServerTransaction", "TimerConfig", "Transaction", "TransactionUser",
    "Via", "build_non2xx_ack", "invite_key_for_cancel", "new_branch", "server_key",
]
