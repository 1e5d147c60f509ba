"""Usage records of the running MCU: the loop-side shell between the calls and the store.

The server tells it when a call arrives or is dialled, joins a room and ends; it keeps a record per
open call and per open meeting, writes each open and close to the journal at once (flushed; the
writer thread fsyncs it) and hands closed records to the writer thread for the store. Once a second
(`sample`) it averages the audio jitter of open calls and counts recording time; every
PROGRESS_INTERVAL seconds it writes the counters of open calls to the journal, so a record closed
by a restart carries them up to then.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcu.log import event
from mcu.usage.journal import ROTATE_BYTES, Journal, replay, set_aside
from mcu.usage.records import CallRecord, MeetingRecord
from mcu.usage.statement import PROVIDER_LABEL, month_bounds, statement, statement_doc
from mcu.usage.store import Store, open_store
from mcu.usage.writer import Batch, StoreWriter

if TYPE_CHECKING:
    from mcu.calls.media import Leg
    from mcu.conference.member import Member
    from mcu.config import Config

log = logging.getLogger("mcu.usage")

PROGRESS_INTERVAL = 10.0  # seconds between journal lines of an open call's counters
PENDING_SECONDS = 300.0  # a call screened or dialled that neither joined nor ended by then is forgotten
RTP_HEADER = 12  # bytes: what a packet adds to its payload octets (RFC 3550 SR counts payload)
ENDED = "ended"


def tier_of_size(width: int, height: int) -> str:
    pixels = width * height
    for tier, (w, h) in (("sd360", (640, 360)), ("hd720", (1280, 720))):
        if pixels <= w * h:
            return tier
    return "fhd1080"


def measure(leg: Leg | None, member: Member | None) -> dict[str, Any]:
    """A call's counters now: bytes and packets each way, loss, codecs, resolution."""
    out: dict[str, Any] = {}
    if leg is not None:
        counters = [t.counters for t in leg.transports.values()]
        out["bytes_in"] = sum(c.rtp_bytes for c in counters)
        out["packets_in"] = sum(c.rtp_packets for c in counters)
    if member is None:
        return out
    packets = octets = 0
    if member.audio_out is not None:
        packets += member.audio_out.packet_count
        octets += member.audio_out.octet_count
    if member.video_out is not None:
        packets += member.video_out.out.packet_count
        octets += member.video_out.out.octet_count
    out["packets_out"] = packets
    out["bytes_out"] = octets + RTP_HEADER * packets
    if member.audio_format is not None:
        out["audio_codec"] = member.audio_format.name
    if member.audio_in is not None:
        stats = member.audio_in.jitter.stats
        expected = stats.received + stats.lost
        out["loss"] = round(stats.lost / expected, 5) if expected else 0.0
    if member.video_in is not None:
        out["video_codec"] = member.video_in.codec
    if member.video_out is not None:
        config = member.video_out.config
        out["video_codec"] = out.get("video_codec") or config.codec
        out["resolution"] = f"{config.width}x{config.height}"
        out["tier"] = tier_of_size(config.width, config.height)
    out["encrypted"] = member.encrypted
    return out


@dataclass
class OpenCall:
    record: CallRecord
    jitter_sum: float = 0.0
    jitter_samples: int = 0


@dataclass
class OpenMeeting:
    record: MeetingRecord
    calls: set[str] = field(default_factory=set)  # open now


