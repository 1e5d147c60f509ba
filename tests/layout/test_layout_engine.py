"""Layout engine: tables of member counts, speaker changes, paging and modes, on a fake clock."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from mcu.layout.engine import (
    Assignment,
    Member,
    RoomState,
    View,
    new_room,
    next_deadline,
    observe,
    plan_views,
    set_mode,
    set_pins,
    set_self_view,
    shared_picture,
    with_config,
)
from mcu.layout.errors import LayoutNotFound
from mcu.layout.loader import load_config_dir, load_config_text
from mcu.layout.model import LayoutConfig, RoomMode
from tests.layout.layout_fixtures import CONF, LAYOUTS, SITES

CONFIG = load_config_text(LAYOUTS, SITES)
SITE_IDS = [s.id for s in CONFIG.sites]  # central (chair), lao-cai, s2..s11


def members(n: int, speaking: Sequence[str] = (), audio_only: Sequence[str] = ()) -> list[Member]:
    """m0..m{n-1} on the roster's sites in order; m0 is the chair."""
    out = []
    for i in range(n):
        mid = f"m{i}"
        out.append(
            Member(
                mid,
                SITE_IDS[i] if i < len(SITE_IDS) else None,
                "chair" if i == 0 else "participant",
                has_video=mid not in audio_only,
                speaking=mid in speaking,
                level=-20.0 - (list(speaking).index(mid) if mid in speaking else 0),
            )
        )
    return out


def room(n: int, layout: str = "speaker", mode: RoomMode = RoomMode.AUTO,
         config: LayoutConfig = CONFIG) -> RoomState:
    return observe(new_room(config, 0.0, mode, layout), members(n), 0.0)


def view_of(views: dict[Assignment, View], viewer: str) -> Assignment:
    found = [a for a, v in views.items() if viewer in v.viewers]
    assert len(found) == 1, f"{viewer} is in {len(found)} views"
    return found[0]


def check_invariants(state: RoomState, views: dict[Assignment, View]) -> None:
    ids = [m.id for m in state.members]
    seen = [v for view in views.values() for v in view.viewers]
    assert sorted(seen) == sorted(ids), "every member views exactly one picture"
    for assignment, view in views.items():
        assert view.assignment == assignment
        shown = [m for m in assignment.slots if m is not None]
        assert len(shown) == len(set(shown)), f"duplicate tile in {assignment}"
        for viewer in view.viewers:
            assert viewer not in shown, f"{viewer} sees itself in {assignment}"
        video = {m.id for m in state.members if m.has_video}
        assert set(shown) <= video
    assert len(views) == len(set(views)), "distinct keys"


# ----- invalid input first -------------------------------------------------------------------


def test_unknown_layout_is_refused() -> None:
    with pytest.raises(LayoutNotFound):
        new_room(CONFIG, 0.0, RoomMode.AUTO, "3x3")
    with pytest.raises(LayoutNotFound):
        set_mode(room(2), RoomMode.FIXED, "nope")


def test_duplicate_member_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        observe(new_room(CONFIG, 0.0), [Member("a"), Member("a")], 0.0)


def test_empty_room_has_no_views() -> None:
    assert plan_views(new_room(CONFIG, 0.0), 0.0) == {}


def test_room_of_audio_only_members_shares_one_empty_picture() -> None:
    state = observe(new_room(CONFIG, 0.0), members(3, audio_only=["m0", "m1", "m2"]), 0.0)
    views = plan_views(state, 0.0)
    assert len(views) == 1
    (assignment, view), = views.items()
    assert assignment.slots == (None,) and sorted(view.viewers) == ["m0", "m1", "m2"]


# ----- layout by member count ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "n", "layout", "distinct_views"),
    [
        ("speaker", 1, "1x1", 1),
        ("speaker", 2, "1x1", 2),
        ("speaker", 3, "1+3", 3),
        ("speaker", 5, "1+3", 5),  # 4 others fit 4 regions: everyone shown
        ("speaker", 6, "1+3", 5),  # one left off: m5 sees the shared picture
        ("grid", 2, "1x1", 2),
        ("grid", 4, "2x2", 4),
        ("grid", 5, "2x2", 5),
        ("grid", 9, "2x2", 5),  # 4 shown viewers + the audience
        ("chair", 4, "chair+1+2", 4),
    ],
)
def test_layout_by_member_count(group: str, n: int, layout: str, distinct_views: int) -> None:
    state = room(n, group)
    views = plan_views(state, 0.0)
    check_invariants(state, views)
    assert {a.layout for a in views} == {layout}
    assert len(views) == distinct_views


