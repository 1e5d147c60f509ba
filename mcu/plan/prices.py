"""The price model shared by the planner's build versus rent (`mcu plan`) and the monthly usage
statement (`mcu usage --prices FILE`): one `[prices]` table, so a plan input file is also a price
file and an agency can put its real usage beside the plan.

    [prices]
    currency = "USD"
    server_per_month = 250          # build: one MCU machine per month
    bandwidth_per_mbps_month = 8    # build: central-site link per Mbit/s per month
    port_per_hour = 2.5             # rent: one site in one meeting, per hour
    recording_per_hour = 1.0        # rent: an hour of recording
    service_per_month = 100         # rent: the monthly fee of a tenant
    [prices.port_per_hour_by_tier]  # rent: per site-hour of a quality tier (else port_per_hour)
    audio = 0.5
    sd360 = 1.5
    hd720 = 2.5
    fhd1080 = 4.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mcu.plan.schema import Reader
from mcu.tomlfile import TomlFile

PRICE_KEYS = {"currency", "server_per_month", "bandwidth_per_mbps_month", "port_per_hour", "recording_per_hour",
              "service_per_month", "port_per_hour_by_tier"}
TIERS = ("audio", "sd360", "hd720", "fhd1080")


@dataclass(frozen=True)
class Prices:
    currency: str = "USD"
    server_per_month: float | None = None
    bandwidth_per_mbps_month: float | None = None
    port_per_hour: float | None = None
    recording_per_hour: float | None = None
    service_per_month: float | None = None
    port_per_hour_by_tier: dict[str, float] = field(default_factory=dict)

    def site_hour(self, tier: str) -> float | None:
        """The rent of one site-hour of `tier`: its own price, else port_per_hour, else None."""
        return self.port_per_hour_by_tier.get(tier, self.port_per_hour)


def read_prices(r: Reader, data: dict) -> Prices:
    p = r.table(data, ("prices",), PRICE_KEYS)
    tiers = r.table(p, ("prices", "port_per_hour_by_tier"), set(TIERS))
    return Prices(
        currency=r.string(p, ("prices", "currency"), "USD"),
        server_per_month=r.number(p, ("prices", "server_per_month"), None, low=0.0),
        bandwidth_per_mbps_month=r.number(p, ("prices", "bandwidth_per_mbps_month"), None, low=0.0),
        port_per_hour=r.number(p, ("prices", "port_per_hour"), None, low=0.0),
        recording_per_hour=r.number(p, ("prices", "recording_per_hour"), None, low=0.0),
        service_per_month=r.number(p, ("prices", "service_per_month"), None, low=0.0),
        port_per_hour_by_tier={t: v for t in TIERS
                               if (v := r.number(tiers, ("prices", "port_per_hour_by_tier", t), None, low=0.0))
                               is not None},
    )


def load_prices(path: str | Path) -> Prices:
    """The [prices] table of a TOML file (a plan input works); ConfigError with file and line."""
    toml = TomlFile.load(path)
    r = Reader(toml.issue)
    prices = read_prices(r, toml.data)
    r.raise_if_any()
    return prices
