"""One room's audio tick: levels, the K loudest, and the N-1 mixes, with the `_mix` kernels.

Every member hears the mix minus itself. Members outside the K loudest all hear the same
"everyone" mix, so the caller encodes that once per codec and rate; only the K mixed members
need a mix of their own. Muted members contribute nothing; deaf members hear silence.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

import numpy as np

from mcu import mix
from mcu.conference.speaker import SpeakerSelector

MemberId = Hashable

EVERYONE = "everyone"
SILENCE = "silence"
SILENT_LEVEL = 127


def minus(member: MemberId) -> tuple[str, MemberId]:
    """Stream key of the mix that `member` hears when it is one of the mixed speakers."""
    return ("minus", member)


@dataclass
class MixResult:
    streams: dict[Hashable, np.ndarray]  # stream key -> int16 PCM at the room rate
    listens_to: dict[MemberId, Hashable]  # member -> stream key it hears
    mixed: list[MemberId]  # the speakers in the mix, loudest first
    floor: MemberId | None  # the active speaker
    levels: dict[MemberId, int]  # RFC 6464 dBov magnitude per member this tick


@dataclass
class AudioMixer:
    rate: int = 48000
    selector: SpeakerSelector = field(default_factory=SpeakerSelector)
    frame_ms: int = 20

    def __post_init__(self) -> None:
        self.samples = self.rate * self.frame_ms // 1000
        self._frames = np.zeros((0, self.samples), dtype=np.int16)
        self._silence = np.zeros(self.samples, dtype=np.int16)

    def tick(self, frames: Mapping[MemberId, np.ndarray | None], now: float,
             muted: frozenset | set = frozenset(), deaf: frozenset | set = frozenset()) -> MixResult:
        """Mix one frame of every member (None: nothing arrived and nothing to conceal)."""
        members = list(frames)
        if self._frames.shape[0] < len(members):
            self._frames = np.zeros((max(len(members), 2 * self._frames.shape[0]), self.samples), np.int16)
        block = self._frames[: len(members)]
        for row, member in enumerate(members):
            pcm = frames[member]
            if pcm is None or member in muted:
                block[row] = 0
            else:
                block[row] = pcm
        levels_array = mix.audio_levels(block).level if members else np.zeros(0, np.uint8)
        levels = {m: (SILENT_LEVEL if m in muted else int(levels_array[i])) for i, m in enumerate(members)}
        mixed = self.selector.update(levels, now)
        index = {m: i for i, m in enumerate(members)}
        streams: dict[Hashable, np.ndarray] = {SILENCE: self._silence}
        if mixed:
            _, everyone, minus_self = mix.mix_minus(block, [index[m] for m in mixed])
            streams[EVERYONE] = everyone
            for k, member in enumerate(mixed):
                streams[minus(member)] = minus_self[k]
        else:
            streams[EVERYONE] = self._silence
        listens_to: dict[MemberId, Hashable] = {}
        for member in members:
            if member in deaf:
                listens_to[member] = SILENCE
            elif member in mixed:
                listens_to[member] = minus(member)
            else:
                listens_to[member] = EVERYONE
        return MixResult(streams, listens_to, list(mixed), self.selector.floor, levels)