def test_everyone_sees_everyone_else_when_others_fit() -> None:
    state = room(5, "grid")  # 4 others, 4 tiles
    views = plan_views(state, 0.0)
    for m in state.members:
        shown = set(view_of(views, m.id).slots)
        assert shown == {x.id for x in state.members} - {m.id}


def test_audience_viewers_share_one_encoder_view() -> None:
    state = room(12, "speaker")  # 1+3: floor m0 and m1..m3 shown
    views = plan_views(state, 0.0)
    check_invariants(state, views)
    audience = view_of(views, "m11")
    assert sorted(views[audience].viewers, key=lambda v: int(v[1:])) == [
        f"m{i}" for i in range(4, 12)
    ]
    assert audience == shared_picture(state, 0.0)


def test_self_view_gives_the_whole_room_one_picture() -> None:
    state = set_self_view(room(12, "speaker"), True)  # 1+3: m0..m3 on screen
    views = plan_views(state, 0.0)
    # one picture for all twelve, the shown sites seeing themselves in it: one encoder
    assert list(views) == [shared_picture(state, 0.0)]
    assert sorted(views[shared_picture(state, 0.0)].viewers) == sorted(m.id for m in state.members)
    # off again: the four on screen each get their own picture back
    assert len(plan_views(set_self_view(state, False), 0.0)) == 5


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7])
def test_self_view_shows_everyone_over_the_pages(n: int) -> None:
    """With self view nobody's tile goes to someone left over: the layout is picked for all n,
    and paging starts as soon as they do not fit (over the pages, everyone is on screen)."""
    state = set_self_view(room(n, "grid"), True)
    shown: set[str] = set()
    for k in range(40):
        now = k * CONFIG.switching.page_interval_s
        views = plan_views(state, now)
        assert len(views) == 1
        shown |= {m for m in next(iter(views)).slots if m is not None}
    assert shown == {m.id for m in state.members}


def test_self_view_in_lecture_keeps_the_chairs_own_picture() -> None:
    state = set_self_view(new_room(CONFIG, 0.0, RoomMode.LECTURE, "speaker"), True)
    state = observe(state, members(6, speaking=["m4"]), 0.0)
    views = plan_views(state, 0.0)
    chair = view_of(views, "m0")
    assert "m0" not in chair.slots and views[chair].viewers == ["m0"]
    shared = view_of(views, "m5")
    assert sorted(views[shared].viewers) == ["m1", "m2", "m3", "m4", "m5"] and shared.slots[0] == "m0"


# ----- voice switching: speaker changes, hysteresis, minimum hold ----------------------------

# (time, who speaks, expected floor after the observation)
SWITCHING_TABLE = [
    (0.0, [], "m0"),  # nobody spoke: the first in roster order
    (0.5, ["m3"], "m0"),  # m3 leads, not yet for switch_delay (1.0)
    (1.4, ["m3"], "m0"),  # 0.9 s of lead: not yet
    (1.5, ["m3"], "m3"),  # 1.0 s: switch; a default floor is not protected by min_hold
    (2.0, ["m4"], "m3"),  # m4 leads from 2.0
    (3.1, ["m4"], "m3"),  # m4 led 1.1 s but m3 holds the floor until 1.5 + 3.0
    (4.4, ["m4"], "m3"),
    (4.5, ["m4"], "m4"),  # hold over: switch
    (4.6, ["m5"], "m4"),  # a cough ...
    (4.9, [], "m4"),  # ... is gone before switch_delay
    (5.5, ["m5"], "m4"),  # m5 starts again: the lead restarts at 5.5
    (6.4, ["m5"], "m4"),
    (7.5, ["m5"], "m5"),  # m4 held since 4.5: 7.5 ends the hold
    (8.0, ["m6", "m5"], "m5"),  # m6 louder than m5 from 8.0
    (9.0, [], "m5"),  # silence keeps the floor
]


def test_speaker_switching_table() -> None:
    state = new_room(CONFIG, 0.0, RoomMode.VOICE, "speaker")
    for now, speaking, floor in SWITCHING_TABLE:
        state = observe(state, members(8, speaking=speaking), now)
        assert state.floor == floor, f"t={now} speaking={speaking}"


def test_plan_views_applies_a_due_switch_without_new_input() -> None:
    state = observe(new_room(CONFIG, 0.0), members(4), 0.0)
    state = observe(state, members(4, speaking=["m2"]), 0.0)
    assert state.floor == "m0"
    assert shared_picture(state, 0.5).slots[0] == "m0"
    assert shared_picture(state, 1.0).slots[0] == "m2"
    assert next_deadline(state, 0.5) == 1.0


