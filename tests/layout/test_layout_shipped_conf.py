"""The shipped conf/: the promised layouts and groups, a documented file, a Vietnamese roster."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import fields

import pytest

from mcu.layout.loader import load_config_dir
from mcu.layout.model import Region, Style, Switching
from tests.layout.layout_fixtures import CONF

SHIPPED = load_config_dir(CONF)
LAYOUTS_TEXT = (CONF / "layouts.toml").read_text(encoding="utf-8")
SITES_TEXT = (CONF / "sites.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "regions"),
    [("1x1", 1), ("2x2", 4), ("3x3", 9), ("4x4", 16), ("5x5", 25), ("1+5", 6), ("1+7", 8),
     ("1+9", 10), ("2+8", 10), ("1+12", 13), ("pip", 2), ("chair+1+8", 10)],
)
def test_promised_layouts_exist_with_their_region_counts(name: str, regions: int) -> None:
    assert SHIPPED.layouts[name].capacity == regions


def test_floor_counts_match_the_names() -> None:
    floors = {n: sum(r.floor for r in lay.regions) for n, lay in SHIPPED.layouts.items()}
    assert floors["2+8"] == 2 and floors["1+12"] == 1 and floors["4x4"] == 0
    assert SHIPPED.layouts["pip"].regions[1].z > SHIPPED.layouts["pip"].regions[0].z


def test_groups_exist() -> None:
    assert set(SHIPPED.groups) >= {"grid", "speaker", "lecture"}
    assert SHIPPED.groups["grid"].layouts[-1] == "5x5"


def _comment_text(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))


def test_every_key_is_documented_in_the_header() -> None:
    comments = _comment_text(LAYOUTS_TEXT)
    keys = {f.name for f in fields(Style)} | {f.name for f in fields(Switching)}
    keys |= {f.name for f in fields(Region)} - {"style"} | {"description", "background", "regions"}
    for key in sorted(keys):
        assert re.search(rf"\b{key}\b", comments), f"{key} is not explained in layouts.toml"
    site_comments = _comment_text(SITES_TEXT)
    for key in ("id", "uri", "name", "role", "order", "profile"):
        assert re.search(rf"#\s+{key}\b", site_comments), f"{key} is not explained in sites.toml"


def test_grid_choice_is_documented() -> None:
    assert "360-unit grid" in LAYOUTS_TEXT


def test_roster_is_a_national_briefing() -> None:
    sites = SHIPPED.sites
    assert 60 <= len(sites) <= 80
    chairs = [s for s in sites if s.role == "chair"]
    assert len(chairs) == 1 and sites[0] is chairs[0]
    names = {s.name for s in sites}
    assert {"UBND tỉnh Lào Cai", "Bộ Thông tin và Truyền thông"} <= names
    raw = tomllib.loads(SITES_TEXT)["sites"]
    for entry in raw:  # stored NFC in the file itself, not only after loading
        assert unicodedata.is_normalized("NFC", entry["name"])
        assert re.match(r"^sips?:[^@]+@[a-z0-9.-]*example\.(net|org|com)$", entry["uri"])
    assert sum(any(ord(c) > 127 for c in n) for n in names) >= 60
