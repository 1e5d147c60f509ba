"""Prometheus metrics of the MCU: the one module that owns every metric name.

Two kinds of metric, so nothing in the media path waits for a scrape:

* events (`Metrics.sip_request`, `Metrics.observe_audio_tick`, ...) are counters and histograms
  that code calls directly; each call is a dict lookup plus a lock-protected add;
* state (rooms, members, views) is read at scrape time by `ConferenceCollector` from a
  `snapshot()` callable the conference provides, so a member's series vanish when it leaves.

`NullMetrics` has the same methods and does nothing (config `[metrics] enabled = false`).
`start_exporter()` serves `/metrics` from a daemon thread.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from mcu import __version__

# `_created` series double the count of every counter and histogram and no panel uses them.
disable_created_metrics()

log = logging.getLogger("mcu.metrics")

PREFIX = "mcu"
PROC_STATUS = "/proc/self/status"

KeyframeReason = Literal["periodic", "pli", "fir", "join"]
AuthKind = Literal["digest", "pin"]
MediaKind = Literal["audio", "video"]

KEYFRAME_REASONS: tuple[str, ...] = ("periodic", "pli", "fir", "join")
AUTH_KINDS: tuple[str, ...] = ("digest", "pin")
MEDIA_KINDS: tuple[str, ...] = ("audio", "video")

# Bucket bounds in seconds. An audio tick has a 20 ms budget; a 30 fps frame has 33 ms.
AUDIO_TICK_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.012, 0.016, 0.020, 0.030, 0.050)
COMPOSE_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.033, 0.050, 0.100)
ENCODE_BUCKETS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.033, 0.050, 0.100, 0.250)
LOOP_LAG_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.010, 0.020, 0.050, 0.100, 0.250, 1.0)


# --------------------------------------------------------------------------- snapshot values


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """One active room. `members` counts members (sites), not media streams."""

    room: str
    name: str
    members: int
    mode: str  # e.g. "voice-activated", "presentation", "lecture"
    layout: str  # name of the layout in use
    locked: bool


@dataclass(frozen=True, slots=True)
class MemberSnapshot:
    """One media stream (kind) of one member. Counters are totals since the member joined.

    `rtt_seconds` is None until an RTCP report gives it; no series is exposed then.
    `width`/`height` are 0 for audio. Frame and feedback fields are only exposed for video.
    """

    room: str
    member_id: str
    display_name: str
    user_agent: str
    kind: MediaKind
    codec: str
    width: int = 0
    height: int = 0
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    loss_fraction: float = 0.0  # 0..1, from the latest receiver report / our own reception
    cumulative_lost: int = 0  # RFC 3550 cumulative number of packets lost (can go down)
    jitter_seconds: float = 0.0
    rtt_seconds: float | None = None
    nack_in: int = 0
    nack_out: int = 0
    retransmitted: int = 0  # packets sent again for the member's NACKs
    pli_in: int = 0
    pli_out: int = 0
    fir_in: int = 0
    fir_out: int = 0
    decode_errors: int = 0
    frames_decoded: int = 0
    frames_dropped: int = 0
    seconds_since_last_packet: float = 0.0
    speaking: bool = False
    encrypted: bool = False  # every media line of the call is SRTP


@dataclass(frozen=True, slots=True)
class ViewSnapshot:
    """One distinct encoded picture (shared by `members_sharing` receivers)."""

    view_id: str
    room: str
    members_sharing: int
    width: int
    height: int
    codec: str
    fps_out: float
    bitrate_out: float  # bits per second, measured over the last seconds
    encoder_preset: str
    fps_target: float = 30.0


@dataclass(frozen=True, slots=True)
class ProtectionSnapshot:
    """What the MCU refused and survived: faults charged to members, abuse refusals, PIN guessing,
    and the capacity model's view of the load. Totals since the MCU started, except the gauges."""

    faults: Mapping[str, int] = field(default_factory=dict)  # reason -> faults of members
    fault_hangups: Mapping[str, int] = field(default_factory=dict)  # reason -> members hung up
    refusals: Mapping[str, int] = field(default_factory=dict)  # reason -> calls/requests refused
    room_pin_failures: Mapping[str, int] = field(default_factory=dict)  # room -> wrong PINs in window
    pin_lockouts: int = 0
    pin_locked_addresses: int = 0
    unconfirmed_calls: int = 0
    predicted_cores: float | None = None  # the capacity model's load of what runs now
    measured_cores: float | None = None  # the process's CPU over the last seconds
    ceiling_cores: float | None = None  # past this the MCU refuses new joins
    degraded: Mapping[str, int] = field(default_factory=dict)  # step -> joins admitted degraded
    admission_refusals: Mapping[str, int] = field(default_factory=dict)  # why the model refused


