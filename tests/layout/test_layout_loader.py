"""Loader and validator of layouts.toml / sites.toml: invalid files first."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from mcu.layout.errors import ConfigError, ConfigInvalid
from mcu.layout.loader import (
    check_config_dir,
    load_config_dir,
    load_config_text,
    parse_layouts,
    parse_sites,
)
from mcu.layout.model import Fit, RoomMode
from tests.layout.layout_fixtures import LAYOUTS, SITES, line_of, write_conf

# A minimal valid layouts file to mutate; `#@` markers name the lines errors must point at.
BASE = """\
[switching]
default_layout = "g"
lecture_chair_layout = "g"

[groups]
g = ["a"]

[layouts.a]
description = "two tiles"

[[layouts.a.regions]]
x = 0
y = 0
w = 180
h = 360
floor = true

[[layouts.a.regions]]
x = 180
y = 0
w = 180
h = 360
"""


def errors_of(layouts: str, sites: str | None = SITES) -> list[ConfigError]:
    site_values = None if sites is None else parse_sites(sites)[0]
    return parse_layouts(layouts, site_values, "layouts.toml").errors


def nth_line(text: str, needle: str, n: int) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith(needle)]
    return hits[n - 1]


def only(errors: list[ConfigError]) -> ConfigError:
    assert len(errors) == 1, "\n".join(map(str, errors))
    return errors[0]


# ----- invalid layouts.toml ------------------------------------------------------------------


def test_empty_file_reports_missing_layouts_and_default_layout() -> None:
    errors = errors_of("")
    keys = {e.key for e in errors}
    assert "layouts" in keys
    assert "switching" in keys  # default_layout "speaker" is undefined
    assert all(e.file == "layouts.toml" and e.line >= 1 for e in errors)


def test_toml_syntax_error_names_its_line() -> None:
    text = BASE.replace("y = 0\nw = 180\nh = 360\nfloor", "y = = 0 #@\nw = 180\nh = 360\nfloor")
    err = only(errors_of(text))
    assert err.line == line_of(text, "#@")
    assert "TOML syntax" in err.message


def test_truncated_file_is_refused_with_a_line() -> None:
    text = BASE[: BASE.index("h = 360\nfloor")] + 'h = "36'
    err = only(errors_of(text))
    assert err.file == "layouts.toml" and err.line == len(text.splitlines())


def test_region_past_the_canvas_edge_names_the_second_region_w() -> None:
    text = BASE.replace("x = 180\ny = 0\nw = 180", "x = 180\ny = 0\nw = 190 #@")
    err = only(errors_of(text))
    assert err.key == "layouts.a.regions[1].w"
    assert err.line == line_of(text, "#@")
    assert "370" in err.message


@pytest.mark.parametrize(
    ("replace_from", "replace_to", "message"),
    [
        # overlap at the same z is an error naming the later region
        ("x = 180\ny = 0", "x = 170\ny = 0", "overlaps regions[0]"),
        # a missing key has no line of its own
        ("x = 180\ny = 0\n", "y = 0\n", "'x'"),
    ],
    ids=["overlap_at_the_same_z", "missing_region_key"],
)
def test_region_error_points_at_the_second_region_header(
    replace_from: str, replace_to: str, message: str
) -> None:
    text = BASE.replace(replace_from, replace_to)
    err = only(errors_of(text))
    assert err.key == "layouts.a.regions[1]"
    assert err.line == nth_line(text, "[[layouts.a.regions]]", 2)
    assert message in err.message


def test_overlap_at_different_z_is_picture_in_picture() -> None:
    text = BASE.replace("x = 180\ny = 0\nw = 180\nh = 360", "x = 170\ny = 0\nw = 180\nh = 360\nz = 1")
    assert errors_of(text) == []


@pytest.mark.parametrize(
    ("replace_from", "replace_to", "key", "message"),
    [
        ("h = 360\nfloor = true", 'h = "360" #@\nfloor = true', "layouts.a.regions[0].h", "expected an integer"),
        ("h = 360\nfloor = true", "h = 180.5 #@\nfloor = true", "layouts.a.regions[0].h", "expected an integer"),
        ("floor = true", "floor = 1 #@", "layouts.a.regions[0].floor", "expected true or false"),
        ("floor = true", "flor = true #@", "layouts.a.regions[0].flor", "unknown key"),
        ("floor = true", 'floor = true\nreserved = "chair" #@', "layouts.a.regions[0].reserved", "not both"),
        ("floor = true", 'reserved = "nowhere" #@', "layouts.a.regions[0].reserved", "no site 'nowhere'"),
        ("floor = true", 'border_color = "white" #@', "layouts.a.regions[0].border_color", "#rrggbb"),
        ("floor = true", 'label_position = "middle" #@', "layouts.a.regions[0].label_position", "not one of"),
        ("floor = true", "border = 99 #@", "layouts.a.regions[0].border", "out of range"),
        ("floor = true", 'fit = "stretch" #@', "layouts.a.regions[0].fit", "not one of"),
        ('description = "two tiles"', 'descripton = "x" #@', "layouts.a.descripton", "unknown key"),
        ('g = ["a"]', 'g = ["a", "b"] #@', "groups.g[1]", "no layout named 'b'"),
        ('g = ["a"]', "g = [] #@", "groups.g", "non-empty array"),
        ('g = ["a"]', 'g = ["a"]\na = ["a"] #@', "groups.a", "already a layout name"),
        ('default_layout = "g"', 'default_layout = "nope" #@', "switching.default_layout", "no layout or group"),
        ('default_layout = "g"', 'default_layout = "g"\npage_interval_s = 0 #@', "switching.page_interval_s", "out of range"),
        ('default_layout = "g"', 'default_layout = "g"\ndefault_mode = "party" #@', "switching.default_mode", "not one of"),
        ("[groups]", "[extra] #@\n[groups]", "extra", "unknown key"),
    ],
)
def test_each_bad_value_names_file_line_and_key(
    replace_from: str, replace_to: str, key: str, message: str
) -> None:
    text = BASE.replace(replace_from, replace_to, 1)
    assert text != BASE
    err = only(errors_of(text))
    assert (err.file, err.line, err.key) == ("layouts.toml", line_of(text, "#@"), key)
    assert message in err.message
    assert str(err).startswith(f"layouts.toml:{err.line}: {key}:")


def test_group_out_of_capacity_order() -> None:
    text = BASE.replace('g = ["a"]', 'g = ["a", "one"]') + (
        '\n[layouts.one]\nregions = [{ x = 0, y = 0, w = 360, h = 360 }]\n'
    )
    err = only(errors_of(text))
    assert err.key == "groups.g[1]" and "order a group by region count" in err.message


def test_inline_region_arrays_are_located_by_element() -> None:
    text = LAYOUTS.replace(
        "  { x = 0, y = 180, w = 180, h = 180 },\n  { x = 180, y = 180, w = 180, h = 180 },\n]\n\n"
        '[layouts."1+3"]',
        "  { x = 0, y = 180, w = 180, h = 180 },\n  { x = 180, y = 180, w = 180, h = 190 }, #@\n]\n\n"
        '[layouts."1+3"]',
    )
    err = only(errors_of(text))
    assert err.key == "layouts.2x2.regions[3].h"
    assert err.line == line_of(text, "#@")


def test_reserved_site_without_roster_is_reported() -> None:
    text = BASE.replace("floor = true", 'reserved = "lao-cai" #@')
    err = only(errors_of(text, sites=None))
    assert "no sites.toml" in err.message and err.line == line_of(text, "#@")


def test_every_error_is_reported_at_once() -> None:
    text = (
        BASE.replace("w = 180\nh = 360\nfloor", "w = 400\nh = 360\nfloor")
        .replace('g = ["a"]', 'g = ["zz"]')
        .replace("x = 180\ny = 0", "x = 180\ny = -1")
    )
    errors = errors_of(text)
    assert {e.key for e in errors} >= {
        "layouts.a.regions[0].w",
        "layouts.a.regions[1].y",
        "groups.g[0]",
    }


# ----- invalid sites.toml --------------------------------------------------------------------

SITE = '[[sites]]\nid = "a"\nuri = "sip:a@x.example.net"\nname = "A"\n'


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (SITE + 'id2 = "x" #@\n', "sites[0].id2", "unknown key"),
        (SITE.replace('uri = "sip:a@x.example.net"', 'uri = "http://a" #@'), "sites[0].uri", "not a SIP URI"),
        (SITE.replace('id = "a"', 'id = "Lào Cai" #@'), "sites[0].id", "lower-case ASCII"),
        (SITE.replace('name = "A"', "name = 7 #@"), "sites[0].name", "expected a string"),
        (SITE.replace('name = "A"', 'name = "  " #@'), "sites[0].name", "empty"),
        (SITE + 'role = "host" #@\n', "sites[0].role", "not one of"),
        (SITE + "order = -1 #@\n", "sites[0].order", "out of range"),
        (SITE + 'profile = "Polycom HDX" #@\n', "sites[0].profile", "lower-case"),
        (SITE + "\n" + SITE.replace("sip:a@", "sip:b@").replace('id = "a"', 'id = "a" #@'),
         "sites[1].id", "duplicate site id"),
        (SITE + "\n" + SITE.replace('id = "a"', 'id = "b"').replace("uri", "uri", 1)
         .replace('uri = "sip:a@x.example.net"', 'uri = "sip:a@x.example.net" #@'),
         "sites[1].uri", "duplicate URI"),
        (SITE + 'role = "chair"\n\n' + SITE.replace('"a"', '"b"').replace("sip:a", "sip:b")
         + 'role = "chair" #@\n', "sites[1].role", "more than one chair"),
        ('sites = "x" #@\n', "sites", "[[sites]]"),
        (SITE + 'protocol = "h.323" #@\n', "sites[0].protocol", "not one of"),
        (SITE.replace('uri = "sip:a@x.example.net"', 'uri = "h323:a@x.example.net"') + 'protocol = "sip" #@\n',
         "sites[0].protocol", 'write protocol = "h323"'),
        (SITE.replace('uri = "sip:a@x.example.net"', 'uri = "h323:a @x" #@'), "sites[0].uri", "H.323 one"),
    ],
)
def test_bad_site_names_file_line_and_key(text: str, key: str, message: str) -> None:
    _, errors = parse_sites(text, "sites.toml")
    err = only(errors)
    assert (err.file, err.key) == ("sites.toml", key)
    assert err.line == line_of(text, "#@"), str(err)
    assert message in err.message


def test_h323_sites_by_scheme_or_by_protocol() -> None:
    """A roster site dialled over H.323: `uri = "h323:alias@host[:port]"`, or `protocol = "h323"`
    with the URI written `alias@host` or a bare host."""
    text = (SITE.replace('uri = "sip:a@x.example.net"', 'uri = "h323:4001@10.0.0.7:1720"')
            + "\n" + SITE.replace('id = "a"', 'id = "b"').replace('uri = "sip:a@x.example.net"', 'uri = "hdx@10.0.0.8"')
            + 'protocol = "h323"\n'
            + "\n" + SITE.replace('id = "a"', 'id = "c"').replace('uri = "sip:a@x.example.net"', 'uri = "10.0.0.9"')
            + 'protocol = "h323"\n')
    sites, errors = parse_sites(text)
    assert errors == []
    assert [s.uri for s in sites] == ["h323:4001@10.0.0.7:1720", "h323:hdx@10.0.0.8", "h323:10.0.0.9"]


def test_site_missing_required_keys_points_at_the_table() -> None:
    text = SITE + '\n[[sites]] #@\nid = "b"\n'
    _, errors = parse_sites(text, "sites.toml")
    assert {(e.key, e.line) for e in errors} == {("sites[1]", line_of(text, "#@"))}
    assert len(errors) == 2  # uri and name


def test_site_names_are_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "UBND tỉnh Lào Cai")
    sites, errors = parse_sites(SITE.replace('"A"', f'"{decomposed}"'))
    assert errors == []
    assert sites[0].name == "UBND tỉnh Lào Cai"
    assert unicodedata.is_normalized("NFC", sites[0].name)


# ----- directories ---------------------------------------------------------------------------


def test_missing_files_are_named(tmp_path: Path) -> None:
    errors = check_config_dir(tmp_path)
    assert sorted(Path(e.file).name for e in errors) == ["layouts.toml", "sites.toml"]
    assert all(e.line == 0 and "not found" in e.message for e in errors)


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    write_conf(tmp_path, LAYOUTS)
    (tmp_path / "sites.toml").write_bytes('name = "Lào"'.encode("cp1258"))
    errors = check_config_dir(tmp_path)
    assert len(errors) == 1 and "UTF-8" in errors[0].message


def test_load_raises_with_every_error_of_both_files(tmp_path: Path) -> None:
    write_conf(
        tmp_path,
        LAYOUTS.replace("page_interval_s = 10.0", "page_interval_s = -1.0"),
        SITES.replace('role = "chair"', 'role = "boss"'),
    )
    with pytest.raises(ConfigInvalid) as info:
        load_config_dir(tmp_path)
    names = sorted(Path(e.file).name for e in info.value.errors)
    assert names == ["layouts.toml", "sites.toml"]
    assert "2 config error(s)" in str(info.value)


def test_valid_config_loads_values(tmp_path: Path) -> None:
    config = load_config_dir(write_conf(tmp_path, LAYOUTS))
    assert check_config_dir(tmp_path) == []
    assert list(config.groups["grid"].layouts) == ["1x1", "2x2"]
    assert config.layouts["pip"].regions[1].z == 1
    assert config.layouts["chair+1+2"].regions[0].reserved == "chair"
    assert config.switching.switch_delay_s == 1.0
    assert config.switching.default_mode is RoomMode.AUTO
    assert config.sites[0].role == "chair" and config.sites[1].name == "UBND tỉnh Lào Cai"
    assert config.layouts["1x1"].regions[0].style.fit is Fit.CROP


def test_style_cascades_global_layout_region() -> None:
    text = (
        '[style]\nborder = 4\nlabel_color = "#112233"\n'
        + BASE.replace('description = "two tiles"', 'description = "two tiles"\nborder = 6')
        .replace("floor = true", "floor = true\nborder = 0")
    )
    config = load_config_text(text, SITES)
    first, second = config.layouts["a"].regions
    assert (first.style.border, second.style.border) == (0, 6)
    assert second.style.label_color == (0x11, 0x22, 0x33)


def test_pick_by_count() -> None:
    config = load_config_text(LAYOUTS, SITES)
    assert [config.pick("speaker", n).name for n in (0, 1, 2, 4, 9)] == [
        "1x1", "1x1", "1+3", "1+3", "1+3"
    ]
    assert config.pick("pip", 9).name == "pip"
