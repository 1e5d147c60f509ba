"""Callers and callees are recognised as roster sites (names with diacritics, chair role)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcu.calls.alias import h323_target
from mcu.calls.alias import same_site as _same_address
from mcu.conference.engine import Conference
from mcu.config import load_config
from tests.helpers import write_test_config


def test_same_address_rules() -> None:
    assert _same_address("sip:laocai@sites.example.net", "<sip:LaoCai@sites.example.net:5060;transport=udp>")
    assert not _same_address("sip:a@h:5070", "sip:a@h:5080"), "both ports given: they must agree"
    assert not _same_address("sip:a@h", "sip:b@h")
    assert _same_address("sip:a@[::1]:5060", "sips:a@[::1]")
    assert not _same_address("", "sip:a@h")


def test_roster_site_gives_name_and_chair(tmp_path: Path) -> None:
    config = load_config(write_test_config(tmp_path, 5999))
    conference = Conference(config)
    chair = next(s for s in config.layouts.sites if s.role == "chair")
    province = next(s for s in config.layouts.sites if s.role != "chair")
    assert conference.roster_site(chair.uri) == chair
    assert conference.roster_site("sip:unknown@nowhere.example", province.name) == province
    assert conference.roster_site("sip:unknown@nowhere.example", "Someone") is None


def test_aliases_of_every_protocol_reduce_to_one_site_key() -> None:
    from mcu.calls.alias import site_key

    assert site_key("h323:LaoCai@10.1.2.3") == site_key("sip:laocai@10.1.2.3:5060")[:2] + ("",)
    assert _same_address("h323:laocai@10.1.2.3", "sip:LaoCai@10.1.2.3")
    assert _same_address("tel:+842143840000@gw.example", "sip:+842143840000@gw.example;user=phone")


@pytest.mark.parametrize(("uri", "parts"), [
    ("h323:4100@10.0.0.5", ("4100", "10.0.0.5", 1720)),
    ("h323:hdx@[2001:db8::5]:1721", ("hdx", "2001:db8::5", 1721)),
    ("h323:10.0.0.5:1730", ("", "10.0.0.5", 1730)),
    ("H323:room@mcu.example", ("room", "mcu.example", 1720)),
])
def test_h323_targets_split_into_alias_host_and_port(uri: str, parts: tuple[str, str, int]) -> None:
    assert tuple(h323_target(uri)) == parts


@pytest.mark.parametrize(("uri", "message"), [
    ("sip:a@b", "not an H.323 target"), ("h323:alias@", "no host"), ("h323:a@host:99999", "port"),
    ("h323:a@host:x", "port"), ("h323:a b@host", "no host"),
])
def test_bad_h323_targets_say_what_to_write(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        h323_target(uri)
