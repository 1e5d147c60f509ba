"""The planner's arithmetic against hand computations (unit costs from plan_helpers.unit_cal:
decode hd720 1.0 / sd360 0.5 / fhd1080 2.0 ms, encode hd720 3.0 / sd360 1.0 / fhd1080 6.0 ms,
scale 0.5 ms, blit 0.01 ms, mix 10 us/member, G.711 decode 2 us and encode 2 us, RTP 5 us)."""

from dataclasses import replace

import pytest

from mcu.plan.calibration import LoadScenario
from mcu.plan.cpu import ContentSpec, LayoutSpec, MeetingShape, load_shape, meeting_cpu, plan_views
from mcu.plan.delay import G114_LIMIT_MS, Path, site_delay, site_to_site
from mcu.plan.inputs import PlanInputs, Prices, Site
from mcu.plan.loadcheck import check_loads, load_rates, predict_load
from mcu.plan.model import make_plan, size_machines
from mcu.plan.network import Rates, audio_stream, member_stream, video_stream
from mcu.plan.tiers import SiteMedia
from tests.plan.plan_helpers import unit_cal

HD = SiteMedia("hd720", 30.0, "g711")
SD = SiteMedia("sd360", 30.0, "g711")
FHD = SiteMedia("fhd1080", 30.0, "g711")
AUDIO = SiteMedia("audio", 30.0, "g711")


# --- impossible shapes first

def test_unknown_layout_mode_is_refused():
    with pytest.raises(ValueError, match="unknown layout mode 'mosaic'"):
        plan_views(MeetingShape((HD, HD), LayoutSpec("mosaic")))


def test_preset_missing_from_calibration_is_refused():
    with pytest.raises(ValueError, match="no encode costs for preset 'veryfast'"):
        meeting_cpu(MeetingShape((HD, HD), preset="veryfast"), unit_cal())


def test_all_audio_meeting_has_no_video_work():
    cpu = meeting_cpu(MeetingShape((AUDIO,) * 5), unit_cal())
    assert (cpu.decode, cpu.encode, cpu.compose) == (0.0, 0.0, 0.0)
    # audio: K = 3 own G.711 encodes + 1 shared = 4 x 2 us; decode 5 x 2 us; mix 5 x 10 us
    # = 8 + 10 + 50 = 68 us per tick x 50 = 3.4 ms/s; rtp 5 x 50 x 2 = 500 pkt/s x 5 us = 2.5 ms/s
    assert cpu.audio == pytest.approx(3.4)
    assert cpu.rtp == pytest.approx(2.5)
    assert cpu.bound_by == "audio"


# --- network

def test_audio_and_video_wire_rates():
    rates = Rates()
    # G.711: 64 kbit/s + 50 pkt/s x 40 B x 8 / 1000 = 64 + 16 = 80
    g711 = audio_stream(rates, "g711")
    assert (g711.packets_per_s, g711.wire_kbps) == (50.0, 80.0)
    # hd720 1500 kbit/s at 30 fps: 6250 B per frame -> ceil(6250 / 1200) = 6 packets -> 180 pkt/s,
    # 1500 + 180 x 320 / 1000 = 1557.6
    hd = video_stream(rates, "hd720", 30.0)
    assert hd.packets_per_s == 180.0
    assert hd.wire_kbps == pytest.approx(1557.6)
    # sd360 512 kbit/s at 15 fps: 4266.7 B -> 4 packets -> 60 pkt/s; 512 + 60 x 0.32 = 531.2
    sd = video_stream(rates, "sd360", 15.0)
    assert (sd.packets_per_s, sd.wire_kbps) == (60.0, pytest.approx(531.2))
    # a member sends both: 80 + 1557.6 = 1637.6 kbit/s, 230 pkt/s
    both = member_stream(rates, HD)
    assert (both.packets_per_s, both.wire_kbps) == (230.0, pytest.approx(1637.6))


# --- views and decodes per layout

def test_grid_with_everyone_on_screen_gives_everyone_an_own_view():
    vp = plan_views(MeetingShape((HD,) * 4, LayoutSpec("grid", tiles=9)))
    # 4 video members <= 9 tiles: 4 decodes, 4 own views of 3 tiles (everyone but itself), no shared view
    assert len(vp.decodes) == 4
    assert [(v.own, v.tiles) for v in vp.views] == [(True, 3)] * 4
    assert vp.scale_ops_per_s == 4 * 30


