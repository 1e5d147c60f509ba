"""Load and validate conf/layouts.toml and conf/sites.toml.

Parsing is pure: text in, values or a list of ConfigIssue out. Every error names
the file, the 1-based line and the dotted key (located by mcu.tomlfile); all errors
of a file are reported at once so the operator can fix them in one pass.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mcu.layout.errors import ConfigInvalid
from mcu.layout.model import (
    CONTENT_SITE,
    GRID,
    LABEL_POSITIONS,
    ROLE_CHAIR,
    ROLES,
    Fit,
    Group,
    Layout,
    LayoutConfig,
    Region,
    Rgb,
    RoomMode,
    Site,
    Style,
    Switching,
)
from mcu.tomlfile import ConfigError as FileRejected
from mcu.tomlfile import ConfigIssue, KeyPath, TomlFile, dotted, read_text

LAYOUTS_FILE = "layouts.toml"
SITES_FILE = "sites.toml"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+_.-]*$")
_SITE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PROFILE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_SIP_URI_RE = re.compile(r"^sips?:[^@\s]+@[^@\s]+$")
_H323_URI_RE = re.compile(r"^h323:([^@\s]+@)?[^@\s]+$")  # h323:alias@host[:port] or h323:host
_SITE_URI_RE = re.compile(f"{_SIP_URI_RE.pattern}|{_H323_URI_RE.pattern}")
_SLUG_HINT = ": use lower-case ASCII letters, digits, '-', '_', '.'"

_REGION_KEYS = ("x", "y", "w", "h", "floor", "reserved", "z")
_LAYOUT_KEYS = ("description", "background", "regions")
_SWITCHING_KEYS = tuple(f.name for f in fields(Switching))
_STYLE_KEYS = tuple(f.name for f in fields(Style))
_SITE_KEYS = ("id", "uri", "name", "role", "order", "profile", "protocol")
PROTOCOLS = ("sip", "h323")
MAX_BORDER_PX = 32
MAX_HISTORY = 64


@dataclass
class _Report:
    """Errors of one file, located with the file's text."""

    toml: TomlFile
    errors: list[ConfigIssue] = field(default_factory=list)

    def add(self, path: KeyPath, message: str) -> None:
        # a key the file does not hold (a missing table) is reported at the top of the file
        line = self.toml.line_of(path) or 1
        self.errors.append(ConfigIssue(self.toml.path, line, dotted(path), message))


# ----- typed getters: report and return None on a wrong type ---------------------------------


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _type_name(v: object) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(v), type(v).__name__)


def _int(rep: _Report, path: KeyPath, v: object, lo: int, hi: int) -> int | None:
    if not _is_int(v):
        rep.add(path, f"expected an integer {lo}..{hi}, got {_type_name(v)}")
        return None
    assert isinstance(v, int)
    if not lo <= v <= hi:
        rep.add(path, f"{v} is out of range {lo}..{hi}")
        return None
    return v


def _float(rep: _Report, path: KeyPath, v: object, lo: float, hi: float) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        rep.add(path, f"expected a number {lo}..{hi}, got {_type_name(v)}")
        return None
    if not lo <= v <= hi:
        rep.add(path, f"{v} is out of range {lo}..{hi}")
        return None
    return float(v)


def _bool(rep: _Report, path: KeyPath, v: object) -> bool | None:
    if not isinstance(v, bool):
        rep.add(path, f"expected true or false, got {_type_name(v)}")
        return None
    return v


def _str(rep: _Report, path: KeyPath, v: object) -> str | None:
    if not isinstance(v, str):
        rep.add(path, f"expected a string, got {_type_name(v)}")
        return None
    return v


def _choice(rep: _Report, path: KeyPath, v: object, allowed: tuple[str, ...]) -> str | None:
    s = _str(rep, path, v)
    if s is not None and s not in allowed:
        rep.add(path, f"{s!r} is not one of {', '.join(allowed)}")
        return None
    return s


def _color(rep: _Report, path: KeyPath, v: object) -> Rgb | None:
    s = _str(rep, path, v)
    if s is None:
        return None
    if not _COLOR_RE.match(s):
        rep.add(path, f"{s!r} is not a colour; write \"#rrggbb\"")
        return None
    return (int(s[1:3], 16), int(s[3:5], 16), int(s[5:7], 16))


