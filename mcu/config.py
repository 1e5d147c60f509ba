"""The MCU's configuration: `conf/mcu.toml` plus the files it names, loaded and validated.

Each section is a frozen dataclass; the loader walks the dataclass fields, so the schema,
the defaults and the validation live in one place. Every problem is reported with file,
line and key, all at once, and a failed load never replaces a running config.
"""

# ruff: noqa: RUF009 - `setting()` returns a dataclasses.field with our validation metadata
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcu.conference.spec import AudioSection, LimitsSection, RecordingSection, Room, VideoSection
from mcu.layout import ConfigInvalid, LayoutConfig, load_config_dir
from mcu.sdp.profiles import ProfileError, Profiles, load_profiles
from mcu.settings import host_address, in_range, one_of, setting
from mcu.tenants import Tenants, load_tenants
from mcu.tomlfile import ConfigError, ConfigIssue, TomlFile

RAS_PORT = 1719  # H.225.0 RAS: a gatekeeper address without a port means this one


@dataclass(frozen=True)
class ServerSection:
    name: str = "open-mcu"


@dataclass(frozen=True)
class LogSection:
    level: str = setting("info", one_of("debug", "info", "warning", "error"))
    format: str = setting("kv", one_of("kv", "json"))


@dataclass(frozen=True)
class ListenSection:
    transport: str = setting("udp", one_of("udp", "tcp", "tls"))
    host: str = setting("0.0.0.0", host_address)
    port: int = setting(5060, in_range(1, 65535))


def _default_listen() -> list[ListenSection]:
    return [ListenSection("udp", "0.0.0.0", 5060), ListenSection("tcp", "0.0.0.0", 5060)]


def sip_uri(value: str) -> str | None:
    return None if value.startswith(("sip:", "sips:")) and "@" in value or not value else \
        "must be a SIP URI such as sip:4100@mcu.example.gov"


@dataclass(frozen=True)
class RegisterSection:
    """One room URI the MCU registers at an existing registrar (so sites can dial it by name)."""

    aor: str = setting("", sip_uri)
    registrar: str = setting("", lambda v: None if v.startswith(("sip:", "sips:")) else
                             "must be the registrar's SIP URI, e.g. sip:registrar.example.gov;transport=tcp")
    user: str = ""
    password_file: str = ""
    expires: int = setting(3600, in_range(60, 86400))


@dataclass(frozen=True)
class SipSection:
    listen: list[ListenSection] = setting(None, factory=_default_listen)
    register: list[RegisterSection] = setting(None, factory=list)
    domain: str = ""
    advertise: str = setting("", host_address)
    tls_cert: str = ""
    tls_key: str = ""
    session_expires: int = setting(1800, in_range(90, 86400))


def gatekeeper_address(value: str) -> str | None:
    """"" (no gatekeeper), or host[:port] / [IPv6]:port of the gatekeeper's RAS address."""
    if not value:
        return None
    try:
        split_host_port(value, RAS_PORT)
    except ValueError:
        return "must be the gatekeeper's RAS address as host:port, e.g. 192.0.2.10:1719 (port 1719 if left out)"
    return None


