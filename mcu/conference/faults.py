"""One member's failures stay with that member: counted by reason, logged once, and a member whose
fault does not go away is handed back to be hung up.

The room ticks and the media callbacks catch what one member's data makes fail (its decoder,
its encoder, a kernel refusing its samples, its socket) and report it here; the tick goes on
for everyone else. Sans-I/O: time comes in as `now`.
"""

from __future__ import annotations

import logging
import traceback
from collections import Counter
from dataclasses import dataclass, field

from mcu.log import event

log = logging.getLogger("mcu.faults")

PERSIST_SECONDS = 10.0  # a member failing for this long without a second's break is hung up
QUIET_SECONDS = 2.5  # this long without a fault ends a streak (send errors are checked each second)


@dataclass
class _Streak:
    started: float
    last: float
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class FaultyMember:
    call_id: str
    reason: str


class Faults:
    """Faults of every member of a conference, by call id."""

    def __init__(self, persist_seconds: float = PERSIST_SECONDS) -> None:
        self.persist_seconds = persist_seconds
        self.totals: Counter[str] = Counter()  # reason -> faults, all members, ever (a metric)
        self.hangups: Counter[str] = Counter()  # reason -> members hung up for it
        self._streaks: dict[str, _Streak] = {}
        self._logged: set[tuple[str, str]] = set()

    def record(self, call_id: str, reason: str, now: float, error: BaseException | None = None,
               *, fatal: bool = True, **context: object) -> None:
        """Member `call_id` failed at `reason` (e.g. "audio decode", "send EACCES"). `fatal=False`:
        the member still works, worse (counted and logged, never hung up for it)."""
        self.totals[reason] += 1
        self._log_once(call_id, reason, error, context)
        if not fatal:
            return
        streak = self._streaks.get(call_id)
        if streak is None or now - streak.last > QUIET_SECONDS:
            streak = self._streaks[call_id] = _Streak(now, now)
        streak.last = now
        streak.reasons[reason] += 1

    def _log_once(self, call_id: str, reason: str, error: BaseException | None, context: dict) -> None:
        if (call_id, reason) not in self._logged:
            self._logged.add((call_id, reason))
            event(log, "member.fault", logging.WARNING, call_id=call_id, reason=reason,
                  **_describe(error), **context, note="logged once per member and reason; counted after")

    def take_hangups(self, now: float) -> list[FaultyMember]:
        """Members whose faults went on for `persist_seconds`: they cannot recover."""
        out = []
        for call_id, streak in list(self._streaks.items()):
            if now - streak.last > QUIET_SECONDS:
                del self._streaks[call_id]
            elif streak.last - streak.started >= self.persist_seconds:
                reason = streak.reasons.most_common(1)[0][0]
                out.append(FaultyMember(call_id, f"media fault: {reason}"))
                self.hangups[reason] += 1
                del self._streaks[call_id]
        return out

    def forget(self, call_id: str) -> None:
        self._streaks.pop(call_id, None)
        self._logged = {key for key in self._logged if key[0] != call_id}


def _describe(error: BaseException | None) -> dict[str, str]:
    """The error and where it was raised, in one line (no traceback block in the log)."""
    if error is None:
        return {}
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return {"error": f"{type(error).__name__}: {error}"[:300], "at": where}
