"""Per-vendor quirks for H.323 terminals: conf/endpoints.toml is matched on the H.225 vendor
identity (the maker by T.35 code, productId, versionId), and its caps bound what we send."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mcu.calls.h323_adapter import _product, _video_limits
from mcu.h323 import h225
from mcu.h323.capabilities import H241_LEVELS, H264
from mcu.sdp.profiles import load_profiles

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_a_tandberg_by_its_t35_code_gets_the_cisco_tandberg_profile() -> None:
    # the T.35 code and productId of the TANDBERG 310i in tests/h323/vectors (ndpi-h323.pcap)
    vendor = h225.VendorInfo("310i", "2.0", t35_country=130, manufacturer=256)
    product = _product(vendor)
    assert product == "TANDBERG 310i 2.0"
    assert load_profiles(CONF / "endpoints.toml").match(product).name == "cisco-tandberg"


def test_unknown_makers_are_matched_on_their_strings_alone() -> None:
    assert _product(h225.VendorInfo("Callgen323 pogacsam", "0.9alpha4", t35_country=9, manufacturer=61)) == \
        "Callgen323 pogacsam 0.9alpha4"
    assert _product(h225.VendorInfo("TANDBERG MXP", "F9", t35_country=130, manufacturer=256)) == "TANDBERG MXP F9"
    assert _product(None) == "H.323"
    assert load_profiles(CONF / "endpoints.toml").match("Callgen323 pogacsam").name == "default"


def test_the_profile_caps_the_canvas_the_h264_level_allows() -> None:
    profile = load_profiles(CONF / "endpoints.toml").match("TANDBERG 310i")
    level_4 = replace(H264, level=H241_LEVELS["4"])
    capped = _video_limits(level_4, profile)
    assert capped is None, "level 4 within the profile's 1280x720: no tighter limit than our largest canvas"
    smaller = _video_limits(level_4, replace(profile, max_resolution=(640, 360), max_fps=15.0))
    assert smaller is not None and (smaller.max_width, smaller.max_height, smaller.max_fps) == (640, 360, 15.0)
    cif_level = _video_limits(replace(H264, level=H241_LEVELS["2.1"]), profile)
    assert cif_level is not None and (cif_level.max_width, cif_level.max_height) == (352, 288)
