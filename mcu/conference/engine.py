"""The conference: rooms from config, who may join, PIN entry, and who leaves.

Owns no sockets: the server shell asks it what to do with a call and tells it what arrived.
Decisions come back as plain values (a SIP status to reject with, calls to hang up).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from mcu.calls.alias import same_site
from mcu.calls.refusal import Refusal, Rejection
from mcu.calls.streams import Stream, Streams
from mcu.conference.abuse import PinGuard
from mcu.conference.faults import Faults
from mcu.conference.member import Member, MemberState
from mcu.conference.pin import Admitted, PinGate, Refused, WrongPin
from mcu.conference.room import Room
from mcu.conference.spec import AudioSection, LimitsSection, VideoSection
from mcu.conference.spec import Room as RoomSpec
from mcu.conference.video import VideoCap
from mcu.layout.model import ROLE_CHAIR, LayoutConfig, Site
from mcu.log import event

log = logging.getLogger("mcu.conference")


class _Sections(Protocol):
    @property
    def audio(self) -> AudioSection: ...
    @property
    def video(self) -> VideoSection: ...
    @property
    def limits(self) -> LimitsSection: ...


class ConferenceConfig(Protocol):
    """What the conference is built from (mcu.config.Config is one): rooms, layouts, settings."""

    @property
    def rooms(self) -> Mapping[str, RoomSpec]: ...
    @property
    def layouts(self) -> LayoutConfig: ...
    @property
    def mcu(self) -> _Sections: ...


@dataclass(frozen=True)
class Hangup:
    call_id: str
    reason: str


class Conference:
    def __init__(self, config: ConferenceConfig):
        audio = config.mcu.audio
        self.faults = Faults()
        self.pin_guard = PinGuard(config.mcu.limits)
        self.pin_entry_timeout = config.mcu.limits.pin_entry_timeout
        self.rooms: dict[str, Room] = {
            number: Room(spec, config.layouts, config.mcu.video, rate=audio.rate, mix_size=audio.mix_size,
                         hold=audio.hold_ms / 1000, faults=self.faults)
            for number, spec in config.rooms.items()
        }
        self.members: dict[str, Member] = {}  # by SIP call id
        self.roster: tuple[Site, ...] = tuple(config.layouts.sites)
        # room -> roster site id -> (why it left, its member id), for the sites that were in the
        # room and are not now
        self.departed: dict[str, dict[str, tuple[str, int]]] = {}
        self._gates: dict[str, PinGate] = {}
        self._next_member_id = 1
        self.pin_failures = 0
        self.on_join: Callable[[Member], None] | None = None  # the server's usage records

    def apply_config(self, config: ConferenceConfig) -> None:
        """A reloaded config: new rooms open, changed rooms take their new settings and layouts at
        their next frame; removed rooms close to new callers but keep the meeting in progress."""
        audio = config.mcu.audio
        for number, spec in config.rooms.items():
            room = self.rooms.get(number)
            if room is None:
                self.rooms[number] = Room(spec, config.layouts, config.mcu.video, rate=audio.rate,
                                          mix_size=audio.mix_size, hold=audio.hold_ms / 1000,
                                          faults=self.faults)
            else:
                room.reconfigure(spec, config.layouts)
        self.roster = tuple(config.layouts.sites)
        self.pin_guard.limits = config.mcu.limits
        self.pin_entry_timeout = config.mcu.limits.pin_entry_timeout
        for number, room in self.rooms.items():
            if number not in config.rooms:
                room.locked = True

    def admission(self, room_number: str | None, source: str = "", now: float = 0.0) -> Rejection | None:
        """Why a call from `source` (an address) to `room_number` cannot join, or None if it may."""
        room = self.rooms.get(room_number or "")
        if room is None:
            return Rejection(Refusal.NOT_FOUND, "Room Not Found")
        if room.locked:
            return Rejection(Refusal.LOCKED, "Room Locked")
        if room.full:
            return Rejection(Refusal.FULL, "Room Full")
        if source and (room.spec.pin or room.spec.chair_pin):
            return self.pin_guard.admission(source, now)
        return None

    def join(self, call_id: str, room_number: str, streams: Streams, *,
             display_name: str, user_agent: str, remote: str, now: float, uri: str = "",
             source: str = "", video_cap: VideoCap | None = None) -> Member:
        room = self.rooms[room_number]
        display_name = as_text(display_name)
        site = self.roster_site(uri, display_name)
        if site is not None:
            display_name = site.name  # the roster's name (with its diacritics) labels the tile
        member = Member(
            member_id=self._next_member_id, call_id=call_id, room=room_number,
            display_name=display_name, user_agent=user_agent, remote=remote,
            audio_media=streams.get("audio"), video_media=streams.get("video"),
            joined_at=now, source=source, video_cap=video_cap,
        )
        self._next_member_id += 1
        if site is not None:
            member.site_id = site.id
            member.chair = site.role == ROLE_CHAIR
            self.departed.get(room_number, {}).pop(site.id, None)
        member.uri = uri
        self.members[call_id] = member
        room.add(member)
        if self.on_join is not None:
            self.on_join(member)
        if room.spec.pin or room.spec.chair_pin:
            member.state = MemberState.PIN_ENTRY
            self._gates[call_id] = PinGate(room.spec.pin, room.spec.chair_pin, started=now,
                                           entry_timeout=self.pin_entry_timeout)
            room.play_prompt(member.member_id, "enter_pin")
            event(log, "member.pin_prompt", room=room_number, member=member.member_id)
        else:
            self._admit(member, chair=False)
        return member

    def renegotiated(self, member: Member, streams: Streams) -> None:
        """A re-INVITE or UPDATE changed the member's session: its pipelines follow."""
        rebuilt = self.rooms[member.room].renegotiated(member, streams)
        if rebuilt:
            event(log, "member.media_changed", room=member.room, member=member.member_id,
                  kinds=",".join(rebuilt), audio=_codec_name(member.audio_media),
                  video=_codec_name(member.video_media),
                  video_kbps=member.video_out.config.bitrate // 1000 if member.video_out else 0)

    def roster_site(self, uri: str, display_name: str = "") -> Site | None:
        """The roster entry of a caller or callee: same user@host as its SIP URI, else same name."""
        for site in self.roster:
            if uri and same_site(site.uri, uri):
                return site
        return next((site for site in self.roster if display_name and site.name == display_name), None)

    def leave(self, call_id: str, reason: str) -> Member | None:
        member = self.members.pop(call_id, None)
        self._gates.pop(call_id, None)
        self.faults.forget(call_id)
        if member is None:
            return None
        self.rooms[member.room].remove(member.member_id)
        if member.site_id is not None:
            self.departed.setdefault(member.room, {})[member.site_id] = (reason, member.member_id)
        event(log, "member.left", room=member.room, member=member.member_id, reason=reason, **member.summary())
        return member

    def digits(self, call_id: str, digits: list[str], now: float) -> list[Hangup]:
        """DTMF from a member (RFC 4733 or SIP INFO); drives PIN entry."""
        gate = self._gates.get(call_id)
        member = self.members.get(call_id)
        if gate is None or member is None:
            return []
        for digit in digits:
            outcome = gate.digit(digit, now)
            if outcome is not None:
                return self._pin_outcome(member, outcome, now)
        return []

    def handle_timer(self, now: float) -> list[Hangup]:
        hangups: list[Hangup] = []
        for call_id, member in list(self.members.items()):
            if member.audio_in is not None:
                hangups += self.digits(call_id, member.take_digits(now), now)
            gate = self._gates.get(call_id)
            if gate is not None:
                outcome = gate.handle_timer(now)
                if outcome is not None:
                    hangups += self._pin_outcome(member, outcome, now)
        hangups += [Hangup(f.call_id, f.reason) for f in self.faults.take_hangups(now)]
        return hangups

    def _pin_outcome(self, member: Member, outcome: Admitted | WrongPin | Refused, now: float) -> list[Hangup]:
        room = self.rooms[member.room]
        if isinstance(outcome, Admitted):
            self._gates.pop(member.call_id, None)
            room.play_prompt(member.member_id, "admitted")
            self._admit(member, chair=outcome.chair)
            return []
        self.pin_failures += 1
        if not (isinstance(outcome, Refused) and outcome.reason == "no PIN entered"):
            failure = self.pin_guard.wrong_pin(member.source or member.remote, member.room, now)
            if failure.room_alarm:
                event(log, "room.pin_attack", logging.WARNING, room=member.room,
                      wrong_pins=self.pin_guard.limits.room_pin_alarm, window_s=self.pin_guard.limits.pin_window)
            if failure.locked_out or self.pin_guard.locked_out(member.source or member.remote, now):
                event(log, "member.pin_lockout", logging.WARNING, room=member.room, member=member.member_id,
                      source=member.source, seconds=self.pin_guard.limits.pin_lockout)
                self._gates.pop(member.call_id, None)
                return [Hangup(member.call_id, "too many wrong PINs from this address")]
        if isinstance(outcome, WrongPin):
            event(log, "member.pin_wrong", logging.WARNING, room=member.room, member=member.member_id,
                  attempts_left=outcome.attempts_left)
            room.play_prompt(member.member_id, "wrong_pin")
            return []
        event(log, "member.pin_refused", logging.WARNING, room=member.room, member=member.member_id,
              reason=outcome.reason)
        self._gates.pop(member.call_id, None)
        return [Hangup(member.call_id, outcome.reason)]

    def _admit(self, member: Member, chair: bool) -> None:
        member.state = MemberState.JOINED
        member.chair = member.chair or chair
        event(log, "member.joined", room=member.room, member=member.member_id,
              name=member.display_name, user_agent=member.user_agent, remote=member.remote, chair=chair,
              encrypted=member.encrypted)


def as_text(name: str) -> str:
    """A name from the wire as text every output takes (logs, JSON, labels): bytes that were not
    UTF-8 (kept as lone surrogates by the SIP parser) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _codec_name(media: Stream | None) -> str:
    codec = media.codec if media is not None and media.accepted else None
    return f"{codec.name}/{codec.clock_rate} pt {codec.payload_type}" if codec else "none"
