"""H.264 profile-level-id and receiver limit arithmetic (RFC 6184, H.264 Table A-1)."""

from __future__ import annotations

import pytest

from mcu.sdp.codecs import Capabilities, h263_formats, h263_limits, vp8_limits
from mcu.sdp.h264 import (
    H264ParameterError,
    H264Profile,
    ProfileLevelId,
    answer_profile_level_id,
    fit_resolution,
    h264_limits,
)


@pytest.mark.parametrize("text", ["", "42e0", "42e01f00", "zzzzzz", "42e0 f"])
def test_bad_profile_level_id(text: str) -> None:
    with pytest.raises(H264ParameterError):
        ProfileLevelId.parse(text)


def test_unknown_level_is_an_error() -> None:
    with pytest.raises(H264ParameterError, match="level_idc 14"):
        _ = ProfileLevelId.parse("42e00e").level


def test_bad_max_fs_is_an_error() -> None:
    with pytest.raises(H264ParameterError, match="max-fs"):
        h264_limits({"max-fs": "big"}, "3.1", 1280, 720, 30)


def test_capabilities_reject_unknown_names() -> None:
    with pytest.raises(ValueError, match="audio_codecs"):
        Capabilities(audio_codecs=("G729",))
    with pytest.raises(ValueError, match="h264_max_level"):
        Capabilities(h264_max_level="3.3")
    with pytest.raises(ValueError, match="packetization"):
        Capabilities(h264_packetization_modes=(2,))


@pytest.mark.parametrize(
    ("text", "profile", "level"),
    [
        ("42e01f", H264Profile.CONSTRAINED_BASELINE, "3.1"),
        ("42c015", H264Profile.CONSTRAINED_BASELINE, "2.1"),
        ("42800d", H264Profile.BASELINE, "1.3"),
        ("42001e", H264Profile.BASELINE, "3"),
        ("4d0028", H264Profile.MAIN, "4"),
        ("4d8028", H264Profile.CONSTRAINED_BASELINE, "4"),
        ("640028", H264Profile.HIGH, "4"),
        ("640c1f", H264Profile.CONSTRAINED_HIGH, "3.1"),
        ("42f00b", H264Profile.CONSTRAINED_BASELINE, "1b"),
        ("640009", H264Profile.HIGH, "1b"),
        ("6e001f", None, "3.1"),
        ("f4001f", None, "3.1"),
    ],
)
def test_profile_and_level(text: str, profile: H264Profile | None, level: str) -> None:
    plid = ProfileLevelId.parse(text)
    assert plid.profile == profile and plid.level == level
    assert str(plid) == text


def test_default_profile_level_id_is_baseline_level_1() -> None:
    plid = ProfileLevelId.parse(None)
    assert plid.profile == H264Profile.BASELINE and plid.level == "1"


@pytest.mark.parametrize(
    ("offered", "ours", "asym", "answer"),
    [
        ("42e028", "3.1", False, "42e01f"),  # lowered to ours
        ("42e015", "3.1", False, "42e015"),  # theirs already lower
        ("640032", "3.1", False, "64001f"),  # profile kept
        ("42e015", "3.1", True, "42e01f"),  # asymmetry: our receive level
        ("42e01f", "1b", False, "42f00b"),  # 1b via constraint_set3
        ("42f00b", "3.1", False, "42f00b"),
        ("42f00b", "1", False, "42e00a"),  # leaving 1b clears constraint_set3
    ],
)
def test_answer_profile_level_id(offered: str, ours: str, asym: bool, answer: str) -> None:
    got = answer_profile_level_id(ProfileLevelId.parse(offered), ours, asym)
    assert str(got) == answer


@pytest.mark.parametrize(
    ("level", "params", "size", "fps"),
    [
        ("3.1", {}, (1280, 720), 30.0),
        ("3", {}, (848, 480), 25.47),  # 1590 of 1620 MBs, 40500 MB/s
        ("1.3", {}, (352, 288), 30.0),
        ("1.2", {}, (352, 288), 15.15),
        ("1", {}, (176, 144), 15.0),
        ("1.3", {"max-fs": "3600", "max-mbps": "108000"}, (1280, 720), 30.0),
        ("3.1", {"max-fs": "99"}, (1280, 720), 30.0),  # may only raise the level's value
        ("4", {"max-fps": "1500"}, (1280, 720), 15.0),
    ],
)
def test_h264_limits(level: str, params: dict[str, str], size: tuple[int, int],
                     fps: float) -> None:
    lim = h264_limits(params, level, 1280, 720, 30.0)
    assert (lim.max_width, lim.max_height) == size
    assert lim.max_fps == pytest.approx(fps, abs=0.01)


def test_fit_resolution_respects_aspect_bound() -> None:
    # max-fs 396 (CIF): 640x360 is 920 MBs, too big; CIF fits.
    assert fit_resolution(396, None, 1920, 1080, 30) == (352, 288, 30)


def test_vp8_limits() -> None:
    lim = vp8_limits({"max-fs": "920", "max-fr": "15"}, 1280, 720, 30)
    assert (lim.max_width, lim.max_height, lim.max_fps) == (640, 360, 15)
    assert vp8_limits({}, 1280, 720, 30).max_width == 1280


def test_h263_formats_and_limits() -> None:
    assert h263_formats({"cif": "2", "qcif": "1", "custom": "1,2,3"}) == {"CIF": 2, "QCIF": 1}
    assert h263_formats({}) == {"QCIF": 2}  # nothing signalled: conservative QCIF 15 fps
    lim = h263_limits({"CIF": 2, "QCIF": 1}, 1280, 720, 30)
    assert lim is not None and (lim.max_width, lim.max_height) == (352, 288)
    assert lim.max_fps == pytest.approx(14.99, abs=0.01)
    assert h263_limits({"CIF16": 1}, 1280, 720, 30) is None