def test_paged_grid_shares_one_view_among_sites_not_shown():
    vp = plan_views(MeetingShape((HD,) * 64, LayoutSpec("grid", tiles=9)))
    # shown 9, decodes 9 + 1 (fills a shown site's own slot) = 10; 9 own views + 1 shared, 9 tiles each
    assert len(vp.decodes) == 10
    assert [(v.own, v.tiles) for v in vp.views] == [(True, 9)] * 9 + [(False, 9)]


def test_voice_mode_decodes_speaker_and_previous_speaker():
    vp = plan_views(MeetingShape((HD,) * 10, LayoutSpec("voice")))
    # the speaker (own view: the previous speaker) and everyone else (shared view: the speaker)
    assert len(vp.decodes) == 2
    assert [(v.own, v.tiles) for v in vp.views] == [(True, 1), (False, 1)]


def test_lecture_mode_everyone_sees_the_chair():
    vp = plan_views(MeetingShape((HD,) + (SD,) * 5, LayoutSpec("lecture", chair_tiles=2)))
    # decodes: chair + 2 remote sites = 3; views: the chair's own hd720 view of 2 tiles,
    # one shared sd360 view of the chair (1 tile)
    assert len(vp.decodes) == 3
    assert [(v.tier, v.own, v.tiles) for v in vp.views] == [("hd720", True, 2), ("sd360", False, 1)]


def test_mixed_tiers_show_the_costliest_and_share_per_tier():
    members = (SD, HD, AUDIO, FHD, SD, HD)
    vp = plan_views(MeetingShape(members, LayoutSpec("grid", tiles=2)))
    # video members by cost: fhd, hd, hd, sd, sd; shown fhd + hd; decodes fhd, hd, hd;
    # own views fhd and hd (2 tiles each); shared views hd and sd (2 tiles); audio-only gets none
    assert [m.tier for m in vp.decodes] == ["fhd1080", "hd720", "hd720"]
    assert [(v.tier, v.own) for v in vp.views] == [("fhd1080", True), ("hd720", True),
                                                  ("hd720", False), ("sd360", False)]
    # scales: 3 sources x 3 view tiers (fhd, hd, sd) x 30 fps
    assert vp.scale_ops_per_s == 3 * 3 * 30


def test_recorder_adds_a_shared_view():
    vp = plan_views(MeetingShape((HD,) * 4, recorder=SiteMedia("hd720", 30.0, "opus")))
    assert [(v.own, v.tiles) for v in vp.views] == [(True, 3)] * 4 + [(False, 4)]


# --- CPU

def test_four_member_grid_cpu_by_hand():
    cpu = meeting_cpu(MeetingShape((HD,) * 4, LayoutSpec("grid", tiles=9)), unit_cal())
    # decode  4 x 1.0 ms x 30 = 120
    # encode  4 views x 3.0 ms x 30 = 360
    # compose scale 4 sources x 30 x 0.5 = 60 + blit 4 views x 3 tiles x 30 x 0.01 = 3.6 -> 63.6
    # audio   (3 own + 1 shared G.711 encodes x 2 + 4 decodes x 2 + 4 x 10 mix) = 56 us x 50 = 2.8
    # rtp     4 members x 230 pkt/s x 2 directions = 1840 x 5 us = 9.2
    # total   555.6 ms/s = 0.5556 cores, bound by encode
    assert cpu.decode == pytest.approx(120.0)
    assert cpu.encode == pytest.approx(360.0)
    assert cpu.compose == pytest.approx(63.6)
    assert cpu.audio == pytest.approx(2.8)
    assert cpu.rtp == pytest.approx(9.2)
    assert cpu.cores == pytest.approx(0.5556)
    assert cpu.bound_by == "encode"
    assert cpu.audio_encodes_per_tick == 4


