"""A token bucket per key (a client or source address), time passed in: how the abuse limits
and the admin API ration what one address may ask of the MCU."""

from __future__ import annotations


class RateLimit:
    """A token bucket per client address: `rate` requests per second sustained, `burst` at once.

    Time comes in as `now`. Buckets that have filled up again are forgotten once more than
    `max_clients` are kept, so many addresses cannot grow it without bound.
    """

    def __init__(self, rate: float, burst: int, max_clients: int = 4096) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be above 0 and burst at least 1 (got {rate}, {burst})")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def take(self, client: str, now: float) -> float:
        """0.0 when `client` may make a request now (one token taken); else the seconds until
        it may (nothing taken)."""
        tokens, at = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_clients:
                self._forget_full(now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        full = [c for c, (tokens, at) in self._buckets.items()
                if tokens + (now - at) * self.rate >= self.burst]
        for client in full:
            del self._buckets[client]

    @property
    def clients(self) -> int:
        return len(self._buckets)