@dataclass(frozen=True, slots=True)
class ConferenceSnapshot:
    """What `snapshot()` returns: the whole conference at one instant."""

    rooms: Sequence[RoomSnapshot] = ()
    members: Sequence[MemberSnapshot] = ()
    views: Sequence[ViewSnapshot] = ()
    sip_dialogs: int = 0
    protection: ProtectionSnapshot = field(default_factory=ProtectionSnapshot)


@dataclass(frozen=True, slots=True)
class TenantSnapshot:
    """One tenant's use now (conf/tenants.toml): its series are bounded by the tenants configured."""

    tenant: str
    sites: int
    rooms: int
    quota: Mapping[str, float]  # limits (0: none), by quota
    use: Mapping[str, float]  # fraction of the bounded concurrent quotas in use
    refusals: Mapping[str, int]  # calls and recordings refused, by quota


class TenantsCollector(Collector):
    """The latest tenant snapshots as metric families (mcu_tenant_*, mcu_quota_refusals_total)."""

    def __init__(self) -> None:
        self.snapshot: Sequence[TenantSnapshot] = ()

    def collect(self) -> Iterator[Metric]:
        snaps = list(self.snapshot)
        sites = _gauge("tenant_sites", "Sites in the tenant's rooms now (joined or keying a PIN).", ["tenant"])
        rooms = _gauge("tenant_rooms", "The tenant's rooms with someone in them now.", ["tenant"])
        quota = _gauge("tenant_quota", "The tenant's quota limits (conf/tenants.toml; 0: no limit).",
                       ["tenant", "quota"])
        use = _gauge("tenant_quota_use_ratio", "Share of the tenant's concurrent quotas in use (1: full).",
                     ["tenant", "quota"])
        refused = _counter("quota_refusals", "Calls and recordings refused by a tenant quota, by tenant and quota.",
                           ["tenant", "quota"])
        for s in snaps:
            sites.add_metric([s.tenant], s.sites)
            rooms.add_metric([s.tenant], s.rooms)
            for name, value in s.quota.items():
                quota.add_metric([s.tenant, name], value)
            for name, value in s.use.items():
                use.add_metric([s.tenant, name], value)
            for name in QUOTA_NAMES:
                refused.add_metric([s.tenant, name], s.refusals.get(name, 0))
        yield from (sites, rooms, quota, use, refused)


QUOTA_NAMES: tuple[str, ...] = ("sites", "rooms", "tier", "recording_hours", "recording_disk")


@dataclass(frozen=True, slots=True)
class RecordingsSnapshot:
    """Recordings and live streams (mcu.recording.manager.Recorder.snapshot), taken on the loop
    once a second and read by the exporter's thread as one value. Byte and drop totals are per room
    since the MCU started, running outputs included."""

    active: int = 0
    streams_active: int = 0  # live now (connected to their ingest server)
    bytes_by_room: Mapping[str, int] = field(default_factory=dict)
    dropped_by_room: Mapping[str, int] = field(default_factory=dict)
    failures: Mapping[str, int] = field(default_factory=dict)  # reason -> recordings failed or refused
    encoder_fps: Mapping[str, float] = field(default_factory=dict)  # room -> frames encoded per second
    stream_states: Mapping[str, str] = field(default_factory=dict)  # room -> connecting/live/retrying
    stream_reconnects: Mapping[str, int] = field(default_factory=dict)
    disk_free_bytes: int | None = None
    disk_min_free_bytes: int = 0


RECORDING_FAILURE_REASONS: tuple[str, ...] = ("disk_full", "encoder", "write", "open", "refused_disk_low")
STREAM_STATES: tuple[str, ...] = ("connecting", "live", "retrying")


