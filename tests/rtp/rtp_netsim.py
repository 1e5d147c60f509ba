"""A seeded network model for jitter buffer tests: loss, bursts, reorder, jitter, duplicates."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    name: str
    loss: float = 0.0
    bursts: tuple[tuple[int, int], ...] = ()  # (first index, length) lost together
    reorder: float = 0.0  # probability a packet is held back
    reorder_delay: float = 0.03
    jitter: float = 0.0  # uniform extra delay 0..jitter
    duplicate: float = 0.0
    base_delay: float = 0.05
    seed: int = 1


@dataclass
class Delivery:
    arrivals: list[tuple[float, int, object]] = field(default_factory=list)  # (time, index, item)
    lost: set[int] = field(default_factory=set)
    duplicated: int = 0


def deliver(items: list[tuple[float, T]], profile: Profile) -> Delivery:
    """items are (send time, item); returns arrivals sorted by time, with their index."""
    rng = random.Random(profile.seed)
    out = Delivery()
    burst_lost = {a + k for a, n in profile.bursts for k in range(n)}
    for i, (sent, item) in enumerate(items):
        if i in burst_lost or rng.random() < profile.loss:
            out.lost.add(i)
            continue
        t = sent + profile.base_delay + rng.uniform(0, profile.jitter)
        if rng.random() < profile.reorder:
            t += profile.reorder_delay
        out.arrivals.append((t, i, item))
        if rng.random() < profile.duplicate:
            out.arrivals.append((t + 0.005, i, item))
            out.duplicated += 1
    out.arrivals.sort(key=lambda a: (a[0], a[1]))
    return out