def test_view_frames_and_the_video_room_cost_on_the_conference_path():
    base = meeting_cpu(MeetingShape((HD,) * 4, LayoutSpec("grid", tiles=9)), unit_cal())
    cpu = meeting_cpu(MeetingShape((HD,) * 4, LayoutSpec("grid", tiles=9)),
                      replace(unit_cal(), view_ms=0.5, video_room_ms=100.0))
    # four own views at 30 fps: 120 view frames x 0.5 ms = 60 ms/s more compose; one room: +100 ms/s
    assert cpu.compose - base.compose == pytest.approx(60.0)
    assert cpu.overhead == pytest.approx(100.0)
    assert cpu.cores - base.cores == pytest.approx(0.160)
    assert cpu.bound_by == "encode"  # the overhead is never what bounds a meeting
    audio_only = meeting_cpu(MeetingShape((AUDIO,) * 4), replace(unit_cal(), video_room_ms=100.0))
    assert audio_only.overhead == 0.0


def test_self_view_shares_one_view_for_the_whole_grid():
    cpu = meeting_cpu(MeetingShape((HD,) * 12, LayoutSpec("grid", tiles=9, self_view=True)), unit_cal())
    # 9 shown of 12, no own views: 9 decodes (no +1 tile to fill), one shared hd720 view of 9 tiles
    assert len(cpu.plan.decodes) == 9 and [(v.own, v.tiles) for v in cpu.plan.views] == [(False, 9)]
    # decode 9 x 1.0 x 30 = 270; encode 1 x 3.0 x 30 = 90; compose 9 x 30 x 0.5 + 9 x 30 x 0.01 = 137.7
    assert (cpu.decode, cpu.encode, cpu.compose) == pytest.approx((270.0, 90.0, 137.7))
    without = meeting_cpu(MeetingShape((HD,) * 12, LayoutSpec("grid", tiles=9)), unit_cal())
    assert len(without.plan.views) == 10  # 9 own + 1 shared: ten encodes instead of one


def test_briefing_where_the_provinces_see_the_chair_and_twelve_of_them():
    members = (HD,) * 64  # the chair and 63 provinces
    lay = LayoutSpec("lecture", chair_tiles=12, audience_tiles=13)
    cpu = meeting_cpu(MeetingShape(members, lay), unit_cal())
    # the chair's view (12 tiles) + 12 provinces on screen each without itself (13 tiles) +
    # one view for the other 51 (13 tiles): 14 encodes; decodes: the chair + 13 provinces
    # (the 13th fills a shown province's own slot)
    assert [(v.own, v.tiles) for v in cpu.plan.views] == [(True, 12)] + [(True, 13)] * 12 + [(False, 13)]
    assert len(cpu.plan.decodes) == 14 and cpu.encode == pytest.approx(14 * 3.0 * 30)
    shared = meeting_cpu(MeetingShape(members, replace(lay, self_view=True)), unit_cal())
    # self view: the chair's view + one for all 63; the chair + 12 provinces decoded
    assert [(v.own, v.tiles) for v in shared.plan.views] == [(True, 12), (False, 13)]
    assert len(shared.plan.decodes) == 13 and shared.encode == pytest.approx(2 * 3.0 * 30)


def test_video_packets_cost_more_than_audio_ones():
    shape = MeetingShape((HD,) * 4, LayoutSpec("grid", tiles=9))
    base = meeting_cpu(shape, unit_cal())
    cpu = meeting_cpu(shape, replace(unit_cal(), video_in_us_per_packet=10.0, video_out_us_per_packet=5.0))
    # hd720 1500 kbit/s at 30 fps = 6 packets a frame: 4 x 180 = 720 video packets/s each way
    # -> 720 x 10 us in + 720 x 5 us out = 10.8 ms/s on top of the 5 us every packet costs
    assert cpu.rtp - base.rtp == pytest.approx(10.8)


def test_members_sending_less_than_they_receive():
    sd_in_hd_out = SiteMedia("hd720", 30.0, "g711", send_tier="sd360")
    cpu = meeting_cpu(MeetingShape((sd_in_hd_out,) * 4, LayoutSpec("grid", tiles=9)), unit_cal())
    # decode follows what they send: 4 x 0.5 ms x 30 = 60; the views stay hd720: 4 x 3.0 x 30 = 360
    # rtp: in 4 x (50 audio + sd360 512 kbit/s = 2134 B/frame -> 2 x 30 = 60) = 440,
    #      out 4 x (50 + hd720 1500 kbit/s -> 6 x 30 = 180) = 920; 1360 x 5 us = 6.8
    assert cpu.decode == pytest.approx(60.0)
    assert cpu.encode == pytest.approx(360.0)
    assert cpu.rtp == pytest.approx(6.8)
    assert member_stream(Rates(), sd_in_hd_out, sent=True).packets_per_s == 110.0
    assert member_stream(Rates(), sd_in_hd_out).packets_per_s == 230.0


