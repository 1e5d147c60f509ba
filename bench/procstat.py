"""CPU and memory of another process, read from /proc (no psutil needed).

CPU is utime + stime of the whole thread group (every thread of the process) in clock
ticks; a sample is taken at each end of a measurement window and subtracted.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class ProcessGoneError(RuntimeError):
    """The measured process exited before its sample was taken."""


@dataclass(frozen=True)
class CpuSample:
    pid: int
    cpu_seconds: float  # user + system since the process started
    wall: float  # time.monotonic() at the sample
    rss_kb: int
    peak_rss_kb: int


def sample(pid: int) -> CpuSample:
    """One reading of `pid`'s CPU seconds and resident memory."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            status = f.read()
    except OSError as exc:
        raise ProcessGoneError(f"process {pid} is gone: {exc}") from exc
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    rss = peak = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1])
    return CpuSample(pid, (utime + stime) / CLOCK_TICKS, time.monotonic(), rss, peak)


@dataclass(frozen=True)
class CpuWindow:
    cpu_seconds: float
    wall_seconds: float
    rss_kb: int
    peak_rss_kb: int

    @property
    def cores(self) -> float:
        """CPU seconds per wall second (1.0 = one core busy)."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


def window(start: CpuSample, end: CpuSample) -> CpuWindow:
    return CpuWindow(end.cpu_seconds - start.cpu_seconds, end.wall - start.wall, end.rss_kb,
                     end.peak_rss_kb)


def children_cpu(pid: int) -> float:
    """CPU seconds of `pid` plus its live child processes (a peer that forks workers)."""
    total = sample(pid).cpu_seconds
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            children = f.read().split()
    except OSError:
        children = []
    for child in children:
        try:
            total += children_cpu(int(child))
        except ProcessGoneError:
            pass
    return total
