"""What the running MCU tells Prometheus: a snapshot of rooms, members and views, and the
counters kept by the cores turned into Prometheus counters.

The event loop publishes an immutable snapshot about once a second; the exporter's HTTP
thread only reads the latest one, so a scrape never touches live state or waits on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable

from mcu.conference.engine import Conference
from mcu.conference.member import Member
from mcu.conference.room import Room
from mcu.metrics import (
    AnyMetrics,
    ConferenceSnapshot,
    MemberSnapshot,
    ProtectionSnapshot,
    RoomSnapshot,
    ViewSnapshot,
)
from mcu.sip.ua import UserAgent


class CounterSync:
    """Feeds the growth of plain counters into metrics calls, once per publish."""

    def __init__(self) -> None:
        self._last: dict[Hashable, int] = {}

    def delta(self, key: Hashable, value: int) -> int:
        grown = value - self._last.get(key, 0)
        self._last[key] = value
        return max(0, grown)


class Observer:
    def __init__(self, metrics: AnyMetrics, fps_target: float, preset: str):
        self.metrics = metrics
        self.fps_target = fps_target
        self.preset = preset
        self.snapshot = ConferenceSnapshot()
        self._sync = CounterSync()
        self._view_bytes: dict[str, tuple[float, int, int]] = {}  # view -> (time, bytes, frames)
        self._view_rates: dict[str, tuple[float, float]] = {}  # view -> (fps, bit/s)

    def provider(self) -> ConferenceSnapshot:
        return self.snapshot

    def publish(self, conference: Conference, ua: UserAgent, now: float, video_frames_skipped: int = 0,
                protection: ProtectionSnapshot | None = None) -> None:
        self._sync_counters(conference, ua)
        self.metrics.video_frames_skipped(self._sync.delta("video_skipped", video_frames_skipped))
        rooms, members, views = [], [], []
        for room in conference.rooms.values():
            state = room.video.state
            rooms.append(RoomSnapshot(room.number, room.spec.name, len(room.members), str(state.mode.value),
                                      state.layout, room.locked))
            speaking = set(room.mixer.selector.mixed)
            for member in room.members.values():
                members.extend(_member_snapshots(room, member, member.member_id in speaking, now))
            for encoder in room.video.encoders.values():
                fps, bitrate = self._rates(encoder.view_id, encoder.bytes_out, encoder.frames, now)
                views.append(ViewSnapshot(encoder.view_id, room.number, len(encoder.viewers),
                                          encoder.config.width, encoder.config.height, encoder.config.codec,
                                          fps, bitrate, self.preset, float(encoder.config.fps)))
            for view_id in room.video.closed_views:
                self.metrics.forget_view(room.number, view_id)
                self._view_bytes.pop(view_id, None)
                self._view_rates.pop(view_id, None)
            room.video.closed_views.clear()
        self.snapshot = ConferenceSnapshot(tuple(rooms), tuple(members), tuple(views), ua.active_dialogs,
                                           protection or ProtectionSnapshot())

    def _rates(self, view_id: str, total_bytes: int, frames: int, now: float) -> tuple[float, float]:
        """Output fps and bit rate over the time since the previous publish."""
        before = self._view_bytes.get(view_id)
        self._view_bytes[view_id] = (now, total_bytes, frames)
        if before is not None and now > before[0]:
            elapsed = now - before[0]
            self._view_rates[view_id] = ((frames - before[2]) / elapsed, (total_bytes - before[1]) * 8 / elapsed)
        return self._view_rates.get(view_id, (0.0, 0.0))

    def _sync_counters(self, conference: Conference, ua: UserAgent) -> None:
        metrics, sync = self.metrics, self._sync
        for method, count in ua.counters.requests_in.items():
            for _ in range(sync.delta(("req", method), count)):
                metrics.sip_request(method)
        for (method, status), count in ua.counters.responses_out_by_method.items():
            for _ in range(sync.delta(("resp", method, status), count)):
                metrics.sip_response(method, status)
        for _ in range(sync.delta("pin", conference.pin_failures)):
            metrics.auth_failure("pin")
        for room in conference.rooms.values():
            number = room.number
            for _ in range(sync.delta(("speaker", number), room.stats.speaker_changes)):
                metrics.speaker_change(number)
            for _ in range(sync.delta(("joins", number), room.stats.joins)):
                metrics.member_joined(number)
            for _ in range(sync.delta(("leaves", number), room.stats.leaves)):
                metrics.member_left(number)
            for encoder in room.video.encoders.values():
                for reason, count in encoder.keyframes.items():
                    for _ in range(sync.delta(("key", number, encoder.view_id, reason), count)):
                        metrics.keyframe_sent(number, encoder.view_id, reason)  # type: ignore[arg-type]


def _member_snapshots(room: Room, member: Member, speaking: bool, now: float) -> Iterable[MemberSnapshot]:
    common = {"room": room.number, "member_id": str(member.member_id), "display_name": member.display_name,
              "user_agent": member.user_agent, "encrypted": member.encrypted}
    audio_in, audio_out = member.audio_in, member.audio_out
    if member.audio_media is not None and member.audio_format is not None:
        stats = audio_in.jitter.stats if audio_in else None
        received = stats.received if stats else 0
        lost = stats.lost if stats else 0
        yield MemberSnapshot(
            **common, kind="audio", codec=member.audio_format.name,
            packets_in=received, packets_out=audio_out.packet_count if audio_out else 0,
            bytes_out=audio_out.octet_count if audio_out else 0,
            loss_fraction=lost / (received + lost) if received + lost else 0.0, cumulative_lost=lost,
            jitter_seconds=audio_in.jitter.jitter if audio_in else 0.0, rtt_seconds=member.rtt.get("audio"),
            seconds_since_last_packet=_age(member, "audio", now), speaking=speaking)
    video_in, video_out = member.video_in, member.video_out
    if video_in is not None or video_out is not None:
        jitter = video_in.jitter.stats if video_in else None
        width = video_out.config.width if video_out else 0
        height = video_out.config.height if video_out else 0
        codec = video_in.codec if video_in else video_out.config.codec if video_out else ""
        asked = Counter({"fir": video_in.keyframe_requests}) if video_in and video_in.use_fir else \
            Counter({"pli": video_in.keyframe_requests if video_in else 0})
        yield MemberSnapshot(
            **common, kind="video", codec=codec, width=width, height=height,
            packets_in=jitter.received if jitter else 0,
            packets_out=video_out.out.packet_count if video_out else 0,
            bytes_out=video_out.out.octet_count if video_out else 0,
            nack_in=member.feedback_in["nack"], nack_out=video_in.nacks_sent if video_in else 0,
            retransmitted=video_out.out.retransmitted if video_out else 0,
            pli_in=member.feedback_in["pli"], pli_out=asked["pli"],
            fir_in=member.feedback_in["fir"], fir_out=asked["fir"],
            decode_errors=video_in.decode_errors if video_in else 0,
            frames_decoded=video_in.frames_decoded if video_in else 0,
            frames_dropped=jitter.frames_dropped if jitter else 0, rtt_seconds=member.rtt.get("video"),
            seconds_since_last_packet=_age(member, "video", now))


def _age(member: Member, kind: str, now: float) -> float:
    last = member.last_arrival(kind)
    return now - (last if last is not None else member.joined_at)