def test_content_sharing_adds_one_decode_one_encode_and_copies():
    base = meeting_cpu(MeetingShape((HD,) * 4), unit_cal())
    cpu = meeting_cpu(MeetingShape((HD,) * 4, content=ContentSpec("hd720", 5.0, 512.0)), unit_cal())
    # + decode 1.0 x 5 = 5; + encode 3.0 x 5 = 15
    # content 512 kbit/s at 5 fps: 12800 B per frame -> 11 packets -> 55 pkt/s, 1 in + 3 out = 220 x 5 us = 1.1
    assert cpu.decode - base.decode == pytest.approx(5.0)
    assert cpu.encode - base.encode == pytest.approx(15.0)
    assert cpu.rtp - base.rtp == pytest.approx(1.1)


def test_costliest_codecs_are_the_speakers():
    members = (SiteMedia("hd720", 30.0, "opus"),) + (HD,) * 4
    cpu = meeting_cpu(MeetingShape(members), unit_cal())
    # own mixes: opus 70 + 2 x g711 2 = 74; shared: g711 2 -> 76 us; decode 20 + 4 x 2 = 28; mix 50
    # (76 + 28 + 50) x 50 / 1000 = 7.7
    assert cpu.audio == pytest.approx(7.7)


# --- delay

def test_delay_by_hand_within_g114():
    d = site_delay(unit_cal(), Path(distance_km=1000, route_factor=1.5, jitter_ms=10), HD, HD,
                   members=4, tiles=3, preset="ultrafast", buffer_ms=40)
    # propagation 1000 x 1.5 x 0.005 = 7.5
    # audio: mcu 20 + (2 + 40 + 2) us = 20.044; codec 20 + 0 -> 7.5 + 10 + 40 + 20.044 + 20 = 97.544
    # video: mcu 1.0 + 33.333 + 0.5 + 3 x 0.01 + 3.0 = 37.863; codec 33.333 + 3.0 + 1.0 = 37.333
    #        -> 7.5 + 10 + 40 + 37.863 + 37.333 = 132.697
    assert d.audio.total_ms == pytest.approx(97.544)
    assert d.video.total_ms == pytest.approx(132.697, abs=1e-3)
    assert d.worst_ms == d.video.total_ms
    assert d.within_g114


def test_measured_rtt_wins_and_can_break_g114():
    path = Path(distance_km=10, rtt_ms=300, jitter_ms=0)
    d = site_delay(unit_cal(), path, SiteMedia("audio", 30, "g711"), HD, members=4, tiles=1,
                   preset="ultrafast", buffer_ms=40)
    # propagation 300 / 2 = 150, so the total passes 150 ms; an audio-only site has no video delay
    assert d.audio.propagation_ms == 150.0
    assert d.video is None
    assert d.worst_ms > G114_LIMIT_MS and not d.within_g114
    # site to site adds the other site's leg: 150 + 0 more
    assert site_to_site(d, Path(distance_km=2000, jitter_ms=5)) == pytest.approx(d.worst_ms + 15.0 + 5.0)


# --- machines, volume, utilisation, cost

def test_machines_by_hand():
    m = size_machines(0.5556, 5, 4, 0.7, "n+1")
    # usable 4 x 0.7 = 2.8; floor(2.8 / 0.5556) = 5 per machine; 1 active + 1 spare;
    # peak 5 x 0.5556 = 2.778 on 4 cores = 69.45%; smallest machine ceil(0.5556 / 0.7) = 1 core
    assert (m.meetings_per_machine, m.active, m.spare, m.total, m.fits) == (5, 1, 1, 2, True)
    assert m.peak_load == pytest.approx(0.6945)
    assert m.min_machine_cores == 1


def test_a_meeting_bigger_than_a_machine_does_not_fit():
    m = size_machines(3.0, 1, 2, 0.7, "none")
    # usable 1.4 < 3.0: does not fit; 3 / 1.4 -> 3 machines if it could be split; ceil(3 / 0.7) = 5 cores
    assert (m.fits, m.meetings_per_machine, m.active, m.min_machine_cores) == (False, 0, 3, 5)


