"""Per-vendor interop profiles (conf/endpoints.toml), matched on the User-Agent/Server header.

File layout::

    [default]                 # every key optional; these values fill what an endpoint omits
    dtmf = "rfc4733"

    [[endpoint]]
    name = "polycom"
    match = "PolycomHDX"      # substring (case-sensitive), or
    match_regex = "^Polycom"  # a Python regular expression (re.search); exactly one of the two
    force_packetization_mode_0 = true

Endpoints are tried in file order; the first match wins, else the default applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from mcu.tomlfile import ConfigError, ConfigIssue, KeyPath, TomlFile

from .codecs import CODECS, VIDEO

DTMF_METHODS = ("rfc4733", "info", "both")
KEYFRAME_METHODS = ("pli", "fir", "both")
_RESOLUTION = re.compile(r"^(\d{2,5})x(\d{2,5})$")


class ProfileError(ValueError):
    """conf/endpoints.toml is invalid; `issue` names the file, line and key."""

    def __init__(self, issue: ConfigIssue) -> None:
        self.issue = issue
        self.path, self.line, self.key, self.fault = issue.file, issue.line, issue.key, issue.message
        super().__init__(str(issue))


@dataclass(frozen=True)
class EndpointProfile:
    """How to treat one family of terminals."""

    name: str = "default"
    match: str | None = None
    match_regex: str | None = None
    force_packetization_mode_0: bool = False
    dtmf: str = "rfc4733"
    max_resolution: tuple[int, int] | None = None
    max_fps: float | None = None
    keyframe_method: str = "pli"
    keyframe_min_interval: float = 1.0  # seconds between two keyframe requests to this endpoint
    video_codecs: tuple[str, ...] | None = None  # our preference order for this endpoint
    offer_content: bool = False  # our offers (dial-out, offerless INVITE) add a content line and BFCP
    bfcp_flat: bool = False  # BFCP grouped attributes sent flat (sub-attributes after the group), not nested

    def matches(self, user_agent: str) -> bool:
        if self.match is not None:
            return self.match in user_agent
        if self.match_regex is not None:
            return re.search(self.match_regex, user_agent) is not None
        return False

    @property
    def sends_rfc4733(self) -> bool:
        return self.dtmf in ("rfc4733", "both")


DEFAULT_PROFILE = EndpointProfile()
DEFAULT_NAMES = ("default", "generic")  # what a roster site names to get the [default] profile


@dataclass(frozen=True)
class Profiles:
    default: EndpointProfile
    endpoints: tuple[EndpointProfile, ...]

    def named(self, name: str) -> EndpointProfile | None:
        """The profile a roster site names (sites.toml `profile`); "default"/"generic": [default]."""
        if name in DEFAULT_NAMES:
            return self.default
        return next((p for p in self.endpoints if p.name == name), None)

    def match(self, user_agent: str | None) -> EndpointProfile:
        """First endpoint whose pattern matches the User-Agent, else the default."""
        if user_agent:
            for profile in self.endpoints:
                if profile.matches(user_agent):
                    return profile
        return self.default


# --- loading -------------------------------------------------------------------------

_KEYS = {f.name for f in fields(EndpointProfile)}
_DEFAULT_FORBIDDEN = {"name", "match", "match_regex"}
_DEFAULT = "default"  # the [default] table
_ENDPOINT = "endpoint"  # the [[endpoint]] array of tables


class _Loader:
    def __init__(self, toml: TomlFile) -> None:
        self.toml = toml

    def fail(self, table: KeyPath, key: str, fault: str) -> ProfileError:
        """An error at `key` of `table` (("default",) or ("endpoint", i)), or at the table if absent."""
        return ProfileError(ConfigIssue(self.toml.path, self.toml.line_of((*table, key)), key, fault))

    def build(self, raw: dict[str, Any], base: EndpointProfile, table: KeyPath) -> EndpointProfile:
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in _KEYS:
                raise self.fail(table, key, f"unknown key (known: {', '.join(sorted(_KEYS))})")
            if table == (_DEFAULT,) and key in _DEFAULT_FORBIDDEN:
                raise self.fail(table, key, "not allowed in [default]")
            values[key] = self.convert(key, value, table)
        profile = replace(base, **values)
        if table != (_DEFAULT,):
            if "name" not in raw:
                raise self.fail(table, "name", "missing: every [[endpoint]] needs a name")
            if (profile.match is None) == (profile.match_regex is None):
                raise self.fail(table, "match",
                                "give exactly one of match (substring) or match_regex")
        return profile

    def convert(self, key: str, value: Any, table: KeyPath) -> Any:
        def bad(fault: str) -> ProfileError:
            return self.fail(table, key, fault)

        if key in ("name", "match", "match_regex"):
            if not isinstance(value, str) or not value:
                raise bad("must be a non-empty string")
            if key == "match_regex":
                try:
                    re.compile(value)
                except re.error as exc:
                    raise bad(f"invalid regular expression: {exc}") from None
            return value
        if key in ("force_packetization_mode_0", "offer_content", "bfcp_flat"):
            if not isinstance(value, bool):
                raise bad("must be true or false")
            return value
        if key == "dtmf":
            if value not in DTMF_METHODS:
                raise bad(f"must be one of {', '.join(DTMF_METHODS)}, got {value!r}")
            return value
        if key == "keyframe_method":
            if value not in KEYFRAME_METHODS:
                raise bad(f"must be one of {', '.join(KEYFRAME_METHODS)}, got {value!r}")
            return value
        if key == "max_resolution":
            found = _RESOLUTION.match(value) if isinstance(value, str) else None
            if found is None:
                raise bad(f"must be a string WIDTHxHEIGHT such as \"1280x720\", got {value!r}")
            return int(found.group(1)), int(found.group(2))
        if key in ("max_fps", "keyframe_min_interval"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise bad(f"must be a positive number, got {value!r}")
            return float(value)
        if key == "video_codecs":
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                raise bad("must be a non-empty list of codec names")
            for name in value:
                if name not in CODECS or CODECS[name].kind != VIDEO:
                    known = ", ".join(n for n, c in CODECS.items() if c.kind == VIDEO)
                    raise bad(f"unknown video codec {name!r} (known: {known})")
            return tuple(value)
        raise bad("unhandled key")  # pragma: no cover - _KEYS and this function agree


def parse_profiles(text: str, path: str = "<string>") -> Profiles:
    """Parse endpoints TOML text; raises ProfileError."""
    try:
        toml = TomlFile.parse(text, path)
    except ConfigError as exc:
        raise ProfileError(replace(exc.issues[0], key="<syntax>")) from None
    data = toml.data

    def top_level(key: str, fault: str) -> ProfileError:
        return ProfileError(ConfigIssue(toml.path, toml.line_of((key,)), key, fault))

    loader = _Loader(toml)
    for key in data:
        if key not in (_DEFAULT, _ENDPOINT):
            raise top_level(key, "unknown table or key (expected [default] and [[endpoint]])")
    raw_default = data.get(_DEFAULT, {})
    if not isinstance(raw_default, dict):
        raise top_level(_DEFAULT, "must be a table [default]")
    default = loader.build(raw_default, DEFAULT_PROFILE, (_DEFAULT,))
    raw_endpoints = data.get(_ENDPOINT, [])
    if not isinstance(raw_endpoints, list):
        raise top_level(_ENDPOINT, "must be an array of tables [[endpoint]]")
    endpoints = []
    names: set[str] = set()
    for index, raw in enumerate(raw_endpoints):
        table = (_ENDPOINT, index)
        profile = loader.build(raw, replace(default, name="", match=None, match_regex=None), table)
        if profile.name in names:
            raise loader.fail(table, "name", f"duplicate endpoint name {profile.name!r}")
        names.add(profile.name)
        endpoints.append(profile)
    return Profiles(default, tuple(endpoints))


def load_profiles(path: str | Path) -> Profiles:
    """Load and validate conf/endpoints.toml."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(ConfigIssue(str(path), 0, "<file>", f"cannot read: {exc.strerror}")) from None
    return parse_profiles(text, str(path))