class RecordingCollector(Collector):
    """The latest `RecordingsSnapshot` as metric families."""

    def __init__(self) -> None:
        self.snapshot = RecordingsSnapshot()

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        active = _gauge("recordings_active", "Recordings being written now.", ())
        active.add_metric([], snap.active)
        yield active
        streams = _gauge("streams_active", "Live streams connected to their ingest server now.", ())
        streams.add_metric([], snap.streams_active)
        yield streams
        written = _counter("recording_bytes", "Encoded media bytes written by recordings, by room.", ROOM)
        for room, value in sorted(snap.bytes_by_room.items()):
            written.add_metric([room], value)
        yield written
        dropped = _counter("recording_frames_dropped",
                           "Frames a recording dropped because its encoder fell behind (its queue was "
                           "full), by room; the meeting is not slowed down for a recording.", ROOM)
        for room, value in sorted(snap.dropped_by_room.items()):
            dropped.add_metric([room], value)
        yield dropped
        failures = _counter("recording_failures",
                            "Recordings that stopped on an error (disk_full, encoder, write, open) or were "
                            "refused (refused_disk_low: below [recording] min_free_mb).", ("reason",))
        for reason in sorted(set(RECORDING_FAILURE_REASONS) | set(snap.failures)):
            failures.add_metric([reason], snap.failures.get(reason, 0))
        yield failures
        fps = _gauge("recording_encoder_fps", "Frames per second a recording's encoder wrote (5 s average).",
                     ROOM)
        for room, rate in sorted(snap.encoder_fps.items()):
            fps.add_metric([room], rate)
        yield fps
        state = _gauge("stream_state", "1 for the state each room's live stream is in.", ("room", "state"))
        for room, current in sorted(snap.stream_states.items()):
            for name in STREAM_STATES:
                state.add_metric([room, name], 1 if current == name else 0)
        yield state
        reconnects = _counter("stream_reconnects", "Times a live stream came up again after its server "
                                                   "dropped it.", ROOM)
        for room, value in sorted(snap.stream_reconnects.items()):
            reconnects.add_metric([room], value)
        yield reconnects
        if snap.disk_free_bytes is not None:
            free = _gauge("recording_disk_free_bytes", "Free space on the filesystem of [recording] dir.", ())
            free.add_metric([], snap.disk_free_bytes)
            yield free
            floor = _gauge("recording_disk_min_free_bytes",
                           "[recording] min_free_mb in bytes: no recording starts below it.", ())
            floor.add_metric([], snap.disk_min_free_bytes)
            yield floor


CONTENT_RESULTS: tuple[str, ...] = ("granted", "pending", "denied")


class ContentCollector(Collector):
    """Content sharing: who holds each room's floor, floor requests by result, BFCP messages
    dropped, and each content encoding's rate (from mcu.calls.content.ContentManager.snapshot)."""

    def __init__(self) -> None:
        self.snapshot: Mapping[str, Any] = {}

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        held = _gauge("content_floor_held", "1 while someone (a site or the operator's slides) holds the "
                                            "room's content floor.", ROOM)
        for room, value in sorted(snap.get("held", {}).items()):
            held.add_metric([room], value)
        yield held
        requests = _counter("content_floor_requests", "BFCP floor requests, by what became of them.", ("result",))
        counts = snap.get("requests", {})
        for result in sorted(set(CONTENT_RESULTS) | set(counts)):
            requests.add_metric([result], counts.get(result, 0))
        yield requests
        dropped = _counter("bfcp_dropped", "BFCP messages dropped (not BFCP, malformed, unknown conference, "
                                           "a TCP peer sending garbage), by reason; other sites go on.",
                           ("reason",))
        by_reason = snap.get("dropped", {})
        for reason in sorted(by_reason):
            dropped.add_metric([reason], by_reason[reason])
        if not by_reason:
            dropped.add_metric(["malformed"], 0)
        yield dropped
        fps = _gauge("content_fps", "Frames per second of each content encoding (5 s average).",
                     ("room", "encoding"))
        bitrate = _gauge("content_bitrate_bps", "Bit rate of each content encoding (5 s average).",
                         ("room", "encoding"))
        for (room, label), (rate, bps) in sorted(snap.get("encodings", {}).items()):
            fps.add_metric([room, label], rate)
            bitrate.add_metric([room, label], bps)
        yield fps
        yield bitrate


@dataclass(frozen=True, slots=True)
class BuildInfo:
    version: str = __version__
    python: str = field(default_factory=platform.python_version)
    pyav: str = field(default_factory=lambda: _package_version("av"))


@dataclass(frozen=True, slots=True)
class ConfigInfo:
    """The config in force: its main file and a digest of all files it loaded."""

    path: str
    digest: str


SnapshotProvider = Callable[[], ConferenceSnapshot]


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class MetricsError(Exception):
    """A misuse of the metrics API (bad reason or kind): a programming error in the caller."""


# --------------------------------------------------------------------------- scrape-time state


def _gauge(name: str, doc: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=list(labels))


def _counter(name: str, doc: str, labels: Sequence[str]) -> CounterMetricFamily:
    # CounterMetricFamily appends `_total` itself.
    return CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=list(labels))


ROOM = ("room",)
MEMBER = ("room", "member", "kind")
VIEW = ("room", "view")


