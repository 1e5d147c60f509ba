"""BFCP over unreliable transports (RFC 8855 section 6.2): our requests are retransmitted until
acknowledged, and a client's retransmitted request gets the cached response, not a second action.

Time comes in as ``now``; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

T1 = 0.5  # s before the first retransmission; doubles after each (RFC 8855 8.3.1)
MAX_RETRANSMISSIONS = 3  # so four transmissions in all
RESPONSE_LIFETIME = T1 * 2 ** (MAX_RETRANSMISSIONS + 1)  # T2: how long a response stays cached
MAX_CACHED_RESPONSES = 256  # per server: a flood of distinct ids cannot grow it without bound

Peer = Hashable  # ("udp", (host, port)) or ("tcp", connection id): the shell's key of one peer


@dataclass
class _Outstanding:
    data: bytes
    next_at: float
    interval: float
    retransmissions: int = 0
    slot: str = ""  # a newer message of the same slot replaces an unanswered older one


class Reliability:
    """The UDP side of one floor control server: outstanding requests and cached responses."""

    def __init__(self) -> None:
        self._outstanding: dict[tuple[Peer, int], _Outstanding] = {}
        self._responses: dict[tuple[Peer, int, int], tuple[bytes, float]] = {}
        self.gave_up = 0  # our requests never acknowledged

    def sent_request(self, peer: Peer, transaction_id: int, data: bytes, now: float, slot: str = "") -> None:
        if slot:
            for key, item in list(self._outstanding.items()):
                if key[0] == peer and item.slot == slot:
                    del self._outstanding[key]
        self._outstanding[(peer, transaction_id)] = _Outstanding(data, now + T1, T1, slot=slot)

    def acknowledged(self, peer: Peer, transaction_id: int) -> bool:
        return self._outstanding.pop((peer, transaction_id), None) is not None

    def forget_peer(self, peer: Peer) -> None:
        for key in [k for k in self._outstanding if k[0] == peer]:
            del self._outstanding[key]
        for rkey in [k for k in self._responses if k[0] == peer]:
            del self._responses[rkey]

    def sent_response(self, peer: Peer, transaction_id: int, primitive: int, data: bytes, now: float) -> None:
        self._expire(now)
        if len(self._responses) >= MAX_CACHED_RESPONSES:
            self._responses.pop(next(iter(self._responses)))
        self._responses[(peer, transaction_id, primitive)] = (data, now + RESPONSE_LIFETIME)

    def cached_response(self, peer: Peer, transaction_id: int, primitive: int, now: float) -> bytes | None:
        entry = self._responses.get((peer, transaction_id, primitive))
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def _expire(self, now: float) -> None:
        for key in [k for k, (_, until) in self._responses.items() if until <= now]:
            del self._responses[key]

    def due(self, now: float) -> list[tuple[Peer, bytes]]:
        """Retransmissions due at `now`; requests past their last try are dropped."""
        out = []
        for key, item in list(self._outstanding.items()):
            if item.next_at > now:
                continue
            if item.retransmissions >= MAX_RETRANSMISSIONS:
                del self._outstanding[key]
                self.gave_up += 1
                continue
            item.retransmissions += 1
            item.interval *= 2
            item.next_at = now + item.interval
            out.append((key[0], item.data))
        return out

    def next_timer(self) -> float | None:
        times = [item.next_at for item in self._outstanding.values()]
        return min(times) if times else None

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)
