"""The streams a call negotiated, keyed by (kind, role), whatever protocol negotiated them.

A `Stream` is one negotiated media line: its codecs with payload types, direction, the remote
RTP/RTCP addresses, bandwidth, feedback, picture limits, SRTP keys. SDP offer/answer produces them
today (mcu.sdp.negotiate.MediaResult is the type), H.245 logical channels next. The role is
`main` for the call's camera and voice and `content` for a presentation stream (BFCP / H.239).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mcu.sdp.negotiate import ChosenCodec, MediaResult, NegotiationResult

Stream = MediaResult  # one negotiated media line, in protocol-neutral terms
Codec = ChosenCodec  # a negotiated payload type: codec name, clock rate, channels, fmtp

MAIN = "main"
CONTENT = "content"
SLIDES = "slides"  # a=content:slides (RFC 4796) marks a presentation stream


@dataclass(frozen=True)
class Streams:
    """A call's accepted streams by (kind, role)."""

    by_key: Mapping[tuple[str, str], Stream] = field(default_factory=dict)

    def get(self, kind: str, role: str = MAIN) -> Stream | None:
        return self.by_key.get((kind, role))

    def first(self, kind: str) -> Stream | None:
        """The main stream of `kind` (what a call without content sharing has)."""
        return self.get(kind)

    def content_line(self) -> Stream | None:
        """The presentation stream (an H.239 extended-video channel), as NegotiationResult names it."""
        return self.get("video", CONTENT)

    def bfcp_line(self) -> Stream | None:
        """Streams come from H.245 here, where the floor is the H.239 token, not BFCP."""
        return None

    @property
    def encrypted(self) -> bool:
        return all_encrypted(self.by_key.values())

    @classmethod
    def of_sdp(cls, result: NegotiationResult) -> Streams:
        """The first accepted line of each (kind, role) of an SDP offer/answer."""
        out: dict[tuple[str, str], Stream] = {}
        for line in result.media:
            if line.accepted:
                out.setdefault((line.kind, CONTENT if line.content == SLIDES else MAIN), line)
        return cls(out)


def all_encrypted(streams: Iterable[Stream | None]) -> bool:
    """Every accepted stream is SRTP (and at least one is accepted)."""
    accepted = [s for s in streams if s is not None and s.accepted]
    return bool(accepted) and all(s.srtp is not None for s in accepted)