class ConferenceCollector(Collector):
    """Turns a `ConferenceSnapshot` into metric families at every scrape."""

    def __init__(self, build: BuildInfo, provider: SnapshotProvider | None = None) -> None:
        self._build = build
        self._provider = provider
        self._config: ConfigInfo | None = None
        self._errors = 0
        self._last_duration = 0.0

    def set_provider(self, provider: SnapshotProvider | None) -> None:
        self._provider = provider

    def set_config(self, config: ConfigInfo) -> None:
        self._config = config

    def collect(self) -> Iterator[Metric]:
        yield InfoMetricFamily(f"{PREFIX}_build", "Version of the MCU and its media library.",
                               value={"version": self._build.version, "python": self._build.python,
                                      "pyav": self._build.pyav})
        if self._config is not None:
            yield InfoMetricFamily(f"{PREFIX}_config", "The configuration in force.",
                                   value={"path": self._config.path, "digest": self._config.digest})
        yield from _host_families()
        snap = self._take_snapshot()
        yield from _errors_families(self._errors, self._last_duration)
        if snap is None:
            return
        yield from _room_families(snap)
        yield from _protection_families(snap.protection)
        yield from _member_families(snap.members)
        yield from _view_families(snap.views)

    def _take_snapshot(self) -> ConferenceSnapshot | None:
        if self._provider is None:
            return None
        start = time.perf_counter()
        try:
            snap = self._provider()
        except Exception:  # a broken provider must not take the whole /metrics page down
            self._errors += 1
            log.exception("metrics.snapshot_failed")
            return None
        finally:
            self._last_duration = time.perf_counter() - start
        return snap


def _os_threads() -> int:
    """Threads of this process as the kernel counts them (codec threads included)."""
    try:
        with open(PROC_STATUS, encoding="ascii") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return threading.active_count()


def _host_families() -> Iterator[Metric]:
    threads = _gauge("process_threads", "OS threads of the MCU process.", ())
    threads.add_metric([], _os_threads())
    cpus = _gauge("host_cpus", "CPUs the MCU process may run on (capacity denominator).", ())
    cpus.add_metric([], _usable_cpus())
    yield from (threads, cpus)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _errors_families(errors: int, duration: float) -> Iterator[Metric]:
    c = _counter("metrics_snapshot_errors", "Scrapes where the conference snapshot raised.", ())
    c.add_metric([], errors)
    yield c
    g = _gauge("metrics_snapshot_duration_seconds", "Time taken by the last conference snapshot.", ())
    g.add_metric([], duration)
    yield g


def _room_families(snap: ConferenceSnapshot) -> Iterator[Metric]:
    rooms = _gauge("rooms", "Active rooms.", ())
    rooms.add_metric([], len(snap.rooms))
    members_total = _gauge("members", "Members (sites) in all rooms.", ())
    members_total.add_metric([], sum(r.members for r in snap.rooms))
    dialogs = _gauge("sip_dialogs_active", "Established SIP dialogs.", ())
    dialogs.add_metric([], snap.sip_dialogs)
    members = _gauge("room_members", "Members (sites) in the room.", ROOM)
    locked = _gauge("room_locked", "1 if the room is locked to new members.", ROOM)
    views = _gauge("room_views", "Distinct encoded pictures (encoders) of the room.", ROOM)
    info = InfoMetricFamily(f"{PREFIX}_room", "Name, mode and layout of the room.", labels=ROOM)
    views_per_room: dict[str, int] = {}
    for v in snap.views:
        views_per_room[v.room] = views_per_room.get(v.room, 0) + 1
    for r in snap.rooms:
        members.add_metric([r.room], r.members)
        locked.add_metric([r.room], 1 if r.locked else 0)
        views.add_metric([r.room], views_per_room.get(r.room, 0))
        info.add_metric([r.room], {"name": r.name, "mode": r.mode, "layout": r.layout})
    yield from (rooms, members_total, dialogs, members, locked, views, info)


FAULT_REASONS = ("audio decode", "audio encode", "video encode")  # always exposed, 0 until seen
REFUSAL_REASONS = ("call rate", "unconfirmed calls", "no ack", "pin lockout", "overload")


