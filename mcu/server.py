"""The `mcu serve` process: one uvloop event loop hosting SIP, media and the room ticks.

A thin shell: SIP events go to the conference, which decides; RTP packets go to members;
each room's audio tick runs on a drift-free 20 ms schedule and its packets go out through
the members' RTP sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import signal
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import uvloop

import mcu
from mcu.admin import AdminService, AdminStartError, start_admin
from mcu.admission import (
    AdmissionController,
    Candidate,
    Degrade,
    Refuse,
    candidate_for,
    process_cpu_seconds,
)
from mcu.calls.control import DialError
from mcu.calls.media import Leg, MediaPlane
from mcu.calls.refusal import Refusal, Rejection
from mcu.conference.abuse import CallGuard
from mcu.conference.engine import Conference, Hangup
from mcu.conference.pin import parse_dtmf_info
from mcu.conference.room import Room
from mcu.conference.ticker import Ticker
from mcu.conference.video import VideoCap
from mcu.config import Config, load_config
from mcu.io.rtp_transport import PortRangeExhaustedError
from mcu.io.sip_transport import SipTransportShell, start_sip
from mcu.layout.compose import TileJob, render_tile
from mcu.log import event, setup_logging
from mcu.metrics import ConfigInfo, Exporter, ProtectionSnapshot, make_metrics, start_exporter
from mcu.observe import Observer
from mcu.plan.tiers import RESOLUTIONS
from mcu.sdp.address import check_addresses, with_addresses
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import (
    NegotiationError,
    NegotiationResult,
    create_offer,
    negotiate,
    process_answer,
)
from mcu.sdp.profiles import Profiles
from mcu.sdp.session import SdpParseError, SessionDescription, parse, serialize
from mcu.sip import events as ev
from mcu.sip.errors import SipError
from mcu.sip.ua import UaConfig, UserAgent
from mcu.sip.uri import SipUri
from mcu.tomlfile import ConfigError

log = logging.getLogger("mcu.server")

AUDIO_TICK = 0.020
HOUSEKEEPING_INTERVAL = 0.1
CONFIG_POLL_INTERVAL = 1.0
PUBLISH_INTERVAL = 1.0  # seconds between metrics snapshots
MEDIA_KINDS = ("audio", "video")
RESOLVE_TIMEOUT = 2.0  # s to resolve a host name in SDP; past it the stream waits for latching
REFUSAL_LOG_INTERVAL = 60.0  # s between two log lines about one address's refused calls


@dataclass(frozen=True)
class DialOut:
    """A call the MCU placed into a room (operator action or roster dial)."""

    room: str
    uri: str
    display_name: str
    offer: SessionDescription
    user_agent: str = ""
    inbound: bool = False  # an incoming INVITE without offer: we offered in the 200


class McuServer:
    def __init__(self, config: Config):
        self.config = config
        name = config.mcu.server.name
        limits = config.mcu.limits
        self.ua = UserAgent(UaConfig(user_agent=f"{name}/{mcu.__version__}",
                                     session_expires=config.mcu.sip.session_expires,
                                     max_message_bytes=limits.sip_message_bytes, max_headers=limits.sip_headers))
        self.conference = Conference(config)
        self.admission = AdmissionController.from_config(config)  # refuses joins past the CPU ceiling
        self.capabilities = Capabilities()
        self.profiles: Profiles = config.profiles
        self.call_guard = CallGuard(config.mcu.limits)
        self.refusals: Counter[str] = Counter()  # what the server refused, beyond the call guard's
        self._refusals_logged: dict[str, float] = {}  # address -> when we last logged a refusal
        self.media_plane = MediaPlane(config.mcu.rtp, self.conference, self.now,
                                on_timeout=lambda call_id: self.hangup(call_id, "media inactivity timeout"))
        self.calls: dict[str, Leg] = self.media_plane.legs  # every call's media, by call id
        self.sip: SipTransportShell | None = None
        # Compose and encode run here: PyAV and the _mix kernels release the GIL.
        self.pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="video")
        self.metrics = make_metrics(config.mcu.metrics.enabled)
        self.observer = Observer(self.metrics, config.mcu.video.fps, config.mcu.video.preset)
        self.metrics.set_snapshot_provider(self.observer.provider)
        self.exporter: Exporter | None = None
        self.registrations: dict[str, str] = {}  # registration id -> AOR
        self.admin: AdminService | None = None
        self.tickers: dict[str, Ticker] = {}  # "audio", "video": their schedules and late counts
        self._tick_counts: dict[str, tuple[int, int]] = {}  # kind -> (missed, total) at the last look
        self.reloads = 0
        self.reload_failures = 0
        self._config_mtimes: dict[str, float] = {}
        self.tick_errors = 0
        self._logged_errors: set[str] = set()
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.ua.clock = self._loop.time
        sip = self.config.mcu.sip
        listen = [(x.transport, x.host, x.port) for x in sip.listen]
        self.sip = await start_sip(self.ua, listen, sip.tls_cert or None, sip.tls_key or None,
                                   on_event=self.on_sip_event, advertise_host=sip.advertise or None,
                                   tcp_connections_per_address=self.config.mcu.limits.tcp_connections_per_address)
        for x in sip.listen:
            info = self.sip.transport_info(x.transport)
            event(log, "sip.listening", transport=x.transport, addr=f"{info.host}:{info.port}")
        self._register_rooms()
        rtp = self.config.mcu.rtp
        event(log, "rtp.ports", host=rtp.host, range=f"{rtp.port_min}-{rtp.port_max}")
        self.metrics.set_config_info(_config_info(self.config))
        metrics = self.config.mcu.metrics
        if metrics.enabled:
            self.exporter = start_exporter(self.metrics, metrics.host, metrics.port)
            event(log, "metrics.listening", url=f"http://{metrics.host}:{self.exporter.port}/metrics")
        self._tasks.append(asyncio.create_task(
            self._tick_rooms("audio", AUDIO_TICK, self._audio_room), name="audio-tick"))
        try:
            self.admin = await start_admin(self, self.config)  # logs admin.listening itself
        except AdminStartError as exc:
            # The meeting service runs without the control API rather than not at all.
            event(log, "admin.refused", logging.ERROR, error=str(exc))
        self._tasks.append(asyncio.create_task(
            self._tick_rooms("video", 1.0 / self.config.mcu.video.fps, self._video_room), name="video-tick"))
        self._tasks.append(asyncio.create_task(self._watch_config(), name="config-watch"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))

    async def stop(self) -> None:
        if self.admin is not None:
            await self.admin.stop()
        for call_id in list(self.calls):
            self.ua.hangup(call_id)
            self._end_call(call_id, "mcu stopping")
        if self.sip is not None:
            self.sip.transmit()
            await asyncio.sleep(0.05)  # let the BYEs leave
            await self.sip.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.exporter is not None:
            self.exporter.stop()
        self.pool.shutdown(wait=True)

    def now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    # ------------------------------------------------------------------ SIP events

    def _spawn(self, coro: Awaitable[None], on_failure: Callable[[], None]) -> None:
        """Run a call's handler; a bug in it fails that call alone (`on_failure` answers it with an
        error), logged once and counted."""
        async def guarded() -> None:
            try:
                await coro
            except Exception:  # noqa: BLE001 - one call's failure must not leave it hanging
                self._tick_error("call handler")
                self.conference.faults.totals["call handler"] += 1
                with contextlib.suppress(SipError):
                    on_failure()
                self._transmit()

        task = asyncio.ensure_future(guarded())
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    def _fail_call(self, call_id: str) -> None:
        try:
            self.ua.reject(call_id, 500, "Server Internal Error")
        finally:
            self._end_call(call_id, "internal error")

    def on_sip_event(self, e: ev.Event) -> None:
        if isinstance(e, ev.IncomingCall):
            self._spawn(self._incoming_call(e), lambda: self._fail_call(e.call_id))
        elif isinstance(e, ev.CallAnswered):
            self._answered(e)
        elif isinstance(e, ev.CallFailed):
            media = self.calls.get(e.call_id)
            if media is not None and media.dialled is not None:
                event(log, "call.dial_failed", logging.WARNING, uri=media.dialled.uri, status=e.status,
                      reason=e.reason)
            self._end_call(e.call_id, e.reason)
        elif isinstance(e, ev.CallEnded):
            self._end_call(e.call_id, e.reason)
        elif isinstance(e, ev.InfoReceived):
            digit = parse_dtmf_info(e.content_type or "", e.body)
            if digit is not None:
                self._apply(self.conference.digits(e.call_id, [digit], self.now()))
        elif isinstance(e, ev.ReInvite):
            self._spawn(self._reinvite(e), lambda: self.ua.reject(e.call_id, 500, "Server Internal Error"))
        elif isinstance(e, ev.UpdateReceived):
            self._spawn(self._update(e), lambda: self.ua.answer_update(e.call_id, 500, None, None))
        elif isinstance(e, ev.CallEstablished):
            self._established(e)
        elif isinstance(e, ev.RegistrationSucceeded):
            event(log, "sip.registered", aor=self.registrations.get(e.registration_id), expires=e.expires)
        elif isinstance(e, ev.RegistrationFailed):
            event(log, "sip.register_failed", logging.ERROR, aor=self.registrations.get(e.registration_id),
                  status=e.status, reason=e.reason)

    async def _incoming_call(self, e: ev.IncomingCall) -> None:
        source, now = e.remote_addr[0], self.now()
        abuse = self.call_guard.new_call(e.call_id, source, now)
        if abuse is not None:
            self._log_refusal(source, e, abuse.status, abuse.reason)
            self._reject(e.call_id, abuse.status, abuse.reason, abuse.retry_after)
            return
        rejection = self.conference.admission(e.request_user, source, now)
        if rejection is not None:
            if rejection.refusal is Refusal.PIN_LOCKOUT:
                self.refusals["pin lockout"] += 1
                self._log_refusal(source, e, rejection.status, rejection.reason)
            else:
                event(log, "call.rejected", room=e.request_user, status=rejection.status,
                      reason=rejection.reason, remote=_addr(e.remote_addr))
            self._refuse(e.call_id, rejection)
            return
        if e.body is None:
            await self._offer_in_answer(e)
            return
        media = Leg(e.call_id)
        self.calls[e.call_id] = media  # from here a CANCEL or BYE ends it (see the checks below)
        offer = await self._read_offer(e.body, f"call from {_addr(e.remote_addr)}")
        if e.call_id not in self.calls:
            return
        if isinstance(offer, Rejection):
            self.calls.pop(e.call_id, None)
            event(log, "call.rejected", room=e.request_user, status=offer.status, reason=offer.reason,
                  remote=_addr(e.remote_addr))
            self._refuse(e.call_id, offer)
            return
        try:
            ports = []
            for m in offer.media:
                if m.media in MEDIA_KINDS and m.media not in media.transports and m.port:
                    transport = await self.media_plane.open_rtp(media, m.media, m.has("rtcp-mux"))
                    media.transports[m.media] = transport
                    ports.append(transport.rtp_port)
                else:
                    ports.append(0)
        except PortRangeExhaustedError as exc:
            event(log, "rtp.ports_exhausted", logging.ERROR, error=str(exc))
            self.media_plane.close(media)
            self.calls.pop(e.call_id, None)
            self._reject(e.call_id, 503, "Out Of Media Ports")
            return
        if e.call_id not in self.calls:  # the caller gave up (CANCEL) while we opened sockets
            self.media_plane.close(media)
            return
        media.profile = profile = self.profiles.match(e.user_agent or "")
        result = negotiate(offer, self.capabilities, self._local_address(e), ports, profile)
        refusal = "No Common Media" if result.all_rejected else None
        if refusal is None and self._requires_encryption(e.request_user) and not result.encrypted:
            refusal = "Encryption Required"  # the room takes SRTP (RTP/SAVP with SDES keys) only
        if refusal is not None:
            event(log, "call.rejected", room=e.request_user, status=488, reason=refusal,
                  remote=_addr(e.remote_addr))
            self.media_plane.close(media)
            self.calls.pop(e.call_id, None)
            self._reject(e.call_id, 488, refusal)
            return
        video = self.config.mcu.video
        decision = self._admit(e, candidate_for(self.conference, e.from_uri, e.from_display or "", result,
                                                fps=video.fps, preset=video.preset))
        if decision is None:
            self.media_plane.close(media)
            self.calls.pop(e.call_id, None)
            return
        self.media_plane.apply(media, result)
        media.member = self.conference.join(
            e.call_id, e.request_user or "", result, display_name=e.from_display or e.from_uri,
            user_agent=e.user_agent or "", remote=_addr(e.remote_addr), now=self.now(), uri=e.from_uri,
            source=source, video_cap=decision if isinstance(decision, VideoCap) else None)
        self.ua.answer(e.call_id, 200, result.local_sdp.encode(), "application/sdp")
        self.call_guard.answered(e.call_id, self.now())
        self._transmit()

    def _admit(self, e: ev.IncomingCall, candidate: Candidate) -> VideoCap | bool | None:
        """The capacity model's word on a caller: None if refused (503 sent), else a VideoCap for
        a degraded join or True. Nothing awaits between this and the join, so calls cannot race
        past the ceiling together."""
        decision = self.admission.decide(self.conference, e.request_user or "", candidate)
        if isinstance(decision, Refuse):
            self.refusals["overload"] += 1
            event(log, "call.rejected", logging.WARNING, room=e.request_user, status=decision.status,
                  reason=decision.phrase, remote=_addr(e.remote_addr), admission=decision.reason,
                  predicted_cores=round(decision.predicted_cores, 2), limit_cores=round(decision.limit_cores, 2))
            self._reject(e.call_id, decision.status, decision.phrase, decision.retry_after)
            return None
        if isinstance(decision, Degrade):
            size = RESOLUTIONS.get(decision.tier) if decision.tier else None
            event(log, "call.degraded", room=e.request_user, remote=_addr(e.remote_addr), step=decision.step,
                  fps=decision.fps, tier=decision.tier)
            return VideoCap(int(decision.fps) if decision.fps else None, *(size or (None, None)))
        return True

    async def _read_offer(self, body: bytes, what: str) -> SessionDescription | Rejection:
        """The SDP of an offer, within the size limits and with every host name resolved
        (asynchronously: the loop never waits); or why it is refused."""
        try:
            offer = parse(body)
        except SdpParseError as exc:
            event(log, "call.bad_sdp", logging.WARNING, call=what, error=str(exc))
            return Rejection(Refusal.BAD_OFFER, "Bad SDP")
        limits = self.config.mcu.limits
        if len(offer.media) > limits.sdp_media:
            self.refusals["sdp size"] += 1
            return Rejection(Refusal.TOO_LARGE, f"More Than {limits.sdp_media} Media Sections")
        if len(offer.attributes) + sum(len(m.attributes) for m in offer.media) > limits.sdp_attributes:
            self.refusals["sdp size"] += 1
            return Rejection(Refusal.TOO_LARGE, f"More Than {limits.sdp_attributes} SDP Attributes")
        check = check_addresses(offer, self._media_ip_version)
        if check.fault is not None:
            event(log, "call.bad_media_address", logging.WARNING, call=what, reason=check.fault.reason)
            return Rejection(Refusal.BAD_MEDIA_ADDRESS, check.fault.reason)
        resolved = {}
        for name, version in check.names.items():
            address = await self._resolve(name, version)
            if address is None:
                event(log, "call.media_address_unresolved", logging.WARNING, call=what, host=name,
                      note="media goes to the address the site's packets come from")
            else:
                resolved[name] = address
        return with_addresses(offer, resolved)

    @property
    def _media_ip_version(self) -> int:
        """The IP version our RTP sockets speak (an offer of the other gets 488)."""
        return 6 if ":" in self.config.mcu.rtp.host else 4

    async def _resolve(self, name: str, version: int) -> str | None:
        """An address of host `name` (IPv4 or IPv6), or None when it does not resolve in time."""
        assert self._loop is not None
        family = socket.AF_INET6 if version == 6 else socket.AF_INET
        try:
            infos = await asyncio.wait_for(
                self._loop.getaddrinfo(name, None, family=family, type=socket.SOCK_DGRAM), RESOLVE_TIMEOUT)
        except (OSError, TimeoutError, UnicodeError):
            return None
        return str(infos[0][4][0]) if infos else None

    def _log_refusal(self, source: str, e: ev.IncomingCall, status: int, reason: str) -> None:
        """One log line per address per minute: a flood must not flood the log too."""
        now = self.now()
        if now - self._refusals_logged.get(source, -1e9) < REFUSAL_LOG_INTERVAL:
            return
        self._refusals_logged[source] = now
        event(log, "call.rejected", room=e.request_user, status=status, reason=reason,
              remote=_addr(e.remote_addr), note=f"further refusals of {source} logged once a minute")

    def _register_rooms(self) -> None:
        for reg in self.config.mcu.sip.register:
            password = ""
            if reg.password_file:
                password = (self.config.path.parent / reg.password_file).read_text(encoding="utf-8").strip()
            reg_id = self.ua.register(reg.aor, reg.registrar, reg.user or reg.aor, password, reg.expires)
            self.registrations[reg_id] = reg.aor
            event(log, "sip.registering", aor=reg.aor, registrar=reg.registrar)
        self._transmit()

    # ------------------------------------------------------------------ operator actions

    def hangup(self, call_id: str, reason: str) -> bool:
        """End a call from our side (BYE, or CANCEL/603 before it is up); False if unknown."""
        if call_id not in self.calls:
            return False
        event(log, "call.hangup", call_id=call_id, reason=reason)
        self.ua.hangup(call_id)
        self._end_call(call_id, reason)
        self._transmit()
        return True

    def has_call(self, call_id: str) -> bool:
        return call_id in self.calls

    def reload_config(self) -> list[str]:
        """Validate the config files again and apply them at the next tick; on error keep the
        running config and return the problems (file:line: key: message)."""
        try:
            config = load_config(self.config.path)
        except ConfigError as exc:
            problems = [str(i) for i in exc.issues]
            self.reload_failures += 1
            self.metrics.config_reload(False)
            event(log, "config.reload_failed", logging.ERROR, problems=len(problems), first=problems[0])
            return problems
        self.conference.apply_config(config)
        self.admission.reconfigure(config)
        self._apply_limits(config)
        self.media_plane.rtp = config.mcu.rtp  # the inactivity timeout of new legs
        self.profiles = config.profiles
        self.config = config
        self.reloads += 1
        self.metrics.config_reload(True)
        self.metrics.set_config_info(_config_info(config))
        self._config_mtimes = _mtimes(config)
        event(log, "config.reloaded", rooms=len(config.rooms))
        return []

    def _apply_limits(self, config: Config) -> None:
        """A reloaded [limits] section takes effect for the next call, message and request."""
        limits = config.mcu.limits
        self.call_guard.limits = limits
        self.ua.config.max_message_bytes, self.ua.config.max_headers = limits.sip_message_bytes, limits.sip_headers
        if self.sip is not None:
            self.sip.connection_limit.per_address = limits.tcp_connections_per_address
        if self.admin is not None and self.admin.http is not None:
            bucket = self.admin.http.rate_limit
            bucket.rate, bucket.burst = limits.admin_requests_per_second, limits.admin_burst

    async def _watch_config(self) -> None:
        """Reload when an operator saves a config file (polled: works on every filesystem)."""
        self._config_mtimes = _mtimes(self.config)
        while True:
            await asyncio.sleep(CONFIG_POLL_INTERVAL)
            if _mtimes(self.config) != self._config_mtimes:
                self._config_mtimes = _mtimes(self.config)
                self.reload_config()

    # ------------------------------------------------------------------ dial-out

    async def dial(self, room_number: str, uri: str, display_name: str = "") -> str:
        """Call `uri` into a room; returns the SIP call id. Raises DialError when it cannot start."""
        rejection = self.conference.admission(room_number)
        if rejection is not None:
            raise DialError(f"room {room_number}: {rejection.status} {rejection.reason}")
        if self._requires_encryption(room_number):
            raise DialError(f"room {room_number} requires encryption, and dial-out offers plain RTP")
        decision = self.admission.decide(self.conference, room_number,
                                         candidate_for(self.conference, uri, display_name, dialled=True))
        if isinstance(decision, Refuse):
            self.refusals["overload"] += 1
            raise DialError(f"room {room_number}: {decision.status} {decision.phrase} (predicted "
                            f"{decision.predicted_cores:.2f} cores, limit {decision.limit_cores:.2f}); "
                            f"try again in {decision.retry_after} s")
        media = Leg()
        try:
            for kind in MEDIA_KINDS:
                media.transports[kind] = await self.media_plane.open_rtp(media, kind, rtcp_mux=False)
        except PortRangeExhaustedError as exc:
            self.media_plane.close(media)
            raise DialError(str(exc)) from None
        local = self._advertised_address(_host_of(uri))
        site = self.conference.roster_site(uri, display_name)  # its profile shapes our offer
        media.profile = (self.profiles.named(site.profile) if site else None) or self.profiles.default
        offer = create_offer(self.capabilities, local,
                             [(kind, media.transports[kind].rtp_port) for kind in MEDIA_KINDS],
                             session_id=random.getrandbits(31), profile=media.profile)
        room = self.conference.rooms[room_number]
        try:
            call_id = self.ua.dial(uri, serialize(offer).encode(), "application/sdp", from_user=room_number,
                                   display_name=room.spec.name or None)
        except SipError as exc:
            self.media_plane.close(media)
            raise DialError(f"cannot dial {uri}: {exc}") from None
        media.call_id = call_id
        media.dialled = DialOut(room_number, uri, display_name or uri, offer)
        self.calls[call_id] = media
        self._transmit()
        event(log, "call.dialling", room=room_number, uri=uri, call_id=call_id)
        return call_id

    def _answered(self, e: ev.CallAnswered) -> None:
        media = self.calls.get(e.call_id)
        if media is None or media.dialled is None:
            return
        dialled = media.dialled
        try:
            result = process_answer(dialled.offer, parse(e.body or b""), self.capabilities)
        except (SdpParseError, NegotiationError) as exc:
            event(log, "call.bad_answer", logging.WARNING, uri=dialled.uri, error=str(exc))
            self.ua.hangup(e.call_id)
            self._end_call(e.call_id, "unusable SDP answer")
            self._transmit()
            return
        self.media_plane.apply(media, result)
        media.member = self.conference.join(
            e.call_id, dialled.room, result, display_name=dialled.display_name, user_agent=dialled.user_agent,
            remote=dialled.uri, now=self.now(), uri=dialled.uri)

    def _requires_encryption(self, room_number: str | None) -> bool:
        room = self.conference.rooms.get(room_number or "")
        return room is not None and room.spec.encryption == "required"

    async def _offer_in_answer(self, e: ev.IncomingCall) -> None:
        """An INVITE without an offer: our offer goes in the 200, the answer comes in the ACK."""
        if self._requires_encryption(e.request_user):  # our offers are plain RTP
            self._reject(e.call_id, 488, "Encryption Required")
            return
        if self._admit(e, candidate_for(self.conference, e.from_uri, e.from_display or "")) is None:
            return
        media = Leg(e.call_id)
        self.calls[e.call_id] = media
        try:
            for kind in MEDIA_KINDS:
                media.transports[kind] = await self.media_plane.open_rtp(media, kind, rtcp_mux=False)
        except PortRangeExhaustedError:
            self.media_plane.close(media)
            self.calls.pop(e.call_id, None)
            self._reject(e.call_id, 503, "Out Of Media Ports")
            return
        if e.call_id not in self.calls:  # cancelled meanwhile
            self.media_plane.close(media)
            return
        media.profile = self.profiles.match(e.user_agent or "")
        offer = create_offer(self.capabilities, self._local_address(e),
                             [(kind, media.transports[kind].rtp_port) for kind in MEDIA_KINDS],
                             session_id=random.getrandbits(31), profile=media.profile)
        media.dialled = DialOut(e.request_user or "", e.from_uri, e.from_display or e.from_uri, offer,
                                user_agent=e.user_agent or "", inbound=True)
        self.ua.answer(e.call_id, 200, serialize(offer).encode(), "application/sdp")
        self.call_guard.answered(e.call_id, self.now())
        self._transmit()

    def _established(self, e: ev.CallEstablished) -> None:
        self.call_guard.confirmed(e.call_id)
        media = self.calls.get(e.call_id)
        if media is not None and media.dialled is not None and media.dialled.inbound and media.member is None:
            if not e.body:
                self.hangup(e.call_id, "no SDP answer in the ACK")
                return
            self._answered(ev.CallAnswered(e.call_id, 200, e.body, e.content_type))

    async def _update(self, e: ev.UpdateReceived) -> None:
        """An UPDATE with a new offer (session refresh, codec or port change): answered like a re-INVITE."""
        result = await self._renegotiate(e.call_id, e.body)
        if e.call_id not in self.calls:
            return  # the call ended while we resolved
        if isinstance(result, Rejection):
            self.ua.answer_update(e.call_id, result.status, None, None)
        else:
            self.ua.answer_update(e.call_id, 200, result.local_sdp.encode(), "application/sdp")
        self._transmit()

    async def _reinvite(self, e: ev.ReInvite) -> None:
        media = self.calls.get(e.call_id)
        if e.body is None and media is not None and media.negotiation is not None:
            # A re-INVITE without an offer: offer the session as it is (our last SDP).
            self.ua.answer(e.call_id, 200, media.negotiation.local_sdp.encode(), "application/sdp")
            self._transmit()
            return
        result = await self._renegotiate(e.call_id, e.body)
        if e.call_id not in self.calls:
            return
        if isinstance(result, Rejection):
            self.ua.reject(e.call_id, result.status, result.reason)
        else:
            self.ua.answer(e.call_id, 200, result.local_sdp.encode(), "application/sdp")
        self._transmit()

    async def _renegotiate(self, call_id: str, body: bytes | None) -> NegotiationResult | Rejection:
        """A new offer in an existing call (hold, resume, codec or port change): the answer, or why not.
        A new codec, payload type or clock rate rebuilds the member's pipelines for that media."""
        media = self.calls.get(call_id)
        if media is None or media.negotiation is None or not body:
            return Rejection(Refusal.NO_COMMON_MEDIA, "Not Acceptable Here")
        offer = await self._read_offer(body, f"re-offer in {call_id}")
        media = self.calls.get(call_id)
        if isinstance(offer, Rejection) or media is None or media.negotiation is None:
            return offer if isinstance(offer, Rejection) else Rejection(Refusal.GONE, "Call Gone")
        ports = [media.transports[m.media].rtp_port if m.media in media.transports and m.port else 0
                 for m in offer.media]
        previous = media.negotiation.local
        host = previous.connection.host if previous.connection else "127.0.0.1"
        result = negotiate(offer, self.capabilities, host, ports, media.profile or self.profiles.default,
                           previous=previous)
        if result.all_rejected:
            return Rejection(Refusal.NO_COMMON_MEDIA, "No Common Media")
        member = media.member
        if member is not None and self._requires_encryption(member.room) and not result.encrypted:
            return Rejection(Refusal.ENCRYPTION_REQUIRED, "Encryption Required")  # no downgrade to plain RTP
        self.media_plane.apply(media, result)
        if member is not None:
            self.conference.renegotiated(member, result)
        return result

    def _end_call(self, call_id: str, reason: str) -> None:
        self.call_guard.ended(call_id)
        media = self.calls.pop(call_id, None)
        if media is None:
            return
        self.media_plane.close(media)
        self.conference.leave(call_id, reason)

    def _reject(self, call_id: str, status: int, reason: str, retry_after: int | None = None) -> None:
        headers = [("Retry-After", str(retry_after))] if retry_after is not None else None
        self.ua.reject(call_id, status, reason, headers=headers)
        self._transmit()

    def _refuse(self, call_id: str, rejection: Rejection) -> None:
        self._reject(call_id, rejection.status, rejection.reason, rejection.retry_after)

    def _apply(self, hangups: list[Hangup]) -> None:
        for hangup in hangups:
            event(log, "call.hangup", call_id=hangup.call_id, reason=hangup.reason)
            self.ua.hangup(hangup.call_id)
            self._end_call(hangup.call_id, hangup.reason)
        if hangups:
            self._transmit()

    def _transmit(self) -> None:
        if self.sip is not None:
            self.sip.transmit()

    def _local_address(self, e: ev.IncomingCall) -> str:
        return self._advertised_address(e.remote_addr[0])

    def _advertised_address(self, peer_host: str) -> str:
        """The address to put in SDP: configured, else the one that routes to the peer."""
        rtp = self.config.mcu.rtp
        if rtp.advertise:
            return rtp.advertise
        if rtp.host not in ("0.0.0.0", "::"):
            return rtp.host
        family = socket.AF_INET6 if ":" in peer_host else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((peer_host, 9))
                return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"

    # ------------------------------------------------------------------ ticks

    async def _tick_rooms(self, kind: str, period: float,
                          tick: Callable[[Room, float], Awaitable[None]]) -> None:
        """Run `tick` for every room with members on a drift-free schedule; a failing room is
        logged once and counted, and never stops the others."""
        ticker = self.tickers[kind] = Ticker(period, self.now())
        while True:
            await asyncio.sleep(max(0.0, ticker.next_deadline - self.now()))
            now = self.now()
            if not ticker.due(now):
                continue
            for room in list(self.conference.rooms.values()):
                if room.members:
                    try:
                        await tick(room, now)
                    except Exception:  # noqa: BLE001 - a bug in one room must not stop the others
                        self._tick_error(f"{kind} tick of room {room.number}")

    async def _audio_room(self, room: Room, now: float) -> None:
        started = time.perf_counter()
        for member, packet in room.audio_tick(now):
            self.media_plane.send(member, "audio", packet)
        self.metrics.observe_audio_tick(room.number, time.perf_counter() - started,
                                        late=self.tickers["audio"].last_was_late)

    def _tick_error(self, what: str) -> None:
        """Log a failing tick with its traceback once per kind, then only count it (no log flood)."""
        self.tick_errors += 1
        if what not in self._logged_errors:
            self._logged_errors.add(what)
            log.exception("tick.error", extra={"fields": {"what": what, "note": "logged once; counted after"}})

    async def _video_room(self, room: Room, now: float) -> None:
        """Compose and encode the room's views on the pool. A tile that fails to draw shows the
        site's name card; a view that fails to encode is dropped (its viewers get a fresh encoder
        and a keyframe next frame) and charged to its viewers; the other views go out."""
        loop = asyncio.get_running_loop()
        jobs = room.video_jobs(now)
        tiles, to_draw = room.tile_jobs(jobs)
        drawn = await asyncio.gather(*(loop.run_in_executor(self.pool, render_tile, t) for t in to_draw),
                                     return_exceptions=True)
        for i, (job, tile) in enumerate(zip(to_draw, drawn)):
            if isinstance(tile, BaseException):
                room.tile_failed(job.key.member, tile, now)
                drawn[i] = render_tile(TileJob(job.key, None))  # the name card: no picture involved
        room.keep_tiles(to_draw, drawn)  # type: ignore[arg-type]
        tiles.update((t.key, tile) for t, tile in zip(to_draw, drawn))  # type: ignore[misc]
        results = await asyncio.gather(*(
            loop.run_in_executor(self.pool, job.render, room.video.fit_mode, tiles) for job in jobs),
            return_exceptions=True)
        sent_at = self.now()
        for job, picture in zip(jobs, results):
            if isinstance(picture, BaseException):
                room.view_failed(job.encoder, picture, now)
                continue
            self.metrics.observe_compose(room.number, job.encoder.compose_seconds)
            self.metrics.observe_encode(room.number, job.encoder.view_id, job.encoder.encode_seconds)
            for member, packet in room.video_packets(job, picture, sent_at):
                self.media_plane.send(member, "video", packet)

    async def _housekeeping(self) -> None:
        """Timers of the conference and its members, every 100 ms; a failing step is logged once and
        counted, and never stops the loop (it keeps PIN entry, keyframes and timeouts going)."""
        next_publish = 0.0
        while True:
            asked = self.now()
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            now = self.now()
            self.metrics.observe_loop_lag(max(0.0, now - asked - HOUSEKEEPING_INTERVAL))
            publish = now >= next_publish
            if publish:
                next_publish = now + PUBLISH_INTERVAL
                video = self.tickers.get("video")
                try:
                    self.admission.sample(self.conference, now, process_cpu_seconds())
                    self.admission.falling_behind(self._late_fraction(), now)
                    self.observer.publish(self.conference, self.ua, now, video.skipped if video else 0,
                                          self._protection(now))
                except Exception:  # noqa: BLE001 - metrics must not stop the meeting
                    self._tick_error("metrics publish")
            for call_id in self.call_guard.unacknowledged(now):
                if call_id in self.calls:
                    self.refusals["no ack"] += 1
                    self.hangup(call_id, "no ACK within limits.answer_timeout")
            for media in list(self.calls.values()):
                try:
                    self.media_plane.housekeeping(media, now, publish)
                except Exception as exc:  # noqa: BLE001 - charged to that member alone
                    self.conference.faults.record(media.call_id, "housekeeping", now, exc)
            try:
                self._apply(self.conference.handle_timer(now))
            except Exception:  # noqa: BLE001
                self._tick_error("conference timers")


    def _late_fraction(self) -> float:
        """Share of video frame times skipped and of audio ticks late since the last call (the
        larger), while any room has members: the box falling behind its deadlines."""
        shares = []
        for kind, ticker in self.tickers.items():
            missed = ticker.skipped if kind == "video" else ticker.late
            total = ticker.ticks + (ticker.skipped if kind == "video" else 0)
            last = self._tick_counts.get(kind, (0, 0))
            self._tick_counts[kind] = (missed, total)
            if total > last[1]:
                shares.append((missed - last[0]) / (total - last[1]))
        return max(shares, default=0.0) if self.conference.members else 0.0

    def _protection(self, now: float) -> ProtectionSnapshot:
        faults, pins, admission = self.conference.faults, self.conference.pin_guard, self.admission.status
        return ProtectionSnapshot(
            faults=dict(faults.totals), fault_hangups=dict(faults.hangups),
            refusals=dict(self.call_guard.refusals + self.refusals + self.ua.counters.refusals
                          + (self.sip.refusals if self.sip else Counter())
                          + (self.admin.http.refusals if self.admin and self.admin.http else Counter())),
            room_pin_failures={number: 0 for number in self.conference.rooms} | pins.room_failures(now),
            pin_lockouts=pins.lockouts,
            pin_locked_addresses=pins.locked_addresses(now),
            unconfirmed_calls=self.call_guard.unconfirmed,
            predicted_cores=admission.predicted_cores if admission.enabled else None,
            measured_cores=admission.measured_cores,
            ceiling_cores=admission.ceiling_cores if admission.enabled else None,
            degraded=dict(admission.degraded))