def split_host_port(value: str, default_port: int) -> tuple[str, int]:
    """("host", port) of "host", "host:port", "[v6]" or "[v6]:port"; ValueError if not one."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") or not rest else "x"
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host, port_text = value, ""
    port = int(port_text) if port_text else default_port
    if not host or any(c.isspace() for c in host) or not 1 <= port <= 65535:
        raise ValueError(value)
    return host, port


@dataclass(frozen=True)
class GatekeeperSection:
    """An H.323 gatekeeper to register the MCU at (H.225.0 RAS over UDP): every room number as a
    dialedDigits alias and the server name as h323-ID; each H.323 call asks it for admission."""

    address: str = setting("", gatekeeper_address)  # "" (the default): no gatekeeper
    gatekeeper_id: str = ""  # the gatekeeper identifier to ask for; "": whichever answers
    time_to_live: int = setting(300, in_range(2, 86400))  # seconds, asked for in the RRQ
    discover: bool = True  # a GRQ before the RRQ (most gatekeepers want one)
    ras_port: int = setting(0, in_range(0, 65535))  # our RAS socket's port; 0: any free one


@dataclass(frozen=True)
class H323Section:
    """H.323 call signalling (H.225.0 over TCP; H.245 tunnelled, on its own connection or by fast
    connect). Dial-out targets are written h323:room@host[:port]."""

    enabled: bool = True
    host: str = setting("0.0.0.0", host_address)
    port: int = setting(1720, in_range(1, 65535))
    gatekeeper: GatekeeperSection = setting(None, factory=GatekeeperSection)


@dataclass(frozen=True)
class RtpSection:
    host: str = setting("0.0.0.0", host_address)
    advertise: str = setting("", host_address)
    port_min: int = setting(20000, in_range(1024, 65534))
    port_max: int = setting(29999, in_range(1025, 65535))
    inactivity_timeout: float = setting(30.0, in_range(1, 3600))
    shared_port: int = setting(0, lambda v: None if v == 0 or 1024 <= v <= 65534 else
                               "must be 0 (a port pair per call) or a port from 1024 to 65534")


@dataclass(frozen=True)
class BfcpSection:
    """Floor control for content sharing (BFCP, RFC 8855): one UDP and one TCP listener shared by
    every room; port 0 takes any free port (the SDP answer names it)."""

    enabled: bool = True
    host: str = setting("0.0.0.0", host_address)
    udp_port: int = setting(0, in_range(0, 65535))
    tcp_port: int = setting(0, in_range(0, 65535))
    tls_port: int = setting(0, in_range(0, 65535))  # TCP/TLS/BFCP, with [sip] tls_cert and tls_key
    transports: list[str] = setting(None, lambda v: None if set(v) <= {"udp", "tcp", "tls"} and v else
                                    'must list "udp", "tcp" and/or "tls"', factory=lambda: ["udp", "tcp"])
    content_fps: int = setting(5, in_range(1, 30))  # what content is encoded at for its receivers
    content_kbps: int = setting(512, in_range(64, 8000))


@dataclass(frozen=True)
class MetricsSection:
    enabled: bool = True
    host: str = setting("127.0.0.1", host_address)
    port: int = setting(9464, in_range(1, 65535))


@dataclass(frozen=True)
class AdminSection:
    enabled: bool = True
    host: str = setting("127.0.0.1", host_address)
    port: int = setting(8088, in_range(1, 65535))
    token_file: str = "admin.token"
    audit_log: str = "audit.jsonl"  # every state-changing call, one JSON line each (relative: config folder)
    tls_cert: str = ""
    tls_key: str = ""
    console_language: str = setting("vi", one_of("vi", "en"))  # the web console's default language
    session_hours: float = setting(8.0, in_range(0.05, 168))  # a console login lasts this long


@dataclass(frozen=True)
class AdmissionSection:
    """Admission from the capacity model: refuse new joins before the box runs out of CPU."""

    enabled: bool = True
    ceiling: float = setting(0.85, in_range(0.05, 1.0))  # fraction of the cores the model may plan
    cores: float = setting(0.0, in_range(0, 1024))  # 0: the cores this machine has
    calibration: str = "calibration.toml"  # unit costs (`mcu bench calibrate` writes one)
    reserve: float = setting(0.10, in_range(0.0, 0.5))  # fraction of the cores kept for chair/roster sites
    retry_after: int = setting(30, in_range(1, 3600))  # seconds, in the 503 of a refused join
    degrade: list[str] = setting(None, lambda v: None if set(v) <= {"fps", "tier"} and len(set(v)) == len(v)
                                 else 'must list "fps" and/or "tier", each once', factory=lambda: ["fps", "tier"])
    degrade_fps: int = setting(15, in_range(1, 60))  # step "fps": a new member's picture at this rate
    degrade_tier: str = setting("sd360", one_of("sd360", "hd720"))  # step "tier": ... and at most this size
    measured_guard: bool = True  # also refuse when the measured load (plus the newcomer) passes the limit


def redis_url(value: str) -> str | None:
    return None if not value or value.startswith(("redis://", "rediss://", "unix://")) else \
        "must be a Redis URL such as redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class ClusterSection:
    """One node of several behind a SIP front door (conf/kamailio/): rooms are claimed in the Redis
    registry so that every call to one room lands on one node. Without node_id (the section left
    out): a single MCU, no registry."""

    node_id: str = setting("", lambda v: None if not v or v.replace("-", "").replace("_", "").isalnum()
                           else "must be letters, digits, - and _ (it is a Redis key part and a label)")
    redis_url: str = setting("redis://127.0.0.1:6379/0", redis_url)
    advertise_sip: str = ""  # the SIP address the front door routes to, e.g. sip:10.0.0.11:5060
    advertise_admin: str = ""  # this node's admin API base URL for the others; "": from [admin]
    heartbeat: float = setting(1.0, in_range(0.1, 60))  # seconds between registry renewals
    claim_ttl: float = setting(0.0, in_range(0, 600))  # seconds a claim outlives its last renewal; 0: 3 heartbeats
    max_rooms: int = setting(0, in_range(0, 100000))  # 0: no limit but admission; past it the node is full
    redis_timeout: float = setting(1.0, in_range(0.05, 30))  # a call waits at most this on the registry

    @property
    def enabled(self) -> bool:
        return bool(self.node_id)

    @property
    def ttl(self) -> float:
        return self.claim_ttl or 3 * self.heartbeat


@dataclass(frozen=True)
class FilesSection:
    rooms: str = "rooms.toml"
    endpoints: str = "endpoints.toml"
    tenants: str = "tenants.toml"  # no such file: one tenant, the provider (mcu.tenants)


def store_url(value: str) -> str | None:
    if value.startswith(("sqlite:", "postgresql://", "postgres://")):
        return None
    return 'must be "sqlite:FILE" (relative: the config folder) or "postgresql://user@host:port/db"'


@dataclass(frozen=True)
class StoreSection:
    """Where usage records go (mcu.usage): SQLite by default, PostgreSQL for providers."""

    url: str = setting("sqlite:usage.sqlite", store_url)
    journal: str = "usage.journal"  # append-only, replayed on start (relative: the config folder)
    enabled: bool = True


@dataclass(frozen=True)
class McuConfig:
    server: ServerSection = setting(None, factory=ServerSection)
    log: LogSection = setting(None, factory=LogSection)
    sip: SipSection = setting(None, factory=SipSection)
    h323: H323Section = setting(None, factory=H323Section)
    rtp: RtpSection = setting(None, factory=RtpSection)
    bfcp: BfcpSection = setting(None, factory=BfcpSection)
    audio: AudioSection = setting(None, factory=AudioSection)
    video: VideoSection = setting(None, factory=VideoSection)
    metrics: MetricsSection = setting(None, factory=MetricsSection)
    admin: AdminSection = setting(None, factory=AdminSection)
    limits: LimitsSection = setting(None, factory=LimitsSection)
    admission: AdmissionSection = setting(None, factory=AdmissionSection)
    files: FilesSection = setting(None, factory=FilesSection)
    recording: RecordingSection = setting(None, factory=RecordingSection)
    cluster: ClusterSection = setting(None, factory=ClusterSection)
    store: StoreSection = setting(None, factory=StoreSection)


@dataclass(frozen=True)
class RoomsFile:
    room: list[Room] = setting(None, factory=list)


@dataclass(frozen=True)
class Config:
    """Everything the MCU runs on, with where it came from."""

    path: Path
    mcu: McuConfig
    rooms: dict[str, Room]
    profiles: Profiles
    layouts: LayoutConfig
    tenants: Tenants = dataclasses.field(default_factory=Tenants)

    def file(self, name: str) -> Path:
        return self.path.parent / getattr(self.mcu.files, name)


def build(cls: type, data: Any, toml: TomlFile, key_path: tuple, issues: list[ConfigIssue]) -> Any:
    """Build dataclass `cls` from TOML `data`, appending every problem found to `issues`."""
    if not isinstance(data, dict):
        issues.append(toml.issue(key_path, f"must be a table, not {type(data).__name__}"))
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            issues.append(toml.issue((*key_path, key), f"unknown key (known keys here: {known})"))
    values: dict[str, Any] = {}
    for name, fld in fields.items():
        if name not in data:
            continue
        value = _convert(hints[name], data[name], toml, (*key_path, name), issues)
        if value is _INVALID:
            continue
        check = fld.metadata.get("check")
        message = check(value) if check else None
        if message:
            issues.append(toml.issue((*key_path, name), f"{message} (got {value!r})"))
            continue
        values[name] = value
    return cls(**values)


_INVALID = object()


def _convert(hint: Any, value: Any, toml: TomlFile, key_path: tuple, issues: list[ConfigIssue]) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, toml, key_path, issues)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            issues.append(toml.issue(key_path, f"must be an array, not {_toml_type(value)}"))
            return _INVALID
        items = [_convert(item, v, toml, (*key_path, i), issues) for i, v in enumerate(value)]
        return _INVALID if any(i is _INVALID for i in items) else items
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        issues.append(toml.issue(key_path, f"must be {_toml_name(hint)}, not {_toml_type(value)}"))
        return _INVALID
    return value


def _toml_name(hint: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(hint, hint.__name__)


def _toml_type(value: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def load_config(path: str | Path) -> Config:
    """Load and validate the main config and the rooms file; raise ConfigError listing every problem."""
    path = Path(path)
    toml = TomlFile.load(path)
    issues: list[ConfigIssue] = []
    mcu = build(McuConfig, toml.data, toml, (), issues)
    if mcu.rtp.port_min >= mcu.rtp.port_max:
        issues.append(toml.issue(("rtp", "port_max"), "must be greater than rtp.port_min"))
    raw_registrations = toml.data.get("sip", {}).get("register", [])
    for i, reg in enumerate(mcu.sip.register):
        if not {"aor", "registrar"} <= set(raw_registrations[i]):
            issues.append(toml.issue(("sip", "register", i), "a registration needs aor and registrar"))
        elif reg.password_file and not (path.parent / reg.password_file).is_file():
            issues.append(toml.issue(("sip", "register", i, "password_file"),
                                     f"no such file: {path.parent / reg.password_file}"))
    for i, listen in enumerate(mcu.sip.listen):
        if listen.transport == "tls" and not (mcu.sip.tls_cert and mcu.sip.tls_key):
            issues.append(toml.issue(("sip", "listen", i, "transport"),
                                     "tls needs sip.tls_cert and sip.tls_key to be set"))
    rooms: dict[str, Room] = {}
    if issues:
        raise ConfigError(issues)
    rooms = load_rooms(path.parent / mcu.files.rooms, issues)
    profiles = layouts = None
    try:
        profiles = load_profiles(path.parent / mcu.files.endpoints)
    except ProfileError as exc:
        issues.append(exc.issue)
    try:
        layouts = load_config_dir(path.parent)
    except ConfigInvalid as exc:
        issues.extend(exc.errors)
    if layouts is not None:
        issues.extend(_check_room_layouts(path.parent / mcu.files.rooms, rooms, layouts))
    if layouts is not None and profiles is not None:
        issues.extend(_check_site_profiles(path.parent / "sites.toml", layouts, profiles))
    tenants = Tenants()
    if layouts is not None:
        tenants = load_tenants(path.parent / mcu.files.tenants, rooms, (s.id for s in layouts.sites),
                               set(layouts.layouts) | set(layouts.groups), issues)
    if issues or profiles is None or layouts is None:
        raise ConfigError(issues)
    return Config(path=path, mcu=mcu, rooms=rooms, profiles=profiles, layouts=layouts, tenants=tenants)


def _check_room_layouts(rooms_path: Path, rooms: dict[str, Room], layouts: LayoutConfig) -> list[ConfigIssue]:
    known = set(layouts.layouts) | set(layouts.groups)
    toml = TomlFile.load(rooms_path)
    return [toml.issue(("room", i, "layout"), f"no layout or group named {room.layout!r} in layouts.toml "
                       f"(known: {', '.join(sorted(known))})")
            for i, room in enumerate(rooms.values()) if room.layout not in known] + [
        toml.issue(("room", i, "content_layout"), f"no layout or group named {room.content_layout!r} in "
                   f"layouts.toml (known: {', '.join(sorted(known))})")
        for i, room in enumerate(rooms.values()) if room.content_layout and room.content_layout not in known]


def _check_site_profiles(sites_path: Path, layouts: LayoutConfig, profiles: Profiles) -> list[ConfigIssue]:
    """Every roster site's `profile` names a profile of endpoints.toml (a typo would silently
    give the site the default quirks)."""
    unknown = {site.id: site.profile for site in layouts.sites if profiles.named(site.profile) is None}
    if not unknown:
        return []
    toml = TomlFile.load(sites_path)
    known = ", ".join(["default", *(p.name for p in profiles.endpoints)])
    return [toml.issue(("sites", i, "profile"), f"no profile named {unknown[table['id']]!r} in "
                       f"endpoints.toml (known: {known})")
            for i, table in enumerate(toml.data.get("sites", [])) if table.get("id") in unknown]


def load_rooms(path: Path, issues: list[ConfigIssue]) -> dict[str, Room]:
    try:
        toml = TomlFile.load(path)
    except ConfigError as exc:
        issues.extend(exc.issues)
        return {}
    parsed = build(RoomsFile, toml.data, toml, (), issues)
    rooms: dict[str, Room] = {}
    for i, room in enumerate(parsed.room):
        if not room.number:
            issues.append(toml.issue(("room", i), "a room needs a number (the user part of sip:<number>@mcu)"))
        elif room.number in rooms:
            issues.append(toml.issue(("room", i, "number"), f"room {room.number} is defined twice"))
        else:
            rooms[room.number] = room
    return rooms