def _protection_families(p: ProtectionSnapshot) -> Iterator[Metric]:
    def by_reason(name: str, doc: str, values: Mapping[str, int], known: Sequence[str] = ()) -> Metric:
        family = _counter(name, doc, ("reason",))
        for reason in sorted(set(known) | set(values)):
            family.add_metric([reason], values.get(reason, 0))
        return family

    yield by_reason("faults", "Failures caught and charged to one member (its decoder, encoder, "
                    "socket, a kernel refusing its data), by reason; the others were not affected.",
                    p.faults, FAULT_REASONS)
    yield by_reason("fault_hangups", "Members hung up because their fault persisted, by reason.",
                    p.fault_hangups)
    yield by_reason("refusals", "Calls and requests refused by the abuse limits and the capacity "
                    "model ([limits], [admission]), by reason.", p.refusals, REFUSAL_REASONS)
    degraded = _counter("admission_degraded", "Joins admitted with a lower frame rate or picture "
                        "for their views (the capacity model's degrade steps), by step.", ("step",))
    for step in sorted({"fps", "tier"} | set(p.degraded)):
        degraded.add_metric([step], p.degraded.get(step, 0))
    yield degraded
    refused = _counter("admission_refusals", "Joins the capacity model refused, by reason: ceiling (the "
                       "model past the ceiling), reserve (kept for chair and roster), measured (the "
                       "measured load past it), behind (frames skipped or audio late now).", ("reason",))
    for reason in sorted({"ceiling", "reserve", "measured", "behind"} | set(p.admission_refusals)):
        refused.add_metric([reason], p.admission_refusals.get(reason, 0))
    yield refused
    pins = _gauge("room_pin_failures_window", "Wrong PINs keyed in the room within limits.pin_window "
                  "(a room under attack stands out).", ROOM)
    for room, count in sorted(p.room_pin_failures.items()):
        pins.add_metric([room], count)
    yield pins
    lockouts = _counter("pin_lockouts", "Source addresses locked out for too many wrong PINs.", ())
    lockouts.add_metric([], p.pin_lockouts)
    locked = _gauge("pin_locked_addresses", "Source addresses in their PIN lockout now.", ())
    locked.add_metric([], p.pin_locked_addresses)
    unconfirmed = _gauge("sip_unconfirmed_calls", "Incoming calls not yet confirmed by ACK.", ())
    unconfirmed.add_metric([], p.unconfirmed_calls)
    yield from (lockouts, locked, unconfirmed)
    for name, value, doc in (
            ("admission_predicted_cores", p.predicted_cores,
             "CPU cores the capacity model predicts for the meetings running now."),
            ("admission_measured_cores", p.measured_cores,
             "CPU cores the MCU process used over the last seconds (compare with the prediction)."),
            ("admission_ceiling_cores", p.ceiling_cores, "Predicted load past which new joins are refused.")):
        if value is not None:
            gauge = _gauge(name, doc, ())
            gauge.add_metric([], value)
            yield gauge


def _member_families(members: Iterable[MemberSnapshot]) -> Iterator[Metric]:
    info = InfoMetricFamily(f"{PREFIX}_member", "Display name and User-Agent of the member.",
                            labels=("room", "member"))
    media = InfoMetricFamily(f"{PREFIX}_member_media", "Negotiated codec and resolution.",
                             labels=MEMBER)
    pk_in = _counter("member_received_packets", "RTP packets received from the member.", MEMBER)
    pk_out = _counter("member_sent_packets", "RTP packets sent to the member.", MEMBER)
    by_in = _counter("member_received_bytes", "RTP payload bytes received from the member.", MEMBER)
    by_out = _counter("member_sent_bytes", "RTP payload bytes sent to the member.", MEMBER)
    loss = _gauge("member_loss_ratio", "Fraction of packets lost (0..1), latest interval.", MEMBER)
    lost = _gauge("member_lost_packets", "RFC 3550 cumulative number of packets lost.", MEMBER)
    jitter = _gauge("member_jitter_seconds", "RFC 3550 interarrival jitter.", MEMBER)
    rtt = _gauge("member_rtt_seconds", "Round-trip time from RTCP reports.", MEMBER)
    fb_in = _counter("member_rtcp_feedback_received",
                     "RTCP feedback received from the member by type.", (*MEMBER, "type"))
    fb_out = _counter("member_rtcp_feedback_sent",
                      "RTCP feedback sent to the member by type.", (*MEMBER, "type"))
    resent = _counter("member_retransmitted_packets", "RTP packets sent again for the member's NACKs.",
                      MEMBER)
    dec_err = _counter("member_decode_errors", "Frames the decoder refused.", MEMBER)
    decoded = _counter("member_decoded_frames", "Video frames decoded.", MEMBER)
    dropped = _counter("member_dropped_frames", "Video frames dropped (late or incomplete).", MEMBER)
    age = _gauge("member_last_packet_age_seconds", "Seconds since the last packet.", MEMBER)
    speaking = _gauge("member_speaking", "1 while the member is among the mixed speakers.", MEMBER)
    seen: set[tuple[str, str]] = set()
    for m in members:
        key = (m.room, m.member_id)
        if key not in seen:
            seen.add(key)
            info.add_metric(list(key), {"display_name": m.display_name, "user_agent": m.user_agent,
                                        "encrypted": "true" if m.encrypted else "false"})
        lv = [m.room, m.member_id, m.kind]
        media_value = {"codec": m.codec}
        if m.kind == "video":
            media_value["resolution"] = f"{m.width}x{m.height}"
        media.add_metric(lv, media_value)
        pk_in.add_metric(lv, m.packets_in)
        pk_out.add_metric(lv, m.packets_out)
        by_in.add_metric(lv, m.bytes_in)
        by_out.add_metric(lv, m.bytes_out)
        loss.add_metric(lv, m.loss_fraction)
        lost.add_metric(lv, m.cumulative_lost)
        jitter.add_metric(lv, m.jitter_seconds)
        if m.rtt_seconds is not None:
            rtt.add_metric(lv, m.rtt_seconds)
        dec_err.add_metric(lv, m.decode_errors)
        age.add_metric(lv, m.seconds_since_last_packet)
        if m.kind == "audio":
            speaking.add_metric(lv, 1 if m.speaking else 0)
        else:
            decoded.add_metric(lv, m.frames_decoded)
            dropped.add_metric(lv, m.frames_dropped)
            resent.add_metric(lv, m.retransmitted)
            for kind, rx, tx in (("nack", m.nack_in, m.nack_out), ("pli", m.pli_in, m.pli_out),
                                 ("fir", m.fir_in, m.fir_out)):
                fb_in.add_metric([*lv, kind], rx)
                fb_out.add_metric([*lv, kind], tx)
    yield from (info, media, pk_in, pk_out, by_in, by_out, loss, lost, jitter, rtt, fb_in, fb_out,
                resent, dec_err, decoded, dropped, age, speaking)


