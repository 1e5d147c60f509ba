"""Fast Connect (H.323 clause 8.1.7): choose among the OpenLogicalChannel proposals of a
Setup's fastStart and build the answer the Connect carries.

A proposal in which the caller transmits has the codec in forwardLogicalChannelParameters
and the caller's RTCP address; a proposal in which it receives has forward dataType
nullData and the codec, the caller's RTP and RTCP addresses in the reverse parameters.
The caller may offer several alternatives per session and direction; the callee accepts at
most one of each by returning it with its own addresses filled in (clause 8.1.7.1). An
answer with no element refuses fast connect: H.245 then opens the channels as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .capabilities import KIND_OF_SESSION, CapabilitySpec, Codec
from .events import MediaPorts
from .h245 import OpenLogicalChannel

DIRECTION_CALLER_SENDS = "caller_sends"  # we receive
DIRECTION_CALLER_RECEIVES = "caller_receives"  # we send


@dataclass(frozen=True, slots=True)
class FastStartChoice:
    """One accepted proposal: the kind, the direction seen from the caller, our codec."""

    kind: str
    direction: str
    proposal: OpenLogicalChannel
    codec: Codec


def proposal_kind(proposal: OpenLogicalChannel) -> str | None:
    if proposal.codec is not None:
        return proposal.codec.kind
    return KIND_OF_SESSION.get(proposal.session_id)


def choose_fast_start(
    proposals: list[OpenLogicalChannel], spec: CapabilitySpec, kinds: set[str]
) -> list[FastStartChoice]:
    """At most one proposal per kind and direction: our most preferred codec among the
    caller's alternatives. `kinds` are the media we have ports for."""
    choices = []
    for direction, reverse in ((DIRECTION_CALLER_SENDS, False),
                               (DIRECTION_CALLER_RECEIVES, True)):
        for kind in sorted(kinds):
            offered = [p for p in proposals
                       if p.reverse == reverse and p.codec is not None and p.codec.kind == kind]
            chosen = None
            for ours in spec.codecs(kind):
                chosen = next((p for p in offered if p.codec and ours.same_format(p.codec)), None)
                if chosen is not None:
                    break
            if chosen is not None and chosen.codec is not None:
                choices.append(FastStartChoice(kind, direction, chosen, chosen.codec))
    return choices


def fast_start_answer(
    choices: list[FastStartChoice], ports: dict[str, MediaPorts]
) -> list[OpenLogicalChannel]:
    """The OpenLogicalChannels the Connect returns: the chosen proposals with our RTP address
    (for what we receive) and our RTCP address (both directions)."""
    answer = []
    for choice in choices:
        local = ports[choice.kind]
        if choice.direction == DIRECTION_CALLER_SENDS:
            answer.append(replace(choice.proposal, media=local.rtp, media_control=local.rtcp))
        else:
            answer.append(replace(choice.proposal, media=None, media_control=local.rtcp))
    return answer
