"""Who is in the audio mix and who holds the floor, decided from levels each tick.

Levels are RFC 6464 dBov magnitudes (0 = full scale, 127 = silence), as the `_mix` level
kernel computes them. Real rooms are never digitally silent: an idle room system sends its
microphone's background noise at around -55 dBFS, so "speaking" is a level threshold, with
smoothing so one loud sample does not count, hysteresis so the mix does not flap, and a
minimum hold so a speaker pausing between sentences stays in.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

MemberId = Hashable


@dataclass
class _Track:
    smoothed: float = 127.0  # dBov magnitude, smoothed
    last_loud: float = float("-inf")
    loud_since: float | None = None


@dataclass
class SpeakerSelector:
    """Keeps the K loudest speakers in the mix and names the floor speaker.

    - `speak_dbov`: a member whose smoothed level is at or above -speak_dbov dBov is speaking
      (default -40 dBov; room noise at -55 is not).
    - `hold`: seconds a member stays in the mix after it stopped speaking.
    - `switch_margin_db`: a new speaker displaces a mixed one with no free slot only when louder
      by this margin and the displaced one is past its hold.
    - `floor_after`: seconds a member must be the loudest speaker before it takes the floor.
    """

    k: int = 3
    speak_dbov: float = 40.0
    hold: float = 0.6
    switch_margin_db: float = 6.0
    floor_after: float = 0.8
    smoothing: float = 0.3  # weight of the newest level in the moving average
    mixed: list[MemberId] = field(default_factory=list)
    floor: MemberId | None = None
    _tracks: dict[MemberId, _Track] = field(default_factory=dict)
    _floor_candidate: MemberId | None = None
    _floor_candidate_since: float = 0.0

    def update(self, levels: Mapping[MemberId, float], now: float) -> list[MemberId]:
        """Feed this tick's level per member; return the members in the mix, loudest first."""
        for gone in set(self._tracks) - set(levels):
            self.forget(gone)
        for member, level in levels.items():
            track = self._tracks.setdefault(member, _Track())
            track.smoothed += self.smoothing * (float(level) - track.smoothed)
            if self.is_speaking(member):
                track.last_loud = now
                if track.loud_since is None:
                    track.loud_since = now
            else:
                track.loud_since = None

        held = [m for m in self.mixed if now - self._tracks[m].last_loud <= self.hold]
        waiting = sorted((m for m in levels if m not in held and self.is_speaking(m)), key=self._loudness)
        for member in waiting:
            if len(held) < self.k:
                held.append(member)
                continue
            quietest = max(held, key=self._loudness)
            louder_by = self._tracks[quietest].smoothed - self._tracks[member].smoothed
            if louder_by >= self.switch_margin_db and not self.is_speaking(quietest):
                held[held.index(quietest)] = member
        self.mixed = sorted(held, key=self._loudness)
        self._update_floor(now)
        return self.mixed

    def is_speaking(self, member: MemberId) -> bool:
        track = self._tracks.get(member)
        return track is not None and track.smoothed <= self.speak_dbov

    def forget(self, member: MemberId) -> None:
        self._tracks.pop(member, None)
        if member in self.mixed:
            self.mixed.remove(member)
        if self.floor == member:
            self.floor = None
        if self._floor_candidate == member:
            self._floor_candidate = None

    def _loudness(self, member: MemberId) -> float:
        return self._tracks[member].smoothed  # smaller magnitude = louder

    def _update_floor(self, now: float) -> None:
        speaking = [m for m in self.mixed if self.is_speaking(m)]
        if not speaking:
            self._floor_candidate = None
            return
        loudest = speaking[0]
        if loudest == self.floor:
            self._floor_candidate = None
            return
        if loudest != self._floor_candidate:
            self._floor_candidate, self._floor_candidate_since = loudest, now
        if self.floor is None or now - self._floor_candidate_since >= self.floor_after:
            self.floor = loudest
            self._floor_candidate = None
