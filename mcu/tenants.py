"""Tenants: the agencies one MCU serves, from `conf/tenants.toml` ([files] tenants).

A tenant owns rooms (by its dial plan: every room number that starts with its `prefix`, plus the
rooms it lists), a roster (site ids of sites.toml it may dial), the layouts its operators may
choose, admin tokens and a quota (mcu.conference.quota.Quota). Room numbers are unique across the
service: two prefixes where one starts the other, a room listed twice, or a listed room under
another tenant's prefix are errors with file and line. Rooms no tenant owns are the provider's.

No tenants file (the default) is the single-tenant MCU of before: the provider token sees all.

    [[tenant]]
    name = "moh"                       # letters, digits, '-', '_' (labels, statements, audit)
    display_name = "Ministry of Health"
    prefix = "41"                      # rooms 41xx are its own
    rooms = ["5000"]                   # and these
    sites = ["hanoi", "hue"]           # its roster ([] : it dials URIs only)
    layouts = ["grid", "speaker"]      # what `mcu ctl layout` may set ([] : every layout)
    [[tenant.token]]
    name = "moh-ops"                   # written to the audit log with each change
    file = "tokens/moh.token"          # the token itself (16+ characters), or:
    # sha256 = "9f86d0..."             # its SHA-256 in hex (the file then never holds it)
    [tenant.quota]
    sites = 20                         # concurrent sites in its rooms (0: no limit)
    rooms = 2                          # concurrent rooms with someone in them
    max_tier = "hd720"                 # sd360 | hd720 | fhd1080: the largest picture its sites get
    recording_hours = 40               # per calendar month
    recording_disk_mb = 20000          # its recordings on disk
"""

# ruff: noqa: RUF009 - `setting()` returns a dataclasses.field with our validation metadata
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mcu.conference.quota import Quota
from mcu.settings import setting
from mcu.tomlfile import ConfigError, ConfigIssue, TomlFile

NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
PREFIX = re.compile(r"^[A-Za-z0-9_.\-]{0,16}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MIN_TOKEN_LENGTH = 16
PROVIDER = ""  # the tenant of rooms nobody owns (usage records, metrics label "provider")
PROVIDER_LABEL = "provider"


def _name(value: str) -> str | None:
    return None if NAME.match(value) else "must be 1-32 letters, digits, '-' or '_'"


def _prefix(value: str) -> str | None:
    return None if PREFIX.match(value) else "must be up to 16 letters, digits, '_', '.' or '-'"


@dataclass(frozen=True)
class TokenSpec:
    name: str = setting("", _name)
    file: str = ""  # relative to the config folder
    sha256: str = setting("", lambda v: None if not v or SHA256_HEX.match(v) else
                          "must be the token's SHA-256 as 64 lower-case hex digits "
                          "(`printf %s TOKEN | sha256sum`)")


@dataclass(frozen=True)
class TenantSpec:
    name: str = setting("", _name)
    display_name: str = ""
    prefix: str = setting("", _prefix)
    rooms: list[str] = setting(None, factory=list)
    sites: list[str] = setting(None, factory=list)
    layouts: list[str] = setting(None, factory=list)
    token: list[TokenSpec] = setting(None, factory=list)
    quota: Quota = setting(None, factory=Quota)


@dataclass(frozen=True)
class TenantsFile:
    tenant: list[TenantSpec] = setting(None, factory=list)


@dataclass(frozen=True)
class Token:
    """An admin token of a tenant: its name and the SHA-256 of its value (never the value)."""

    name: str
    digest: bytes


@dataclass(frozen=True)
class Tenant:
    name: str
    display_name: str
    prefix: str
    rooms: frozenset[str]  # listed explicitly (the prefix covers the others)
    sites: frozenset[str]
    layouts: frozenset[str]  # empty: every layout
    tokens: tuple[Token, ...]
    quota: Quota

    def owns(self, room: str) -> bool:
        return room in self.rooms or bool(self.prefix) and room.startswith(self.prefix)

    def may_use_layout(self, name: str) -> bool:
        return not self.layouts or name in self.layouts


@dataclass(frozen=True)
class Tenants:
    """Every tenant, and who owns which room. Empty: the single-tenant MCU."""

    tenants: tuple[Tenant, ...] = ()
    path: str = ""
    by_name: dict[str, Tenant] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_name.update({t.name: t for t in self.tenants})

    def __bool__(self) -> bool:
        return bool(self.tenants)

    def owner(self, room: str) -> Tenant | None:
        """The tenant that owns room number `room` (listed rooms first, then prefixes)."""
        for tenant in self.tenants:
            if room in tenant.rooms:
                return tenant
        return next((t for t in self.tenants if t.prefix and room.startswith(t.prefix)), None)

    def owner_name(self, room: str) -> str:
        tenant = self.owner(room)
        return tenant.name if tenant is not None else PROVIDER

    def names(self) -> list[str]:
        return [t.name for t in self.tenants]

    def token_owner(self, given: str) -> tuple[Tenant, Token] | None:
        """The tenant whose token `given` is (compared by digest in constant time), or None."""
        digest = hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest()
        found = None
        for tenant in self.tenants:
            for token in tenant.tokens:
                if hmac.compare_digest(digest, token.digest):
                    found = (tenant, token)
        return found


def token_digest(token: str) -> str:
    """What to write as `sha256 = "..."` for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def load_tenants(path: Path, room_numbers: Iterable[str], site_ids: Iterable[str],
                 layout_names: Iterable[str], issues: list[ConfigIssue]) -> Tenants:
    """conf/tenants.toml, checked against the rooms, roster and layouts; no file: no tenants.
    Appends every problem to `issues` (file, line, key)."""
    if not path.exists():
        return Tenants()
    from mcu.config import build  # the loader of every config file (imports this module lazily)

    try:
        toml = TomlFile.load(path)
    except ConfigError as exc:
        issues.extend(exc.issues)
        return Tenants()
    before = len(issues)
    parsed: TenantsFile = build(TenantsFile, toml.data, toml, (), issues)
    rooms, sites, layouts = set(room_numbers), set(site_ids), set(layout_names)
    out: list[Tenant] = []
    names: dict[str, int] = {}
    token_names: dict[str, str] = {}
    listed: dict[str, str] = {}  # room -> tenant that lists it
    for i, spec in enumerate(parsed.tenant):
        where = ("tenant", i)
        if not spec.name:
            issues.append(toml.issue(where, "a tenant needs a name"))
            continue
        if spec.name in names:
            issues.append(toml.issue((*where, "name"), f"tenant {spec.name!r} is defined twice"))
            continue
        names[spec.name] = i
        for j, other in enumerate(parsed.tenant[:i]):
            if spec.prefix and other.prefix and (spec.prefix.startswith(other.prefix)
                                                 or other.prefix.startswith(spec.prefix)):
                issues.append(toml.issue((*where, "prefix"), (
                    f"prefix {spec.prefix!r} overlaps tenant {other.name!r}'s prefix {other.prefix!r} "
                    f"(line {toml.line_of(('tenant', j, 'prefix'))}): room numbers must be unique across "
                    f"the service")))
        for k, room in enumerate(spec.rooms):
            key = (*where, "rooms", k)
            if room not in rooms:
                issues.append(toml.issue(key, f"no room {room!r} in rooms.toml"))
            elif room in listed:
                issues.append(toml.issue(key, f"room {room} is already tenant {listed[room]!r}'s"))
            else:
                listed[room] = spec.name
        for k, site in enumerate(spec.sites):
            if site not in sites:
                issues.append(toml.issue((*where, "sites", k), f"no site {site!r} in sites.toml"))
        for k, layout in enumerate(spec.layouts):
            if layout not in layouts:
                issues.append(toml.issue((*where, "layouts", k), f"no layout or group {layout!r} in layouts.toml"))
        tokens: list[Token] = []
        for k, tok in enumerate(spec.token):
            key = (*where, "token", k)
            if not tok.name:
                issues.append(toml.issue(key, "a token needs a name (it goes to the audit log)"))
                continue
            if tok.name in token_names:
                issues.append(toml.issue((*key, "name"), f"token name {tok.name!r} is already used by "
                                                         f"tenant {token_names[tok.name]!r}"))
                continue
            token_names[tok.name] = spec.name
            digest = _token_digest(tok, path.parent, toml, key, issues)
            if digest is not None:
                tokens.append(Token(tok.name, digest))
        out.append(Tenant(spec.name, spec.display_name or spec.name, spec.prefix, frozenset(spec.rooms),
                          frozenset(spec.sites), frozenset(spec.layouts), tuple(tokens), spec.quota))
    for room, owner in listed.items():
        for j, tenant in enumerate(parsed.tenant):
            if tenant.name != owner and tenant.prefix and room.startswith(tenant.prefix):
                k = parsed.tenant[names[owner]].rooms.index(room)
                issues.append(toml.issue(("tenant", names[owner], "rooms", k), (
                    f"room {room} is under tenant {tenant.name!r}'s prefix {tenant.prefix!r} (line "
                    f"{toml.line_of(('tenant', j, 'prefix'))}): room numbers must be unique across the service")))
    if len(issues) > before:
        return Tenants()
    return Tenants(tuple(out), str(path))


def _token_digest(tok: TokenSpec, base: Path, toml: TomlFile, key: tuple, issues: list[ConfigIssue]) -> bytes | None:
    if bool(tok.file) == bool(tok.sha256):
        issues.append(toml.issue(key, "give the token as file = \"...\" or as sha256 = \"...\", one of the two"))
        return None
    if tok.sha256:
        return bytes.fromhex(tok.sha256)
    token_path = Path(tok.file) if Path(tok.file).is_absolute() else base / tok.file
    try:
        value = token_path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        issues.append(toml.issue((*key, "file"), f"cannot read {token_path}: {exc.strerror}"))
        return None
    if len(value) < MIN_TOKEN_LENGTH:
        issues.append(toml.issue((*key, "file"), f"the token in {token_path} is shorter than "
                                                 f"{MIN_TOKEN_LENGTH} characters; make one with "
                                                 f"`openssl rand -hex 32`"))
        return None
    return hashlib.sha256(value.encode()).digest()
