"""The MCU at an H.323 gatekeeper ([h323.gatekeeper]), for the H.323 adapter of the call layer.

Registers every room number (dialedDigits) and the server name (h323-ID) through the sans-I/O RAS
core (mcu.h323.ras) on its UDP shell (mcu.io.ras_transport); asks admission (ARQ) for each call,
in and out, and disengages (DRQ) when it ends; a reload re-registers with the new rooms.

Degrades gracefully: while the MCU is not registered (no gatekeeper configured, none answering,
or one rejecting us) calls go ahead with no ARQ; an ARQ left unanswered lets its call go ahead
too. Only an ARJ refuses a call. The adapter calls `start`, `close`, `admit_incoming`,
`admit_dial` and `call_ended`; the server calls `reconfigure` on a reload.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING

from mcu.calls.control import DialError
from mcu.calls.refusal import Refusal, Rejection
from mcu.config import RAS_PORT, split_host_port
from mcu.h323 import h225, ras
from mcu.io.ras_transport import RasShell
from mcu.log import event

if TYPE_CHECKING:
    from mcu.calls.sip_adapter import CallHost
    from mcu.config import Config, GatekeeperSection
    from mcu.h323.call import H323Call
    from mcu.h323.events import IncomingCall

log = logging.getLogger("mcu.h323.ras")

Address = tuple[str, int]
URQ_GRACE = 2.0  # s the MCU waits, stopping, for the gatekeeper to confirm our URQ
ADMISSION_WAIT = 20.0  # s: a backstop; the core gives up on an ARQ after 15 s (5 s, 2 retries)
ANY_ADDRESS = ("", "0.0.0.0", "::")

# ARJ rejectReason -> the neutral refusal (the rest: the gatekeeper does not permit the call)
ARJ_NOT_FOUND = frozenset({"calledPartyNotRegistered", "incompleteAddress", "unallocatedNumber",
                           "noRouteToDestination", "aliasesInconsistent", "routeCallToSCN"})
ARJ_OVERLOAD = frozenset({"resourceUnavailable", "exceedsCallCapacity", "requestDenied",
                          "qosControlNotSupported"})


def refusal_of_arj(reason: str) -> Rejection:
    """How the call layer says a gatekeeper's ARJ (H.225.0 7.11.3 AdmissionRejectReason)."""
    if reason in ARJ_NOT_FOUND:
        refusal = Refusal.NOT_FOUND
    elif reason in ARJ_OVERLOAD:
        refusal = Refusal.OVERLOAD
    else:
        refusal = Refusal.LOCKED
    return Rejection(refusal, f"Gatekeeper Refused The Call ({reason})")


