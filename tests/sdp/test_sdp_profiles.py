"""conf/endpoints.toml loading: invalid files first (errors name file, line, key), then matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcu.sdp.profiles import ProfileError, load_profiles, parse_profiles

ENDPOINTS = Path(__file__).parents[2] / "conf" / "endpoints.toml"
GOOD_ENDPOINT = '[[endpoint]]\nname = "a"\nmatch = "A"\n'


@pytest.mark.parametrize(
    ("text", "line", "key", "fault"),
    [
        ("[default\n", 1, "<syntax>", "not valid TOML"),
        ("[default]\ncolour = \"red\"\n", 2, "colour", "unknown key"),
        ("[default]\nname = \"x\"\n", 2, "name", "not allowed in [default]"),
        ("[default]\ndtmf = \"smoke\"\n", 2, "dtmf", "rfc4733, info, both"),
        ("[default]\nkeyframe_method = 3\n", 2, "keyframe_method", "pli, fir, both"),
        ("[default]\nmax_resolution = 720\n", 2, "max_resolution", "WIDTHxHEIGHT"),
        ("[default]\nmax_fps = -1\n", 2, "max_fps", "positive number"),
        ("[default]\nkeyframe_min_interval = true\n", 2, "keyframe_min_interval", "positive"),
        ("[default]\nforce_packetization_mode_0 = \"yes\"\n", 2, "force_packetization_mode_0",
         "true or false"),
        ("[default]\nvideo_codecs = [\"H265\"]\n", 2, "video_codecs", "unknown video codec"),
        ("[default]\nvideo_codecs = [\"PCMU\"]\n", 2, "video_codecs", "unknown video codec"),
        ("[default]\nvideo_codecs = []\n", 2, "video_codecs", "non-empty list"),
        ("[[endpoint]]\nmatch = \"x\"\n", 1, "name", "missing"),
        ("[[endpoint]]\nname = \"x\"\n", 1, "match", "exactly one"),
        ("[[endpoint]]\nname = \"x\"\nmatch = \"a\"\nmatch_regex = \"b\"\n", 3, "match",
         "exactly one"),
        ("[[endpoint]]\nname = \"x\"\nmatch_regex = \"(\"\n", 3, "match_regex", "invalid regular"),
        (GOOD_ENDPOINT + "\n" + GOOD_ENDPOINT, 6, "name", "duplicate"),
        (GOOD_ENDPOINT + "\n[[endpoint]]\nname = \"b\"\nmatch = \"B\"\ndtmf = \"x\"\n", 8, "dtmf",
         "one of"),
        ("[vendors]\nx = 1\n", 1, "vendors", "unknown table"),
        ("default = 3\n", 1, "default", "must be a table"),
    ],
)
def test_invalid_profiles_name_line_and_key(text: str, line: int, key: str, fault: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profiles(text, "conf/endpoints.toml")
    err = info.value
    assert (err.key, err.line) == (key, line) if line else err.key == key
    assert fault in err.fault
    assert str(err).startswith("conf/endpoints.toml")
    assert key in str(err)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="nope.toml.*cannot read"):
        load_profiles(tmp_path / "nope.toml")


def test_empty_file_gives_default_only() -> None:
    profiles = parse_profiles("")
    assert profiles.endpoints == () and profiles.match("anything").name == "default"


def test_endpoint_inherits_default_values() -> None:
    p = parse_profiles('[default]\nmax_fps = 25\nmax_resolution = "960x540"\n' + GOOD_ENDPOINT)
    a = p.match("xx A yy")
    assert a.name == "a" and a.max_fps == 25.0 and a.max_resolution == (960, 540)
    assert p.match("nothing").name == "default"


def test_first_match_wins() -> None:
    p = parse_profiles('[[endpoint]]\nname = "first"\nmatch_regex = "^Poly"\n'
                       '[[endpoint]]\nname = "second"\nmatch = "Polycom"\n')
    assert p.match("Polycom HDX").name == "first"
    assert p.match("HDX Polycom").name == "second"


USER_AGENTS = [
    ("PolycomHDX8000HD/3.1.14-55191", "polycom-hdx", True, "fir"),
    ("Polycom/6.2.2.9 PolycomRealPresenceGroup_500", "polycom-group", False, "both"),
    ("TANDBERG/529 (TC7.3.6.cb7fd66)", "cisco-tandberg", False, "fir"),
    ("TANDBERG/529 (ce9.15.3.17 be9a5d7ad7e 2022-06-22)", "cisco-tandberg", False, "fir"),
    ("LifeSize Express_220/4.8.0", "lifesize", True, "both"),
    ("Yealink VC800 63.345.0.10", "yealink", False, "pli"),
    ("Huawei TE30 V500R002C00SPC700", "huawei-te", True, "fir"),
    ("baresip v1.0.0 (x86_64/linux)", "baresip", False, "pli"),
    ("Zoiper rv2.10.11", "default", False, "pli"),
    ("", "default", False, "pli"),
]


@pytest.mark.parametrize(("ua", "name", "mode0", "keyframe"), USER_AGENTS)
def test_shipped_endpoints_file(ua: str, name: str, mode0: bool, keyframe: str) -> None:
    profile = load_profiles(ENDPOINTS).match(ua)
    assert profile.name == name
    assert profile.force_packetization_mode_0 is mode0
    assert profile.keyframe_method == keyframe
    assert profile.max_resolution == (1280, 720)
    assert profile.dtmf in ("rfc4733", "info", "both")


def test_huawei_caps_frame_rate() -> None:
    assert load_profiles(ENDPOINTS).match("HUAWEI TE40 V600R019").max_fps == 25.0