class UsageService:
    def __init__(self, journal_path: Path, store_factory: Callable[[], Store], tenant_of: Callable[[str], str],
                 wall: Callable[[], float] = time.time) -> None:
        self.journal_path = journal_path
        self.store_factory = store_factory
        self.tenant_of = tenant_of
        self.wall = wall
        self.journal: Journal | None = None
        self.writer: StoreWriter | None = None
        self.calls: dict[str, OpenCall] = {}
        self.meetings: dict[str, OpenMeeting] = {}  # by room
        self._pending: dict[str, tuple[float, str]] = {}  # call id -> (start, direction), not joined yet
        self._last_progress = 0.0
        self._last_sample: float | None = None
        self.replayed = 0
        self.restarted = 0

    @classmethod
    def from_config(cls, config: Config) -> UsageService | None:
        store = config.mcu.store
        if not store.enabled:
            return None
        base = config.path.parent
        journal = Path(store.journal) if Path(store.journal).is_absolute() else base / store.journal
        url = store.url
        tenants = config.tenants
        return cls(journal, lambda: open_store(url, base), tenants.owner_name)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Replay what a previous run left (closing open calls as mcu_restart), start the writer."""
        files = set_aside(self.journal_path)
        done = replay(files)
        self.journal = Journal(self.journal_path)
        self.writer = StoreWriter(self.store_factory, self.journal)
        self.writer.start()
        if files:
            self.writer.store(Batch(done.calls, done.meetings, done_files=files))
            self.replayed, self.restarted = len(done.calls), done.restarted_calls
            event(log, "usage.replayed", calls=len(done.calls), meetings=len(done.meetings),
                  closed_by_restart=done.restarted_calls, meetings_closed_by_restart=done.restarted_meetings,
                  torn_lines=done.bad_lines, files=len(files))

    def stop(self, timeout: float = 10.0) -> None:
        """After the server ended every call: the last records go to the store (a store that is
        down keeps them in the journal for the next start)."""
        for room in list(self.meetings):
            self._close_meeting(room, ENDED)
        if self.writer is not None:
            if not self.writer.wait_idle(timeout):
                event(log, "usage.pending_at_stop", logging.WARNING, records=self.writer.status.pending,
                      note="kept in the journal; stored at the next start")
            self.writer.stop(timeout)
        if self.journal is not None:
            self.journal.close()

    def retenant(self, tenant_of: Callable[[str], str]) -> None:
        """A reloaded tenants file: new calls are charged by it (open ones keep their tenant)."""
        self.tenant_of = tenant_of

    # ------------------------------------------------------------------ calls

    def arriving(self, call_id: str) -> None:
        self._pending.setdefault(call_id, (self.wall(), "in"))

    def dialling(self, call_id: str) -> None:
        self._pending[call_id] = (self.wall(), "out")

    def joined(self, member: Member, leg: Leg | None) -> None:
        now = self.wall()
        start, direction = self._pending.pop(member.call_id, (now, "in"))
        if leg is not None and leg.dialled is not None and not getattr(leg.dialled, "inbound", True):
            direction = "out"
        room = member.room
        meeting = self.meetings.get(room)
        if meeting is None:
            meeting = self.meetings[room] = OpenMeeting(MeetingRecord(
                uuid.uuid4().hex, self.tenant_of(room), room, now, now, "", 0, 0, 0.0, 0.0))
        meeting.calls.add(member.call_id)
        meeting.record = replace(meeting.record, calls=meeting.record.calls + 1,
                                 peak_sites=max(meeting.record.peak_sites, len(meeting.calls)))
        record = CallRecord(
            id=uuid.uuid4().hex, tenant=meeting.record.tenant, room=room, meeting_id=meeting.record.id,
            site=member.site_id or member.display_name, uri=getattr(member, "uri", "") or member.remote,
            protocol=leg.protocol if leg is not None else "sip", direction=direction, start=start, answer=now,
            end=now, end_reason="", **measure(leg, member))
        self.calls[member.call_id] = OpenCall(record)
        self._write("call", "open", record)
        self._write("meeting", "open", meeting.record)
        self._sync()

    def ended(self, call_id: str, leg: Leg | None, member: Member | None, reason: str) -> CallRecord | None:
        """The call is over (before its sockets close: their counters are read here)."""
        self._pending.pop(call_id, None)
        open_call = self.calls.pop(call_id, None)
        if open_call is None:
            return None
        now = self.wall()
        record = replace(self._current(open_call, leg, member), end=now, end_reason=reason or ENDED)
        self._write("call", "close", record)
        meeting = self.meetings.get(record.room)
        batch = Batch(calls=[record])
        if meeting is not None:
            meeting.calls.discard(call_id)
            meeting.record = replace(meeting.record, end=now,
                                     site_minutes=meeting.record.site_minutes + record.seconds / 60.0)
            if not meeting.calls:
                batch.meetings.append(self._close_meeting(record.room, ENDED, write_store=False))
        self._sync()
        if self.writer is not None:
            self.writer.store(batch)
        return record

    def _current(self, open_call: OpenCall, leg: Leg | None, member: Member | None) -> CallRecord:
        jitter = open_call.jitter_sum / open_call.jitter_samples if open_call.jitter_samples else 0.0
        return replace(open_call.record, jitter_ms=round(jitter, 3), **measure(leg, member))

    def _close_meeting(self, room: str, reason: str, write_store: bool = True) -> MeetingRecord:
        meeting = self.meetings.pop(room)
        record = replace(meeting.record, end=max(meeting.record.end, self.wall()) if meeting.calls
                         else meeting.record.end, end_reason=reason,
                         site_minutes=round(meeting.record.site_minutes, 4),
                         recording_minutes=round(meeting.record.recording_minutes, 4))
        self._write("meeting", "close", record)
        if write_store and self.writer is not None:
            self.writer.store(Batch(meetings=[record]))
        return record

    # ------------------------------------------------------------------ every second

    def sample(self, members: dict[str, Member], legs: dict[str, Leg], recording_rooms: set[str]) -> None:
        now = self.wall()
        elapsed = now - self._last_sample if self._last_sample is not None else 0.0
        self._last_sample = now
        if self._pending:  # refused after screening (quota, media, capacity): never joined nor ended
            self._pending = {k: v for k, v in self._pending.items() if now - v[0] < PENDING_SECONDS}
        for call_id, open_call in self.calls.items():
            member = members.get(call_id)
            if member is not None and member.audio_in is not None:
                open_call.jitter_sum += member.audio_in.jitter.jitter * 1000.0
                open_call.jitter_samples += 1
        for room, meeting in self.meetings.items():
            if room in recording_rooms and elapsed > 0:
                meeting.record = replace(meeting.record, recording_minutes=meeting.record.recording_minutes
                                         + elapsed / 60.0)
        if now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        for call_id, open_call in self.calls.items():
            self._write("call", "open", replace(self._current(open_call, legs.get(call_id), members.get(call_id)),
                                                end=now))
        for meeting in self.meetings.values():
            self._write("meeting", "open", self._meeting_now(meeting, now))
        self._maybe_rotate(members, legs, now)

    def _meeting_now(self, meeting: OpenMeeting, now: float) -> MeetingRecord:
        """The meeting as if it ended now: its closed calls' minutes and the open ones' so far."""
        site_minutes = meeting.record.site_minutes + sum(
            (now - (self.calls[c].record.answer or now)) / 60.0 for c in meeting.calls if c in self.calls)
        return replace(meeting.record, end=now, site_minutes=site_minutes)

    def _maybe_rotate(self, members: dict[str, Member], legs: dict[str, Leg], now: float,
                      limit: int = ROTATE_BYTES) -> None:
        """Keep the journal small: past `limit` bytes a fresh file starts with the open records."""
        journal = self.journal
        if journal is None or self.writer is None or journal.size < limit:
            return
        try:
            old = journal.rotate()
        except OSError as exc:
            event(log, "usage.journal_failed", logging.ERROR, path=str(self.journal_path), error=str(exc))
            return
        for call_id, open_call in self.calls.items():
            self._write("call", "open", replace(self._current(open_call, legs.get(call_id), members.get(call_id)),
                                                end=now))
        for meeting in self.meetings.values():
            self._write("meeting", "open", self._meeting_now(meeting, now))
        self._sync()
        self.writer.store(Batch(done_files=[old]))  # deleted after everything closed before it is stored
        event(log, "usage.journal_rotated", open_calls=len(self.calls), set_aside=old.name)

    def recording_hours(self, tenant: str) -> float:
        """Hours the tenant recorded this month: stored meetings and the open ones."""
        start, end, _ = month_bounds(None, self.wall())
        store = self.store_factory()
        try:
            stored = sum(m.recording_minutes for m in store.meetings(start, end, tenant) if m.start >= start)
        finally:
            store.close()
        running = sum(m.record.recording_minutes for m in self.meetings.values() if m.record.tenant == tenant)
        return (stored + running) / 60.0

    # ------------------------------------------------------------------ statements

    async def statement_doc(self, tenant: str | None, month: str | None) -> dict[str, Any]:
        """The month's statement, read on a thread (the store may be remote)."""
        start, end, label = month_bounds(month, self.wall())
        if self.writer is not None:
            await asyncio.to_thread(self.writer.wait_idle, 5.0)

        stored = "" if tenant == PROVIDER_LABEL else tenant  # the provider's own rooms are stored as ""

        def read() -> dict[str, Any]:
            store = self.store_factory()
            try:
                calls = store.calls(start, end, stored)
                meetings = store.meetings(start, end, stored)
            finally:
                store.close()
            return statement_doc(statement(calls, meetings, start, end, label, tenant))

        return await asyncio.to_thread(read)

    # ------------------------------------------------------------------ journal

    def _write(self, kind: str, state: str, record: CallRecord | MeetingRecord) -> None:
        if self.journal is None:
            return
        try:
            self.journal.write(kind, state, record)
        except OSError as exc:
            event(log, "usage.journal_failed", logging.ERROR, path=str(self.journal_path), error=str(exc))

    def _sync(self) -> None:
        if self.writer is not None:
            self.writer.sync()
