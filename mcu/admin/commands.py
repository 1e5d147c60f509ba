"""The operator's commands and THE command table that drives the HTTP routes, OpenAPI and `mcu ctl`.

Handlers run on the MCU's event loop, between ticks, so they read and change the rooms
without locks; none awaits between checking its arguments and changing state, so a refused
command changes nothing.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcu.admin.errors import BadArguments, CommandError, Conflict, NotFound, Unprocessable
from mcu.admin.scope import AuditLog, principal_of, scoped
from mcu.admin.snapshot import i420_to_png
from mcu.admin.table import PATH, PNG_RESULT, QUERY, Arg, Command
from mcu.calls.alias import H323_SCHEME, h323_target, same_site
from mcu.calls.control import DialError
from mcu.cluster import admin_route
from mcu.conference.member import Member
from mcu.conference.room import Room
from mcu.layout.engine import set_mode, set_pins
from mcu.layout.model import Layout, RoomMode
from mcu.log import event
from mcu.recording.link import redact_url
from mcu.recording.manager import Recorder, RecordingError
from mcu.settings import ROOM_NUMBER
from mcu.sip.errors import SipError
from mcu.sip.uri import SipUri
from mcu.tenants import Tenants

if TYPE_CHECKING:
    from mcu.calls.control import MeetingControl

log = logging.getLogger("mcu.admin")

ALL = "all"  # member target: everyone in the room but the chair
AUTO_FLOOR = "auto"  # floor target: give the floor back to voice switching
MODES = tuple(m.value for m in RoomMode)
REMOVED_REASON = "removed by operator"
# roster site status in a room (the `roster` command)
PRESENT, RINGING, DROPPED, MISSING = "present", "ringing", "dropped", "missing"
PREVIEW_SIZE = (384, 216)  # the console's layout thumbnails
PREVIEW_CACHE = 64
JITTER_MS_PER_S = 1000.0


@dataclass
class AdminContext:
    """What the commands act on, plus the admin API's own memory of roster dial-outs."""

    server: MeetingControl
    # room -> roster site id -> SIP call id of the last dial to it (for redial)
    dialled: dict[str, dict[str, str]] = field(default_factory=dict)
    # room -> region index of the hand-set floor pin
    floor_pins: dict[str, int] = field(default_factory=dict)
    # room -> roster site id -> member id the operator removed (not "dropped": redial leaves it alone)
    removed: dict[str, dict[str, int]] = field(default_factory=dict)
    # (layouts config, layout, members) -> PNG of its offline preview (`mcu layout render`)
    previews: dict[tuple[int, str, int], bytes] = field(default_factory=dict)
    audit: AuditLog | None = None  # every state-changing call (mcu.admin.scope)

    @property
    def tenants(self) -> Tenants:
        """The tenants of the running config (none: the provider's token is the only one)."""
        tenants = getattr(self.server.config, "tenants", None)
        return tenants if isinstance(tenants, Tenants) else Tenants()


# ---------------------------------------------------------------------------------- lookups


def _room(ctx: AdminContext, number: str) -> Room:
    room = ctx.server.conference.rooms.get(number)
    if room is None:
        known = ", ".join(sorted(ctx.server.conference.rooms)) or "none"
        raise NotFound(f"no room {number!r}; rooms: {known}")
    return room


def _member(room: Room, member_id: int) -> Member:
    member = room.members.get(member_id)
    if member is None:
        known = ", ".join(str(m) for m in sorted(room.members)) or "nobody is in it"
        raise NotFound(f"no member {member_id} in room {room.number} (member ids: {known}); "
                       f"see `mcu ctl members {room.number}`")
    return member


def _targets(room: Room, target: str) -> list[Member]:
    """The members a mute/deaf command acts on: one id, or everyone but the chair."""
    if target == ALL:
        return [m for m in room.members.values() if not m.chair]
    return [_member(room, int(target))]


def _member_of_site(ctx: AdminContext, room: Room, site_id: str) -> Member | None:
    """The member in `room` that is roster site `site_id`: the call we dialled, else by URI."""
    call_id = ctx.dialled.get(room.number, {}).get(site_id)
    member = ctx.server.conference.members.get(call_id or "")
    if member is not None and member.room == room.number:
        return member
    site = ctx.server.config.layouts.site(site_id)
    if site is None:
        return None
    for m in room.members.values():  # the conference matched callers to the roster when they joined
        if m.site_id == site_id or same_site(site.uri, m.remote):
            return m
    return None


def _pin_target(ctx: AdminContext, room: Room, target: str) -> Member:
    """A member id or a roster site id that is in the room now."""
    if target.isdigit():
        return _member(room, int(target))
    if ctx.server.config.layouts.site(target) is None:
        raise NotFound(f"{target!r} is neither a member id of room {room.number} nor a roster site id "
                       f"(sites.toml)")
    member = _member_of_site(ctx, room, target)
    if member is None:
        raise Conflict(f"site {target!r} is not in room {room.number} now; dial it first "
                       f"(`mcu ctl dial {room.number} {target}`)")
    return member


