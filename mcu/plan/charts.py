"""PNG charts of a plan (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mcu.plan.cpu import CATEGORIES
from mcu.plan.delay import G114_LIMIT_MS
from mcu.plan.model import PlanResult

DPI = 100


def _site_width(n: int) -> float:
    return max(6.0, min(24.0, 0.25 * n + 2.0))


def cpu_chart(result: PlanResult, path: Path) -> Path:
    parts = result.cpu.by_category()
    cores = [parts[c] / 1000.0 * result.inputs.concurrent for c in CATEGORIES]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=DPI)
    ax.barh(list(CATEGORIES), cores, color="#4c72b0")
    usable = result.machines.usable_cores * result.machines.active
    ax.axvline(usable, color="#c44e52", linestyle="--", label=f"usable on {result.machines.active} machine(s)")
    ax.set_xlabel("CPU cores at peak")
    ax.set_title(f"CPU at peak: {result.peak_cores:.2f} cores, bound by {result.bound_by}")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def bandwidth_chart(result: PlanResult, path: Path) -> Path:
    sites = result.sites
    names = [b.site.id for b in sites]
    xs = range(len(sites))
    fig, ax = plt.subplots(figsize=(_site_width(len(sites)), 4), dpi=DPI)
    ax.bar([x - 0.2 for x in xs], [b.up.wire_kbps / 1000 for b in sites], 0.4, label="site to MCU")
    ax.bar([x + 0.2 for x in xs], [b.down.wire_kbps / 1000 for b in sites], 0.4, label="MCU to site")
    ax.set_xticks(list(xs), names, rotation=90, fontsize=7)
    ax.set_ylabel("Mbit/s on the wire")
    ax.set_title("Bandwidth per site (one meeting)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def delay_chart(result: PlanResult, path: Path) -> Path:
    parts = ("propagation_ms", "jitter_ms", "buffer_ms", "mcu_ms", "codec_ms")
    labels = ("propagation", "jitter allowance", "jitter buffer", "MCU", "codecs")
    worst = [d.video if d.video and d.video.total_ms >= d.audio.total_ms else d.audio for d in result.delays]
    names = [b.site.id for b in result.sites]
    xs = list(range(len(worst)))
    fig, ax = plt.subplots(figsize=(_site_width(len(worst)), 4), dpi=DPI)
    bottom = [0.0] * len(worst)
    for attr, label in zip(parts, labels):
        values = [getattr(w, attr) for w in worst]
        ax.bar(xs, values, 0.7, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.axhline(G114_LIMIT_MS, color="#c44e52", linestyle="--", label="G.114 150 ms")
    ax.set_xticks(xs, names, rotation=90, fontsize=7)
    ax.set_ylabel("one-way delay, ms (worse of audio, video)")
    ax.set_title("Expected one-way delay to the central site")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def cost_chart(result: PlanResult, path: Path) -> Path | None:
    c = result.costs
    bars = [(k, v) for k, v in (("build", c.build_per_month), ("rent", c.rent_per_month)) if v is not None]
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=DPI)
    ax.bar([k for k, _ in bars], [v for _, v in bars], color=["#4c72b0", "#dd8452"][: len(bars)])
    ax.set_ylabel(f"{c.currency} per month")
    ax.set_title("Build versus rent")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