def _table(rep: _Report, path: KeyPath, v: object) -> dict[str, Any] | None:
    if not isinstance(v, dict):
        rep.add(path, f"expected a table, got {_type_name(v)}")
        return None
    return v


def _unknown(rep: _Report, path: KeyPath, table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            rep.add(path + (key,), f"unknown key; allowed here: {', '.join(allowed)}")


# ----- style ---------------------------------------------------------------------------------


def _style_value(rep: _Report, path: KeyPath, key: str, v: object) -> object | None:
    checks: dict[str, Callable[[], object | None]] = {
        "border": lambda: _int(rep, path, v, 0, MAX_BORDER_PX),
        "border_color": lambda: _color(rep, path, v),
        "active_border_color": lambda: _color(rep, path, v),
        "label": lambda: _bool(rep, path, v),
        "label_position": lambda: _choice(rep, path, v, LABEL_POSITIONS),
        "label_height": lambda: _float(rep, path, v, 0.02, 0.5),
        "label_min_px": lambda: _int(rep, path, v, 6, 200),
        "label_max_px": lambda: _int(rep, path, v, 6, 200),
        "label_color": lambda: _color(rep, path, v),
        "label_background": lambda: _color(rep, path, v),
        "label_opacity": lambda: _float(rep, path, v, 0.0, 1.0),
        "fit": lambda: _fit(rep, path, v),
    }
    return checks[key]()


def _fit(rep: _Report, path: KeyPath, v: object) -> Fit | None:
    s = _choice(rep, path, v, tuple(f.value for f in Fit))
    return None if s is None else Fit(s)


def _apply_style(rep: _Report, path: KeyPath, table: Mapping[str, Any], base: Style) -> Style:
    changes: dict[str, Any] = {}
    for key in _STYLE_KEYS:
        if key in table:
            value = _style_value(rep, path + (key,), key, table[key])
            if value is not None:
                changes[key] = value
    style = replace(base, **changes) if changes else base
    if style.label_min_px > style.label_max_px and changes:
        rep.add(path, f"label_min_px {style.label_min_px} is above label_max_px {style.label_max_px}")
    return style


# ----- sites.toml ----------------------------------------------------------------------------


def _unique_site_key(
    rep: _Report,
    path: KeyPath,
    table: Mapping[str, Any],
    key: str,
    pattern: re.Pattern[str],
    bad_hint: str,
    what: str,
    seen: dict[str, int],
    index: int,
) -> str | None:
    """`table[key]` when it is a string that matches `pattern`; a repeat is reported but kept.

    `seen` maps each value to the index of the first site that used it.
    """
    if key not in table:
        return None
    value = _str(rep, path + (key,), table[key])
    if value is None:
        return None
    if not pattern.match(value):
        rep.add(path + (key,), f"{value!r}{bad_hint}")
        return None
    if value in seen:
        rep.add(path + (key,), f"duplicate {what} {value!r} (first at sites[{seen[value]}])")
    seen.setdefault(value, index)
    return value


def parse_sites(text: str, file: str = SITES_FILE) -> tuple[tuple[Site, ...], list[ConfigIssue]]:
    """Parse the roster. Returns the sites that are valid and every error found."""
    toml, errors = _parse_toml(text, file)
    if toml is None:
        return (), errors
    data = toml.data
    rep = _Report(toml)
    _unknown(rep, (), data, ("sites",))
    raw = data.get("sites", [])
    if not isinstance(raw, list):
        rep.add(("sites",), "expected [[sites]] tables")
        return (), rep.errors
    sites: list[Site] = []
    seen_ids: dict[str, int] = {}
    seen_uris: dict[str, int] = {}
    chairs: list[str] = []
    for i, entry in enumerate(raw):
        path: KeyPath = ("sites", i)
        table = _table(rep, path, entry)
        if table is None:
            continue
        _unknown(rep, path, table, _SITE_KEYS)
        for key in ("id", "uri", "name"):
            if key not in table:
                rep.add(path, f"missing required key {key!r}")
        site_id = _unique_site_key(rep, path, table, "id", _SITE_ID_RE, _SLUG_HINT, "site id", seen_ids, i)
        protocol = _choice(rep, path + ("protocol",), table.get("protocol", "sip"), PROTOCOLS)
        if protocol == "h323" and isinstance(table.get("uri"), str) and not table["uri"].startswith("h323:"):
            table = {**table, "uri": "h323:" + table["uri"]}  # protocol = "h323" with uri = "alias@host"
        elif table.get("protocol") == "sip" and str(table.get("uri", "")).startswith("h323:"):
            rep.add(path + ("protocol",), "protocol \"sip\" with an h323: URI; write protocol = \"h323\"")
        uri = _unique_site_key(
            rep, path, table, "uri", _SITE_URI_RE,
            " is not a SIP URI like sip:user@host nor an H.323 one like h323:alias@host", "URI", seen_uris, i
        )
        name = _str(rep, path + ("name",), table["name"]) if "name" in table else None
        if name is not None:
            name = unicodedata.normalize("NFC", name).strip()
            if not name or any(unicodedata.category(c) == "Cc" for c in name):
                rep.add(path + ("name",), "display name is empty or holds control characters")
                name = None
        role = _choice(rep, path + ("role",), table.get("role", "participant"), ROLES)
        order = _int(rep, path + ("order",), table.get("order", i), 0, 1_000_000)
        profile = _str(rep, path + ("profile",), table.get("profile", "generic"))
        if profile is not None and not _PROFILE_RE.match(profile):
            rep.add(path + ("profile",), f"{profile!r}{_SLUG_HINT}")
            profile = None
        if role == ROLE_CHAIR and site_id is not None:
            chairs.append(site_id)
            if len(chairs) > 1:
                rep.add(path + ("role",), f"more than one chair: {', '.join(chairs)}; keep one")
        if None in (site_id, uri, name, role, order, profile):
            continue
        assert site_id and uri and name and role and profile is not None and order is not None
        sites.append(Site(site_id, uri, name, role, order, profile))
    sites.sort(key=lambda s: s.order)
    return tuple(sites), errors + rep.errors


# ----- layouts.toml --------------------------------------------------------------------------


@dataclass
class LayoutsParse:
    layouts: dict[str, Layout]
    groups: dict[str, Group]
    switching: Switching
    errors: list[ConfigIssue]


def parse_layouts(
    text: str, sites: tuple[Site, ...] | None, file: str = LAYOUTS_FILE
) -> LayoutsParse:
    """Parse layouts, groups and switching. `sites` None means: no roster to check against."""
    toml, errors = _parse_toml(text, file)
    if toml is None:
        return LayoutsParse({}, {}, Switching(), errors)
    data = toml.data
    rep = _Report(toml)
    _unknown(rep, (), data, ("style", "switching", "layouts", "groups"))
    base = Style()
    if "style" in data and (table := _table(rep, ("style",), data["style"])) is not None:
        _unknown(rep, ("style",), table, _STYLE_KEYS)
        base = _apply_style(rep, ("style",), table, base)
    site_ids = None if sites is None else {s.id for s in sites}
    layouts: dict[str, Layout] = {}
    raw_layouts = data.get("layouts", {})
    if (raw := _table(rep, ("layouts",), raw_layouts)) is not None:
        if not raw:
            rep.add(("layouts",), "no layouts defined")
        for name, entry in raw.items():
            layout = _parse_layout(rep, name, entry, base, site_ids)
            if layout is not None:
                layouts[name] = layout
    groups = _parse_groups(rep, data.get("groups", {}), raw_layouts if isinstance(raw_layouts, dict) else {}, layouts)
    # names defined with errors still count as defined, so one mistake is reported once
    raw_groups = data.get("groups", {})
    known = set(raw_layouts) if isinstance(raw_layouts, dict) else set()
    known |= set(raw_groups) if isinstance(raw_groups, dict) else set()
    switching = _parse_switching(rep, data.get("switching", {}), known)
    return LayoutsParse(layouts, groups, switching, errors + rep.errors)


def _parse_layout(
    rep: _Report, name: str, entry: object, base: Style, site_ids: set[str] | None
) -> Layout | None:
    path: KeyPath = ("layouts", name)
    if not _NAME_RE.match(name):
        rep.add(path, "layout names use letters, digits, '+', '_', '.', '-'")
    table = _table(rep, path, entry)
    if table is None:
        return None
    _unknown(rep, path, table, _LAYOUT_KEYS + _STYLE_KEYS)
    n_before = len(rep.errors)
    style = _apply_style(rep, path, table, base)
    description = _str(rep, path + ("description",), table.get("description", "")) or ""
    background = _color(rep, path + ("background",), table.get("background", "#101010"))
    raw_regions = table.get("regions")
    if raw_regions is None:
        rep.add(path, "missing required key 'regions' (add [[layouts.NAME.regions]] tables)")
        return None
    if not isinstance(raw_regions, list) or not raw_regions:
        rep.add(path + ("regions",), "expected one or more [[regions]] tables")
        return None
    regions: list[Region] = []
    for i, raw in enumerate(raw_regions):
        region = _parse_region(rep, path + ("regions", i), raw, style, site_ids)
        if region is not None:
            regions.append(region)
    if len(regions) == len(raw_regions):
        _check_overlaps(rep, path, regions)
    if len(rep.errors) > n_before or background is None:
        return None
    return Layout(name, tuple(regions), description, background)


def _parse_region(
    rep: _Report, path: KeyPath, raw: object, style: Style, site_ids: set[str] | None
) -> Region | None:
    table = _table(rep, path, raw)
    if table is None:
        return None
    _unknown(rep, path, table, _REGION_KEYS + _STYLE_KEYS)
    n_before = len(rep.errors)
    box: dict[str, int] = {}
    for key in ("x", "y", "w", "h"):
        if key not in table:
            rep.add(path, f"missing required key {key!r} (0..{GRID} grid units)")
            continue
        lo = 1 if key in ("w", "h") else 0
        value = _int(rep, path + (key,), table[key], lo, GRID)
        if value is not None:
            box[key] = value
    if len(box) == 4:
        if box["x"] + box["w"] > GRID:
            rep.add(path + ("w",), f"x + w = {box['x'] + box['w']} runs past the canvas edge {GRID}")
        if box["y"] + box["h"] > GRID:
            rep.add(path + ("h",), f"y + h = {box['y'] + box['h']} runs past the canvas edge {GRID}")
    floor = _bool(rep, path + ("floor",), table.get("floor", False))
    reserved = None
    if "reserved" in table:
        reserved = _str(rep, path + ("reserved",), table["reserved"])
        if reserved is not None and reserved not in (ROLE_CHAIR, CONTENT_SITE):
            if site_ids is None:
                rep.add(path + ("reserved",), f"site {reserved!r} cannot be checked: no sites.toml")
            elif reserved not in site_ids:
                rep.add(path + ("reserved",), f"no site {reserved!r} in sites.toml")
        if floor:
            rep.add(path + ("reserved",), "a region is either floor or reserved, not both")
    z = _int(rep, path + ("z",), table.get("z", 0), -100, 100)
    region_style = _apply_style(rep, path, table, style)
    if len(rep.errors) > n_before:
        return None
    assert floor is not None and z is not None
    return Region(box["x"], box["y"], box["w"], box["h"], floor, reserved, z, region_style)


def _check_overlaps(rep: _Report, path: KeyPath, regions: list[Region]) -> None:
    for j, b in enumerate(regions):
        for i in range(j):
            a = regions[i]
            if a.z == b.z and a.overlaps(b):
                rep.add(
                    path + ("regions", j),
                    f"overlaps regions[{i}] at the same z = {a.z}; "
                    "give the overlay a higher z or move it",
                )


def _parse_groups(
    rep: _Report, raw: object, raw_layouts: Mapping[str, Any], layouts: Mapping[str, Layout]
) -> dict[str, Group]:
    table = _table(rep, ("groups",), raw)
    if table is None:
        return {}
    groups: dict[str, Group] = {}
    for name, members in table.items():
        path: KeyPath = ("groups", name)
        if name in raw_layouts:
            rep.add(path, f"{name!r} is already a layout name; groups and layouts share one namespace")
            continue
        if not isinstance(members, list) or not members:
            rep.add(path, "expected a non-empty array of layout names")
            continue
        ok = True
        previous: Layout | None = None
        for i, layout_name in enumerate(members):
            if _str(rep, path + (i,), layout_name) is None:
                ok = False
                continue
            if layout_name not in raw_layouts:
                rep.add(path + (i,), f"no layout named {layout_name!r}")
                ok = False
                continue
            layout = layouts.get(layout_name)
            if layout is not None and previous is not None and layout.capacity < previous.capacity:
                rep.add(
                    path + (i,),
                    f"{layout_name!r} has {layout.capacity} regions, fewer than "
                    f"{previous.name!r} before it; order a group by region count",
                )
                ok = False
            previous = layout or previous
        if ok:
            groups[name] = Group(name, tuple(members))
    return groups


def _parse_switching(rep: _Report, raw: object, known: set[str]) -> Switching:
    path: KeyPath = ("switching",)
    table = _table(rep, path, raw)
    if table is None:
        return Switching()
    _unknown(rep, path, table, _SWITCHING_KEYS)
    changes: dict[str, Any] = {}
    for key, value in table.items():
        p = path + (key,)
        parsed: object | None = None
        if key == "page_interval_s":
            parsed = _float(rep, p, value, 1.0, 3600.0)
        elif key in ("switch_delay_s", "min_hold_s"):
            parsed = _float(rep, p, value, 0.0, 60.0)
        elif key == "history":
            parsed = _int(rep, p, value, 1, MAX_HISTORY)
        elif key == "default_mode":
            mode = _choice(rep, p, value, tuple(m.value for m in RoomMode))
            parsed = None if mode is None else RoomMode(mode)
        elif key in ("default_layout", "lecture_chair_layout"):
            parsed = _str(rep, p, value)
            if parsed is not None and parsed not in known:
                rep.add(p, f"no layout or group named {parsed!r}")
                parsed = None
        else:
            continue
        if parsed is not None:
            changes[key] = parsed
    switching = replace(Switching(), **changes)
    for key in ("default_layout", "lecture_chair_layout"):
        if key not in table and getattr(switching, key) not in known:
            rep.add(path, f"{key} defaults to {getattr(switching, key)!r}, which is not defined; set it")
    return switching


# ----- files ---------------------------------------------------------------------------------


def _parse_toml(text: str, file: str) -> tuple[TomlFile | None, list[ConfigIssue]]:
    try:
        return TomlFile.parse(text, file), []
    except FileRejected as exc:
        return None, exc.issues


def _read(path: Path) -> tuple[str | None, list[ConfigIssue]]:
    try:
        return read_text(path), []
    except FileRejected as exc:
        return None, exc.issues


def _load(conf_dir: Path | str) -> tuple[LayoutConfig | None, list[ConfigIssue]]:
    conf = Path(conf_dir)
    sites_path, layouts_path = conf / SITES_FILE, conf / LAYOUTS_FILE
    sites_text, errors = _read(sites_path)
    sites: tuple[Site, ...] | None = None
    if sites_text is not None:
        sites, site_errors = parse_sites(sites_text, str(sites_path))
        errors += site_errors
    layouts_text, layout_read_errors = _read(layouts_path)
    errors += layout_read_errors
    if layouts_text is None:
        return None, errors
    parsed = parse_layouts(layouts_text, sites, str(layouts_path))
    errors += parsed.errors
    if errors:
        return None, errors
    config = LayoutConfig(parsed.layouts, parsed.groups, sites or (), parsed.switching)
    return config, []


def check_config_dir(conf_dir: Path | str) -> list[ConfigIssue]:
    """Validate layouts.toml and sites.toml in `conf_dir`; an empty list means valid."""
    return _load(conf_dir)[1]


def load_config_dir(conf_dir: Path | str) -> LayoutConfig:
    """Load a valid config directory or raise ConfigInvalid with every error."""
    config, errors = _load(conf_dir)
    if errors or config is None:
        raise ConfigInvalid(errors)
    return config


def load_config_text(layouts_text: str, sites_text: str | None = None) -> LayoutConfig:
    """Same as load_config_dir, from strings (tests, admin API uploads)."""
    errors: list[ConfigIssue] = []
    sites: tuple[Site, ...] | None = None
    if sites_text is not None:
        sites, errors = parse_sites(sites_text)
    parsed = parse_layouts(layouts_text, sites)
    errors += parsed.errors
    if errors:
        raise ConfigInvalid(errors)
    return LayoutConfig(parsed.layouts, parsed.groups, sites or (), parsed.switching)
