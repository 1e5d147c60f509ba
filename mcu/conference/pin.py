"""PIN entry for protected rooms, and the DTMF that feeds it.

A caller into a room with a PIN is answered, hears a prompt, keys the PIN (RFC 4733
telephone-events or SIP INFO) and ends it with '#' (or pauses). The right PIN admits it (the
chair PIN as chair); after three wrong ones it is hung up. The PIN itself is never logged:
outcomes carry only what happened.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

MAX_ATTEMPTS = 3
DIGIT_TIMEOUT = 5.0  # seconds of silence that submit what was keyed
ENTRY_TIMEOUT = 60.0  # seconds from the prompt to give up on a caller who keys nothing
DTMF_DIGITS = "0123456789*#ABCD"


@dataclass(frozen=True)
class Admitted:
    chair: bool


@dataclass(frozen=True)
class WrongPin:
    attempts_left: int


@dataclass(frozen=True)
class Refused:
    reason: str  # "too many wrong PINs" or "no PIN entered"


Outcome = Admitted | WrongPin | Refused


@dataclass
class PinGate:
    pin: str
    chair_pin: str = ""
    started: float = 0.0
    max_attempts: int = MAX_ATTEMPTS
    digit_timeout: float = DIGIT_TIMEOUT
    entry_timeout: float = ENTRY_TIMEOUT
    attempts: int = 0
    _keyed: list[str] = field(default_factory=list)
    _last_digit: float | None = None
    done: bool = False

    def digit(self, digit: str, now: float) -> Outcome | None:
        """Feed one DTMF digit; returns an outcome when an entry was submitted."""
        if self.done or digit not in DTMF_DIGITS:
            return None
        if digit == "#":
            return self._submit()
        if digit == "*":  # start over
            self._keyed.clear()
            return None
        self._keyed.append(digit)
        self._last_digit = now
        return None

    def next_timer(self) -> float | None:
        if self.done:
            return None
        if self._last_digit is not None:
            return self._last_digit + self.digit_timeout
        return self.started + self.entry_timeout

    def handle_timer(self, now: float) -> Outcome | None:
        deadline = self.next_timer()
        if deadline is None or now < deadline:
            return None
        if self._last_digit is None:
            self.done = True
            return Refused("no PIN entered")
        return self._submit()

    def _submit(self) -> Outcome | None:
        keyed = "".join(self._keyed)
        self._keyed.clear()
        self._last_digit = None
        if not keyed:
            return None
        if self.chair_pin and hmac.compare_digest(keyed, self.chair_pin):
            self.done = True
            return Admitted(chair=True)
        if hmac.compare_digest(keyed, self.pin):
            self.done = True
            return Admitted(chair=False)
        self.attempts += 1
        if self.attempts >= self.max_attempts:
            self.done = True
            return Refused("too many wrong PINs")
        return WrongPin(self.max_attempts - self.attempts)


def parse_dtmf_info(content_type: str, body: bytes) -> str | None:
    """The digit carried by a SIP INFO body (application/dtmf-relay or application/dtmf)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    text = body.decode("utf-8", "replace").strip()
    if kind == "application/dtmf-relay":
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                value = value.strip().upper()
                return _digit(value)
        return None
    if kind == "application/dtmf":
        return _digit(text.upper())
    return None


def _digit(value: str) -> str | None:
    if value == "10":  # some terminals send the event code for '*'
        return "*"
    if value == "11":
        return "#"
    return value if len(value) == 1 and value in DTMF_DIGITS else None