def _config_files(config: Config) -> list[Path]:
    return [config.path, config.file("rooms"), config.file("endpoints"),
            config.path.parent / "layouts.toml", config.path.parent / "sites.toml"]


def _config_info(config: Config) -> ConfigInfo:
    digest = hashlib.sha256()
    for path in _config_files(config):
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"missing:" + str(path).encode())
    return ConfigInfo(str(config.path), digest.hexdigest()[:16])


def _mtimes(config: Config) -> dict[str, float]:
    out = {}
    for path in _config_files(config):
        try:
            out[str(path)] = path.stat().st_mtime
        except OSError:
            out[str(path)] = -1.0
    return out


def _host_of(uri: str) -> str:
    try:
        return SipUri.parse(uri).host_port()[0]
    except (SipError, ValueError):
        return "127.0.0.1"


def _addr(addr: tuple[str, int]) -> str:
    return f"{addr[0]}:{addr[1]}"


async def serve(config: Config, stop: asyncio.Event) -> None:
    event(log, "mcu.starting", server=config.mcu.server.name, config=str(config.path),
          rooms=len(config.rooms))
    server = McuServer(config)
    try:
        await server.start()
    except OSError as exc:
        event(log, "mcu.cannot_listen", logging.ERROR, error=str(exc),
              hint="another process holds the port, or the address is not on this machine")
        await server.stop()
        raise SystemExit(2) from None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, server.reload_config)
    event(log, "mcu.ready")
    await stop.wait()
    event(log, "mcu.stopping")
    await server.stop()


def run(config: Config) -> int:
    setup_logging(config.mcu.log.level, config.mcu.log.format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop)

    uvloop.run(main())
    event(log, "mcu.stopped")
    return 0
