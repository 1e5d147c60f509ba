"""Tenant quotas at admission: sans-I/O checks of who may still join, dial or record.

A tenant (conf/tenants.toml, mcu.tenants) owns rooms; its quota bounds what they use at once
(concurrent sites, concurrent rooms with someone in them), the largest picture its sites get, and
per month its recording hours and the disk its recordings hold. The server asks `QuotaCheck`
before a call joins; the answer is a plain value: None (within quota), a `QuotaRefusal` (the SIP
status, the reason phrase the caller and the log get, the metric label), or a tier cap.

Counts come in as arguments (the conference's members and rooms, the usage so far): nothing here
reads a clock or a file.

    concurrent sites   present members of the tenant's rooms (joined or keying a PIN) + 1 > sites
                       -> 486 "Tenant Quota: Sites" (the tenant is busy, not the MCU)
    concurrent rooms   the newcomer's room is empty and rooms with members + 1 > rooms
                       -> 486 "Tenant Quota: Rooms"
    video tier         the newcomer's pictures at most max_tier (a cap, not a refusal)
    recording hours    hours recorded this month >= recording_hours -> refused (409 in the API)
    recording disk     bytes of its recordings on disk >= recording_disk_mb -> refused
"""

from __future__ import annotations

from dataclasses import dataclass

from mcu.settings import in_range, one_of, setting

QUOTAS: tuple[str, ...] = ("sites", "rooms", "tier", "recording_hours", "recording_disk")
TIERS: tuple[str, ...] = ("sd360", "hd720", "fhd1080")
TIER_SIZES: dict[str, tuple[int, int]] = {"sd360": (640, 360), "hd720": (1280, 720), "fhd1080": (1920, 1080)}
BUSY = 486  # the tenant's own limit: like a busy line, try later or hang up someone
PHRASES = {"sites": "Tenant Quota: Sites", "rooms": "Tenant Quota: Rooms"}


@dataclass(frozen=True)
class Quota:
    """A tenant's limits; 0 means no limit (the default for every field)."""

    sites: int = setting(0, in_range(0, 100000))  # concurrent sites over all its rooms
    rooms: int = setting(0, in_range(0, 10000))  # concurrent rooms with someone in them
    max_tier: str = setting("fhd1080", one_of(*TIERS))  # the largest picture its sites get
    recording_hours: float = setting(0.0, in_range(0, 1_000_000))  # per calendar month (UTC)
    recording_disk_mb: int = setting(0, in_range(0, 100_000_000))  # its recordings on disk


@dataclass(frozen=True)
class QuotaRefusal:
    tenant: str
    quota: str  # one of QUOTAS (the metric label)
    used: float
    limit: float
    status: int = BUSY

    @property
    def phrase(self) -> str:
        return PHRASES.get(self.quota, "Tenant Quota")

    @property
    def message(self) -> str:
        """For the operator (log line, API error): what was full and how full."""
        return (f"tenant {self.tenant!r} is at its {self.quota} quota ({self.used:g} in use, limit "
                f"{self.limit:g}; conf/tenants.toml [tenant.quota] {self.quota})")


@dataclass(frozen=True)
class TenantLoad:
    """What a tenant uses now: its present sites and the rooms that have them."""

    sites: int = 0
    rooms: frozenset[str] = frozenset()


def check_join(tenant: str, quota: Quota, load: TenantLoad, room: str) -> QuotaRefusal | None:
    """May one more site join `room` of `tenant`? None: yes."""
    if quota.sites and load.sites + 1 > quota.sites:
        return QuotaRefusal(tenant, "sites", load.sites, quota.sites)
    if quota.rooms and room not in load.rooms and len(load.rooms) + 1 > quota.rooms:
        return QuotaRefusal(tenant, "rooms", len(load.rooms), quota.rooms)
    return None


def tier_cap(quota: Quota) -> tuple[int, int] | None:
    """The largest picture (width, height) the tenant's sites get; None: no cap below the MCU's own."""
    if quota.max_tier == TIERS[-1]:
        return None
    return TIER_SIZES[quota.max_tier]


def check_recording(tenant: str, quota: Quota, hours_this_month: float, disk_bytes: int) -> QuotaRefusal | None:
    """May the tenant start one more recording? None: yes."""
    if quota.recording_hours and hours_this_month >= quota.recording_hours:
        return QuotaRefusal(tenant, "recording_hours", round(hours_this_month, 2), quota.recording_hours)
    if quota.recording_disk_mb and disk_bytes >= quota.recording_disk_mb * 1_000_000:
        return QuotaRefusal(tenant, "recording_disk", round(disk_bytes / 1e6, 1), quota.recording_disk_mb)
    return None


def use_fraction(quota: Quota, load: TenantLoad) -> dict[str, float]:
    """Share of each bounded concurrent quota in use (for the metrics); unbounded ones are left out."""
    out: dict[str, float] = {}
    if quota.sites:
        out["sites"] = load.sites / quota.sites
    if quota.rooms:
        out["rooms"] = len(load.rooms) / quota.rooms
    return out
