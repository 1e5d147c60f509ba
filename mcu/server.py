"""The `mcu serve` process: one uvloop event loop hosting signalling, media and the room ticks.

Wiring: the signalling adapters (SIP: mcu.calls.sip_adapter) produce calls; the neutral call
layer here screens them (abuse limits, room admission, the capacity model) and joins them to the
conference; their media runs on mcu.calls.media. Each room's audio tick runs on a drift-free
20 ms schedule, its video at the configured frame rate; housekeeping runs timers and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import uvloop

import mcu
from mcu.admin import AdminService, AdminStartError, start_admin
from mcu.admin.auth import load_token
from mcu.admission import (
    AdmissionController,
    Candidate,
    Degrade,
    Refuse,
    candidate_for,
    process_cpu_seconds,
)
from mcu.calls.alias import H323_SCHEME
from mcu.calls.content import ContentManager
from mcu.calls.control import DialError
from mcu.calls.h323_adapter import H323Calls
from mcu.calls.media import Leg, MediaPlane
from mcu.calls.refusal import Refusal, Rejection
from mcu.calls.sip_adapter import SipCalls
from mcu.cluster.node import ClusterNode, NodeHooks, Placement
from mcu.cluster.registry import NodeInfo, RosterSite
from mcu.conference.abuse import CallGuard
from mcu.conference.engine import Conference, Hangup
from mcu.conference.member import Member, MemberState
from mcu.conference.quota import TenantLoad, check_join, check_recording, tier_cap, use_fraction
from mcu.conference.room import Room
from mcu.conference.ticker import Ticker
from mcu.conference.video import VideoCap
from mcu.config import Config, load_config
from mcu.io.sip_transport import SipTransportShell
from mcu.layout.compose import TileJob, render_tile
from mcu.log import event, setup_logging
from mcu.media.frames import I420
from mcu.metrics import (
    ConfigInfo,
    Exporter,
    ProtectionSnapshot,
    TenantSnapshot,
    make_metrics,
    start_exporter,
)
from mcu.observe import Observer
from mcu.plan.tiers import RESOLUTIONS
from mcu.recording.manager import Recorder
from mcu.sdp.profiles import Profiles
from mcu.sip.errors import SipError
from mcu.sip.uri import SipUri
from mcu.tenants import PROVIDER_LABEL
from mcu.tomlfile import ConfigError
from mcu.usage.service import UsageService
from mcu.usage.store import StoreError

log = logging.getLogger("mcu.server")

AUDIO_TICK = 0.020
HOUSEKEEPING_INTERVAL = 0.1
CONFIG_POLL_INTERVAL = 1.0
PUBLISH_INTERVAL = 1.0  # seconds between metrics snapshots
CASCADE_REDIAL_DELAY = 1.0  # s before a dropped cascade link is dialled again
CASCADE_FINAL_REASONS = {"mcu stopping", "removed by operator"}  # ends of a link that are meant
REFUSAL_LOG_INTERVAL = 60.0  # s between two log lines about one address's refused calls


class McuServer:
    def __init__(self, config: Config):
        self.config = config
        self.conference = Conference(config)
        self.admission = AdmissionController.from_config(config)  # refuses joins past the CPU ceiling
        self.profiles: Profiles = config.profiles
        self.call_guard = CallGuard(config.mcu.limits)
        self.refusals: Counter[str] = Counter()  # what the server refused, beyond the call guard's
        self._refusals_logged: dict[str, float] = {}  # address -> when we last logged a refusal
        self.media_plane = MediaPlane(config.mcu.rtp, self.conference, self.now,
                                on_timeout=lambda call_id: self.hangup(call_id, "media inactivity timeout"))
        self.calls: dict[str, Leg] = self.media_plane.legs  # every call's media, by call id
        self.content = ContentManager(config, self.conference, self.calls, self.now)  # BFCP floors, content
        self.media_plane.content = self.content
        self.sip_calls = SipCalls(self, config, user_agent=f"{config.mcu.server.name}/{mcu.__version__}")
        self.h323_calls = H323Calls(self, config, config.mcu.server.name, mcu.__version__)
        self.adapters: dict[str, SipCalls | H323Calls] = {"sip": self.sip_calls, "h323": self.h323_calls}
        self.ua = self.sip_calls.ua
        self.sip: SipTransportShell | None = None
        # Compose and encode run here: PyAV and the _mix kernels release the GIL.
        self.pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="video")
        self.metrics = make_metrics(config.mcu.metrics.enabled)
        self.observer = Observer(self.metrics, config.mcu.video.fps, config.mcu.video.preset)
        self.metrics.set_snapshot_provider(self.observer.provider)
        self.exporter: Exporter | None = None
        # Recordings and live streams: room outputs whose encoders run on threads of their own.
        self.recorder = Recorder(config.mcu.recording, config.mcu.video.fps, config.mcu.audio.rate, self.now)
        self.recorder.auto_allowed = self.recording_quota  # record = "auto" within the tenant's quota
        self.admin: AdminService | None = None
        # Usage records (a journal on disk, the store on a writer thread) and tenant quotas.
        self.usage: UsageService | None = UsageService.from_config(config)
        self.quota_refusals: Counter[tuple[str, str]] = Counter()  # (tenant, quota) -> refused
        self.conference.on_join = self._joined
        self.tickers: dict[str, Ticker] = {}  # "audio", "video": their schedules and late counts
        self._tick_counts: dict[str, tuple[int, int]] = {}  # kind -> (missed, total) at the last look
        self.reloads = 0
        self.reload_failures = 0
        self._config_mtimes: dict[str, float] = {}
        self.tick_errors = 0
        self._logged_errors: set[str] = set()
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.cluster: ClusterNode | None = None  # [cluster]: a node behind a front door
        self.cascades: dict[str, str] = {}  # room -> the main node's URI this node's part is linked to

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.usage is not None:
            try:
                self.usage.start()  # replays what a crash left before any call comes in
            except (OSError, StoreError) as exc:
                event(log, "usage.off", logging.ERROR, error=str(exc),
                      hint="check [store] journal and url; the MCU runs without usage records")
                self.usage = None
        await self.content.start()  # first: SDP answers name its ports
        self.sip = await self.sip_calls.start(self.config)
        await self.h323_calls.start()
        rtp = self.config.mcu.rtp
        self.media_plane.start()
        if self.media_plane.shared is None:
            event(log, "rtp.ports", host=rtp.host, range=f"{rtp.port_min}-{rtp.port_max}")
        self.metrics.set_config_info(_config_info(self.config))
        metrics = self.config.mcu.metrics
        if metrics.enabled:
            self.exporter = start_exporter(self.metrics, metrics.host, metrics.port)
            event(log, "metrics.listening", url=f"http://{metrics.host}:{self.exporter.port}/metrics")
        self._tasks.append(asyncio.create_task(
            self._tick_rooms("audio", AUDIO_TICK, self._audio_room, self.media_plane.tick_reads.read_all),
            name="audio-tick"))
        try:
            self.admin = await start_admin(self, self.config)  # logs admin.listening itself
        except AdminStartError as exc:
            # The meeting service runs without the control API rather than not at all.
            event(log, "admin.refused", logging.ERROR, error=str(exc))
        self._tasks.append(asyncio.create_task(
            self._tick_rooms("video", 1.0 / self.config.mcu.video.fps, self._video_room), name="video-tick"))
        self._tasks.append(asyncio.create_task(self._content_tick(), name="content-tick"))
        self._tasks.append(asyncio.create_task(self._watch_config(), name="config-watch"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        if self.config.mcu.cluster.enabled:
            self.cluster = ClusterNode(self.config.mcu.cluster, NodeHooks(
                describe=self._node_info, active_rooms=self._active_rooms, rosters=self._rosters,
                redial=self._redial_roster, set_full=self._set_full))
            admin = self.config.mcu.admin
            if admin.enabled:
                try:
                    self.cluster.admin_token = load_token(getattr(admin, "token", ""), admin.token_file,
                                                          self.config.path.parent)
                except AdminStartError:
                    pass  # no token, no API: nothing to forward
            if self.metrics.registry is not None:
                self.metrics.registry.register(self.cluster.collector())
            self.cluster.start()

    async def stop(self) -> None:
        if self.cluster is not None:  # first: new calls to our rooms go to other nodes at once
            await self.cluster.stop()
        if self.admin is not None:
            await self.admin.stop()
        # first, so that recordings end as "mcu stopping" with the sites still in their side files
        # (files closed, bounded wait) rather than as rooms the hangups below empty
        self.recorder.close(self.conference.rooms)
        for call_id, leg in list(self.calls.items()):
            self.adapters[leg.protocol].hangup(call_id)
            self.end_call(call_id, "mcu stopping")
        await self.sip_calls.close()
        await self.h323_calls.close()
        await self.content.close()
        self.media_plane.stop()
        if self.usage is not None:
            await asyncio.to_thread(self.usage.stop)
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

    # ------------------------------------------------------------------ the neutral call layer

    def spawn(self, coro: Awaitable[None], on_failure: Callable[[], None]) -> None:
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
                self.sip_calls.transmit()

        task = asyncio.ensure_future(guarded())
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    # ------------------------------------------------------------------ operator actions

    def hangup(self, call_id: str, reason: str) -> bool:
        """End a call from our side (BYE, or CANCEL/603 before it is up); False if unknown."""
        if call_id not in self.calls:
            return False
        event(log, "call.hangup", call_id=call_id, reason=reason)
        self.adapters[self.calls[call_id].protocol].hangup(call_id)
        self.end_call(call_id, reason)
        self.sip_calls.transmit()
        return True

    def screen(self, call_id: str, room: str, source: str, remote: str) -> Rejection | None:
        """Before anything else of a new call from `source`: the abuse limits and the room's
        admission (unknown, locked, full, PIN lockout). None: go on."""
        now = self.now()
        rejection = self.call_guard.new_call(call_id, source, now) or self.conference.admission(room, source, now)
        if rejection is None:
            if self.usage is not None:
                self.usage.arriving(call_id)
            return None
        if rejection.refusal is Refusal.PIN_LOCKOUT:
            self.refusals["pin lockout"] += 1
        if rejection.retry_after is not None:  # abuse: one log line per address per minute
            if now - self._refusals_logged.get(source, -1e9) >= REFUSAL_LOG_INTERVAL:
                self._refusals_logged[source] = now
                event(log, "call.rejected", room=room, status=rejection.status, reason=rejection.reason,
                      remote=remote, note=f"further refusals of {source} logged once a minute")
        else:
            event(log, "call.rejected", room=room, status=rejection.status, reason=rejection.reason,
                  remote=remote)
        return rejection

    def admit(self, call_id: str, room: str, remote: str, candidate: Candidate) -> Rejection | VideoCap | None:
        """The capacity model's word on a caller about to join: a Rejection (503), a VideoCap for a
        degraded join, or None (admitted as it is). Nothing awaits between this and the join, so
        calls cannot race past the ceiling together."""
        quota = self._check_quota(room, remote)
        if quota is not None:
            return quota
        cap = self._tier_cap(room)
        decision = self.admission.decide(self.conference, room, candidate)
        if isinstance(decision, Refuse):
            self.refusals["overload"] += 1
            event(log, "call.rejected", logging.WARNING, room=room, status=decision.status,
                  reason=decision.phrase, remote=remote, admission=decision.reason,
                  predicted_cores=round(decision.predicted_cores, 2), limit_cores=round(decision.limit_cores, 2))
            return Rejection(Refusal.OVERLOAD, decision.phrase, decision.retry_after)
        if isinstance(decision, Degrade):
            size = RESOLUTIONS.get(decision.tier) if decision.tier else None
            event(log, "call.degraded", room=room, remote=remote, step=decision.step, fps=decision.fps,
                  tier=decision.tier)
            capped = VideoCap(int(decision.fps) if decision.fps else None, *(size or (None, None)))
            return _smaller(capped, cap)
        return cap

    # ------------------------------------------------------------------ tenants and quotas

    def tenant_load(self, tenant: str) -> TenantLoad:
        """The tenant's present sites (joined or keying a PIN) and the rooms that have them."""
        tenants = self.config.tenants
        sites, rooms = 0, set()
        for number, room in self.conference.rooms.items():
            present = sum(1 for m in room.members.values() if m.state is not MemberState.LEFT)
            if present and tenants.owner_name(number) == tenant:
                sites += present
                rooms.add(number)
        return TenantLoad(sites, frozenset(rooms))

    def _check_quota(self, room: str, remote: str) -> Rejection | None:
        """The room's tenant quota (concurrent sites, rooms) for one more site; None: within it."""
        owner = self.config.tenants.owner(room)
        if owner is None:
            return None
        refusal = check_join(owner.name, owner.quota, self.tenant_load(owner.name), room)
        if refusal is None:
            return None
        self.quota_refusals[(owner.name, refusal.quota)] += 1
        self.refusals["quota"] += 1
        event(log, "call.rejected", logging.WARNING, room=room, status=refusal.status, reason=refusal.phrase,
              remote=remote, tenant=owner.name, quota=refusal.quota, used=refusal.used, limit=refusal.limit)
        return Rejection(Refusal.QUOTA, refusal.phrase)

    def _tier_cap(self, room: str) -> VideoCap | None:
        owner = self.config.tenants.owner(room)
        size = tier_cap(owner.quota) if owner is not None else None
        return VideoCap(None, *size) if size is not None else None

    def recording_quota(self, room: str) -> str | None:
        """Why the room's tenant may not start a recording now (hours this month, disk), or None."""
        owner = self.config.tenants.owner(room)
        if owner is None or not (owner.quota.recording_hours or owner.quota.recording_disk_mb):
            return None
        hours = 0.0
        if self.usage is not None:
            hours = self.usage.recording_hours(owner.name)
        disk = sum(entry["bytes"] for entry in self.recorder.list_recordings()
                   if self.config.tenants.owner_name(entry["room"]) == owner.name)
        refusal = check_recording(owner.name, owner.quota, hours, disk)
        if refusal is None:
            return None
        self.quota_refusals[(owner.name, refusal.quota)] += 1
        event(log, "recording.refused", logging.WARNING, room=room, tenant=owner.name, quota=refusal.quota,
              used=refusal.used, limit=refusal.limit)
        return refusal.message

    def _joined(self, member: Member) -> None:
        if self.usage is None:
            return
        try:
            self.usage.joined(member, self.calls.get(member.call_id))
        except Exception:  # noqa: BLE001 - usage records must not break a join
            self._tick_error("usage record")

    def tenant_snapshots(self) -> list[TenantSnapshot]:
        out = []
        tenants = self.config.tenants
        for tenant in tenants.tenants:
            load = self.tenant_load(tenant.name)
            quota = tenant.quota
            out.append(TenantSnapshot(
                tenant.name, load.sites, len(load.rooms),
                {"sites": quota.sites, "rooms": quota.rooms, "recording_hours": quota.recording_hours,
                 "recording_disk_mb": quota.recording_disk_mb},
                use_fraction(quota, load),
                {q: n for (t, q), n in self.quota_refusals.items() if t == tenant.name}))
        if tenants:
            provider = self.tenant_load("")
            out.append(TenantSnapshot(PROVIDER_LABEL, provider.sites, len(provider.rooms), {}, {},
                                      {q: n for (t, q), n in self.quota_refusals.items() if t == PROVIDER_LABEL}))
        return out

    def answered(self, call_id: str) -> None:
        self.call_guard.answered(call_id, self.now())

    def confirmed(self, call_id: str) -> None:
        self.call_guard.confirmed(call_id)

    def count_refusal(self, reason: str) -> None:
        self.refusals[reason] += 1

    def requires_encryption(self, room_number: str | None) -> bool:
        room = self.conference.rooms.get(room_number or "")
        return room is not None and room.spec.encryption == "required"

    async def dial(self, room_number: str, uri: str, display_name: str = "", cascade: bool = False) -> str:
        """Call `uri` into a room; returns the call id. Raises DialError when it cannot start."""
        rejection = self.conference.admission(room_number) or self._check_quota(room_number, uri)
        if rejection is not None:
            raise DialError(f"room {room_number}: {rejection.status} {rejection.reason}")
        decision = self.admission.decide(self.conference, room_number,
                                         candidate_for(self.conference, uri, display_name, dialled=True))
        if isinstance(decision, Refuse):
            self.refusals["overload"] += 1
            raise DialError(f"room {room_number}: {decision.status} {decision.phrase} (predicted "
                            f"{decision.predicted_cores:.2f} cores, limit {decision.limit_cores:.2f}); "
                            f"try again in {decision.retry_after} s")
        if uri.lower().startswith(H323_SCHEME):
            call_id = await self.h323_calls.dial(room_number, uri, display_name)
        else:
            call_id = await self.sip_calls.dial(room_number, uri, display_name, cascade=cascade)
        if self.usage is not None:
            self.usage.dialling(call_id)
        return call_id

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
        if config.mcu.rtp.shared_port != self.media_plane.rtp.shared_port:
            event(log, "rtp.restart_needed", logging.WARNING,
                  hint="[rtp] shared_port changes take effect when the MCU restarts")
        self.media_plane.rtp = config.mcu.rtp  # the inactivity timeout of new legs
        self.h323_calls.gatekeeper.reconfigure(config)  # new rooms: registered at the gatekeeper
        self.recorder.reconfigure(config.mcu.recording, config.mcu.video.fps)
        self.content.reconfigure(config)  # floor policies; [bfcp] listeners and content_fps need a restart
        self.profiles = config.profiles
        self.config = config
        if self.usage is not None:
            self.usage.retenant(config.tenants.owner_name)
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

    # ------------------------------------------------------------------ cluster

    async def place(self, room: str, owner_failed: str = "") -> Placement | None:
        """In a cluster, where a new call to `room` goes (the registry's word); None: alone. A room
        cascaded up from here to its main node takes its local sites here."""
        if self.cluster is None:
            return None
        if room in self._cascaded_rooms():
            return Placement(True, note="")
        return await self.cluster.place(room, owner_failed)

    def _cascaded_rooms(self) -> set[str]:
        """Rooms whose members here reach the meeting through a cascade link up to its main node
        (also while a dropped link is dialled again); a part that empties ends its cascade."""
        for number in [n for n, room in self.conference.rooms.items() if n in self.cascades and not room.members]:
            del self.cascades[number]
        return set(self.cascades)

    def _active_rooms(self) -> set[str]:
        """Rooms this node hosts (claims in the registry): with members, not a cascaded part."""
        cascaded = self._cascaded_rooms()
        return {number for number, room in self.conference.rooms.items() if room.members and number not in cascaded}

    async def cascade(self, room: str, target: str) -> str:
        """Join this node's part of `room` to the main node as one SIP participant (isfocus):
        `target` is a SIP URI or a node id of the registry. Returns the link's call id."""
        uri = target
        if not target.lower().startswith(("sip:", "sips:")):
            info = await self.cluster.node_address(target) if self.cluster is not None else None
            if info is None or not info.sip:
                raise DialError(f"no node {target!r} in the registry (or it has no SIP address)")
            uri = str(replace(SipUri.parse(info.sip), user=room))
        event(log, "cascade.dialling", room=room, uri=uri)
        call_id = await self.dial(room, uri, f"cascade {target}", cascade=True)
        self.cascades[room] = uri
        return call_id

    def _node_info(self) -> NodeInfo:
        cluster, status = self.config.mcu.cluster, self.admission.status
        active = self._active_rooms()
        load = max(status.predicted_cores, status.measured_cores or 0.0)
        full = bool(cluster.max_rooms and len(active) >= cluster.max_rooms) or (
            status.enabled and load >= self.admission.limit(False))
        metrics = self.config.mcu.metrics
        return NodeInfo(
            cluster.node_id, sip=cluster.advertise_sip or self._sip_address(),
            admin=cluster.advertise_admin or (self.admin.url if self.admin else ""),
            metrics=f"{metrics.host}:{self.exporter.port}" if self.exporter else "",
            predicted_cores=status.predicted_cores, measured_cores=status.measured_cores or 0.0,
            ceiling_cores=status.ceiling_cores, rooms=len(active), members=len(self.conference.members),
            full=full)

    def _sip_address(self) -> str:
        """sip:host:port of the first UDP listener (the front door's dispatcher list names it)."""
        listens = self.config.mcu.sip.listen
        listen = next((lst for lst in listens if lst.transport == "udp"), listens[0] if listens else None)
        if listen is None:
            return ""
        host = self.config.mcu.sip.advertise or (listen.host if listen.host not in ("0.0.0.0", "::")
                                                 else "127.0.0.1")
        host = f"[{host}]" if ":" in host else host
        return f"sip:{host}:{listen.port}"

    def _rosters(self) -> dict[str, list[RosterSite]]:
        """Each active room's roster sites in it now: who a node taking the room over calls back."""
        layouts = self.config.layouts
        dialled = self.admin.context.dialled if self.admin and self.admin.context else {}
        out: dict[str, list[RosterSite]] = {}
        for number in self._active_rooms():
            room = self.conference.rooms[number]
            ids = {m.site_id for m in room.members.values() if m.site_id}
            ids |= {site for site, call_id in dialled.get(number, {}).items() if self.has_call(call_id)}
            sites = [layouts.site(i) for i in sorted(ids)]
            out[number] = [RosterSite(s.uri, s.name, s.id) for s in sites if s is not None]
        return out

    async def _redial_roster(self, number: str, sites: list[RosterSite]) -> None:
        """A room taken over from a dead node: call its roster sites that are not here yet."""
        room = self.conference.rooms.get(number)
        if room is None:
            return
        for site in sites:
            present = {m.site_id for m in room.members.values()}
            if site.site_id and site.site_id in present:
                continue
            try:
                call_id = await self.dial(number, site.uri, site.name)
            except DialError as exc:
                event(log, "cluster.redial_refused", logging.WARNING, room=number, uri=site.uri, error=str(exc))
                continue
            if site.site_id and self.admin is not None and self.admin.context is not None:
                self.admin.context.dialled.setdefault(number, {})[site.site_id] = call_id
            event(log, "cluster.redialled", room=number, uri=site.uri, call_id=call_id)

    def _set_full(self, full: bool) -> None:
        self.ua.unavailable = full

    # ------------------------------------------------------------------ dial-out

    def end_call(self, call_id: str, reason: str) -> None:
        self.call_guard.ended(call_id)
        media = self.calls.pop(call_id, None)
        if media is None:
            return
        if self.usage is not None:
            try:
                self.usage.ended(call_id, media, media.member, reason)  # its sockets' counters, before closing
            except Exception:  # noqa: BLE001 - usage records must not keep a call up
                self._tick_error("usage record")
        self.media_plane.close(media)
        try:
            self.content.left(call_id)
        except Exception:  # noqa: BLE001 - the call ends whatever its floor state
            self._tick_error("content leave")
        self.conference.leave(call_id, reason)
        if media.member is not None and media.member.cascade == "up" and reason not in CASCADE_FINAL_REASONS:
            self._redial_cascade(media.member.room, media.dialled.uri if media.dialled else "", reason)

    def _redial_cascade(self, room_number: str, uri: str, reason: str) -> None:
        """A dropped cascade link is dialled again while this node's part of the room has sites."""
        room = self.conference.rooms.get(room_number)
        if not uri or room is None or not room.members or self._loop is None:
            return
        event(log, "cascade.dropped", logging.WARNING, room=room_number, uri=uri, reason=reason,
              redial_in=CASCADE_REDIAL_DELAY)

        async def redial() -> None:
            await asyncio.sleep(CASCADE_REDIAL_DELAY)
            linked = any(m.cascade == "up" for m in room.members.values())
            if room.members and not linked and room_number in self._cascaded_rooms():
                try:
                    await self.dial(room_number, uri, f"cascade {uri}", cascade=True)
                except DialError as exc:
                    event(log, "cascade.redial_refused", logging.WARNING, room=room_number, error=str(exc))

        self.spawn(redial(), lambda: None)

    def apply(self, hangups: list[Hangup]) -> None:
        for hangup in hangups:
            event(log, "call.hangup", call_id=hangup.call_id, reason=hangup.reason)
            leg = self.calls.get(hangup.call_id)
            self.adapters[leg.protocol if leg else "sip"].hangup(hangup.call_id)
            self.end_call(hangup.call_id, hangup.reason)
        if hangups:
            self.sip_calls.transmit()

    def advertised_address(self, peer_host: str) -> str:
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
                          tick: Callable[[Room, float], Awaitable[None]],
                          before: Callable[[], None] | None = None) -> None:
        """Run `tick` for every room with members on a drift-free schedule; a failing room is
        logged once and counted, and never stops the others. `before` runs first on each tick
        (the audio tick reads the sockets whose packets wait for it)."""
        ticker = self.tickers[kind] = Ticker(period, self.now())
        while True:
            await asyncio.sleep(max(0.0, ticker.next_deadline - self.now()))
            now = self.now()
            if not ticker.due(now):
                continue
            if before is not None:
                try:
                    before()
                except Exception:  # noqa: BLE001 - the rooms still tick
                    self._tick_error(f"{kind} tick preparation")
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
        frame = room.frame_jobs(now)
        jobs, outputs = frame.views, frame.outputs
        tiles, to_draw = room.tile_jobs(jobs, outputs)
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
            *(loop.run_in_executor(self.pool, o.render, room.video.fit_mode, tiles) for o in outputs),
            return_exceptions=True)
        sent_at = self.now()
        for output, canvas in zip(outputs, results[len(jobs):]):
            if not isinstance(canvas, I420):  # it failed: the outputs miss this frame, the members do not
                room.output_errors += 1
                continue
            room.deliver_picture(output, canvas, now)
        for job, picture in zip(jobs, results):
            if isinstance(picture, BaseException):
                room.view_failed(job.encoder, picture, now)
                continue
            self.metrics.observe_compose(room.number, job.encoder.compose_seconds)
            self.metrics.observe_encode(room.number, job.encoder.view_id, job.encoder.encode_seconds)
            frames: dict[str, tuple[Member, list[bytes]]] = {}  # by call id: a viewer's packets, in order
            for member, packet in room.video_packets(job, picture, sent_at):
                frames.setdefault(member.call_id, (member, []))[1].append(packet)
            for member, packets in frames.values():
                self.media_plane.send_many(member, "video", packets)

    async def _content_tick(self) -> None:
        """Content frames at [bfcp] content_fps: each distinct encoding once, on the pool, sent to
        its receivers; a failing encode costs its receivers that frame, nothing else."""
        loop = asyncio.get_running_loop()
        ticker = Ticker(1.0 / self.config.mcu.bfcp.content_fps, self.now())
        while True:
            await asyncio.sleep(max(0.0, ticker.next_deadline - self.now()))
            now = self.now()
            if not ticker.due(now):
                continue
            try:
                jobs = self.content.frame_jobs(now)
                if not jobs:
                    continue
                results = await asyncio.gather(*(
                    loop.run_in_executor(self.pool, self.content.encode, encoding, picture, pts, force)
                    for _, encoding, picture, pts, force in jobs), return_exceptions=True)
                sent_at = self.now()
                for (rc, encoding, _, pts, _), result in zip(jobs, results):
                    if isinstance(result, BaseException):
                        self.content.errors["content encode"] += 1
                        rc.encodings.pop(encoding.config, None)  # a fresh encoder (and keyframe) next frame
                        continue
                    payloads, keyframe = result
                    self.content.deliver(rc, encoding, payloads, keyframe, pts, sent_at)
            except Exception:  # noqa: BLE001 - content must not stop the meeting
                self._tick_error("content tick")

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
                    self.metrics.rtp_unmatched(self.media_plane.take_unmatched())
                    self.recorder.measure_disk()
                    self.metrics.set_recordings(self.recorder.snapshot(self.conference.rooms))
                    self.metrics.set_tenants(self.tenant_snapshots())
                    if self.usage is not None:
                        self.usage.sample(self.conference.members, self.calls, set(self.recorder.recordings))
                except Exception:  # noqa: BLE001 - metrics must not stop the meeting
                    self._tick_error("metrics publish")
            try:
                self.recorder.housekeeping(self.conference.rooms, now)
            except Exception:  # noqa: BLE001 - recordings must not stop the meeting
                self._tick_error("recording housekeeping")
            for call_id in self.call_guard.unacknowledged(now):
                if call_id in self.calls:
                    self.refusals["no ack"] += 1
                    self.hangup(call_id, "no ACK within limits.answer_timeout")
            try:
                self.content.housekeeping(now, publish)
                if publish:
                    self.metrics.set_content(self.content.snapshot())
            except Exception:  # noqa: BLE001 - content must not stop the meeting
                self._tick_error("content housekeeping")
            for media in list(self.calls.values()):
                try:
                    self.media_plane.housekeeping(media, now, publish)
                except Exception as exc:  # noqa: BLE001 - charged to that member alone
                    self.conference.faults.record(media.call_id, "housekeeping", now, exc)
            try:
                self.apply(self.conference.handle_timer(now))
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
            degraded=dict(admission.degraded), admission_refusals=dict(admission.refusals))


def _smaller(capped: VideoCap, cap: VideoCap | None) -> VideoCap:
    """Admission's degraded picture, within the tenant's tier cap too."""
    if cap is None or cap.max_width is None or cap.max_height is None:
        return capped
    if capped.max_width is None or capped.max_height is None or \
            cap.max_width * cap.max_height < capped.max_width * capped.max_height:
        return VideoCap(capped.fps, cap.max_width, cap.max_height)
    return capped


def _config_files(config: Config) -> list[Path]:
    return [config.path, config.file("rooms"), config.file("endpoints"),
            config.path.parent / "layouts.toml", config.path.parent / "sites.toml", config.file("tenants")]


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
