"""Admission from the capacity model, against hand computations.

Unit costs from tests.plan.plan_helpers.unit_cal (G.711 members; 720p30 = 180 video packets/s,
720p15 = 165, 360p15 = 60, at 1200-byte payloads):

    one 720p30 member, grid 1x1:    decode 30 + encode 90 + scale 15 + audio 0.7 + rtp 2.3
                                    = 138.0 ms/s
    two 720p30 members (1x1: one shown, its own view + one shared view):
                                    decode 60 + encode 180 + compose 30.6 + audio 1.4 + rtp 4.6
                                    = 276.6 ms/s
    the second at 15 fps (step "fps"):
                                    decode 45 + encode 135 + compose 30.45 + audio 1.4 + rtp 4.45
                                    = 216.3 ms/s
    the second at 360p15 (step "tier" on top of "fps"):
                                    decode 37.5 + encode 105 + compose 45.45 + audio 1.4 + rtp 3.4
                                    = 192.75 ms/s
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path

import pytest

from mcu.admission import (
    AdmissionController,
    Admit,
    CalibrationUnavailable,
    Candidate,
    CpuSampler,
    Degrade,
    LoadModel,
    Refuse,
    candidate_for,
    describe_conference,
    member_media,
    tier_of,
)
from mcu.calls.streams import Streams
from mcu.conference.engine import Conference
from mcu.config import AdmissionSection, load_config
from mcu.media.frames import alloc_i420
from mcu.plan.calibration import DEFAULT_CALIBRATION, load_calibration
from mcu.plan.cpu import LayoutSpec, MeetingShape, meeting_cpu
from mcu.plan.tiers import SiteMedia
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import negotiate
from mcu.tomlfile import ConfigError
from tests.helpers import write_test_config
from tests.plan.plan_helpers import unit_cal

HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
AUDIO = "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
VIDEO_720 = ("m=video 4002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
             "a=fmtp:97 profile-level-id=42e01f;packetization-mode=1\r\n")
CHAIR_URI = "sip:trung-uong@sites.example.net"  # conf/sites.toml: the chair
ROSTER_URI = "sip:bo-tttt@sites.example.net"  # conf/sites.toml: a participant
UNKNOWN_URI = "sip:somebody@elsewhere.example"


def offer(video: bool = True) -> Streams:
    return Streams.of_sdp(negotiate(HEAD + AUDIO + (VIDEO_720 if video else ""), Capabilities(), "127.0.0.1",
                                    [30000, 30002] if video else [30000]))


def conference(tmp_path: Path, rooms: str | None = None, extra: str = "") -> Conference:
    return Conference(load_config(write_test_config(tmp_path, 5999, rooms=rooms, extra=extra)))


def join(conf: Conference, n: int, room: str = "4100", video: bool = True, uri: str = "") -> None:
    for _ in range(n):
        i = len(conf.members) + 1
        conf.join(f"call-{i}", room, offer(video), display_name=f"Site {i}", user_agent="", remote="",
                  now=0.0, uri=uri or f"sip:site{i}@example.net")


def controller(ceiling_cores: float, reserve_cores: float = 0.0, **settings: object) -> AdmissionController:
    """A controller on the unit costs, with 1 core so that the ceiling reads in cores."""
    section = AdmissionSection(ceiling=ceiling_cores, reserve=reserve_cores, measured_guard=False)
    return AdmissionController(LoadModel(unit_cal()), replace(section, **settings), cores=1.0)


def video_candidate(conf: Conference, uri: str = UNKNOWN_URI) -> Candidate:
    return candidate_for(conf, uri, "", offer())


# --------------------------------------------------------------------------- the model


def test_empty_box_predicts_nothing_and_admits(tmp_path: Path) -> None:
    conf = conference(tmp_path)
    ctl = controller(0.2)
    assert describe_conference(conf) == {}
    assert ctl.model is not None and ctl.model.predict(conf) == 0.0
    decision = ctl.decide(conf, "4100", video_candidate(conf))
    assert isinstance(decision, Admit)
    assert decision.predicted_cores == pytest.approx(0.138)


def test_audio_members_by_hand(tmp_path: Path) -> None:
    conf = conference(tmp_path)
    model = LoadModel(unit_cal())
    join(conf, 1, video=False)
    # audio (2 encode + 2 decode + 10 mix) x 50 / 1000 = 0.7; rtp 100 packets x 5 us = 0.5
    assert model.predict(conf) == pytest.approx(0.0012)
    join(conf, 1, video=False)
    # (4 + 4 + 20) x 50 / 1000 = 1.4; 200 packets x 5 us = 1.0
    assert model.predict(conf) == pytest.approx(0.0024)


def test_video_members_by_hand(tmp_path: Path) -> None:
    conf = conference(tmp_path)
    model = LoadModel(unit_cal())
    join(conf, 1)
    assert model.predict(conf) == pytest.approx(0.138)
    join(conf, 1)
    assert model.predict(conf) == pytest.approx(0.2766)


def test_prediction_is_meeting_cpu_of_the_same_shape(tmp_path: Path) -> None:
    """Members and views grow the load exactly as `mcu plan` says, with the shipped calibration."""
    conf = conference(tmp_path)
    cal = load_calibration(DEFAULT_CALIBRATION)
    model = LoadModel(cal)
    grid = {1: 1, 2: 1, 3: 4, 4: 4, 5: 4, 6: 9, 9: 9, 10: 9, 11: 16, 17: 16, 18: 25}  # 3x3 for 10 = 9 others
    last = 0.0
    for n in range(1, 19):
        join(conf, 1)
        tiles = grid.get(n) or max(t for k, t in grid.items() if k <= n)
        shape = MeetingShape((SiteMedia("hd720", 30.0, "g711"),) * n, LayoutSpec("grid", tiles=tiles))
        assert describe_conference(conf)["4100"] == shape
        predicted = model.predict(conf)
        assert predicted == pytest.approx(meeting_cpu(shape, cal).cores)
        assert predicted > last, f"{n} members must cost more than {n - 1}"
        last = predicted
    with_audio = replace(shape, members=shape.members + (SiteMedia("audio", 30.0, "g711"),))
    join(conf, 1, video=False)
    assert model.predict(conf) == pytest.approx(meeting_cpu(with_audio, cal).cores)
    assert model.predict(conf) - last < 0.01, "an audio-only site costs far less than a video one"


def test_members_keying_their_pin_are_planned(tmp_path: Path) -> None:
    conf = conference(tmp_path)
    join(conf, 1, room="4200")  # PIN room: the member waits at the PIN prompt
    assert LoadModel(unit_cal()).predict(conf) == pytest.approx(0.138)


def test_what_a_member_sends_comes_from_its_decoded_picture(tmp_path: Path) -> None:
    conf = conference(tmp_path)
    join(conf, 2)
    first, second = conf.members["call-1"], conf.members["call-2"]
    assert member_media(first) == SiteMedia("hd720", 30.0, "g711")
    assert first.video_in is not None
    first.video_in.picture = alloc_i420(640, 360)  # it sends 360p, asks for 720p
    assert member_media(first) == SiteMedia("hd720", 30.0, "g711", "sd360")
    members = describe_conference(conf)["4100"].members
    assert members == (SiteMedia("hd720", 30.0, "g711", "sd360"),) * 2, \
        "a member not decoded yet is planned as sending what the decoded ones send"
    assert second.video_in is not None and second.video_in.picture is None


def test_tiers_of_picture_sizes() -> None:
    assert [tier_of(w, h) for w, h in ((352, 288), (640, 360), (1024, 576), (1280, 720), (1920, 1080))] \
        == ["sd360", "sd360", "hd720", "hd720", "fhd1080"]


def test_lecture_room_plans_the_chair_first(tmp_path: Path) -> None:
    rooms = '[[room]]\nnumber = "4300"\nmode = "lecture"\nlayout = "grid"\n'
    conf = conference(tmp_path, rooms=rooms)
    join(conf, 4, room="4300")
    join(conf, 1, room="4300", video=False, uri=CHAIR_URI)
    shape = describe_conference(conf)["4300"]
    assert shape.members[0] == SiteMedia("audio", 30.0, "g711"), "member 0 is the chair"
    # the audience sees the grid picked for 4 video sites - 1 (2x2); the chair "speaker" for 3 (1+5)
    assert shape.layout == LayoutSpec("lecture", tiles=4, chair_tiles=6, audience_tiles=4)


def test_self_view_room_plans_one_picture(tmp_path: Path) -> None:
    rooms = '[[room]]\nnumber = "4100"\nself_view = true\n'
    conf = conference(tmp_path, rooms=rooms)
    join(conf, 3)
    shape = describe_conference(conf)["4100"]
    assert shape.layout == LayoutSpec("grid", tiles=4, self_view=True)  # 3 with self view: 2x2


# --------------------------------------------------------------------------- decisions


def test_a_candidate_past_the_ceiling_is_refused_with_retry_after(tmp_path: Path) -> None:
    conf = conference(tmp_path)
    join(conf, 1)
    ctl = controller(0.25, degrade=[], retry_after=45)
    decision = ctl.decide(conf, "4100", video_candidate(conf))
    assert isinstance(decision, Refuse)
    assert (decision.status, decision.reason, decision.headers) == (503, "ceiling", [("Retry-After", "45")])
    assert decision.predicted_cores == pytest.approx(0.2766)
    assert decision.limit_cores == pytest.approx(0.25)
    assert ctl.status.refusals["ceiling"] == 1 and ctl.status.admitted == 0


def test_the_reserve_keeps_room_for_chair_and_roster_sites(tmp_path: Path) -> None:
    conf = conference(tmp_path)
    join(conf, 1)
    ctl = controller(0.30, reserve_cores=0.05, degrade=[])  # others are refused at 0.25
    unknown = ctl.decide(conf, "4100", video_candidate(conf, UNKNOWN_URI))
    assert isinstance(unknown, Refuse) and unknown.reason == "reserve"
    assert unknown.limit_cores == pytest.approx(0.25)
    for uri in (ROSTER_URI, CHAIR_URI):
        candidate = video_candidate(conf, uri)
        assert candidate.priority
        decision = ctl.decide(conf, "4100", candidate)
        assert isinstance(decision, Admit) and decision.predicted_cores == pytest.approx(0.2766)
    assert isinstance(ctl.decide(conf, "4100", Candidate(dialled=True)), Admit), "the MCU's own dial-out"
    assert ctl.status.refusals["reserve"] == 1


def test_degrade_steps_come_in_order_before_a_refusal(tmp_path: Path) -> None:
    conf = conference(tmp_path)
    join(conf, 1)
    candidate = video_candidate(conf)
    fps = controller(0.25).decide(conf, "4100", candidate)
    assert fps == Degrade("fps", 15.0, None, pytest.approx(0.2163))
    tier = controller(0.20).decide(conf, "4100", candidate)
    assert tier == Degrade("tier", 15.0, "sd360", pytest.approx(0.19275))
    refused = controller(0.19).decide(conf, "4100", candidate)
    assert isinstance(refused, Refuse) and refused.predicted_cores == pytest.approx(0.2766)
    no_steps = controller(0.25, degrade=[]).decide(conf, "4100", candidate)
    assert isinstance(no_steps, Refuse), "degrade = [] refuses at once"
    ctl = controller(0.20)
    ctl.decide(conf, "4100", candidate)
    assert (ctl.status.degraded["fps"], ctl.status.degraded["tier"], ctl.status.admitted) == (0, 1, 1)


def test_an_audio_only_candidate_has_no_degrade_step(tmp_path: Path) -> None:
    conf = conference(tmp_path)
    join(conf, 1)
    ctl = controller(0.13)  # under the one member already in
    decision = ctl.decide(conf, "4100", candidate_for(conf, UNKNOWN_URI, "", offer(video=False)))
    assert isinstance(decision, Refuse) and decision.reason == "ceiling"


def test_the_measured_load_guards_an_optimistic_model(tmp_path: Path) -> None:
    conf = conference(tmp_path)
    join(conf, 1)
    ctl = controller(0.5, measured_guard=True, degrade=[])
    ctl.sample(conf, now=0.0, cpu_seconds=10.0)
    ctl.sample(conf, now=2.0, cpu_seconds=10.8)  # 0.4 cores measured, 0.138 predicted
    assert ctl.status.measured_cores == pytest.approx(0.4)
    decision = ctl.decide(conf, "4100", video_candidate(conf))
    # 0.4 + (0.2766 - 0.138) = 0.5386 > 0.5, while the model alone (0.2766) fits
    assert isinstance(decision, Refuse) and decision.reason == "measured"
    assert decision.predicted_cores == pytest.approx(0.5386)
    without = controller(0.5, measured_guard=False)
    without.status.measured_cores = 0.4
    assert isinstance(without.decide(conf, "4100", video_candidate(conf)), Admit)


def test_a_layout_change_that_adds_views_is_checked(tmp_path: Path) -> None:
    conf = conference(tmp_path, rooms='[[room]]\nnumber = "4100"\nself_view = true\n')
    join(conf, 3)
    ctl = controller(0.5)
    assert ctl.model is not None
    now = ctl.model.predict(conf)
    ctl.status.ceiling_cores = now + 0.01
    assert isinstance(ctl.check_layout(conf, "4100", self_view=False), Refuse), \
        "three own views instead of one shared picture"
    ctl.status.ceiling_cores = now - 0.01  # already over: a change that lowers the load still goes
    assert isinstance(ctl.check_layout(conf, "4100", layout="1x1"), Admit)


def test_sample_reports_predicted_measured_and_crossings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    conf = conference(tmp_path)
    join(conf, 2)
    ctl = controller(0.25)
    with caplog.at_level(logging.INFO, logger="mcu.admission"):
        status = ctl.sample(conf, now=100.0, cpu_seconds=1.0)
        assert status.predicted_cores == pytest.approx(0.2766) and status.measured_cores is None
        assert status.over_ceiling, "0.2766 predicted > 0.25"
        ctl.sample(conf, now=101.0, cpu_seconds=1.2)
        assert status.measured_cores == pytest.approx(0.2)
        conf.leave("call-2", "bye")
        ctl.sample(conf, now=102.0, cpu_seconds=1.4)
    assert not status.over_ceiling
    events = [r.getMessage() for r in caplog.records]
    assert events == ["admission.over_ceiling", "admission.under_ceiling"]


# --------------------------------------------------------------------------- measured load


def test_cpu_sampler_averages_over_its_window() -> None:
    sampler = CpuSampler(window=5.0)
    assert sampler.add(0.0, 10.0) is None, "one sample is no rate"
    assert sampler.add(1.0, 10.5) == pytest.approx(0.5)
    assert sampler.add(2.0, 11.5) == pytest.approx(0.75)
    for t in range(3, 11):
        sampler.add(float(t), 11.5 + 2.0 * (t - 2))  # two cores busy from t = 2
    assert sampler.cores == pytest.approx(2.0), "the first seconds left the window"


# --------------------------------------------------------------------------- calibration and config


def test_missing_calibration_turns_admission_off_clearly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(write_test_config(tmp_path, 5999, extra='[admission]\ncalibration = "nope.toml"\n'))
    with pytest.raises(CalibrationUnavailable, match=r"nope\.toml.*mcu bench calibrate"):
        LoadModel.from_config(config)
    with caplog.at_level(logging.ERROR, logger="mcu.admission"):
        ctl = AdmissionController.from_config(config, cores=2)
    assert [r.getMessage() for r in caplog.records] == ["admission.off"]
    assert not ctl.status.enabled and "nope.toml" in ctl.status.error
    decision = ctl.decide(Conference(config), "4100", Candidate())
    assert isinstance(decision, Admit) and math.isnan(decision.predicted_cores)


def test_invalid_calibration_names_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("format = 1\n[machine]\ncores = 2\n", encoding="utf-8")
    config = load_config(write_test_config(tmp_path, 5999, extra='[admission]\ncalibration = "bad.toml"\n'))
    with pytest.raises(CalibrationUnavailable, match=r"invalid calibration .*bad\.toml.*usable_fraction"):
        LoadModel.from_config(config)


def test_shipped_calibration_next_to_the_config_loads(tmp_path: Path) -> None:
    (tmp_path / "calibration.toml").write_bytes(DEFAULT_CALIBRATION.read_bytes())
    config = load_config(write_test_config(tmp_path, 5999, extra='[video]\npreset = "fast"\n'))
    ctl = AdmissionController.from_config(config, cores=2)
    assert ctl.status.enabled and ctl.status.error == ""
    assert (ctl.status.ceiling_cores, ctl.status.reserve_cores) == pytest.approx((1.7, 0.2))
    assert ctl.model is not None and ctl.model.preset == "veryfast", "a preset it lacks: its costliest"


def test_admission_settings_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="degrade"):
        load_config(write_test_config(tmp_path, 5999, extra='[admission]\ndegrade = ["slower"]\n'))
    with pytest.raises(ConfigError, match="reserve"):
        load_config(write_test_config(tmp_path, 5999, extra="[admission]\nreserve = 0.9\n"))


def test_a_reload_keeps_the_counters(tmp_path: Path) -> None:
    (tmp_path / "calibration.toml").write_bytes(DEFAULT_CALIBRATION.read_bytes())
    config = load_config(write_test_config(tmp_path, 5999))
    ctl = AdmissionController.from_config(config, cores=2)
    ctl.status.refusals["ceiling"] += 3
    reloaded = load_config(write_test_config(tmp_path, 5999, extra="[admission]\nceiling = 0.5\n"))
    ctl.reconfigure(reloaded, cores=2)
    assert ctl.status.ceiling_cores == pytest.approx(1.0) and ctl.status.refusals["ceiling"] == 3


def test_a_box_falling_behind_refuses_all_but_chair_and_roster(tmp_path: Path) -> None:
    """Skipped frame times or late audio ticks past 5% for 3 s: the model may be optimistic (the
    GIL, other work on the machine); new callers are refused until the box catches up."""
    conf = conference(tmp_path)
    join(conf, 1)
    ctl = controller(10.0)  # the model alone would admit anyone
    for t in (0.0, 1.0, 2.0):
        ctl.falling_behind(0.2, t)
    assert not ctl.status.behind, "3 s are needed"
    ctl.falling_behind(0.2, 3.0)
    assert ctl.status.behind
    refused = ctl.decide(conf, "4100", video_candidate(conf, UNKNOWN_URI))
    assert isinstance(refused, Refuse) and refused.reason == "behind"
    assert isinstance(ctl.decide(conf, "4100", video_candidate(conf, ROSTER_URI)), Admit)
    ctl.falling_behind(0.01, 4.0)
    assert not ctl.status.behind
    assert isinstance(ctl.decide(conf, "4100", video_candidate(conf, UNKNOWN_URI)), Admit)