def _view_families(views: Iterable[ViewSnapshot]) -> Iterator[Metric]:
    info = InfoMetricFamily(f"{PREFIX}_view", "Codec, resolution and preset of the encoder.",
                            labels=VIEW)
    sharing = _gauge("view_members", "Members receiving this picture.", VIEW)
    fps = _gauge("view_output_frames_per_second", "Frames encoded per second, measured.", VIEW)
    target = _gauge("view_target_frames_per_second", "Frames per second the encoder aims at.",
                    VIEW)
    bitrate = _gauge("view_output_bits_per_second", "Encoded bitrate, measured.", VIEW)
    for v in views:
        lv = [v.room, v.view_id]
        info.add_metric(lv, {"codec": v.codec, "resolution": f"{v.width}x{v.height}",
                             "preset": v.encoder_preset})
        sharing.add_metric(lv, v.members_sharing)
        fps.add_metric(lv, v.fps_out)
        target.add_metric(lv, v.fps_target)
        bitrate.add_metric(lv, v.bitrate_out)
    yield from (info, sharing, fps, target, bitrate)


# --------------------------------------------------------------------------- events


class Metrics:
    """Every metric of one MCU process, in its own registry.

    Event methods are safe to call from any thread and never block on I/O. Labelled children
    are cached per label values because `labels()` validates and locks on every call.
    """

    def __init__(self, snapshot: SnapshotProvider | None = None, *,
                 build: BuildInfo | None = None, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.conference = ConferenceCollector(build or BuildInfo(), snapshot)
        reg.register(self.conference)
        self.recordings = RecordingCollector()
        reg.register(self.recordings)
        self.tenants = TenantsCollector()
        reg.register(self.tenants)
        self.content = ContentCollector()
        reg.register(self.content)
        if process:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)
        p = PREFIX
        self._sip_req = Counter(f"{p}_sip_requests", "SIP requests received, by method.",
                                ("method",), registry=reg)
        self._sip_resp = Counter(f"{p}_sip_responses",
                                 "SIP responses sent, by request method and status code.",
                                 ("method", "code"), registry=reg)
        self._auth_fail = Counter(f"{p}_auth_failures", "Failed digest authentications and PINs.",
                                  ("kind",), registry=reg)
        self._reloads = Counter(f"{p}_config_reloads", "Config reloads, by result.", ("result",),
                                registry=reg)
        self._reload_ok_ts = Gauge(f"{p}_config_last_reload_success_timestamp_seconds",
                                   "Unix time of the last successful config (re)load.",
                                   registry=reg)
        self._keyframes = Counter(f"{p}_view_keyframes_sent", "Keyframes encoded, by reason.",
                                  ("room", "view", "reason"), registry=reg)
        self._encode = Histogram(f"{p}_view_encode_duration_seconds",
                                 "Time to encode one frame of a view.", ("room", "view"),
                                 buckets=ENCODE_BUCKETS, registry=reg)
        self._tick = Histogram(f"{p}_audio_tick_duration_seconds",
                               "Time to mix and encode one 20 ms audio tick.", ("room",),
                               buckets=AUDIO_TICK_BUCKETS, registry=reg)
        self._late = Counter(f"{p}_audio_ticks_late", "Audio ticks that missed their deadline.",
                             ("room",), registry=reg)
        self._skipped = Counter(f"{p}_video_frames_skipped",
                                "Output frame times the video tick missed because the previous frame's "
                                "compose and encode took too long (every room misses them together).",
                                registry=reg)
        self._compose = Histogram(f"{p}_compose_duration_seconds",
                                  "Time to compose the pictures of a room for one frame.",
                                  ("room",), buckets=COMPOSE_BUCKETS, registry=reg)
        self._speaker = Counter(f"{p}_speaker_changes", "Changes of the active speaker.",
                                ("room",), registry=reg)
        self._joins = Counter(f"{p}_member_joins", "Members that joined the room.", ("room",),
                              registry=reg)
        self._leaves = Counter(f"{p}_member_leaves", "Members that left the room.", ("room",),
                               registry=reg)
        self._loop_lag = Histogram(f"{p}_event_loop_lag_seconds",
                                   "How late the event loop ran a timer.",
                                   buckets=LOOP_LAG_BUCKETS, registry=reg)
        self._gk_registered = Gauge(f"{p}_h323_gatekeeper_registered",
                                    "1 while the MCU is registered at its H.323 gatekeeper "
                                    "([h323.gatekeeper]), 0 while it is not (calls go on without); "
                                    "no series when none is configured.", ("gatekeeper",),
                                    registry=reg)
        self._ras_dropped = Counter(f"{p}_h323_ras_dropped",
                                    "RAS datagrams ignored, by reason (malformed, unknown sender, "
                                    "an answer to no request of ours).", ("reason",), registry=reg)
        self._h323_violations = Counter(f"{p}_h323_protocol_violations",
                                        "H.323 call-signalling and H.245 input that broke the protocol "
                                        "(malformed or truncated PDU, bad TPKT, unknown call reference, "
                                        "an input that failed its call), by reason; the message is "
                                        "dropped or its call released, the other calls go on.",
                                        ("reason",), registry=reg)
        self._rtp_unmatched = Counter(f"{p}_rtp_unmatched",
                                      "Datagrams on the shared media port ([rtp] shared_port) from a "
                                      "source no call expected (or several did): dropped.", registry=reg)
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}
        self._lock = threading.Lock()
        for kind in AUTH_KINDS:  # known label values start at 0, so rate() and panels have data
            self._auth_fail.labels(kind)
        for result in ("success", "failure"):
            self._reloads.labels(result)
        self._room_metrics = (self._keyframes, self._encode, self._tick, self._late,
                              self._compose, self._speaker, self._joins, self._leaves)

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            with self._lock:
                child = metric.labels(*labels)
                self._children[key] = child
        return child

    # -- wiring

    def set_snapshot_provider(self, snapshot: SnapshotProvider | None) -> None:
        self.conference.set_provider(snapshot)

    def set_config_info(self, info: ConfigInfo) -> None:
        self.conference.set_config(info)

    # -- SIP and security

    def sip_request(self, method: str) -> None:
        self._child(self._sip_req, method).inc()

    def sip_response(self, method: str, code: int) -> None:
        self._child(self._sip_resp, method, str(code)).inc()

    def auth_failure(self, kind: AuthKind = "digest") -> None:
        if kind not in AUTH_KINDS:
            raise MetricsError(f"auth failure kind {kind!r} is not one of {AUTH_KINDS}")
        self._child(self._auth_fail, kind).inc()

    def config_reload(self, ok: bool) -> None:
        self._child(self._reloads, "success" if ok else "failure").inc()
        if ok:
            self._reload_ok_ts.set(time.time())

    # -- rooms and members

    def member_joined(self, room: str) -> None:
        self._child(self._joins, room).inc()
        self._child(self._leaves, room)  # the room's other counters start at 0 from now on
        self._child(self._speaker, room)

    def member_left(self, room: str) -> None:
        self._child(self._leaves, room).inc()

    def speaker_change(self, room: str) -> None:
        self._child(self._speaker, room).inc()

    def forget_room(self, room: str) -> None:
        """Drop the event series of a room that closed (its snapshot series go by themselves)."""
        with self._lock:
            for key in [k for k in self._children if k[1] and k[1][0] == room
                        and k[0] in self._room_metrics]:
                metric, labels = key
                del self._children[key]
                metric.remove(*labels)  # type: ignore[attr-defined]

    def forget_view(self, room: str, view_id: str) -> None:
        """Drop the event series of a view whose encoder was closed."""
        with self._lock:
            for key in [k for k in self._children if k[1][:2] == (room, view_id)
                        and k[0] in (self._keyframes, self._encode)]:
                metric, labels = key
                del self._children[key]
                metric.remove(*labels)  # type: ignore[attr-defined]

    # -- media loop

    def keyframe_sent(self, room: str, view_id: str, reason: KeyframeReason) -> None:
        if reason not in KEYFRAME_REASONS:
            raise MetricsError(f"keyframe reason {reason!r} is not one of {KEYFRAME_REASONS}")
        child = self._children.get((self._keyframes, (room, view_id, reason)))
        if child is None:
            for other in KEYFRAME_REASONS:  # all reasons of a new view start at 0
                self._child(self._keyframes, room, view_id, other)
            child = self._child(self._keyframes, room, view_id, reason)
        child.inc()

    def observe_audio_tick(self, room: str, seconds: float, late: bool = False) -> None:
        self._child(self._tick, room).observe(seconds)
        late_ticks = self._child(self._late, room)  # created on the first tick, so it reads 0
        if late:
            late_ticks.inc()

    def observe_compose(self, room: str, seconds: float) -> None:
        self._child(self._compose, room).observe(seconds)

    def observe_encode(self, room: str, view_id: str, seconds: float) -> None:
        self._child(self._encode, room, view_id).observe(seconds)

    def observe_loop_lag(self, seconds: float) -> None:
        self._loop_lag.observe(seconds)

    def video_frames_skipped(self, count: int) -> None:
        if count > 0:
            self._skipped.inc(count)

    # -- H.323 gatekeeper (RAS)

    def gatekeeper_registered(self, gatekeeper: str, registered: bool) -> None:
        self._gk_registered.labels(gatekeeper).set(1 if registered else 0)

    def ras_dropped(self, reason: str, count: int = 1) -> None:
        if count > 0:
            self._child(self._ras_dropped, reason).inc(count)

    def h323_violation(self, reason: str) -> None:
        self._child(self._h323_violations, reason).inc()

    def rtp_unmatched(self, count: int) -> None:
        if count > 0:
            self._rtp_unmatched.inc(count)

    def set_recordings(self, snapshot: RecordingsSnapshot) -> None:
        self.recordings.snapshot = snapshot

    def set_tenants(self, snapshots: Sequence[TenantSnapshot]) -> None:
        self.tenants.snapshot = tuple(snapshots)

    def set_content(self, snapshot: Mapping[str, Any]) -> None:
        self.content.snapshot = snapshot


