"""From inputs and a calibration to a deployment: machines, bandwidth, delay, use, cost.

    meeting_cores   = meeting_cpu(shape) / 1000                 (see mcu.plan.cpu)
    peak_cores      = meeting_cores x concurrent
    usable/machine  = machine_cores x usable_fraction           (machine_cores defaults to
                                                                 the calibrated machine's)
    meetings/machine= floor(usable/machine / meeting_cores)     (a meeting runs in one MCU
                                                                 process: it is never split)
    machines        = ceil(concurrent / meetings per machine) + 1 if redundancy = "n+1"
                      (when one meeting needs more than a machine's usable cores the plan
                      does not fit: `fits` is False, machines counts what the cores would
                      need if it could be split, and min_machine_cores says what would fit)
    peak load       = peak_cores / (active machines x machine_cores)
    central in/out  = sum over sites of wire kbit/s they send / receive, x concurrent
    volume/month    = (in + out of one meeting) x typical minutes x 60 / 8 x meetings/month
    utilisation     = meetings/month x typical hours / (concurrent x 730 h)
    build/month     = machines x server price + max(central in, out) Mbit/s x bandwidth price
    rent/month      = sites x meetings/month x typical hours x port price per hour
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mcu.plan.calibration import Calibration
from mcu.plan.cpu import CpuBreakdown, MeetingShape, meeting_cpu
from mcu.plan.delay import SiteDelay, site_delay, site_to_site
from mcu.plan.inputs import MINUTES_PER_MONTH, PlanInputs, Site
from mcu.plan.network import StreamRate, member_stream, video_stream
from mcu.plan.tiers import SiteMedia

BYTES_PER_GB = 1e9
HOURS_PER_MONTH = MINUTES_PER_MONTH / 60.0


@dataclass(frozen=True)
class SiteBandwidth:
    site: Site
    up: StreamRate    # site -> MCU
    down: StreamRate  # MCU -> site


@dataclass(frozen=True)
class Machines:
    machine_cores: int
    usable_cores: float
    meetings_per_machine: int
    active: int
    spare: int
    fits: bool
    min_machine_cores: int
    peak_load: float  # share of the active machines' cores in use at peak

    @property
    def total(self) -> int:
        return self.active + self.spare


@dataclass(frozen=True)
class Costs:
    currency: str
    build_per_month: float | None
    rent_per_month: float | None
    server_part: float | None
    bandwidth_part: float | None


@dataclass(frozen=True)
class PlanResult:
    inputs: PlanInputs
    calibration: Calibration
    cpu: CpuBreakdown
    meeting_cores: float
    peak_cores: float
    machines: Machines
    sites: tuple[SiteBandwidth, ...]
    central_in_kbps: float   # at peak (all concurrent meetings)
    central_out_kbps: float
    volume_gb_per_month: float
    delays: tuple[SiteDelay, ...]
    worst_site_to_site_ms: float
    meeting_hours_per_month: float
    utilisation: float
    costs: Costs

    @property
    def bound_by(self) -> str:
        return self.cpu.bound_by

    @property
    def all_within_g114(self) -> bool:
        return all(d.within_g114 for d in self.delays)


def meeting_shape(inputs: PlanInputs) -> MeetingShape:
    recorder = SiteMedia(inputs.recording_tier, inputs.sites[0].media.fps, "opus") if inputs.recording else None
    return MeetingShape(tuple(s.media for s in inputs.sites), inputs.layout, inputs.preset, recorder,
                        inputs.content)


def size_machines(meeting_cores: float, concurrent: int, machine_cores: int, usable_fraction: float,
                  redundancy: str) -> Machines:
    usable = machine_cores * usable_fraction
    peak = meeting_cores * concurrent
    per_machine = math.floor(usable / meeting_cores) if meeting_cores > 0 else concurrent
    fits = per_machine >= 1
    active = math.ceil(concurrent / per_machine) if fits else math.ceil(peak / usable)
    spare = 1 if redundancy == "n+1" else 0
    min_cores = math.ceil(meeting_cores / usable_fraction)
    return Machines(machine_cores, usable, per_machine, active, spare, fits, min_cores,
                    peak / (active * machine_cores))


def _tiles_seen(inputs: PlanInputs) -> int:
    n = len(inputs.sites)
    mode = inputs.layout.mode
    if mode == "voice":
        return 1
    if mode == "lecture":
        return min(inputs.layout.chair_tiles, n - 1)
    return min(inputs.layout.tiles, n - 1)


def make_plan(inputs: PlanInputs, cal: Calibration) -> PlanResult:
    cpu = meeting_cpu(meeting_shape(inputs), cal, inputs.rates)
    meeting_cores = cpu.cores
    peak_cores = meeting_cores * inputs.concurrent
    machines = size_machines(meeting_cores, inputs.concurrent, inputs.machine_cores or cal.cores,
                             cal.usable_fraction, inputs.redundancy)

    n = len(inputs.sites)
    bandwidth = []
    for i, site in enumerate(inputs.sites):
        up, down = member_stream(inputs.rates, site.media, sent=True), member_stream(inputs.rates, site.media)
        if inputs.content is not None:
            c = inputs.content
            content = video_stream(inputs.rates, c.tier, c.fps, c.kbps)
            up, down = (up + content, down) if i == 0 else (up, down + content)  # the chair presents
        bandwidth.append(SiteBandwidth(site, up, down))
    meeting_in = sum(b.up.wire_kbps for b in bandwidth)
    meeting_out = sum(b.down.wire_kbps for b in bandwidth)
    seconds = inputs.typical_minutes * 60.0
    volume = (meeting_in + meeting_out) * 1000.0 * seconds / 8.0 / BYTES_PER_GB * inputs.meetings_per_month

    tiles = _tiles_seen(inputs)
    chair = inputs.chair
    delays = tuple(site_delay(cal, s.path, s.media, chair.media, members=n, tiles=tiles,
                              preset=inputs.preset, buffer_ms=inputs.jitter_buffer_ms)
                   for s in inputs.sites)
    worst_pair = 0.0
    if n > 2:
        remotes = sorted(range(1, n), key=lambda j: delays[j].worst_ms, reverse=True)
        a, b = remotes[0], remotes[1]
        worst_pair = site_to_site(delays[a], inputs.sites[b].path)

    hours = inputs.meetings_per_month * inputs.typical_minutes / 60.0
    utilisation = hours / (inputs.concurrent * HOURS_PER_MONTH)
    peak_in, peak_out = meeting_in * inputs.concurrent, meeting_out * inputs.concurrent
    costs = _costs(inputs, machines, max(peak_in, peak_out) / 1000.0, hours)
    return PlanResult(inputs, cal, cpu, meeting_cores, peak_cores, machines, tuple(bandwidth), peak_in,
                      peak_out, volume, delays, worst_pair, hours, utilisation, costs)


def _costs(inputs: PlanInputs, machines: Machines, commit_mbps: float, hours: float) -> Costs:
    p = inputs.prices
    server = machines.total * p.server_per_month if p.server_per_month is not None else None
    band = commit_mbps * p.bandwidth_per_mbps_month if p.bandwidth_per_mbps_month is not None else None
    build = None if server is None and band is None else (server or 0.0) + (band or 0.0)
    rent = len(inputs.sites) * hours * p.port_per_hour if p.port_per_hour is not None else None
    return Costs(p.currency, build, rent, server, band)
