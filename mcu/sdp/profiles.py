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
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .codecs import CODECS, VIDEO

DTMF_METHODS = ("rfc4733", "info", "both")
KEYFRAME_METHODS = ("pli", "fir", "both")
_RESOLUTION = re.compile(r"^(\d{2,5})x(\d{2,5})$")


class ProfileError(ValueError):
    """conf/endpoints.toml is invalid; the message names the file, line and key."""

    def __init__(self, path: str, line: int, key: str, fault: str) -> None:
        self.path, self.line, self.key, self.fault = path, line, key, fault
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {fault}")


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


@dataclass(frozen=True)
class Profiles:
    default: EndpointProfile
    endpoints: tuple[EndpointProfile, ...]

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


def _find_line(text: str, key: str, table: str, index: int) -> int:
    """1-based line of ``key =`` inside the index-th ``table`` header (0 if not found)."""
    lines = text.splitlines()
    start, seen = None, -1
    for number, line in enumerate(lines):
        if line.strip().startswith(table):
            seen += 1
            if seen == index:
                start = number
                break
    if start is None:
        return 0
    if not key:
        return start + 1
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for number in range(start + 1, len(lines)):
        if lines[number].lstrip().startswith("["):
            break
        if pattern.match(lines[number]):
            return number + 1
    return start + 1


def _find_anywhere(text: str, key: str) -> int:
    """1-based line of a top-level ``key =`` or ``[key]``/``[[key]]`` header (0 if not found)."""
    pattern = re.compile(rf"^\s*(\[+\s*{re.escape(key)}\s*\]|\"?{re.escape(key)}\"?\s*=)")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return 0


class _Loader:
    def __init__(self, path: str, text: str) -> None:
        self.path, self.text = path, text

    def fail(self, table: str, index: int, key: str, fault: str) -> ProfileError:
        return ProfileError(self.path, _find_line(self.text, key, table, index), key, fault)

    def build(self, raw: dict[str, Any], base: EndpointProfile, table: str,
              index: int) -> EndpointProfile:
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in _KEYS:
                raise self.fail(table, index, key, f"unknown key (known: {', '.join(sorted(_KEYS))})")
            if table == "[default]" and key in _DEFAULT_FORBIDDEN:
                raise self.fail(table, index, key, "not allowed in [default]")
            values[key] = self.convert(key, value, table, index)
        profile = replace(base, **values)
        if table != "[default]":
            if "name" not in raw:
                raise self.fail(table, index, "name", "missing: every [[endpoint]] needs a name")
            if (profile.match is None) == (profile.match_regex is None):
                raise self.fail(table, index, "match",
                                "give exactly one of match (substring) or match_regex")
        return profile

    def convert(self, key: str, value: Any, table: str, index: int) -> Any:
        def bad(fault: str) -> ProfileError:
            return self.fail(table, index, key, fault)

        if key in ("name", "match", "match_regex"):
            if not isinstance(value, str) or not value:
                raise bad("must be a non-empty string")
            if key == "match_regex":
                try:
                    re.compile(value)
                except re.error as exc:
                    raise bad(f"invalid regular expression: {exc}") from None
            return value
        if key == "force_packetization_mode_0":
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
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", 0) or 0
        found = re.search(r"line (\d+)", str(exc))
        if not line and found:
            line = int(found.group(1))
        raise ProfileError(path, line, "<syntax>", f"not valid TOML: {exc}") from None
    loader = _Loader(path, text)
    for key in data:
        if key not in ("default", "endpoint"):
            raise ProfileError(path, _find_anywhere(text, key), key,
                               "unknown table or key (expected [default] and [[endpoint]])")
    raw_default = data.get("default", {})
    if not isinstance(raw_default, dict):
        raise ProfileError(path, _find_anywhere(text, "default"), "default",
                           "must be a table [default]")
    default = loader.build(raw_default, DEFAULT_PROFILE, "[default]", 0)
    raw_endpoints = data.get("endpoint", [])
    if not isinstance(raw_endpoints, list):
        raise ProfileError(path, _find_anywhere(text, "endpoint"), "endpoint",
                           "must be an array of tables [[endpoint]]")
    endpoints = []
    names: set[str] = set()
    for index, raw in enumerate(raw_endpoints):
        profile = loader.build(raw, replace(default, name="", match=None, match_regex=None),
                               "[[endpoint]]", index)
        if profile.name in names:
            raise loader.fail("[[endpoint]]", index, "name", f"duplicate endpoint name {profile.name!r}")
        names.add(profile.name)
        endpoints.append(profile)
    return Profiles(default, tuple(endpoints))


def load_profiles(path: str | Path) -> Profiles:
    """Load and validate conf/endpoints.toml."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), 0, "<file>", f"cannot read: {exc.strerror}") from None
    return parse_profiles(text, str(path))