class NullMetrics:
    """`Metrics` switched off: the same methods, doing nothing."""

    registry: CollectorRegistry | None = None

    def set_snapshot_provider(self, snapshot: SnapshotProvider | None) -> None:
        pass

    def set_config_info(self, info: ConfigInfo) -> None:
        pass

    def sip_request(self, method: str) -> None:
        pass

    def sip_response(self, method: str, code: int) -> None:
        pass

    def auth_failure(self, kind: AuthKind = "digest") -> None:
        pass

    def config_reload(self, ok: bool) -> None:
        pass

    def member_joined(self, room: str) -> None:
        pass

    def member_left(self, room: str) -> None:
        pass

    def speaker_change(self, room: str) -> None:
        pass

    def forget_room(self, room: str) -> None:
        pass

    def forget_view(self, room: str, view_id: str) -> None:
        pass

    def keyframe_sent(self, room: str, view_id: str, reason: KeyframeReason) -> None:
        pass

    def observe_audio_tick(self, room: str, seconds: float, late: bool = False) -> None:
        pass

    def observe_compose(self, room: str, seconds: float) -> None:
        pass

    def observe_encode(self, room: str, view_id: str, seconds: float) -> None:
        pass

    def observe_loop_lag(self, seconds: float) -> None:
        pass

    def video_frames_skipped(self, count: int) -> None:
        pass

    def gatekeeper_registered(self, gatekeeper: str, registered: bool) -> None:
        pass

    def ras_dropped(self, reason: str, count: int = 1) -> None:
        pass

    def h323_violation(self, reason: str) -> None:
        pass

    def rtp_unmatched(self, count: int) -> None:
        pass

    def set_recordings(self, snapshot: RecordingsSnapshot) -> None:
        pass

    def set_tenants(self, snapshots: Sequence[TenantSnapshot]) -> None:
        pass

    def set_content(self, snapshot: Mapping[str, Any]) -> None:
        pass


AnyMetrics = Metrics | NullMetrics


def make_metrics(enabled: bool, snapshot: SnapshotProvider | None = None) -> AnyMetrics:
    """`Metrics` or `NullMetrics` as the config's `[metrics] enabled` says."""
    return Metrics(snapshot) if enabled else NullMetrics()


# --------------------------------------------------------------------------- exporter


class Exporter:
    """A running `/metrics` HTTP server; call it (or `stop()`) to shut it down."""

    def __init__(self, host: str, port: int, stop: Callable[[], None]) -> None:
        self.host = host
        self.port = port
        self._stop = stop

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        self._stop()

    __call__ = stop


def start_exporter(metrics: AnyMetrics, host: str, port: int) -> Exporter:
    """Serve `metrics` at http://host:port/metrics (port 0: any free port) from a daemon thread.

    With `NullMetrics` nothing is started and the returned stop does nothing.
    """
    if metrics.registry is None:
        return Exporter(host, port, lambda: None)
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    done = threading.Event()

    def stop() -> None:
        if done.is_set():
            return
        done.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5.0)

    return Exporter(host, server.server_port, stop)
