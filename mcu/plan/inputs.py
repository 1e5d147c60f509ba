"""The planner's inputs: a TOML file (see conf/plan.example.toml) plus command-line overrides.

Every problem is collected and raised at once as a ConfigError whose issues name the file,
line and key (or the command-line flag that set the value). Sites come from one of:

* `[sites] count = N`: N sites with the `[sites]` defaults;
* `[[sites.groups]]`: groups of sites that override the defaults (with `count`, the rest
  of the N sites keep the defaults; without it, N is the sum of the groups);
* `[sites] roster = "file.toml"`: one site per `[[sites]]` table of a roster file (the MCU's
  conf/sites.toml format, plus the planner's per-site fields), path relative to the input file.

Sites are listed defaults first, then groups in order; the chair is the roster's
`role = "chair"` site, else the first site. The chair sits at the central site with the
MCU unless `chair_at_centre = false`: its propagation and jitter are then zero.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcu.plan.calibration import LAYOUT_MODES, Calibration
from mcu.plan.cpu import ContentSpec, LayoutSpec
from mcu.plan.delay import Path as SitePath
from mcu.plan.network import DEFAULT_OVERHEAD_BYTES, DEFAULT_PAYLOAD_BYTES, Rates
from mcu.plan.prices import Prices, read_prices
from mcu.plan.schema import Reader
from mcu.plan.tiers import (
    AUDIO_CODECS,
    DEFAULT_AUDIO_KBPS,
    DEFAULT_FPS,
    DEFAULT_VIDEO_KBPS,
    PRESETS,
    TIERS,
    VIDEO_TIERS,
    SiteMedia,
)
from mcu.tomlfile import ConfigError, ConfigIssue, TomlFile, dotted

MINUTES_PER_MONTH = 730.0 * 60.0  # 730 hours: 365 days x 24 / 12, the usual billing month
REDUNDANCY = ("none", "n+1")
COMMAND_LINE = "command line"

SITE_FIELDS = {"people", "tier", "fps", "audio_codec", "distance_km", "rtt_ms", "route_factor", "jitter_ms"}
SITES_KEYS = SITE_FIELDS | {"count", "roster", "groups", "chair_at_centre"}
GROUP_KEYS = SITE_FIELDS | {"name", "count"}
ROSTER_MCU_KEYS = {"id", "uri", "name", "role", "order", "profile"}
TOP_KEYS = {"meetings", "sites", "meeting", "network", "video_kbps", "audio_kbps", "deployment", "prices"}

SITE_DEFAULTS: dict[str, Any] = {
    "people": 1, "tier": "hd720", "fps": DEFAULT_FPS, "audio_codec": "g722",
    "distance_km": 0.0, "rtt_ms": None, "route_factor": 1.5, "jitter_ms": 10.0,
}


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    media: SiteMedia
    people: int
    path: SitePath
    chair: bool = False


@dataclass(frozen=True)
class PlanInputs:
    meetings_per_month: int
    typical_minutes: float
    longest_minutes: float
    concurrent: int
    sites: tuple[Site, ...]
    layout: LayoutSpec = field(default_factory=LayoutSpec)
    preset: str = "ultrafast"
    recording: bool = False
    recording_tier: str = "hd720"
    content: ContentSpec | None = None
    rates: Rates = field(default_factory=Rates)
    jitter_buffer_ms: float = 40.0
    machine_cores: int | None = None
    redundancy: str = "none"
    prices: Prices = field(default_factory=Prices)
    source: str = ""

    @property
    def chair(self) -> Site:
        return self.sites[0]


def apply_overrides(data: dict, overrides: dict[tuple, Any]) -> dict:
    """A copy of `data` with each key path set; `sites.count` replaces a roster and groups,
    and a distance replaces an RTT at the same level (and the reverse)."""
    out = copy.deepcopy(data)
    for path, value in overrides.items():
        table = out
        for key in path[:-1]:
            table = table.setdefault(key, {})
            if not isinstance(table, dict):
                break
        else:
            last = path[-1]
            if path == ("sites", "count"):
                table.pop("roster", None)
                table.pop("groups", None)
            if last in ("distance_km", "rtt_ms"):
                table.pop("rtt_ms" if last == "distance_km" else "distance_km", None)
            table[last] = value
    return out


def load_inputs(path: str | Path | None, overrides: dict[tuple, Any] | None = None,
                flags: dict[tuple, str] | None = None, calibration: Calibration | None = None) -> PlanInputs:
    """Read the input file (None: defaults only), apply overrides, validate everything.

    `flags` maps an overridden key path to the flag that set it, for error messages.
    With `calibration`, the preset must be one it has costs for.
    """
    overrides = overrides or {}
    flags = flags or {}
    if path is not None:
        toml = TomlFile.load(path)
        source, data, base_dir = str(path), toml.data, Path(path).resolve().parent
        file_issue = toml.issue
    else:
        source, data, base_dir = "(no input file)", {}, Path.cwd()

        def file_issue(key_path: tuple, message: str) -> ConfigIssue:
            return ConfigIssue(COMMAND_LINE, 0, dotted(key_path), message)

    def locate(key_path: tuple, message: str) -> ConfigIssue:
        for over, flag in flags.items():
            if tuple(key_path[: len(over)]) == over:
                return ConfigIssue(COMMAND_LINE, 0, dotted(key_path), f"{message} (from {flag})")
        return file_issue(key_path, message)

    data = apply_overrides(data, overrides)
    r = Reader(locate)
    inputs = _read(r, data, base_dir, source, calibration)
    r.raise_if_any()
    return inputs


def _read(r: Reader, data: dict, base_dir: Path, source: str, cal: Calibration | None) -> PlanInputs:
    r.unknown_keys(data, (), TOP_KEYS)

    m = r.table(data, ("meetings",), {"per_month", "typical_minutes", "longest_minutes", "concurrent"})
    per_month = r.integer(m, ("meetings", "per_month"), 4, low=1)
    typical = r.number(m, ("meetings", "typical_minutes"), 90.0, low=0.0, low_open=True)
    longest = r.number(m, ("meetings", "longest_minutes"), typical, low=0.0, low_open=True)
    concurrent = r.integer(m, ("meetings", "concurrent"), 1, low=1)
    if longest < typical:
        r.fail(("meetings", "longest_minutes"),
               f"the longest meeting ({longest:g} min) is shorter than the typical one ({typical:g} min)")
    if concurrent > per_month:
        r.fail(("meetings", "concurrent"),
               f"{concurrent} meetings at the same time but only {per_month} per month")
    elif per_month * typical > concurrent * MINUTES_PER_MONTH:
        r.fail(("meetings", "per_month"),
               f"{per_month} meetings of {typical:g} min do not fit in a month "
               f"with {concurrent} at a time ({MINUTES_PER_MONTH:g} min)")

    sites = _read_sites(r, data, base_dir)

    mt = r.table(data, ("meeting",), {"layout", "tiles", "chair_tiles", "speakers", "preset", "recording",
                                       "recording_tier", "content", "content_tier", "content_fps",
                                       "content_kbps", "self_view", "audience_tiles"})
    layout = LayoutSpec(
        mode=r.choice(mt, ("meeting", "layout"), LAYOUT_MODES, "grid", "layout mode"),
        tiles=r.integer(mt, ("meeting", "tiles"), 9, low=1, high=100),
        chair_tiles=r.integer(mt, ("meeting", "chair_tiles"), 1, low=1, high=100),
        speakers=r.integer(mt, ("meeting", "speakers"), 3, low=1, high=16),
        self_view=r.boolean(mt, ("meeting", "self_view"), False),
        audience_tiles=r.integer(mt, ("meeting", "audience_tiles"), 1, low=1, high=100),
    )
    preset = r.choice(mt, ("meeting", "preset"), PRESETS, "ultrafast", "encoder preset")
    if cal is not None and preset not in cal.encode_ms:
        r.fail(("meeting", "preset"), f"the calibration {cal.path} has no costs for preset {preset!r} "
                                      f"(it has: {', '.join(cal.encode_ms)})")
    recording = r.boolean(mt, ("meeting", "recording"), False)
    recording_tier = r.choice(mt, ("meeting", "recording_tier"), TIERS, "hd720", "quality tier")
    content = None
    content_tier = r.choice(mt, ("meeting", "content_tier"), VIDEO_TIERS, "hd720", "video tier")
    content_fps = r.number(mt, ("meeting", "content_fps"), 5.0, low=0.0, high=60.0, low_open=True)
    content_kbps = r.number(mt, ("meeting", "content_kbps"), 512.0, low=0.0, low_open=True)
    if r.boolean(mt, ("meeting", "content"), False):
        content = ContentSpec(content_tier, content_fps, content_kbps)

    rates = _read_rates(r, data)
    net = r.table(data, ("network",), {"overhead_bytes", "payload_bytes", "jitter_buffer_ms"})
    rates = Rates(rates.video_kbps, rates.audio_kbps,
                  payload_bytes=r.integer(net, ("network", "payload_bytes"), DEFAULT_PAYLOAD_BYTES,
                                          low=100, high=9000),
                  overhead_bytes=r.integer(net, ("network", "overhead_bytes"), DEFAULT_OVERHEAD_BYTES,
                                           low=0, high=200))
    buffer_ms = r.number(net, ("network", "jitter_buffer_ms"), 40.0, low=0.0, high=1000.0)

    d = r.table(data, ("deployment",), {"machine_cores", "redundancy"})
    machine_cores = r.integer(d, ("deployment", "machine_cores"), None, low=1, high=1024)
    redundancy = r.choice(d, ("deployment", "redundancy"), REDUNDANCY, "none", "redundancy")

    prices = read_prices(r, data)
    return PlanInputs(per_month, typical, longest, concurrent, tuple(sites), layout, preset, recording,
                      recording_tier, content, rates, buffer_ms, machine_cores, redundancy, prices, source)


def _read_rates(r: Reader, data: dict) -> Rates:
    vt = r.table(data, ("video_kbps",), set(VIDEO_TIERS))
    at = r.table(data, ("audio_kbps",), set(AUDIO_CODECS))
    video = {t: r.number(vt, ("video_kbps", t), DEFAULT_VIDEO_KBPS[t], low=0.0, low_open=True)
             for t in VIDEO_TIERS}
    audio = {c: r.number(at, ("audio_kbps", c), DEFAULT_AUDIO_KBPS[c], low=0.0, low_open=True)
             for c in AUDIO_CODECS}
    return Rates(video, audio)


def _site_fields(r: Reader, table: dict, path: tuple, defaults: dict[str, Any]) -> dict[str, Any]:
    """The per-site fields of `table`, falling back on `defaults`."""
    out = dict(defaults)
    out["people"] = r.integer(table, (*path, "people"), defaults["people"], low=1)
    out["tier"] = r.choice(table, (*path, "tier"), TIERS, defaults["tier"], "quality tier")
    out["fps"] = r.number(table, (*path, "fps"), defaults["fps"], low=0.0, high=120.0, low_open=True)
    out["audio_codec"] = r.choice(table, (*path, "audio_codec"), AUDIO_CODECS, defaults["audio_codec"],
                                  "audio codec")
    if "distance_km" in table and "rtt_ms" in table:
        r.fail((*path, "rtt_ms"), "give distance_km or rtt_ms, not both")
    if "distance_km" in table:
        out["distance_km"] = r.number(table, (*path, "distance_km"), low=0.0, high=40000.0)
        out["rtt_ms"] = None
    elif "rtt_ms" in table:
        out["rtt_ms"] = r.number(table, (*path, "rtt_ms"), low=0.0, high=2000.0)
    out["route_factor"] = r.number(table, (*path, "route_factor"), defaults["route_factor"], low=1.0,
                                   high=10.0)
    out["jitter_ms"] = r.number(table, (*path, "jitter_ms"), defaults["jitter_ms"], low=0.0, high=1000.0)
    return out


def _make_site(site_id: str, name: str, f: dict[str, Any], chair: bool = False) -> Site:
    return Site(site_id, name, SiteMedia(f["tier"], f["fps"], f["audio_codec"]), f["people"],
                SitePath(f["distance_km"], f["rtt_ms"], f["route_factor"], f["jitter_ms"]), chair)


def _read_sites(r: Reader, data: dict, base_dir: Path) -> list[Site]:
    st = r.table(data, ("sites",), SITES_KEYS)
    defaults = _site_fields(r, st, ("sites",), SITE_DEFAULTS)
    at_centre = r.boolean(st, ("sites", "chair_at_centre"), True)
    count = r.integer(st, ("sites", "count"), None, low=2, high=10000)
    count_ok = count is None or 2 <= count <= 10000  # an out-of-range count is already reported
    sites: list[Site] = []
    if "roster" in st:
        if "groups" in st:
            r.fail(("sites", "groups"), "give either a roster or groups of sites, not both")
        sites = _read_roster(r, st, base_dir, defaults)
        if count is not None and count_ok and sites and count != len(sites):
            r.fail(("sites", "count"), f"is {count} but the roster lists {len(sites)} sites")
    else:
        groups = st.get("groups", [])
        if not isinstance(groups, list):
            r.fail(("sites", "groups"), "must be an array of tables ([[sites.groups]])")
            groups = []
        grouped: list[Site] = []
        for i, g in enumerate(groups):
            gpath = ("sites", "groups", i)
            if not isinstance(g, dict):
                r.fail(gpath, "must be a table")
                continue
            r.unknown_keys(g, gpath, GROUP_KEYS)
            name = r.string(g, (*gpath, "name"), f"group{i + 1}")
            gcount = r.integer(g, (*gpath, "count"), low=1, high=10000)
            f = _site_fields(r, g, gpath, defaults)
            grouped += [_make_site(f"{name}-{j + 1}", f"{name} {j + 1}", f) for j in range(max(gcount, 0))]
        if count is None and not groups:
            r.fail(("sites", "count"), "is required (or give a roster or [[sites.groups]])")
            count = 0
        elif count is None:
            count = len(grouped)
        if count_ok and len(grouped) > count:
            r.fail(("sites", "count"), f"is {count} but the groups add up to {len(grouped)} sites")
        rest = max(count - len(grouped), 0)
        sites = [_make_site(f"site-{j + 1}", f"site {j + 1}", defaults) for j in range(rest)] + grouped
        if sites:
            sites[0] = Site(sites[0].id, sites[0].name, sites[0].media, sites[0].people, sites[0].path, True)
    if len(sites) == 1 and count_ok:
        r.fail(("sites",), "a meeting needs at least 2 sites")
    if at_centre and sites:
        c = sites[0]
        sites[0] = Site(c.id, c.name, c.media, c.people, SitePath(0.0, None, 1.0, 0.0), True)
    return sites


def _read_roster(r: Reader, st: dict, base_dir: Path, defaults: dict[str, Any]) -> list[Site]:
    name = r.string(st, ("sites", "roster"))
    if not name:
        r.fail(("sites", "roster"), "must name a roster file")
        return []
    roster_path = (base_dir / name) if not Path(name).is_absolute() else Path(name)
    try:
        roster = TomlFile.load(roster_path)
    except ConfigError as exc:
        r.fail(("sites", "roster"), f"cannot read {roster_path}: {exc.issues[0].message}")
        return []
    rr = Reader(roster.issue)
    entries = roster.data.get("sites", [])
    if not isinstance(entries, list) or not entries:
        rr.fail(("sites",), "the roster needs one [[sites]] table per site")
        entries = []
    sites: list[Site] = []
    seen: set[str] = set()
    for i, e in enumerate(entries):
        path = ("sites", i)
        if not isinstance(e, dict):
            rr.fail(path, "must be a table")
            continue
        rr.unknown_keys(e, path, SITE_FIELDS | ROSTER_MCU_KEYS)
        site_id = rr.string(e, (*path, "id"), f"site-{i + 1}")
        if site_id in seen:
            rr.fail((*path, "id"), f"duplicate site id {site_id!r}")
        seen.add(site_id)
        f = _site_fields(rr, e, path, defaults)
        chair = rr.string(e, (*path, "role"), "participant") == "chair"
        sites.append(_make_site(site_id, rr.string(e, (*path, "name"), site_id), f, chair))
    if sum(s.chair for s in sites) > 1:
        rr.fail(("sites",), "more than one site has role = \"chair\"")
    r.issues += rr.issues
    chairs = [s for s in sites if s.chair]
    if chairs:
        sites.remove(chairs[0])
        sites.insert(0, chairs[0])
    elif sites:
        s = sites[0]
        sites[0] = Site(s.id, s.name, s.media, s.people, s.path, True)
    return sites
