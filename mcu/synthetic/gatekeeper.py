"""A test H.323 gatekeeper: the RAS messages of mcu.h323.rasmessages driven from the gatekeeper
side (no real gatekeeper is packaged for Debian 12). For tests only.

`GatekeeperCore` is sans-I/O: it answers GRQ, RRQ (full and keep-alive), URQ, ARQ and DRQ,
records every message it received, and can send URQ, IRQ and DRQ of its own. Policies make it
reject registrations or admissions, forget an endpoint, or fall silent. `GatekeeperServer` runs
it on a UDP socket in a thread, so that a test can keep it up across event loops and processes.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from mcu.h323 import rasmessages as rm
from mcu.h323.errors import RasDecodeError
from mcu.h323.h225 import Address

POLL_INTERVAL = 0.05  # s: how often the server thread looks at its stop flag


@dataclass
class Received:
    message: rm.RasMessage
    addr: Address
    at: float


@dataclass
class GatekeeperCore:
    """The gatekeeper's side of RAS, answering at once (no RIP)."""

    ras_address: Address
    gatekeeper_id: str = "test-gk"
    time_to_live: int | None = None  # None: grant what the endpoint asks
    reject_registration: str | None = None  # an RRJ/GRJ reason, e.g. "securityDenial"
    reject_admission: str | None = None  # an ARJ reason, e.g. "requestDenied"
    silent: bool = False  # receive and record, never answer
    received: list[Received] = field(default_factory=list)
    wire: list[tuple[Address, Address, bytes]] = field(default_factory=list)  # (src, dst, data)
    malformed: int = 0
    endpoints: dict[str, rm.RegistrationRequest] = field(default_factory=dict)  # by endpoint id
    _out: list[tuple[bytes, Address]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.wire.append((addr, self.ras_address, data))
        try:
            message = rm.decode_ras(data)
        except RasDecodeError:
            self.malformed += 1
            return
        self.received.append(Received(message, addr, now))
        if not self.silent:
            self._answer(message, addr)

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        for data, addr in out:
            self.wire.append((self.ras_address, addr, data))
        return out

    def of_kind(self, name: str) -> list[rm.RasMessage]:
        return [r.message for r in self.received if r.message.name == name]

    # ------------------------------------------------------------------ requests of ours

    def unregister(self, endpoint_id: str, addr: Address, reason: str = "maintenance") -> None:
        rrq = self.endpoints.pop(endpoint_id)
        self._send(rm.UnregistrationRequest(next(self._seq), rrq.call_signal_addresses, endpoint_id,
                                            self.gatekeeper_id, reason=reason), addr)

    def info_request(self, addr: Address, call_reference: int = 0) -> int:
        seq = next(self._seq)
        self._send(rm.InfoRequest(seq, call_reference), addr)
        return seq

    def drop_call(self, arq: rm.AdmissionRequest, addr: Address) -> None:
        self._send(rm.DisengageRequest(next(self._seq), arq.endpoint_id, arq.conference_id,
                                       arq.call_reference, rm.DRQ_FORCED, arq.call_id,
                                       self.gatekeeper_id, arq.answer_call), addr)

    def forget(self, endpoint_id: str) -> None:
        """As a restarted gatekeeper: the next keep-alive gets RRJ fullRegistrationRequired."""
        self.endpoints.pop(endpoint_id, None)

    # ------------------------------------------------------------------ answers

    def _send(self, message: rm.RasMessage, addr: Address) -> None:
        self._out.append((rm.encode_ras(message), addr))

    def _answer(self, m: rm.RasMessage, addr: Address) -> None:
        if isinstance(m, rm.GatekeeperRequest):
            if self.reject_registration:
                self._send(rm.GatekeeperReject(m.seq, self.reject_registration, self.gatekeeper_id), addr)
            else:
                self._send(rm.GatekeeperConfirm(m.seq, self.ras_address, self.gatekeeper_id), addr)
        elif isinstance(m, rm.RegistrationRequest):
            self._registration(m, addr)
        elif isinstance(m, rm.UnregistrationRequest):
            if m.endpoint_id in self.endpoints:
                del self.endpoints[m.endpoint_id]
                self._send(rm.UnregistrationConfirm(m.seq), addr)
            else:
                self._send(rm.UnregistrationReject(m.seq, "notCurrentlyRegistered"), addr)
        elif isinstance(m, rm.AdmissionRequest):
            if m.endpoint_id not in self.endpoints:
                self._send(rm.AdmissionReject(m.seq, "callerNotRegistered"), addr)
            elif self.reject_admission:
                self._send(rm.AdmissionReject(m.seq, self.reject_admission), addr)
            else:
                dest = m.dest_call_signal_address or self.endpoints[m.endpoint_id].call_signal_addresses[0]
                self._send(rm.AdmissionConfirm(m.seq, m.bandwidth, dest), addr)
        elif isinstance(m, rm.DisengageRequest):
            self._send(rm.DisengageConfirm(m.seq), addr)

    def _registration(self, m: rm.RegistrationRequest, addr: Address) -> None:
        if self.reject_registration:
            self._send(rm.RegistrationReject(m.seq, self.reject_registration, self.gatekeeper_id), addr)
            return
        if m.keep_alive:
            if m.endpoint_id not in self.endpoints:
                self._send(rm.RegistrationReject(m.seq, rm.RRJ_FULL_REGISTRATION_REQUIRED,
                                                 self.gatekeeper_id), addr)
                return
            endpoint_id = m.endpoint_id
        else:  # a full RRQ from a registered call signal address re-registers it (as GnuGk does)
            endpoint_id = next((ep for ep, r in self.endpoints.items()
                                if r.call_signal_addresses == m.call_signal_addresses), f"ep{next(self._ids)}")
            self.endpoints[endpoint_id] = m
        ttl = self.time_to_live or m.time_to_live
        self._send(rm.RegistrationConfirm(m.seq, m.call_signal_addresses, endpoint_id, self.gatekeeper_id,
                                          [] if m.keep_alive else m.aliases, ttl), addr)


class GatekeeperServer:
    """A GatekeeperCore on a UDP socket of 127.0.0.1, served by a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **policy: object) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(POLL_INTERVAL)
        self.address: Address = self.sock.getsockname()
        self.core = GatekeeperCore(self.address, **policy)  # type: ignore[arg-type]
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-gatekeeper", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.core.receive_datagram(data, (addr[0], addr[1]), time.monotonic())
                self._flush()

    def _flush(self) -> None:
        for data, addr in self.core.datagrams_to_send():
            self.sock.sendto(data, addr)

    def do(self, action: Callable[[GatekeeperCore], object]) -> object:
        """Runs `action` on the core (thread-safe) and sends what it produced."""
        with self.lock:
            result = action(self.core)
            self._flush()
            return result

    def of_kind(self, name: str) -> list[rm.RasMessage]:
        with self.lock:
            return self.core.of_kind(name)

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.core.received)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
