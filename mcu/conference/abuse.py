"""Abuse limits per source address: call rate, calls not yet confirmed, and PIN guessing.

One address must not be able to fill a room with calls it never confirms, nor try PINs faster
than a person keys them. Sans-I/O: addresses are host strings, time comes in as `now`; the
shell says what happened (a call started, was confirmed by ACK, ended; a PIN was wrong) and
asks whether a new call may go on.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from mcu.calls.ratelimit import RateLimit
from mcu.calls.refusal import Refusal, Rejection
from mcu.conference.spec import LimitsSection

REFUSE_RATE = "call rate"  # metric labels (mcu_refusals_total{reason})
REFUSE_UNCONFIRMED = "unconfirmed calls"
REFUSE_PIN_LOCKOUT = "pin lockout"
LABELS = {Refusal.RATE_LIMITED: REFUSE_RATE, Refusal.UNCONFIRMED: REFUSE_UNCONFIRMED,
          Refusal.PIN_LOCKOUT: REFUSE_PIN_LOCKOUT}


class CallGuard:
    """New calls per address (token bucket) and calls an address has open but not confirmed."""

    def __init__(self, limits: LimitsSection) -> None:
        self.limits = limits
        self._rate = RateLimit(limits.calls_per_second, limits.call_burst)
        self._unconfirmed: dict[str, tuple[str, float]] = {}  # call id -> (address, since)
        self._answered: dict[str, float] = {}  # call id -> when we sent the 200
        self.refusals: Counter[str] = Counter()

    def new_call(self, call_id: str, address: str, now: float) -> Rejection | None:
        """A new call from `address`: None if it may go on (it then counts as unconfirmed)."""
        if self._rate.take(address, now):  # seconds to wait: none left in the burst
            return self._refuse(Refusal.RATE_LIMITED, "Too Many Calls From Your Address")
        open_calls = sum(1 for addr, _ in self._unconfirmed.values() if addr == address)
        if open_calls >= self.limits.unconfirmed_calls:
            return self._refuse(Refusal.UNCONFIRMED, "Too Many Unconfirmed Calls")
        self._unconfirmed[call_id] = (address, now)
        return None

    def answered(self, call_id: str, now: float) -> None:
        if call_id in self._unconfirmed:
            self._answered[call_id] = now

    def confirmed(self, call_id: str) -> None:
        """The caller ACKed our 200: a real call now."""
        self._unconfirmed.pop(call_id, None)
        self._answered.pop(call_id, None)

    def ended(self, call_id: str) -> None:
        self.confirmed(call_id)

    def unacknowledged(self, now: float) -> list[str]:
        """Calls answered more than `answer_timeout` ago and still not ACKed: hang them up."""
        late = [c for c, at in self._answered.items() if now - at > self.limits.answer_timeout]
        for call_id in late:
            self.ended(call_id)
        return late

    @property
    def unconfirmed(self) -> int:
        return len(self._unconfirmed)

    def _refuse(self, refusal: Refusal, reason: str) -> Rejection:
        self.refusals[LABELS[refusal]] += 1
        return Rejection(refusal, reason, self.limits.retry_after)


@dataclass
class _Window:
    """Times of events within the last `seconds`."""

    seconds: float
    times: deque[float] = field(default_factory=deque)

    def add(self, now: float) -> int:
        self.times.append(now)
        return self.count(now)

    def count(self, now: float) -> int:
        while self.times and now - self.times[0] > self.seconds:
            self.times.popleft()
        return len(self.times)


@dataclass(frozen=True)
class PinFailure:
    """What one wrong PIN led to: the address is now locked out, the room is under attack."""

    locked_out: bool
    room_alarm: bool


class PinGuard:
    """Wrong PINs per source address and per room, across calls.

    Past `pin_failures` wrong PINs within `pin_window` seconds an address is refused (403) for
    `pin_lockout` seconds, whatever PIN it would key: a script gets a budget, not 3 per call.
    Other addresses are untouched, so the real sites still get in during an attack."""

    def __init__(self, limits: LimitsSection) -> None:
        self.limits = limits
        self._by_address: dict[str, _Window] = {}
        self._by_room: dict[str, _Window] = {}
        self._locked_until: dict[str, float] = {}
        self.lockouts = 0
        self.refusals = 0

    def wrong_pin(self, address: str, room: str, now: float) -> PinFailure:
        seconds = self.limits.pin_window
        by_address = self._by_address.setdefault(address, _Window(seconds)).add(now)
        by_room = self._by_room.setdefault(room, _Window(seconds)).add(now)
        locked = by_address >= self.limits.pin_failures and not self.locked_out(address, now)
        if locked:
            self._locked_until[address] = now + self.limits.pin_lockout
            self.lockouts += 1
        return PinFailure(locked_out=locked, room_alarm=by_room == self.limits.room_pin_alarm)

    def locked_out(self, address: str, now: float) -> bool:
        until = self._locked_until.get(address)
        if until is None:
            return False
        if now >= until:
            del self._locked_until[address]
            self._by_address.pop(address, None)  # a fresh budget after the cool-down
            return False
        return True

    def admission(self, address: str, now: float) -> Rejection | None:
        """Refused (403) while the address is in its cool-down (checked before a PIN room answers)."""
        if not self.locked_out(address, now):
            return None
        self.refusals += 1
        retry = max(1, round(self._locked_until[address] - now))
        return Rejection(Refusal.PIN_LOCKOUT, "Too Many Wrong PINs", retry)

    def room_failures(self, now: float) -> dict[str, int]:
        """Wrong PINs per room within the window (rooms under attack stand out)."""
        return {room: w.count(now) for room, w in self._by_room.items() if w.count(now)}

    def locked_addresses(self, now: float) -> int:
        return sum(1 for address in list(self._locked_until) if self.locked_out(address, now))