def test_speaker_sees_previous_speaker_in_the_floor() -> None:
    state = new_room(CONFIG, 0.0, RoomMode.AUTO, "speaker")
    state = observe(state, members(5, speaking=["m3"]), 0.0)
    state = observe(state, members(5, speaking=["m3"]), 1.0)
    state = observe(state, members(5, speaking=["m1"]), 10.0)
    state = observe(state, members(5, speaking=["m1"]), 11.0)
    assert (state.floor, state.history[0]) == ("m1", "m3")
    views = plan_views(state, 11.0)
    check_invariants(state, views)
    assert view_of(views, "m1").slots[0] == "m3"
    assert view_of(views, "m4").slots[0] == "m1"


def test_first_floor_goes_to_whoever_already_speaks() -> None:
    state = observe(new_room(CONFIG, 0.0), members(4, speaking=["m2"]), 0.0)
    assert state.floor == "m2"


def test_floor_holder_leaving_falls_back_to_the_previous_speaker() -> None:
    state = observe(new_room(CONFIG, 0.0), members(5, speaking=["m3"]), 0.0)
    state = observe(state, members(5, speaking=["m3"]), 1.0)
    state = observe(state, members(5, speaking=["m2"]), 5.0)
    state = observe(state, members(5, speaking=["m2"]), 6.0)
    assert state.floor == "m2"
    state = observe(state, [m for m in members(5) if m.id != "m2"], 6.5)
    assert state.floor == "m3"


def test_audio_only_speaker_never_takes_the_floor() -> None:
    state = observe(new_room(CONFIG, 0.0), members(4, ["m2"], audio_only=["m2"]), 0.0)
    state = observe(state, members(4, ["m2"], audio_only=["m2"]), 5.0)
    assert state.floor == "m0"
    views = plan_views(state, 5.0)
    check_invariants(state, views)
    assert "m2" not in view_of(views, "m1").slots


# ----- paging ---------------------------------------------------------------------------------

# grid group, 7 members, 6 others > 4 tiles + 1: pages of 4 over m0..m6 every 10 s
PAGING_TABLE = [
    (0.0, ("m0", "m1", "m2", "m3")),
    (9.9, ("m0", "m1", "m2", "m3")),
    (10.0, ("m4", "m5", "m6", "m0")),  # the last page wraps round to stay full
    (19.9, ("m4", "m5", "m6", "m0")),
    (20.0, ("m0", "m1", "m2", "m3")),
]


@pytest.mark.parametrize(("now", "slots"), PAGING_TABLE)
def test_paging_with_fake_clock(now: float, slots: tuple[str, ...]) -> None:
    state = room(7, "grid")
    picture = shared_picture(state, now)
    assert (picture.layout, picture.slots) == ("2x2", slots)
    check_invariants(state, plan_views(state, now))


def test_page_deadline_is_the_next_flip() -> None:
    assert next_deadline(room(7, "grid"), 12.5) == 20.0


def test_current_speaker_is_always_on_screen_while_paging() -> None:
    state = room(7, "grid")
    state = observe(state, members(7, speaking=["m5"]), 0.0)
    state = observe(state, members(7, speaking=["m5"]), 1.0)
    for now in (1.0, 5.0, 10.0, 15.0, 21.0):
        picture = shared_picture(state, now)
        assert "m5" in picture.slots, f"t={now}: {picture}"
    assert shared_picture(state, 1.0).slots == ("m0", "m1", "m2", "m5")
    check_invariants(state, plan_views(state, 1.0))


def test_floor_and_reserved_regions_stay_while_tiles_page() -> None:
    state = room(8, "chair")  # chair+1+2: reserved chair, floor, 2 tiles; 5 others left
    state = observe(state, members(8, speaking=["m6"]), 0.0)
    state = observe(state, members(8, speaking=["m6"]), 1.0)
    pictures = [shared_picture(state, t) for t in (1.0, 11.0, 21.0, 31.0)]
    assert all(p.slots[:2] == ("m0", "m6") for p in pictures)
    tiles = [p.slots[2:] for p in pictures]
    assert tiles == [("m1", "m2"), ("m3", "m4"), ("m5", "m7"), ("m1", "m2")]


def test_voice_mode_orders_tiles_by_recency() -> None:
    state = new_room(CONFIG, 0.0, RoomMode.VOICE, "grid")
    for t, who in ((0.0, "m6"), (1.0, "m6"), (5.0, "m5"), (6.0, "m5")):
        state = observe(state, members(7, speaking=[who]), t)
    assert state.floor == "m5"
    assert shared_picture(state, 6.0).slots == ("m5", "m6", "m0", "m1")


# ----- lecture mode ---------------------------------------------------------------------------


