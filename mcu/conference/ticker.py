"""A drift-free periodic schedule: deadlines sit on a fixed grid of a monotonic clock.

The I/O shell sleeps until `next_deadline`, then calls `due(now)`. A tick that runs after its
deadline is counted late; when more than one whole period was missed, the missed ticks are
skipped (counted too) rather than run in a burst, so delay never accumulates.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Ticker:
    period: float
    start: float
    late_tolerance: float = 0.005
    ticks: int = 0
    late: int = 0
    skipped: int = 0

    def __post_init__(self) -> None:
        self._index = 1
        self.lateness = 0.0  # seconds the latest tick ran after its deadline

    @property
    def last_was_late(self) -> bool:
        return self.lateness > self.late_tolerance

    @property
    def next_deadline(self) -> float:
        return self.start + self._index * self.period

    def due(self, now: float) -> bool:
        """True when a tick should run now; advances the schedule."""
        deadline = self.next_deadline
        if now < deadline:
            return False
        behind = int((now - deadline) // self.period)
        if behind:
            self.skipped += behind
            self._index += behind
        self.lateness = now - self.next_deadline
        if self.last_was_late:
            self.late += 1
        self._index += 1
        self.ticks += 1
        return True
