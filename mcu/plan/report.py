"""The plan as text: a terminal summary and a Markdown report with PNG charts beside it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mcu.plan.cpu import CATEGORIES
from mcu.plan.delay import G114_LIMIT_MS
from mcu.plan.model import PlanResult

REPORT_NAME = "plan.md"


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    charts: tuple[Path, ...]


def _layout_text(result: PlanResult) -> str:
    lay = result.inputs.layout
    own = ", self view" if lay.self_view else ""
    if lay.mode == "grid":
        return f"grid ({lay.tiles} tiles per page{own})"
    if lay.mode == "lecture":
        return (f"lecture (chair sees {lay.chair_tiles} tile(s), the others {lay.audience_tiles}"
                f"{own})")
    return f"voice-activated{own}"


def _tiers_text(result: PlanResult) -> str:
    counts: dict[str, int] = {}
    for s in result.inputs.sites:
        key = s.media.tier if not s.media.has_video else f"{s.media.tier}@{s.media.fps:g}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} x {k}" for k, n in counts.items())


def _money(value: float | None, currency: str) -> str:
    return "-" if value is None else f"{value:,.0f} {currency}"


def _verdict(result: PlanResult) -> str:
    c = result.costs
    if c.build_per_month is None or c.rent_per_month is None:
        return ""
    cheaper = "build" if c.build_per_month < c.rent_per_month else "rent"
    return f" -> {cheaper} is cheaper"


def summary_text(result: PlanResult) -> str:
    i, cal, m, cpu = result.inputs, result.calibration, result.machines, result.cpu
    views = cpu.plan.views
    own = sum(v.own for v in views)
    lines = [
        (f"mcu plan: {len(i.sites)} sites ({_tiers_text(result)}), {_layout_text(result)}, "
        f"{i.concurrent} concurrent of {i.meetings_per_month} meetings/month"),
        (f"  calibration: {cal.path or '(built in)'} ({cal.machine_name or 'unnamed'}, {cal.cores} cores, "
        f"usable {cal.usable_fraction:.0%})"),
        f"CPU per meeting: {result.meeting_cores:.2f} cores ("
        + ", ".join(f"{c} {cpu.by_category()[c] / 1000:.2f}" for c in CATEGORIES)
        + f"); bound by {result.bound_by}",
        (f"  {len(cpu.plan.decodes)} video decodes, {len(views)} views encoded ({own} own + "
        f"{len(views) - own} shared), {cpu.audio_encodes_per_tick} audio encodes per 20 ms"),
    ]
    if m.fits:
        lines.append(f"CPU at peak: {result.peak_cores:.2f} cores -> {m.total} machine(s) of {m.machine_cores} "
                     f"cores ({m.active} active + {m.spare} spare), {m.meetings_per_machine} meeting(s) per "
                     f"machine, peak load {m.peak_load:.0%} of cores (planned limit {cal.usable_fraction:.0%})")
    else:  # a meeting is never split across machines: no machine count of this size is right
        lines.append(f"CPU at peak: {result.peak_cores:.2f} cores; DOES NOT FIT: one meeting needs "
                     f"{result.meeting_cores:.2f} cores but a "
                     f"{m.machine_cores}-core machine offers {m.usable_cores:.2f}; use machines of at least "
                     f"{m.min_machine_cores} cores, or fewer tiles / a lower tier / a faster preset"
                     + ("" if result.inputs.layout.self_view else " / self view"))
    ups = [b.up.wire_kbps for b in result.sites]
    downs = [b.down.wire_kbps for b in result.sites]
    lines += [
        (f"Bandwidth at the central site (peak): in {result.central_in_kbps / 1000:.1f} Mbit/s, "
        f"out {result.central_out_kbps / 1000:.1f} Mbit/s; per site up {min(ups):.0f}-{max(ups):.0f}, "
        f"down {min(downs):.0f}-{max(downs):.0f} kbit/s"),
        f"Data per month at the central site: {result.volume_gb_per_month:,.1f} GB",
    ]
    worst = max(range(len(result.delays)), key=lambda j: result.delays[j].worst_ms)
    ok = sum(d.within_g114 for d in result.delays)
    lines.append(
        f"One-way delay to the central site: worst {result.delays[worst].worst_ms:.0f} ms "
        f"({result.sites[worst].site.id}); {ok} of {len(result.delays)} sites within G.114 "
        f"{G114_LIMIT_MS:.0f} ms" + (f"; worst site to site {result.worst_site_to_site_ms:.0f} ms"
                                     if result.worst_site_to_site_ms else ""))
    lines.append(f"Utilisation: {result.meeting_hours_per_month:.1f} meeting hours per month = "
                 f"{result.utilisation:.1%} of the capacity's month")
    c = result.costs
    if c.build_per_month is not None or c.rent_per_month is not None:
        lines.append(f"Cost per month: build {_money(c.build_per_month, c.currency)}, "
                     f"rent {_money(c.rent_per_month, c.currency)}{_verdict(result)}")
    return "\n".join(lines)


def markdown(result: PlanResult, charts: dict[str, str]) -> str:
    i, cal, m, cpu = result.inputs, result.calibration, result.machines, result.cpu
    parts = cpu.by_category()
    out = [
        "# MCU capacity plan", "",
        (f"Inputs: `{i.source}`. Calibration: `{cal.path or '(built in)'}` ({cal.machine_name}, "
        f"{cal.cores} cores, usable fraction {cal.usable_fraction:g})."), "",
        "## Summary", "", "```", summary_text(result), "```", "",
        "## Meetings", "",
        "| input | value |", "| --- | --- |",
        f"| meetings per month | {i.meetings_per_month} |",
        f"| typical / longest duration | {i.typical_minutes:g} / {i.longest_minutes:g} min |",
        f"| concurrent meetings | {i.concurrent} |",
        f"| sites | {len(i.sites)} ({_tiers_text(result)}), {sum(s.people for s in i.sites)} people |",
        f"| layout | {_layout_text(result)}, {i.layout.speakers} loudest mixed |",
        f"| encoder preset | {i.preset} |",
        f"| recording | {'on (' + i.recording_tier + ')' if i.recording else 'off'} |",
        f"| content sharing | {'on (' + i.content.tier + f' {i.content.fps:g} fps)' if i.content else 'off'} |",
        f"| redundancy | {i.redundancy} |", "",
        "## CPU", "",
        (f"One meeting needs **{result.meeting_cores:.2f} cores**; at peak ({i.concurrent} concurrent) "
        f"**{result.peak_cores:.2f} cores**, bound by **{result.bound_by}**."), "",
        "| work | ms CPU per s | cores per meeting | share |", "| --- | ---: | ---: | ---: |",
    ]
    total = cpu.total or 1.0
    out += [f"| {c} | {parts[c]:.1f} | {parts[c] / 1000:.3f} | {parts[c] / total:.0%} |" for c in CATEGORIES]
    kinds: dict[tuple, int] = {}
    for v in cpu.plan.views:
        key = ("own" if v.own else "shared", v.tier, v.fps, v.tiles)
        kinds[key] = kinds.get(key, 0) + 1
    out += ["", "| views | kind | tier | fps | tiles each |", "| ---: | --- | --- | ---: | ---: |"]
    out += [f"| {n} | {k} | {t} | {f:g} | {tl} |" for (k, t, f, tl), n in kinds.items()]
    out += ["", (f"Video decodes: {len(cpu.plan.decodes)}; audio encodes per 20 ms tick: "
                f"{cpu.audio_encodes_per_tick}; RTP packets per second (in + out): {cpu.packets_per_s:,.0f}."), ""]
    out += [f"![CPU]({charts['cpu']})", ""] if "cpu" in charts else []
    out += [
        "## Machines", "",
        (f"- machine size: {m.machine_cores} cores, usable {m.usable_cores:.2f} "
        f"(usable fraction {cal.usable_fraction:g})"),
        f"- meetings per machine: {m.meetings_per_machine}",
        f"- machines: **{m.total}** ({m.active} active + {m.spare} spare for {i.redundancy})",
        f"- peak load: {m.peak_load:.0%} of the active machines' cores",
        f"- smallest machine that holds one meeting: {m.min_machine_cores} cores",
    ]
    if not m.fits:
        out.append("- **does not fit**: one meeting needs more than one machine's usable cores")
    out += ["", "## Bandwidth", "",
            (f"At the central site, at peak: **in {result.central_in_kbps / 1000:.1f} Mbit/s, "
            f"out {result.central_out_kbps / 1000:.1f} Mbit/s** (codec bitrates plus "
            f"{i.rates.overhead_bytes} bytes of RTP/UDP/IP per packet). Data per month: "
            f"**{result.volume_gb_per_month:,.1f} GB**."), "",
            "| site | tier | codec | up kbit/s | down kbit/s | packets/s up |",
            "| --- | --- | --- | ---: | ---: | ---: |"]
    out += [f"| {b.site.id} | {b.site.media.tier} | {b.site.media.audio_codec} | {b.up.wire_kbps:.0f} | "
            f"{b.down.wire_kbps:.0f} | {b.up.packets_per_s:.0f} |" for b in result.sites]
    out += ["", f"![bandwidth]({charts['bandwidth']})", ""] if "bandwidth" in charts else [""]
    out += ["## Delay", "",
            (f"One-way, from each site to the central site; the G.114 guidance is {G114_LIMIT_MS:.0f} ms. "
            f"Worst remote site to remote site through the MCU: {result.worst_site_to_site_ms:.0f} ms."), "",
            ("| site | propagation | jitter | buffer | MCU (audio/video) | codecs (audio/video) "
            "| audio | video | G.114 |"),
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for b, d in zip(result.sites, result.delays):
        vd = d.video
        out.append(
            f"| {b.site.id} | {d.audio.propagation_ms:.1f} | {d.audio.jitter_ms:.0f} | {d.audio.buffer_ms:.0f} | "
            f"{d.audio.mcu_ms:.1f} / {vd.mcu_ms if vd else 0:.1f} | {d.audio.codec_ms:.1f} / "
            f"{vd.codec_ms if vd else 0:.1f} | {d.audio.total_ms:.0f} | {f'{vd.total_ms:.0f}' if vd else '-'} | "
            f"{'ok' if d.within_g114 else '**over**'} |")
    out += ["", f"![delay]({charts['delay']})", ""] if "delay" in charts else [""]
    out += ["## Utilisation and cost", "",
            (f"{result.meeting_hours_per_month:.1f} meeting hours per month on capacity for {i.concurrent} "
            f"concurrent meeting(s): the capacity is in use **{result.utilisation:.1%}** of the month."), ""]
    c = result.costs
    if c.build_per_month is not None or c.rent_per_month is not None:
        out += [(f"- build: {_money(c.build_per_month, c.currency)} per month "
                f"(servers {_money(c.server_part, c.currency)}, central bandwidth "
                f"{_money(c.bandwidth_part, c.currency)})"),
                (f"- rent: {_money(c.rent_per_month, c.currency)} per month "
                f"({len(i.sites)} ports x {result.meeting_hours_per_month:.1f} h){_verdict(result)}"), ""]
        out += [f"![cost]({charts['cost']})", ""] if "cost" in charts else []
    else:
        out += ["No prices given: add a `[prices]` table for build versus rent.", ""]
    out += ["## Model", "",
            ("The formulas are in the docstrings of `mcu/plan/cpu.py` (counts of decodes, views and "
            "encodes), `network.py` (packets and overhead), `delay.py` (one-way delay) and "
            "`model.py` (machines, volume, utilisation, cost). Unit costs come from the calibration "
            "file; its `[notes]` say where each figure came from."), ""]
    return "\n".join(out)


def write_report(result: PlanResult, out_dir: str | Path, *, charts: bool = True) -> ReportFiles:
    """Write plan.md and its PNG charts into `out_dir` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    files: list[Path] = []
    if charts:
        from mcu.plan import charts as ch

        for key, fn in (("cpu", ch.cpu_chart), ("bandwidth", ch.bandwidth_chart), ("delay", ch.delay_chart),
                        ("cost", ch.cost_chart)):
            path = fn(result, out / f"{key}.png")
            if path is not None:
                made[key] = path.name
                files.append(path)
    md = out / REPORT_NAME
    md.write_text(markdown(result, made), encoding="utf-8")
    return ReportFiles(md, tuple(files))