def _layout_choices(room: Room) -> list[Layout]:
    cfg = room.video.state.config
    name = room.video.state.layout
    if name in cfg.layouts:
        return [cfg.layouts[name]]
    return [cfg.layouts[n] for n in cfg.groups[name].layouts if n in cfg.layouts]


def _current_layout(room: Room) -> Layout:
    """The layout the room's shared picture uses now (a group picks by member count)."""
    state = room.video.state
    shown = sum(1 for m in state.members if m.has_video)
    return state.config.pick(state.layout, max(1, shown - 1))


def _recorder(ctx: AdminContext) -> Recorder:
    recorder = getattr(ctx.server, "recorder", None)  # MeetingControl implementations without one refuse
    if recorder is None:
        raise Conflict("this MCU has no recorder; recording and streaming are not available")
    return recorder  # type: ignore[no-any-return]


def _log_change(ctx: AdminContext, command: str, who: str, **fields: Any) -> None:
    event(log, "admin.command", command=command, who=who, **fields)


# ---------------------------------------------------------------------------------- views


def _int_or_none(member_id: str | None) -> int | None:
    return int(member_id) if member_id is not None and member_id.isdigit() else None


def _name_of(room: Room, member_id: int | None) -> str | None:
    member = room.members.get(member_id) if member_id is not None else None
    return member.display_name if member is not None else None


def _room_info(room: Room, recorder: Recorder | None = None) -> dict[str, Any]:
    state = room.video.state
    selector = room.mixer.selector
    outputs = recorder.room_info(room.number) if recorder is not None else {"recording": None, "stream": None}
    return {
        "number": room.number,
        "name": room.spec.name,
        "members": len(room.members),
        "joined": sum(1 for _ in room.joined),
        "max_members": room.spec.max_members,
        "locked": room.locked,
        "layout": state.layout,
        "mode": state.mode.value,
        "floor": selector.floor,
        # who holds the picture's floor (voice switching with its hysteresis, or given by hand)
        "floor_shown": _int_or_none(state.floor),
        "floor_name": _name_of(room, _int_or_none(state.floor)),
        "pins": {str(i): t for i, t in state.pins},
        "recording": outputs["recording"]["state"] if outputs["recording"] else None,
        "stream": outputs["stream"]["state"] if outputs["stream"] else None,
        "outputs": outputs,
        # content sharing now: "Content: <presenter>" or "Content" (the operator's slides); None: none
        "content": room.content_name if room.content_source is not None else None,
    }


def _member_info(room: Room, member: Member) -> dict[str, Any]:
    selector = room.mixer.selector
    levels = room.last_mix.levels if room.last_mix else {}
    audio: dict[str, Any] | None = None
    if member.audio_format is not None:
        audio = {"codec": member.audio_format.name, "clock_rate": member.audio_format.clock_rate}
        if member.audio_in is not None:
            jb = member.audio_in.jitter
            stats = jb.stats
            expected = stats.played + stats.lost
            audio.update(received=stats.received, lost=stats.lost, late=stats.late,
                         loss_percent=round(100.0 * stats.lost / expected, 2) if expected else 0.0,
                         jitter_ms=round(jb.jitter * JITTER_MS_PER_S, 2))
    video: dict[str, Any] | None = None
    if member.video_in is not None or member.video_out is not None:
        video = {}
        vin = member.video_in
        if vin is not None:
            picture = vin.picture
            video["in"] = {"codec": vin.codec, "frames_decoded": vin.frames_decoded,
                           "decode_errors": vin.decode_errors,
                           "resolution": f"{picture.y.shape[1]}x{picture.y.shape[0]}" if picture is not None
                           else None}
        if member.video_out is not None:
            config = member.video_out.config
            video["out"] = {"codec": config.codec, "resolution": f"{config.width}x{config.height}",
                            "fps": config.fps}
    return {
        "id": member.member_id,
        "call_id": member.call_id,
        "name": member.display_name,
        "user_agent": member.user_agent,
        "remote": member.remote,
        "state": member.state.value,
        "chair": member.chair,
        "cascade": member.cascade or None,
        "muted": member.muted,
        "deaf": member.deaf,
        "speaking": member.member_id in selector.mixed,
        "floor": selector.floor == member.member_id,
        "level_dbov": levels.get(member.member_id),
        "audio": audio,
        "video": video,
    }


# ---------------------------------------------------------------------------------- handlers


async def cmd_rooms(ctx: AdminContext, args: dict[str, Any]) -> Any:
    recorder = getattr(ctx.server, "recorder", None)
    return [_room_info(r, recorder) for r in ctx.server.conference.rooms.values()]


