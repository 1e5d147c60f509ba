"""Monthly statements from usage records: what each tenant used in a calendar month (UTC).

    meetings          meetings that started in the month
    calls             calls that joined a room in the month
    site-hours        per quality tier (what the MCU sent the site: audio, sd360, hd720, fhd1080),
                      each call's answer-to-end time clipped to the month
    recording hours   the meetings' recording minutes / 60
    peak sites        the most calls of the tenant at the same moment
    amounts           with prices (mcu.plan.prices, the planner's [prices] table): site-hours x the
                      tier's port price, recording hours x recording_per_hour, + service_per_month

Pure functions of the records: `mcu usage` and the admin API's `usage` print the same numbers.
"""

from __future__ import annotations

import calendar
import csv
import io
import re
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from mcu.plan.prices import TIERS, Prices
from mcu.usage.records import CallRecord, MeetingRecord

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FORMATS = ("table", "csv", "markdown")
PROVIDER_LABEL = "provider"


def month_bounds(month: str | None, now: float) -> tuple[float, float, str]:
    """(start, end, "YYYY-MM") of a month in UTC; None: the month of `now`."""
    if month is None:
        tm = time.gmtime(now)
        year, mon = tm.tm_year, tm.tm_mon
    else:
        match = MONTH.match(month)
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValueError(f"month must be YYYY-MM, e.g. 2026-12 (got {month!r})")
        year, mon = int(match.group(1)), int(match.group(2))
    start = calendar.timegm((year, mon, 1, 0, 0, 0))
    end = calendar.timegm((year + (mon == 12), mon % 12 + 1, 1, 0, 0, 0))
    return float(start), float(end), f"{year:04d}-{mon:02d}"


@dataclass
class TenantUsage:
    tenant: str
    meetings: int = 0
    calls: int = 0
    site_hours: dict[str, float] = field(default_factory=lambda: {t: 0.0 for t in TIERS})
    recording_hours: float = 0.0
    peak_sites: int = 0
    amounts: dict[str, float] | None = None  # with prices: per tier, recording, service, total
    currency: str = ""

    @property
    def total_site_hours(self) -> float:
        return sum(self.site_hours.values())


@dataclass
class Statement:
    month: str
    tenants: list[TenantUsage]


def _peak(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, e in intervals] + [(e, -1) for s, e in intervals], key=lambda x: (x[0], x[1]))
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def statement(calls: list[CallRecord], meetings: list[MeetingRecord], start: float, end: float, month: str,
              tenant: str | None = None, prices: Prices | None = None) -> Statement:
    by_tenant: dict[str, TenantUsage] = {}

    def usage(name: str) -> TenantUsage:
        label = name or PROVIDER_LABEL
        return by_tenant.setdefault(label, TenantUsage(label))

    if tenant is not None:
        usage(tenant)
    intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for call in calls:
        if call.answer is None:
            continue
        lo, hi = max(call.answer, start), min(call.end, end)
        if hi <= lo and not start <= call.answer < end:
            continue
        u = usage(call.tenant)
        if start <= call.answer < end:
            u.calls += 1
        u.site_hours[call.tier if call.tier in u.site_hours else "hd720"] += max(0.0, hi - lo) / 3600.0
        intervals[u.tenant].append((lo, max(lo, hi)))
    for meeting in meetings:
        if start <= meeting.start < end:
            u = usage(meeting.tenant)
            u.meetings += 1
            u.recording_hours += meeting.recording_minutes / 60.0
    for name, spans in intervals.items():
        by_tenant[name].peak_sites = _peak(spans)
    rows = sorted(by_tenant.values(), key=lambda u: u.tenant)
    if prices is not None:
        for u in rows:
            u.amounts, u.currency = amounts(u, prices), prices.currency
    return Statement(month, rows)


def amounts(u: TenantUsage, prices: Prices) -> dict[str, float]:
    out: dict[str, float] = {}
    for tier, hours in u.site_hours.items():
        price = prices.site_hour(tier)
        if price is not None:
            out[f"site_hours_{tier}"] = round(hours * price, 2)
    if prices.recording_per_hour is not None:
        out["recording"] = round(u.recording_hours * prices.recording_per_hour, 2)
    if prices.service_per_month is not None:
        out["service"] = round(prices.service_per_month, 2)
    out["total"] = round(sum(out.values()), 2)
    return out


def statement_doc(s: Statement) -> dict[str, Any]:
    return {"month": s.month, "tenants": [
        asdict(u) | {"site_hours": {k: round(v, 4) for k, v in u.site_hours.items()},
                     "recording_hours": round(u.recording_hours, 4),
                     "total_site_hours": round(u.total_site_hours, 4)} for u in s.tenants]}


def _rows(s: Statement) -> tuple[list[str], list[list[str]]]:
    priced = any(u.amounts for u in s.tenants)
    header = ["tenant", "meetings", "calls", *(f"site-h {t}" for t in TIERS), "site-h total", "recording h",
              "peak sites"]
    if priced:
        header += ["amount", "currency"]
    rows = []
    for u in s.tenants:
        row = [u.tenant, str(u.meetings), str(u.calls), *(f"{u.site_hours[t]:.2f}" for t in TIERS),
               f"{u.total_site_hours:.2f}", f"{u.recording_hours:.2f}", str(u.peak_sites)]
        if priced:
            row += [f"{(u.amounts or {}).get('total', 0.0):.2f}", u.currency]
        rows.append(row)
    return header, rows


def render(s: Statement, fmt: str = "table") -> str:
    header, rows = _rows(s)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["month", *header])
        for row in rows:
            writer.writerow([s.month, *row])
        return out.getvalue()
    if fmt == "markdown":
        lines = [f"# Usage statement {s.month}", "", "| " + " | ".join(header) + " |",
                 "|" + "|".join(" --- " for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        for u in s.tenants:
            if u.amounts:
                lines += ["", f"## {u.tenant}: amounts ({u.currency})", ""]
                lines += [f"- {k.replace('_', ' ')}: {v:.2f}" for k, v in u.amounts.items()]
        return "\n".join(lines) + "\n"
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    text = [f"usage statement {s.month} (UTC)"]
    text += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in table]
    if not rows:
        text.append("(no usage)")
    return "\n".join(text) + "\n"