def test_lecture_mode_seen_by_chair_and_by_others() -> None:
    state = new_room(CONFIG, 0.0, RoomMode.LECTURE, "speaker")
    state = observe(state, members(6, speaking=["m4"]), 0.0)
    state = observe(state, members(6, speaking=["m4"]), 1.0)  # a remote site speaks
    views = plan_views(state, 1.0)
    check_invariants(state, views)
    # everyone else: the chair in the floor; m4, the speaker, stays on screen
    other = view_of(views, "m5")
    assert other.layout == "1+3" and other.slots[0] == "m0" and "m4" in other.slots
    # the chair: the lecture_chair_layout group ("grid") of the remote sites, never itself
    chair = view_of(views, "m0")
    assert chair.layout == "2x2" and "m0" not in chair.slots and "m4" in chair.slots
    assert views[chair].viewers == ["m0"]


def test_lecture_chair_speaking_keeps_remote_speaker_in_chair_view() -> None:
    state = new_room(CONFIG, 0.0, RoomMode.LECTURE, "speaker")
    script = ((0.0, "m3"), (1.0, "m3"), (5.0, "m0"), (6.0, "m0"))
    for t, who in script:
        state = observe(state, members(4, speaking=[who]), t)
    assert state.floor == "m0"
    views = plan_views(state, 6.0)
    assert view_of(views, "m1").slots[0] == "m0"
    assert set(view_of(views, "m0").slots) == {"m1", "m2", "m3", None}


def test_lecture_without_a_chair_behaves_like_auto() -> None:
    others = [Member(f"x{i}") for i in range(3)]
    state = observe(new_room(CONFIG, 0.0, RoomMode.LECTURE, "speaker"), others, 0.0)
    views = plan_views(state, 0.0)
    check_invariants(state, views)
    assert len(views) == 3


# ----- fixed mode and pins --------------------------------------------------------------------


def test_fixed_pins_hold_regardless_of_voice_and_time() -> None:
    state = set_pins(room(7, "2x2", RoomMode.FIXED), {0: "s5", 3: "m2"})  # site id or member id
    for t, who in ((0.0, "m6"), (2.0, "m6"), (15.0, "m1"), (30.0, "m1")):
        state = observe(state, members(7, speaking=[who]), t)
        assert shared_picture(state, t).slots == ("m5", "m0", "m1", "m2")
    views = plan_views(state, 30.0)
    check_invariants(state, views)
    assert view_of(views, "m5").slots == ("m3", "m0", "m1", "m2")  # pinned viewer replaced


def test_pins_beyond_the_layout_are_ignored() -> None:
    state = set_pins(room(3, "1x1", RoomMode.FIXED), {5: "m2"})
    assert shared_picture(state, 0.0).slots == ("m0",)


# ----- equal assignments for equal pictures ---------------------------------------------------


@pytest.mark.parametrize("seed", range(25))
def test_random_rooms_keep_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    mode = rng.choice(list(RoomMode))
    layout = rng.choice(["grid", "speaker", "chair", "pip", "1+3"])
    state = new_room(CONFIG, 0.0, mode, layout)
    if mode is RoomMode.FIXED:
        state = set_pins(state, {rng.randrange(4): f"m{rng.randrange(12)}"})
    n = rng.randrange(1, 16)
    now = 0.0
    for _ in range(12):
        now += rng.choice([0.2, 0.9, 2.5, 7.0])
        speaking = rng.sample([f"m{i}" for i in range(n)], k=min(n, rng.randrange(3)))
        audio_only = [f"m{i}" for i in range(n) if rng.random() < 0.1]
        state = observe(state, members(n, speaking, audio_only), now)
        views = plan_views(state, now)
        check_invariants(state, views)
        if state.floor is not None and mode is not RoomMode.FIXED:
            picture = shared_picture(state, now)
            assert state.floor in picture.slots, "the speaker is on screen"
        # the same state and time plan the same views (pure)
        assert plan_views(state, now) == views


def test_reload_keeps_state_and_falls_back_for_a_removed_layout() -> None:
    state = room(4, "chair")
    shipped = load_config_dir(CONF)
    reloaded = with_config(state, shipped)
    assert reloaded.layout == shipped.switching.default_layout
    assert reloaded.members == state.members and reloaded.floor == state.floor
    assert with_config(state, CONFIG).layout == "chair"


def test_shipped_config_plans_a_national_briefing() -> None:
    shipped = load_config_dir(CONF)
    roster = [Member(f"m{i}", s.id, s.role) for i, s in enumerate(shipped.sites)]
    state = observe(new_room(shipped, 0.0, RoomMode.LECTURE, "lecture"), roster, 0.0)
    views = plan_views(state, 0.0)
    check_invariants(state, views)
    audience = max(views.values(), key=lambda v: len(v.viewers))
    assert audience.assignment.layout == "1+12"
    assert len(views) == 1 + 12 + 1  # the audience, the 12 shown tiles, the chair
    assert len(audience.viewers) == len(roster) - 1 - 12