def _inputs(**kw) -> PlanInputs:
    sites = tuple(Site(f"s{i}", f"s{i}", HD, 2, Path(0, None, 1.0, 0) if i == 0 else Path(500, None, 1.5, 10),
                       i == 0) for i in range(4))
    base = PlanInputs(meetings_per_month=4, typical_minutes=90, longest_minutes=120, concurrent=1,
                      sites=sites, prices=Prices("EUR", 100.0, 10.0, 2.0))
    return replace(base, **kw)


def test_plan_volume_utilisation_and_cost_by_hand():
    r = make_plan(_inputs(), unit_cal())
    # in = out = 4 x 1637.6 = 6550.4 kbit/s
    # volume: 13100.8 kbit/s x 1000 x 5400 s / 8 / 1e9 = 8.84304 GB per meeting, x 4 = 35.37216 GB
    # use: 4 x 1.5 h = 6 h of 730 h = 0.8219%
    # build: 1 machine x 100 + 6.5504 Mbit/s x 10 = 165.504; rent: 4 ports x 6 h x 2 = 48
    assert r.central_in_kbps == pytest.approx(6550.4)
    assert r.central_out_kbps == pytest.approx(6550.4)
    assert r.volume_gb_per_month == pytest.approx(35.37216)
    assert r.utilisation == pytest.approx(6 / 730)
    assert r.costs.build_per_month == pytest.approx(165.504)
    assert r.costs.rent_per_month == pytest.approx(48.0)
    assert r.machines.total == 1 and r.meeting_cores == pytest.approx(0.5556)
    # the chair is at the centre: no propagation, no jitter
    assert r.delays[0].audio.propagation_ms == 0.0 and r.delays[0].audio.jitter_ms == 0.0
    assert r.all_within_g114


def test_concurrent_meetings_multiply_peak_cpu_and_bandwidth():
    one, two = make_plan(_inputs(), unit_cal()), make_plan(_inputs(concurrent=2), unit_cal())
    assert two.peak_cores == pytest.approx(2 * one.peak_cores)
    assert two.central_in_kbps == pytest.approx(2 * one.central_in_kbps)
    assert two.volume_gb_per_month == pytest.approx(one.volume_gb_per_month)  # same meetings per month
    assert two.utilisation == pytest.approx(one.utilisation / 2)


def test_no_prices_means_no_cost_view():
    r = make_plan(_inputs(prices=Prices()), unit_cal())
    assert (r.costs.build_per_month, r.costs.rent_per_month) == (None, None)


# --- prediction against measured load scenarios

def test_load_check_ratio_by_hand():
    cal = replace(unit_cal(), loads=(
        LoadScenario("grid-4", 4, "grid", 9, "hd720", 30.0, "g711", "ultrafast", 3, 0.5),
        LoadScenario("grid-4-slow", 4, "grid", 9, "hd720", 30.0, "g711", "ultrafast", 3, 0.4),
    ))
    checks = check_loads(cal)
    # predicted 0.5556 cores (test_four_member_grid_cpu_by_hand): 0.5556 / 0.5 = 1.111, / 0.4 = 1.389
    assert [c.name for c in checks] == ["grid-4", "grid-4-slow"]
    assert checks[0].ratio == pytest.approx(1.1112)
    assert checks[0].within() and not checks[1].within()


def test_load_check_uses_the_bitrates_its_run_measured():
    measured = LoadScenario("grid-4", 4, "grid", 9, "hd720", 30.0, "g711", "ultrafast", 3, 0.5,
                            send_tier="sd360", video_kbps_in=40.0, video_kbps_out=100.0)
    rates = load_rates(measured)
    assert rates.video_kbps["sd360"] == 40.0 and rates.video_kbps["hd720"] == 100.0
    # packets: in 4 x (50 + 30 x 1) = 320, out 4 x (50 + 30 x 1) = 320 -> 640 x 5 us = 3.2 ms/s
    cpu = meeting_cpu(load_shape(measured), unit_cal(), rates)
    assert cpu.rtp == pytest.approx(3.2)
    assert predict_load(measured, unit_cal()) == pytest.approx(cpu.cores)
