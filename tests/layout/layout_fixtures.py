"""Shared small configs for the layout tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
GOLDEN = Path(__file__).resolve().parent / "golden"

SITES = """\
[[sites]]
id = "central"
uri = "sip:central@hq.example.net"
name = "Văn phòng Chính phủ"
role = "chair"
order = 0

[[sites]]
id = "lao-cai"
uri = "sip:lao-cai@sites.example.net"
name = "UBND tỉnh Lào Cai"
order = 10
profile = "polycom-hdx"
""" + "".join(
    f'\n[[sites]]\nid = "s{i}"\nuri = "sip:s{i}@sites.example.net"\nname = "Site {i}"\norder = {10 + i * 10}\n'
    for i in range(2, 12)
)

# small layouts for the engine tables: inline region arrays, 360 grid
LAYOUTS = """\
[switching]
page_interval_s = 10.0
switch_delay_s = 1.0
min_hold_s = 3.0
history = 4
default_mode = "auto"
default_layout = "speaker"
lecture_chair_layout = "grid"

[groups]
grid = ["1x1", "2x2"]
speaker = ["1x1", "1+3"]
chair = ["chair+1+2"]

[layouts."1x1"]
regions = [{ x = 0, y = 0, w = 360, h = 360, floor = true }]

[layouts."2x2"]
regions = [
  { x = 0, y = 0, w = 180, h = 180 },
  { x = 180, y = 0, w = 180, h = 180 },
  { x = 0, y = 180, w = 180, h = 180 },
  { x = 180, y = 180, w = 180, h = 180 },
]

[layouts."1+3"]
regions = [
  { x = 0, y = 0, w = 270, h = 360, floor = true },
  { x = 270, y = 0, w = 90, h = 120 },
  { x = 270, y = 120, w = 90, h = 120 },
  { x = 270, y = 240, w = 90, h = 120 },
]

[layouts."chair+1+2"]
regions = [
  { x = 0, y = 0, w = 180, h = 180, reserved = "chair" },
  { x = 180, y = 0, w = 180, h = 180, floor = true },
  { x = 0, y = 180, w = 180, h = 180 },
  { x = 180, y = 180, w = 180, h = 180 },
]

[layouts."pip"]
regions = [
  { x = 0, y = 0, w = 360, h = 360, floor = true },
  { x = 240, y = 240, w = 100, h = 100, z = 1 },
]
"""


def line_of(text: str, marker: str) -> int:
    """1-based line of the only line holding `marker`."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if marker in line]
    assert len(hits) == 1, f"marker {marker!r} found on lines {hits}"
    return hits[0]


def write_conf(tmp: Path, layouts: str | None, sites: str | None = SITES) -> Path:
    if layouts is not None:
        (tmp / "layouts.toml").write_text(layouts, encoding="utf-8")
    if sites is not None:
        (tmp / "sites.toml").write_text(sites, encoding="utf-8")
    return tmp
