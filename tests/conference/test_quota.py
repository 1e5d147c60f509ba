"""The sans-I/O quota checks: counts in, a refusal (or a cap) out."""

from __future__ import annotations

from mcu.conference.quota import (
    Quota,
    TenantLoad,
    check_join,
    check_recording,
    tier_cap,
    use_fraction,
)


def test_no_limits_admit_everything() -> None:
    quota = Quota()
    assert check_join("t", quota, TenantLoad(10_000, frozenset({"a", "b"})), "c") is None
    assert check_recording("t", quota, 1e6, 10**15) is None
    assert tier_cap(quota) is None and use_fraction(quota, TenantLoad(3)) == {}


def test_sites_and_rooms_quotas_refuse_one_more_with_486() -> None:
    quota = Quota(sites=2, rooms=1)
    assert check_join("moh", quota, TenantLoad(1, frozenset({"4100"})), "4100") is None
    refusal = check_join("moh", quota, TenantLoad(2, frozenset({"4100"})), "4100")
    assert refusal is not None and (refusal.quota, refusal.status, refusal.phrase) == ("sites", 486, "Tenant Quota: Sites")
    assert "2 in use, limit 2" in refusal.message
    rooms = check_join("moh", quota, TenantLoad(1, frozenset({"4100"})), "4101")  # a second room in use
    assert rooms is not None and rooms.quota == "rooms" and rooms.phrase == "Tenant Quota: Rooms"
    assert use_fraction(quota, TenantLoad(1, frozenset({"4100"}))) == {"sites": 0.5, "rooms": 1.0}


def test_tier_and_recording_quotas() -> None:
    assert tier_cap(Quota(max_tier="sd360")) == (640, 360) and tier_cap(Quota(max_tier="hd720")) == (1280, 720)
    quota = Quota(recording_hours=10, recording_disk_mb=100)
    assert check_recording("t", quota, 9.99, 99_000_000) is None
    hours = check_recording("t", quota, 10.0, 0)
    assert hours is not None and hours.quota == "recording_hours"
    disk = check_recording("t", quota, 0.0, 100_000_000)
    assert disk is not None and disk.quota == "recording_disk" and "100 in use" in disk.message