class H323Gatekeeper:
    """The MCU's registration at one gatekeeper (inactive if none is configured)."""

    def __init__(self, host: CallHost, config: Config, product: str, version: str) -> None:
        self.host = host
        self.settings: GatekeeperSection = config.mcu.h323.gatekeeper
        self.server_name = config.mcu.server.name
        self.vendor = h225.VendorInfo(product, version)
        self.shell: RasShell | None = None
        self._waiting: dict[bytes, asyncio.Future[ras.RasEvent | None]] = {}
        self._last_failure = ""

    @property
    def core(self) -> ras.RasEndpoint | None:
        return self.shell.core if self.shell is not None else None

    @property
    def registered(self) -> bool:
        return self.core is not None and self.core.registered

    def _aliases(self, config: Config) -> tuple[h225.Alias, ...]:
        return ras.mcu_aliases(tuple(config.rooms), self.server_name)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, call_signal: Address | None) -> None:
        """Open the RAS socket and register; any failure is logged and the MCU goes on without."""
        if not self.settings.address or call_signal is None:
            return
        loop = asyncio.get_running_loop()
        name, port = split_host_port(self.settings.address, RAS_PORT)
        try:
            infos = await loop.getaddrinfo(name, port, type=socket.SOCK_DGRAM)
            gatekeeper = (str(infos[0][4][0]), int(infos[0][4][1]))
        except (OSError, IndexError) as exc:
            event(log, "h323.gatekeeper_unresolved", logging.ERROR, gatekeeper=self.settings.address,
                  error=str(exc), hint="fix [h323.gatekeeper] address; H.323 runs without a gatekeeper")
            return
        bind = self.host.config.mcu.h323.host
        try:
            self.shell = await RasShell.open(bind, self.settings.ras_port, self._on_event)
        except OSError as exc:
            event(log, "h323.gatekeeper_cannot_bind", logging.ERROR, port=self.settings.ras_port,
                  error=str(exc), hint="another process holds the RAS port; H.323 runs without a gatekeeper")
            return
        self.shell.on_dropped = self._on_dropped
        # the addresses the gatekeeper must reach us at: the bound one, else the one routing to it
        local = bind if bind not in ANY_ADDRESS else self.host.advertised_address(gatekeeper[0])
        config = ras.RasConfig(
            gatekeeper, (local, call_signal[1]), (local, self.shell.address[1]),
            self._aliases(self.host.config), self.settings.gatekeeper_id or None,
            self.settings.time_to_live, self.settings.discover, self.vendor)
        self._metric(False)
        event(log, "h323.gatekeeper_registering", gatekeeper=f"{gatekeeper[0]}:{gatekeeper[1]}",
              ras=f"{local}:{self.shell.address[1]}", aliases=len(config.aliases))
        self.shell.run(ras.RasEndpoint(config))

    async def close(self) -> None:
        """URQ if registered (waits up to URQ_GRACE for the UCF), then closes the socket."""
        if self.shell is not None:
            await self.shell.close(URQ_GRACE)
            self.shell = None

    def reconfigure(self, config: Config) -> None:
        """A reloaded config: new or removed rooms mean a full registration with the new aliases."""
        if config.mcu.h323.gatekeeper != self.settings:
            event(log, "h323.gatekeeper_restart_needed", logging.WARNING,
                  hint="[h323.gatekeeper] changes take effect when the MCU restarts")
        self.server_name = config.mcu.server.name
        if self.shell is not None:
            aliases = self._aliases(config)
            self.shell.feed(lambda core, now: core.set_aliases(aliases, now))

    # ------------------------------------------------------------------ calls

    async def admit_incoming(self, core: H323Call | None, e: IncomingCall) -> Rejection | None:
        """ARQ (answerCall TRUE) for a Setup we are about to accept: a Rejection on ARJ."""
        if core is None:
            return None
        answer = await self._admission(core, answer_call=True, source=e.source_aliases,
                                       destination=e.destination_aliases, dest=self._call_signal())
        if isinstance(answer, ras.AdmissionRejected):
            event(log, "h323.gatekeeper_refused_call", call_id=f"h323-{core.call_id.hex()}",
                  reason=answer.reason)
            return refusal_of_arj(answer.reason)
        return None

    async def admit_dial(self, core: H323Call, destination: list[h225.Alias], target: Address) -> Address:
        """ARQ for a call we place: where to send its Setup (the ACF's address: the callee, or
        the gatekeeper if it routes calls). Raises DialError on ARJ."""
        source = [h225.Alias(h225.ALIAS_H323_ID, self.server_name)] if self.server_name else []
        answer = await self._admission(core, answer_call=False, source=source, destination=destination,
                                       dest=target)
        if isinstance(answer, ras.AdmissionRejected):
            raise DialError(f"the gatekeeper refused the call ({answer.reason})")
        if isinstance(answer, ras.AdmissionConfirmed):
            return answer.dest_call_signal_address
        return target

    def call_ended(self, core: H323Call | None) -> None:
        """DRQ for an admitted call that ended (nothing for calls the gatekeeper never saw)."""
        if core is None or self.shell is None:
            return
        waiting = self._waiting.pop(core.call_id, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)  # ended while its ARQ was out
        self.shell.feed(lambda ras_core, now: ras_core.disengage(core.call_id, now))

    async def _admission(self, core: H323Call, *, answer_call: bool, source: list[h225.Alias],
                         destination: list[h225.Alias], dest: Address | None) -> ras.RasEvent | None:
        """The core's answer to an ARQ (confirmed, rejected, timed out); None when no ARQ was
        sent (not registered) or the call ended first."""
        shell, ras_core = self.shell, self.core
        if shell is None or ras_core is None or not ras_core.registered:
            return None
        future: asyncio.Future[ras.RasEvent | None] = asyncio.get_running_loop().create_future()
        self._waiting[core.call_id] = future
        sent = ras_core.admit(core.call_id, core.conference_id, core.call_reference, answer_call=answer_call,
                              source_aliases=source, destination_aliases=destination,
                              now=shell.loop.time(), dest_call_signal_address=dest)
        shell.pump()
        if not sent:
            self._waiting.pop(core.call_id, None)
            return None
        try:
            return await asyncio.wait_for(future, ADMISSION_WAIT)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(core.call_id, None)

    def _call_signal(self) -> Address | None:
        core = self.core
        return core.config.call_signal_address if core is not None else None

    # ------------------------------------------------------------------ events of the core

    def _on_event(self, e: ras.RasEvent) -> None:
        if isinstance(e, (ras.AdmissionConfirmed, ras.AdmissionRejected, ras.AdmissionTimedOut)):
            if isinstance(e, ras.AdmissionTimedOut):
                event(log, "h323.gatekeeper_admission_timeout", logging.WARNING,
                      call_id=f"h323-{e.call_id.hex()}", note="no answer to the ARQ: the call goes ahead")
            future = self._waiting.get(e.call_id)
            if future is not None and not future.done():
                future.set_result(e)
        elif isinstance(e, ras.Registered):
            self._last_failure = ""
            self._metric(True)
            event(log, "h323.gatekeeper_registered", endpoint_id=e.endpoint_id,
                  gatekeeper_id=e.gatekeeper_id or "", time_to_live=e.time_to_live)
        elif isinstance(e, ras.RegistrationFailed):
            self._metric(False)
            # the same failure every RETRY_AFTER_FAILURE seconds is logged once at warning level
            level = logging.WARNING if e.reason != self._last_failure else logging.DEBUG
            self._last_failure = e.reason
            event(log, "h323.gatekeeper_registration_failed", level, gatekeeper=self.settings.address,
                  reason=e.reason, retry_in=e.retry_in, note="H.323 calls are taken without the gatekeeper")
        elif isinstance(e, ras.Unregistered):
            self._metric(False)
            event(log, "h323.gatekeeper_unregistered", logging.WARNING if e.by_gatekeeper else logging.INFO,
                  reason=e.reason, by_gatekeeper=e.by_gatekeeper)
        elif isinstance(e, ras.DisengageRequested):
            call_id = f"h323-{e.call_id.hex()}"
            event(log, "h323.gatekeeper_dropped_call", call_id=call_id, reason=e.reason)
            self.host.hangup(call_id, f"gatekeeper disengaged the call ({e.reason})")

    def _on_dropped(self, reason: str, count: int) -> None:
        self.host.metrics.ras_dropped(reason, count)
        event(log, "h323.ras_dropped", logging.DEBUG, reason=reason, count=count)

    def _metric(self, registered: bool) -> None:
        self.host.metrics.gatekeeper_registered(self.settings.address, registered)
