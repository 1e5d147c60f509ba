"""The layout engine: who is shown where, for every viewer of a room.

A pure state machine. `RoomState` is an immutable value; `observe()` feeds it the
members (with their speaking flags) at time `now` and returns the next state;
`plan_views()` turns a state and `now` into the distinct pictures of the room and
the viewers of each. Nothing here reads a clock or keeps hidden state.

Rules, in priority order, for one picture:
  1. pins (operator: region index -> member or site id),
  2. reserved regions (the chair, a named site),
  3. floor regions (the current speaker, then the previous ones),
  4. plain tiles in the room's order, paged when they do not all fit.
Nobody is shown to itself: a viewer that appears in the shared picture gets the
same picture computed without it (its tile goes to the next member), unless the room
has self view on (then everyone but the lecture chair sees the one shared picture:
one encode for the room instead of one per member on screen). Viewers that would see
the same picture get EQUAL assignments, so the caller encodes it once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from mcu.layout.errors import LayoutNotFound
from mcu.layout.model import ROLE_CHAIR, ROLE_PARTICIPANT, Layout, LayoutConfig, RoomMode

_UNLISTED_ORDER = 10**9  # members whose site is not in the roster come after it


@dataclass(frozen=True)
class Member:
    id: str
    site_id: str | None = None
    role: str = ROLE_PARTICIPANT
    has_video: bool = True
    speaking: bool = False
    level: float = 0.0  # any scale where louder is higher (e.g. dBov)


@dataclass(frozen=True)
class Assignment:
    """The picture: which member each region of `layout` shows (None = empty tile)."""

    layout: str
    slots: tuple[str | None, ...]

    def region_of(self, member_id: str) -> int | None:
        try:
            return self.slots.index(member_id)
        except ValueError:
            return None


ViewKey = Assignment  # equal pictures are equal keys


class View(NamedTuple):
    assignment: Assignment
    viewers: list[str]


@dataclass(frozen=True)
class RoomState:
    config: LayoutConfig
    mode: RoomMode
    layout: str  # a layout or a group name
    members: tuple[Member, ...] = ()
    pins: tuple[tuple[int, str], ...] = ()  # (region index, member id or site id)
    floor: str | None = None  # current floor holder (the active speaker)
    floor_since: float = 0.0
    floor_by_voice: bool = False  # False: given by default, min_hold does not protect it
    history: tuple[str, ...] = ()  # previous floor holders, most recent first
    leader: str | None = None  # loudest speaking member now
    leader_since: float = 0.0
    page_epoch: float = 0.0
    self_view: bool = False  # members on screen see the shared picture, themselves included


# ----- state transitions ---------------------------------------------------------------------


def new_room(
    config: LayoutConfig, now: float, mode: RoomMode | None = None, layout: str | None = None
) -> RoomState:
    """A room with no members; mode and layout default to [switching] in layouts.toml."""
    sw = config.switching
    name = layout if layout is not None else sw.default_layout
    if not config.has(name):
        raise LayoutNotFound(name)
    return RoomState(config, mode or sw.default_mode, name, page_epoch=now)


def observe(state: RoomState, members: Sequence[Member], now: float) -> RoomState:
    """Take the current members and speaking flags; commit any due floor change."""
    ids = [m.id for m in members]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate member ids in {ids}")
    return _advance(replace(state, members=tuple(members)), now)


def set_mode(state: RoomState, mode: RoomMode, layout: str | None = None) -> RoomState:
    name = layout if layout is not None else state.layout
    if not state.config.has(name):
        raise LayoutNotFound(name)
    return replace(state, mode=mode, layout=name)


def set_pins(state: RoomState, pins: dict[int, str] | Iterable[tuple[int, str]]) -> RoomState:
    items = pins.items() if isinstance(pins, dict) else pins
    return replace(state, pins=tuple(sorted(items)))


def set_self_view(state: RoomState, on: bool) -> RoomState:
    return replace(state, self_view=on)


def with_config(state: RoomState, config: LayoutConfig) -> RoomState:
    """Swap in a reloaded config; a layout that vanished falls back to the default."""
    name = state.layout if config.has(state.layout) else config.switching.default_layout
    return replace(state, config=config, layout=name)


def _advance(state: RoomState, now: float) -> RoomState:
    sw = state.config.switching
    video = [m for m in state.members if m.has_video]
    present = {m.id for m in video}
    history = tuple(h for h in state.history if h in present)
    # the loudest speaking member; the current leader keeps the lead on a tie
    speaking = [m for m in video if m.speaking]
    leader, leader_since = state.leader, state.leader_since
    if not speaking:
        leader = None
    else:
        top = speaking[0]
        for m in speaking[1:]:
            if m.level > top.level:
                top = m
        current = next((m for m in speaking if m.id == state.leader), None)
        if (current is None or top.level > current.level) and top.id != state.leader:
            leader, leader_since = top.id, now
    floor, since, by_voice = state.floor, state.floor_since, state.floor_by_voice
    if floor not in present:
        if floor is not None:
            history = tuple(h for h in history if h != floor)
        fallback = leader or (history[0] if history else None)
        if fallback is None and video:
            keys = _order_keys(state)
            fallback = min(video, key=lambda m: keys[m.id]).id
        floor, since, by_voice = fallback, now, fallback is not None and fallback == leader
        history = tuple(h for h in history if h != floor)
    elif (
        leader is not None
        and leader != floor
        and now - leader_since >= sw.switch_delay_s
        and (not by_voice or now - since >= sw.min_hold_s)
    ):
        history = ((floor,) + tuple(h for h in history if h != leader))[: sw.history]
        floor, since, by_voice = leader, now, True
    return replace(
        state,
        floor=floor,
        floor_since=since,
        floor_by_voice=by_voice,
        history=history,
        leader=leader,
        leader_since=leader_since,
    )


def next_deadline(state: RoomState, now: float) -> float | None:
    """When plan_views may next change without new input (page flip or due floor switch)."""
    st = _advance(state, now)
    sw = st.config.switching
    times: list[float] = []
    if st.leader is not None and st.leader != st.floor:
        hold = st.floor_since + sw.min_hold_s if st.floor_by_voice else now
        times.append(max(st.leader_since + sw.switch_delay_s, hold))
    if st.mode is not RoomMode.FIXED:
        k = math.floor((now - st.page_epoch) / sw.page_interval_s) + 1
        times.append(st.page_epoch + k * sw.page_interval_s)
    return min(times) if times else None


# ----- planning ------------------------------------------------------------------------------


def _order_keys(state: RoomState) -> dict[str, tuple[int, int]]:
    """Member id -> (roster order of its site, join order = position in `members`)."""
    keys: dict[str, tuple[int, int]] = {}
    for index, m in enumerate(state.members):
        site = state.config.site(m.site_id) if m.site_id else None
        keys[m.id] = (site.order if site else _UNLISTED_ORDER, index)
    return keys


def _chair(state: RoomState) -> Member | None:
    chairs = [m for m in state.members if m.role == ROLE_CHAIR]
    if not chairs:
        site_chairs = {s.id for s in state.config.sites if s.role == ROLE_CHAIR}
        chairs = [m for m in state.members if m.site_id in site_chairs]
    keys = _order_keys(state)
    return min(chairs, key=lambda m: keys[m.id]) if chairs else None


@dataclass(frozen=True)
class _Picture:
    """Everything needed to fill one layout for any viewer."""

    layout: Layout
    pins: dict[int, str]
    reserved: dict[int, str]
    floor_order: tuple[str, ...]
    queue: tuple[str, ...]  # plain-tile candidates: the current page first, then the rest

    def fill(self, exclude: str | None = None) -> Assignment:
        slots: list[str | None] = [None] * self.layout.capacity
        used: set[str] = set()
        for i, mid in self.pins.items():
            if mid != exclude and mid not in used:
                slots[i] = mid
                used.add(mid)
        for i, mid in self.reserved.items():
            if mid != exclude and mid not in used:
                slots[i] = mid
                used.add(mid)
        floors = (m for m in self.floor_order if m != exclude and m not in used)
        for i, region in enumerate(self.layout.regions):
            if region.floor and i not in self.pins:
                floor_mid = next(floors, None)  # the generator re-checks `used` lazily
                slots[i] = floor_mid
                if floor_mid is not None:
                    used.add(floor_mid)
        # plain tiles first, then a pinned or reserved region the excluded viewer vacated
        # (filled last, so the other tiles of its view do not move)
        vacated = [i for i, m in (*self.pins.items(), *self.reserved.items()) if m == exclude]
        plain = [i for i, r in enumerate(self.layout.regions) if r.plain and i not in self.pins]
        queue = (m for m in self.queue if m != exclude and m not in used)
        for i in plain + vacated:
            slots[i] = next(queue, None)
        return Assignment(self.layout.name, tuple(slots))


def _picture(
    state: RoomState,
    now: float,
    layout_name: str,
    candidates: list[Member],
    floor_first: list[str],
    by_recency: bool,
) -> _Picture:
    """Build the shared picture for `candidates` (already without any excluded viewer)."""
    cfg, sw = state.config, state.config.switching
    keys = _order_keys(state)
    ordered = sorted(candidates, key=lambda m: keys[m.id])
    ids = [m.id for m in ordered]
    present = set(ids)
    # each viewer sees the others (its own tile goes to the one left over), unless with self view
    spare = 0 if state.self_view else 1
    layout = cfg.pick(layout_name, max(1, len(ids) - spare))
    by_site: dict[str, str] = {}
    for m in ordered:
        if m.site_id is not None:
            by_site.setdefault(m.site_id, m.id)
    pins: dict[int, str] = {}
    for index, target in state.pins:
        mid = target if target in present else by_site.get(target)
        if 0 <= index < layout.capacity and mid is not None:
            pins[index] = mid
    chair = _chair(state)
    reserved: dict[int, str] = {}
    for i, region in enumerate(layout.regions):
        if region.reserved is None or i in pins:
            continue
        if region.reserved == ROLE_CHAIR:
            mid = chair.id if chair is not None and chair.id in present else None
        else:
            mid = by_site.get(region.reserved)
        if mid is not None:
            reserved[i] = mid
    fixed = state.mode is RoomMode.FIXED
    voice_order = [m for m in floor_first if m in present]
    if fixed:
        floor_order = ids
    else:
        floor_order = _unique(voice_order + ids)
    picture = _Picture(layout, pins, reserved, tuple(floor_order), ())
    used = {m for m in picture.fill().slots if m is not None}
    tile_order = _unique(voice_order + ids) if by_recency else ids
    rest = [m for m in tile_order if m not in used]
    tiles = sum(1 for i, r in enumerate(layout.regions) if r.plain and i not in pins)
    if fixed or tiles == 0 or len(rest) <= tiles + spare:
        queue = rest  # everyone fits
    else:
        pages = math.ceil(len(rest) / tiles)
        page = math.floor((now - state.page_epoch) / sw.page_interval_s) % pages
        start = page * tiles
        queue = [rest[(start + k) % len(rest)] for k in range(len(rest))]
    speaker = state.floor
    if not fixed and tiles > 0 and speaker in queue and speaker not in queue[:tiles]:
        # the speaker always gets on screen: it takes the page's last tile
        queue.remove(speaker)
        queue.insert(tiles - 1, speaker)
    return replace(picture, queue=tuple(queue))


def _unique(items: Iterable[str]) -> list[str]:
    """`items` without repeats, first occurrence kept."""
    return list(dict.fromkeys(items))


def plan_views(state: RoomState, now: float) -> dict[ViewKey, View]:
    """Every distinct picture of the room at `now`, with the ids of the members who see it."""
    st = _advance(state, now)
    video = [m for m in st.members if m.has_video]
    voice_first = [m for m in (st.floor, *st.history) if m is not None]
    chair = _chair(st) if st.mode is RoomMode.LECTURE else None
    views: dict[ViewKey, View] = {}

    def add(assignment: Assignment, viewer: str) -> None:
        views.setdefault(assignment, View(assignment, [])).viewers.append(viewer)

    if chair is not None:
        others = [m for m in video if m.id != chair.id]
        chair_picture = _picture(
            st, now, st.config.switching.lecture_chair_layout, others,
            [m for m in voice_first if m != chair.id], by_recency=False,
        )
        add(chair_picture.fill(exclude=chair.id), chair.id)
        floor_first = [chair.id] + voice_first
        by_recency = False
    else:
        floor_first = voice_first
        by_recency = st.mode is RoomMode.VOICE
    picture = _picture(st, now, st.layout, video, floor_first, by_recency)
    base = picture.fill()
    for m in st.members:
        if chair is not None and m.id == chair.id:
            continue
        add(picture.fill(exclude=m.id) if m.id in base.slots and not st.self_view else base, m.id)
    return views


def shared_picture(state: RoomState, now: float) -> Assignment:
    """The picture of a viewer who is not on screen (the audience); for previews."""
    st = _advance(state, now)
    video = [m for m in st.members if m.has_video]
    chair = _chair(st) if st.mode is RoomMode.LECTURE else None
    voice_first = [m for m in (st.floor, *st.history) if m is not None]
    floor_first = ([chair.id] if chair else []) + voice_first
    by_recency = st.mode is RoomMode.VOICE and chair is None
    return _picture(st, now, st.layout, video, floor_first, by_recency).fill()