async def cmd_members(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    return [_member_info(room, m) for m in room.members.values()]


def _set_flag(flag: str, value: bool):  # type: ignore[no-untyped-def]
    async def handler(ctx: AdminContext, args: dict[str, Any]) -> Any:
        room = _room(ctx, args["room"])
        members = _targets(room, args["member"])
        for m in members:
            setattr(m, flag, value)
        ids = [m.member_id for m in members]
        _log_change(ctx, f"{flag}={value}", args["_who"], room=room.number, target=args["member"], members=ids)
        return {"room": room.number, flag: value, "members": ids}
    return handler


async def cmd_remove(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    member = _member(room, int(args["member"]))
    reason = args.get("reason") or REMOVED_REASON
    if member.site_id is not None:
        ctx.removed.setdefault(room.number, {})[member.site_id] = member.member_id
    _log_change(ctx, "remove", args["_who"], room=room.number, member=member.member_id,
                name=member.display_name, reason=reason)
    if not ctx.server.hangup(member.call_id, reason):
        # a member without a call (should not happen): take it out of the room anyway
        ctx.server.conference.leave(member.call_id, reason)
    return {"room": room.number, "removed": member.member_id, "name": member.display_name}


def _set_lock(value: bool):  # type: ignore[no-untyped-def]
    async def handler(ctx: AdminContext, args: dict[str, Any]) -> Any:
        room = _room(ctx, args["room"])
        room.locked = value
        _log_change(ctx, "lock" if value else "unlock", args["_who"], room=room.number)
        return {"room": room.number, "locked": value}
    return handler


def _check_layout(room: Room, name: str) -> None:
    cfg = room.video.state.config
    if not cfg.has(name):
        raise BadArguments(f"no layout or group named {name!r} in layouts.toml; known layouts: "
                           f"{', '.join(sorted(cfg.layouts))}; groups: {', '.join(sorted(cfg.groups))}")


async def cmd_layout(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    _check_layout(room, args["layout"])
    state = room.video.state
    mode = RoomMode(args["mode"]) if "mode" in args else state.mode
    room.video.state = set_mode(state, mode, args["layout"])
    _log_change(ctx, "layout", args["_who"], room=room.number, layout=args["layout"], mode=mode.value)
    return _room_info(room)


async def cmd_mode(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    room.video.state = set_mode(room.video.state, RoomMode(args["mode"]))
    _log_change(ctx, "mode", args["_who"], room=room.number, mode=args["mode"])
    return _room_info(room)


async def cmd_pin(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    region = args["region"]
    capacity = max(layout.capacity for layout in _layout_choices(room))
    if region >= capacity:
        raise BadArguments(f"region {region} does not exist: layout {room.video.state.layout!r} has regions "
                           f"0..{capacity - 1}")
    member = _pin_target(ctx, room, args["target"])
    pins = dict(room.video.state.pins)
    pins = {i: t for i, t in pins.items() if t != str(member.member_id)}  # one region per member
    pins[region] = str(member.member_id)
    room.video.state = set_pins(room.video.state, pins)
    if ctx.floor_pins.get(room.number) == region:
        del ctx.floor_pins[room.number]
    _log_change(ctx, "pin", args["_who"], room=room.number, region=region, member=member.member_id,
                target=args["target"])
    return _room_info(room)


async def cmd_unpin(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    pins = dict(room.video.state.pins)
    if "region" in args:
        if args["region"] not in pins:
            held = ", ".join(str(i) for i in sorted(pins)) or "none"
            raise NotFound(f"region {args['region']} of room {room.number} is not pinned (pinned regions: {held})")
        del pins[args["region"]]
    else:
        pins = {}
    room.video.state = set_pins(room.video.state, pins)
    if ctx.floor_pins.get(room.number) not in pins:
        ctx.floor_pins.pop(room.number, None)
    _log_change(ctx, "unpin", args["_who"], room=room.number, region=args.get("region", ALL))
    return _room_info(room)


async def cmd_floor(ctx: AdminContext, args: dict[str, Any]) -> Any:
    """The floor by hand: a pin of the current layout's floor region, which voice switching
    cannot move; `auto` removes that pin and gives the floor back to the speaker detector."""
    room = _room(ctx, args["room"])
    pins = dict(room.video.state.pins)
    if args["target"] == AUTO_FLOOR:
        region = ctx.floor_pins.pop(room.number, None)
        if region is not None:
            pins.pop(region, None)
        room.video.state = set_pins(room.video.state, pins)
        _log_change(ctx, "floor", args["_who"], room=room.number, target=AUTO_FLOOR)
        return _room_info(room)
    layout = _current_layout(room)
    region = next((i for i, r in enumerate(layout.regions) if r.floor), None)
    if region is None:
        raise Conflict(f"layout {layout.name!r} of room {room.number} has no floor region; set a layout "
                       f"with one (`mcu ctl layout {room.number} speaker`) or pin a region instead")
    member = _pin_target(ctx, room, args["target"])
    old = ctx.floor_pins.get(room.number)
    if old is not None:
        pins.pop(old, None)
    pins = {i: t for i, t in pins.items() if t != str(member.member_id)}
    pins[region] = str(member.member_id)
    state = set_pins(room.video.state, pins)
    now = ctx.server.now()
    room.video.state = replace(state, floor=str(member.member_id), floor_since=now, floor_by_voice=True)
    ctx.floor_pins[room.number] = region
    _log_change(ctx, "floor", args["_who"], room=room.number, member=member.member_id, region=region)
    return _room_info(room)


def _resolve_dial_target(ctx: AdminContext, target: str) -> tuple[str, str, str | None]:
    """(uri, display name, roster site id or None) of a dial target."""
    site = ctx.server.config.layouts.site(target)
    if site is not None:
        return site.uri, site.name, site.id
    if target.lower().startswith(("sip:", "sips:")):
        try:
            uri = SipUri.parse(target)
            uri.host_port()
        except (SipError, ValueError) as exc:
            raise BadArguments(f"{target!r} is not a valid SIP URI ({exc}); write sip:user@host[:port]") from None
        if not uri.host:
            raise BadArguments(f"{target!r} has no host; write sip:user@host[:port]")
        return target, "", None
    if target.lower().startswith(H323_SCHEME):
        try:
            h323_target(target)
        except ValueError as exc:
            raise BadArguments(str(exc)) from None
        return target, "", None
    raise BadArguments(f"{target!r} is neither a roster site id (sites.toml) nor a sip:, sips: or h323: URI")


def _check_admission(ctx: AdminContext, room: Room) -> None:
    rejection = ctx.server.conference.admission(room.number)
    if rejection is not None:
        raise Conflict(f"room {room.number} takes no new members now ({rejection.status} {rejection.reason}); "
                       f"unlock it or make room first")


async def _dial(ctx: AdminContext, room: Room, uri: str, name: str, site_id: str | None, who: str) -> str:

    try:
        call_id = await ctx.server.dial(room.number, uri, name)
    except DialError as exc:
        raise Conflict(f"cannot dial {uri} into room {room.number}: {exc}") from None
    if site_id is not None:
        ctx.dialled.setdefault(room.number, {})[site_id] = call_id
    _log_change(ctx, "dial", who, room=room.number, uri=uri, site=site_id or "", call_id=call_id)
    return call_id


async def cmd_dial(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    uri, name, site_id = _resolve_dial_target(ctx, args["target"])
    _check_admission(ctx, room)
    call_id = await _dial(ctx, room, uri, args.get("name") or name, site_id, args["_who"])
    return {"room": room.number, "uri": uri, "site": site_id, "call_id": call_id}


def _site_connected(ctx: AdminContext, room: Room, site_id: str) -> bool:
    """In the room, or our call to it is still ringing."""
    call_id = ctx.dialled.get(room.number, {}).get(site_id)
    if call_id is not None and ctx.server.has_call(call_id):
        return True
    return _member_of_site(ctx, room, site_id) is not None


async def _dial_sites(ctx: AdminContext, room: Room, site_ids: list[str], who: str) -> list[dict[str, Any]]:
    _check_admission(ctx, room)
    out: list[dict[str, Any]] = []
    for site_id in site_ids:
        site = ctx.server.config.layouts.site(site_id)
        if site is None:
            out.append({"site": site_id, "error": "no longer in the roster"})
            continue
        try:
            call_id = await _dial(ctx, room, site.uri, site.name, site.id, who)
        except Conflict as exc:
            out.append({"site": site_id, "uri": site.uri, "error": exc.message})
            continue
        out.append({"site": site_id, "uri": site.uri, "call_id": call_id})
    return out


async def cmd_dial_roster(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    tenant = principal_of(args).tenant  # a tenant dials its own roster only
    sites = [s.id for s in ctx.server.config.layouts.sites if not _site_connected(ctx, room, s.id)
             and (tenant is None or s.id in tenant.sites)]
    return {"room": room.number, "dialled": await _dial_sites(ctx, room, sites, args["_who"])}


async def cmd_redial(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    dropped = [s.id for s in ctx.server.config.layouts.sites if _site_status(ctx, room, s.id)[0] == DROPPED]
    if not dropped:
        return {"room": room.number, "dialled": []}
    return {"room": room.number, "dialled": await _dial_sites(ctx, room, dropped, args["_who"])}


async def cmd_cascade(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    cascade = getattr(ctx.server, "cascade", None)
    if cascade is None:
        raise Conflict("this MCU cannot cascade")
    _check_admission(ctx, room)
    try:
        call_id = await cascade(room.number, args["to"])
    except DialError as exc:
        raise Conflict(f"cannot cascade room {room.number} to {args['to']}: {exc}") from None
    _log_change(ctx, "cascade", args["_who"], room=room.number, to=args["to"], call_id=call_id)
    return {"room": room.number, "to": args["to"], "call_id": call_id}


async def cmd_reload(ctx: AdminContext, args: dict[str, Any]) -> Any:
    problems = ctx.server.reload_config()
    _log_change(ctx, "reload", args["_who"], applied=not problems, problems=len(problems))
    if problems:
        raise Unprocessable("config rejected, the running config stays in place; fix these and reload again",
                            details=problems)
    return {"reloaded": True, "rooms": sorted(ctx.server.config.rooms)}


async def cmd_snapshot(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    member = _member(room, int(args["member"]))
    viewer = member.video_out
    encoder = room.video.encoders.get(viewer.encoder_key) if viewer and viewer.encoder_key else None  # type: ignore[arg-type]
    if encoder is None or encoder.frames == 0:
        why = "has no video" if viewer is None else "has not been sent a picture yet"
        raise Conflict(f"member {member.member_id} of room {room.number} {why}; nothing to snapshot")
    return i420_to_png(encoder.canvas)


async def cmd_record_start(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    if "layout" in args:
        _check_layout(room, args["layout"])
    quota_check = getattr(ctx.server, "recording_quota", None)  # the tenant's hours and disk
    refusal = quota_check(room.number) if quota_check is not None else None
    if refusal is not None:
        raise Conflict(f"cannot record room {room.number}: {refusal}")
    try:
        recording = _recorder(ctx).start_recording(room, args.get("layout"), who=args["_who"])
    except RecordingError as exc:
        raise Conflict(str(exc)) from None
    _log_change(ctx, "record start", args["_who"], room=room.number, file=recording.path.name)
    return recording.info()


async def cmd_record_stop(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    try:
        recording = _recorder(ctx).stop_recording(room, room.number, "stopped by operator", who=args["_who"])
    except RecordingError as exc:
        raise Conflict(str(exc)) from None
    _log_change(ctx, "record stop", args["_who"], room=room.number, file=recording.path.name)
    return recording.info() | {"state": "stopping"}


async def cmd_recordings(ctx: AdminContext, args: dict[str, Any]) -> Any:
    if "room" in args:
        _room(ctx, args["room"])
    return _recorder(ctx).list_recordings(args.get("room"))


async def cmd_stream_start(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    if "layout" in args:
        _check_layout(room, args["layout"])
    try:
        stream = _recorder(ctx).start_stream(room, args["stream_url"], args.get("layout"), who=args["_who"])
    except RecordingError as exc:
        raise Conflict(str(exc)) from None
    _log_change(ctx, "stream start", args["_who"], room=room.number, url=stream.redacted)
    return stream.info()


async def cmd_stream_stop(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    try:
        stream = _recorder(ctx).stop_stream(room, room.number, who=args["_who"])
    except RecordingError as exc:
        raise Conflict(str(exc)) from None
    _log_change(ctx, "stream stop", args["_who"], room=room.number, url=redact_url(stream.url))
    return stream.info()


async def cmd_usage(ctx: AdminContext, args: dict[str, Any]) -> Any:
    """The monthly statement (mcu.usage.statement) of one tenant, or of all for the provider."""
    usage = getattr(ctx.server, "usage", None)
    if usage is None:
        raise Conflict("this MCU keeps no usage records ([store] enabled = false)")
    tenant = principal_of(args).tenant
    name = tenant.name if tenant is not None else args.get("tenant") or None
    if name is not None and tenant is None and name not in ctx.server.config.tenants.by_name \
            and name != "provider":
        raise NotFound(f"no tenant {name!r}; tenants: {', '.join(ctx.server.config.tenants.names()) or 'none'}")
    try:
        return await usage.statement_doc(name, args.get("month"))
    except ValueError as exc:
        raise BadArguments(str(exc)) from None
def _site_status(ctx: AdminContext, room: Room, site_id: str) -> tuple[str, Member | None]:
    """Present; ringing (our call to it is under way); dropped (it was in the room, or we dialled
    it, and it is gone without the operator removing it: what `redial` calls again); missing."""
    member = _member_of_site(ctx, room, site_id)
    if member is not None:
        return PRESENT, member
    call_id = ctx.dialled.get(room.number, {}).get(site_id)
    if call_id is not None and ctx.server.has_call(call_id):
        return RINGING, None
    departed = getattr(ctx.server.conference, "departed", {}).get(room.number, {}).get(site_id)
    if departed is not None:
        removed = ctx.removed.get(room.number, {}).get(site_id) == departed[1]
        return (MISSING if removed else DROPPED), None
    return (DROPPED if call_id is not None else MISSING), None  # we dialled it and it never came


async def cmd_roster(ctx: AdminContext, args: dict[str, Any]) -> Any:
    room = _room(ctx, args["room"])
    out = []
    for site in sorted(ctx.server.config.layouts.sites, key=lambda s: s.order):
        status, member = _site_status(ctx, room, site.id)
        out.append({"site": site.id, "name": site.name, "uri": site.uri, "role": site.role,
                    "status": status, "member": member.member_id if member is not None else None})
    return out


async def cmd_layouts(ctx: AdminContext, args: dict[str, Any]) -> Any:
    cfg = ctx.server.config.layouts
    return {"layouts": [{"name": n, "capacity": lay.capacity} for n, lay in cfg.layouts.items()],
            "groups": [{"name": n, "layouts": list(g.layouts)} for n, g in cfg.groups.items()]}


def _preview_png(cfg: Any, name: str, members: int) -> bytes:
    from PIL import Image

    from mcu.layout.render import render_layout

    out = io.BytesIO()
    Image.fromarray(render_layout(cfg, name, members, PREVIEW_SIZE), "RGB").save(out, format="PNG")
    return out.getvalue()


async def cmd_layout_preview(ctx: AdminContext, args: dict[str, Any]) -> Any:
    cfg = ctx.server.config.layouts
    name = args["layout"]
    if not cfg.has(name):
        raise NotFound(f"no layout or group named {name!r} in layouts.toml; see the layouts command")
    members = args.get("members")
    if members is None:
        members = cfg.layouts[name].capacity + 1 if name in cfg.layouts else 4
    key = (id(cfg), name, members)
    png = ctx.previews.get(key)
    if png is None:
        # drawn on a worker thread: a preview takes tens of ms, the loop carries the meetings' audio
        png = await asyncio.to_thread(_preview_png, cfg, name, members)
        if len(ctx.previews) >= PREVIEW_CACHE:
            ctx.previews.clear()
        ctx.previews[key] = png
    return png
# ---------------------------------------------------------------------------------- content


def _content(ctx: AdminContext, number: str) -> Any:
    _room(ctx, number)  # NotFound for an unknown room
    return ctx.server.content


async def cmd_content_status(ctx: AdminContext, args: dict[str, Any]) -> Any:
    return _content(ctx, args["room"]).status(args["room"])


async def cmd_content_grant(ctx: AdminContext, args: dict[str, Any]) -> Any:
    content, room = _content(ctx, args["room"]), _room(ctx, args["room"])
    member = _member(room, args["member"])
    try:
        content.grant(room.number, member.member_id)
    except LookupError as exc:
        raise Conflict(str(exc).strip("'\"")) from None
    _log_change(ctx, "content grant", args["_who"], room=room.number, member=member.member_id)
    return content.status(room.number)


async def cmd_content_revoke(ctx: AdminContext, args: dict[str, Any]) -> Any:
    content = _content(ctx, args["room"])
    if not content.revoke(args["room"]):
        raise Conflict(f"nobody holds the content floor of room {args['room']}")
    _log_change(ctx, "content revoke", args["_who"], room=args["room"])
    return content.status(args["room"])


async def cmd_content_start(ctx: AdminContext, args: dict[str, Any]) -> Any:
    from mcu.media.slides import SlidesError

    content = _content(ctx, args["room"])
    path = Path(args["file"])
    if not path.is_absolute():
        path = ctx.server.config.path.parent / path
    try:
        slides = content.start_slides(args["room"], path)
    except SlidesError as exc:
        raise Unprocessable(str(exc)) from None
    _log_change(ctx, "content start", args["_who"], room=args["room"], file=slides.path.name, pages=slides.pages)
    return content.status(args["room"])


async def cmd_content_page(ctx: AdminContext, args: dict[str, Any]) -> Any:
    from mcu.media.slides import SlidesError

    content = _content(ctx, args["room"])
    try:
        slides = content.page(args["room"], args["page"])
    except LookupError as exc:
        raise Conflict(str(exc).strip("'\"")) from None
    except SlidesError as exc:
        raise BadArguments(str(exc)) from None
    _log_change(ctx, "content page", args["_who"], room=args["room"], page=slides.page)
    return content.status(args["room"])


async def cmd_content_stop(ctx: AdminContext, args: dict[str, Any]) -> Any:
    content = _content(ctx, args["room"])
    if not content.stop_slides(args["room"]):
        raise Conflict(f"room {args['room']} shows no operator slides")
    _log_change(ctx, "content stop", args["_who"], room=args["room"])
    return content.status(args["room"])


# ---------------------------------------------------------------------------------- the table

ROOM = Arg("room", str, "room number (rooms.toml), e.g. 4100", PATH, pattern=ROOM_NUMBER.pattern[1:-1],
           max_length=32)
MEMBER = Arg("member", str, "member id (see the members command)", PATH, pattern=r"[0-9]{1,9}", max_length=9)
MEMBER_OR_ALL = Arg("member", str, "member id, or 'all' for everyone but the chair", PATH,
                    pattern=r"[0-9]{1,9}|all", max_length=9)
TARGET = Arg("target", str, "member id or roster site id (sites.toml)", pattern=r"[A-Za-z0-9_.\-]{1,64}",
             max_length=64)
REGION = Arg("region", int, "region index in the layout, from 0", minimum=0, maximum=1000)
MODE = Arg("mode", str, "auto | voice | lecture | fixed", choices=MODES)
LAYOUT = Arg("layout", str, "a layout or group name from layouts.toml", max_length=64)


def _member_cmd(name: str, handler, help: str) -> Command:  # type: ignore[no-untyped-def]
    return Command(name, handler, "POST", f"/rooms/{{room}}/members/{{member}}/{name}", (ROOM, MEMBER_OR_ALL), help)


_COMMANDS: tuple[Command, ...] = (
    Command("rooms", cmd_rooms, "GET", "/rooms", (), "list the rooms: members, lock, layout, mode, floor, pins"),
    Command("members", cmd_members, "GET", "/rooms/{room}/members", (ROOM,),
            "list a room's members with stats: codec, resolution, loss, jitter, speaking now"),
    _member_cmd("mute", _set_flag("muted", True), "mute a member (or 'all' but the chair): others stop hearing it"),
    _member_cmd("unmute", _set_flag("muted", False), "unmute a member (or 'all')"),
    _member_cmd("deaf", _set_flag("deaf", True), "make a member (or 'all' but the chair) hear nothing"),
    _member_cmd("undeaf", _set_flag("deaf", False), "let a member (or 'all') hear the room again"),
    Command("remove", cmd_remove, "POST", "/rooms/{room}/members/{member}/remove",
            (ROOM, MEMBER, Arg("reason", str, "why, for the log", required=False, max_length=200)),
            "hang up on a member (SIP BYE)"),
    Command("lock", _set_lock(True), "POST", "/rooms/{room}/lock", (ROOM,), "lock a room: no new joins"),
    Command("unlock", _set_lock(False), "POST", "/rooms/{room}/unlock", (ROOM,), "unlock a room"),
    Command("layout", cmd_layout, "POST", "/rooms/{room}/layout",
            (ROOM, Arg("layout", str, "a layout or group name from layouts.toml", max_length=64),
             replace(MODE, required=False)),
            "set the room's layout (or group), and optionally its mode"),
    Command("mode", cmd_mode, "POST", "/rooms/{room}/mode", (ROOM, MODE),
            "set the room's mode: auto, voice (voice-activated), lecture, fixed"),
    Command("pin", cmd_pin, "POST", "/rooms/{room}/pin", (ROOM, REGION, TARGET),
            "show a member or roster site in a region of the layout"),
    Command("unpin", cmd_unpin, "POST", "/rooms/{room}/unpin", (ROOM, replace(REGION, required=False)),
            "unpin one region, or every region when none is given"),
    Command("floor", cmd_floor, "POST", "/rooms/{room}/floor",
            (ROOM, replace(TARGET, help="member id, roster site id, or 'auto' to follow the speaker again")),
            "give the floor by hand (pins the floor region), or 'auto' to give it back to voice switching"),
    Command("dial", cmd_dial, "POST", "/rooms/{room}/dial",
            (ROOM, Arg("target", str, "roster site id, sip:/sips: URI or h323:alias@host", max_length=256),
             Arg("name", str, "display name for a URI", required=False, max_length=128)),
            "call a site into the room"),
    Command("dial-roster", cmd_dial_roster, "POST", "/rooms/{room}/dial-roster", (ROOM,),
            "call every roster site that is not in the room"),
    Command("redial", cmd_redial, "POST", "/rooms/{room}/redial", (ROOM,),
            "call again the roster sites dialled into the room that dropped"),
    Command("cascade", cmd_cascade, "POST", "/rooms/{room}/cascade",
            (ROOM, Arg("to", str, "the main node: its node id (registry) or sip:room@host:port", max_length=256)),
            "join this node's part of the room to its main node as one participant (a cascade link)"),
    Command("reload", cmd_reload, "POST", "/reload", (), "reload the config files (a bad config is refused)"),
    Command("record-start", cmd_record_start, "POST", "/rooms/{room}/recording/start",
            (ROOM, replace(LAYOUT, help="a layout or group of layouts.toml for the recording (default: "
                                        "[recording] layout, else what the listeners see)", required=False)),
            "start recording a room: its full mix and picture, to [recording] dir"),
    Command("record-stop", cmd_record_stop, "POST", "/rooms/{room}/recording/stop", (ROOM,),
            "stop recording a room (the file is closed and the side file finished)"),
    Command("recordings", cmd_recordings, "GET", "/recordings",
            (replace(ROOM, where=QUERY, required=False, help="only this room's recordings"),),
            "list the recordings in [recording] dir, newest first, the running ones marked"),
    Command("stream-start", cmd_stream_start, "POST", "/rooms/{room}/stream/start",
            (ROOM, Arg("stream_url", str, "rtmp://host[:port]/app/key or rtmps:// (the key is never logged)",
                       max_length=1024),
             replace(LAYOUT, required=False)),
            "push a room's picture and mix live to an ingest server; reconnects with backoff"),
    Command("stream-stop", cmd_stream_stop, "POST", "/rooms/{room}/stream/stop", (ROOM,),
            "stop a room's live stream"),
    Command("roster", cmd_roster, "GET", "/rooms/{room}/roster", (ROOM,),
            "the roster sites (sites.toml) and whether each is present in the room, ringing, dropped or missing"),
    Command("layouts", cmd_layouts, "GET", "/layouts", (), "the layouts and groups of layouts.toml"),
    Command("layout-preview", cmd_layout_preview, "GET", "/layouts/{layout}/preview",
            (replace(LAYOUT, where=PATH, pattern=r"[A-Za-z0-9_.+\-]{1,64}"),
             Arg("members", int, "roster sites to draw in it (default: enough to fill it)", QUERY,
                 required=False, minimum=0, maximum=200)),
            "an offline preview of a layout or group filled with roster names, as `mcu layout render` draws it",
            result=PNG_RESULT),
    Command("content-status", cmd_content_status, "GET", "/rooms/{room}/content", (ROOM,),
            "content sharing of a room: who holds the floor, waiting requests, slides, encodings"),
    Command("content-grant", cmd_content_grant, "POST", "/rooms/{room}/content/grant",
            (ROOM, Arg("member", int, "member id of a site with BFCP (see the members command)", minimum=1,
                       maximum=999_999_999)),
            "give the content floor to a site (its request, or unasked); the presenter before is revoked"),
    Command("content-revoke", cmd_content_revoke, "POST", "/rooms/{room}/content/revoke", (ROOM,),
            "take the content floor back from whoever holds it (a site, or the operator's slides)"),
    Command("content-start", cmd_content_start, "POST", "/rooms/{room}/content/start",
            (ROOM, Arg("file", str, "a PNG, JPEG or PDF file the MCU can read (relative: to the config "
                                    "folder)", max_length=1024)),
            "present a file as content from the MCU itself (PDF: page 1 first)"),
    Command("content-page", cmd_content_page, "POST", "/rooms/{room}/content/page",
            (ROOM, Arg("page", int, "page number, from 1", minimum=1, maximum=100_000)),
            "show another page of the operator's PDF"),
    Command("content-stop", cmd_content_stop, "POST", "/rooms/{room}/content/stop", (ROOM,),
            "stop the operator's slides (the floor falls free, or to the next waiting site)"),
    Command("snapshot", cmd_snapshot, "GET", "/rooms/{room}/members/{member}/snapshot", (ROOM, MEMBER),
            "the picture currently sent to a member, as PNG", result=PNG_RESULT),
    Command("usage", cmd_usage, "GET", "/usage",
            (Arg("tenant", str, "tenant name (default: yours; the provider: every tenant)", QUERY,
                 required=False, pattern=r"[A-Za-z0-9_-]{1,32}", max_length=32),
             Arg("month", str, "calendar month YYYY-MM in UTC (default: this month)", QUERY, required=False,
                 pattern=r"[0-9]{4}-[0-9]{2}", max_length=7)),
            "the monthly usage statement: meetings, site-hours by quality tier, recording hours, peak"),
)



# ---------------------------------------------------------------------------------- many nodes


async def _forward_to_owner(ctx: AdminContext, command: Command, args: dict[str, Any]) -> Any:
    """In a cluster, a room command for a room another node hosts is answered by that node
    (mcu.cluster.admin_route); returns its result, or _HERE to run the command here."""
    node = getattr(ctx.server, "cluster", None)
    if node is None:
        return _HERE
    number = args["room"]
    room = ctx.server.conference.rooms.get(number)
    here = room is not None and bool(room.members)
    target = None if here else admin_route.decide(node.node_id, here, await node.room_owner(number))
    if target is None:
        return _HERE
    path = admin_route.request_path(command.path, {a.name: args[a.name] for a in command.path_args},
                                    {a.name: args[a.name] for a in command.query_args if args.get(a.name) is not None})
    body = {a.name: args[a.name] for a in command.body_args if a.name in args}
    try:
        answer = await admin_route.forward(target, command.method, path, body, node.admin_token,
                                           args.get("_who", ""), node.node_id)
    except OSError as exc:
        error = CommandError(f"room {number} is hosted by node {target.owner}, whose admin API at "
                             f"{target.admin_url} does not answer ({exc}); try again once another node "
                             f"has taken the room over")
        error.status = 503
        raise error from None
    node.forwarded[command.name] += 1
    event(log, "admin.forwarded", command=command.name, room=number, owner=target.owner, status=answer.status)
    if answer.status == 200:
        return answer.raw if answer.doc is None else answer.doc.get("result")
    doc = answer.doc if isinstance(answer.doc, dict) else {}
    error = CommandError(f"node {target.owner}: {doc.get('error', answer.raw.decode(errors='replace')[:200])}",
                         details=doc.get("details"))
    error.status = answer.status
    raise error


_HERE = object()
NOT_FORWARDED = {"cascade"}  # acts on this node's part of the room, whoever hosts the meeting


def _routed(command: Command) -> Command:
    """The command, answered by the room's node when that is another one (rooms with {room} in the path)."""
    if command.name in NOT_FORWARDED or not any(a.name == "room" and a.where == PATH for a in command.args):
        return command
    local = command.handler

    async def handler(ctx: AdminContext, args: dict[str, Any]) -> Any:
        result = await _forward_to_owner(ctx, command, args)
        return await local(ctx, args) if result is _HERE else result

    return replace(command, handler=handler)


# Every command checks the caller's tenant (mcu.admin.scope) and audits state changes; a room
# command for a room another node hosts is then answered by that node.
COMMANDS: tuple[Command, ...] = tuple(scoped(_routed(c), lambda ctx: ctx.audit) for c in _COMMANDS)

BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}
