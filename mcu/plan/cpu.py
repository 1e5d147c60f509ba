"""CPU cost of one meeting on the MCU: which decodes, views and encodes it needs, times unit costs.

The MCU design (DESIGN.md) decides the counts:

* Decode only what is shown. Video members are ranked costliest first (tier, then fps):
  the planner assumes the costliest sites are the ones on screen (a peak, not an average).
* Encode once per distinct view. A member shown on screen needs its own view (the picture
  without itself); members not shown share one view per distinct (tier, fps).
* Layout modes (T = tiles):
    grid    (paged continuous presence, T tiles per page)
            shown S = min(T, V) of the V video senders
            with self view (rooms.toml self_view): decodes = S, views = one shared view per
            distinct (tier, fps) of all video receivers, S tiles each; otherwise:
            decodes = min(V, T + 1)   (the +1 fills a shown member's own slot in its view)
            views   = S own views with min(T, V - 1) tiles each
                      + one shared view per distinct (tier, fps) of the other video
                        receivers (and the recorder), with S tiles each
    voice   (voice-activated switching: the speaker full screen; the speaker sees the
            previous speaker) = grid with T = 1
    lecture (the chair, member 0, sees C = chair_tiles remote sites; the others see
            A = audience_tiles tiles: the chair and A - 1 remote sites, 1 = the chair alone)
            decodes = (1 if the chair sends video) + max(C, A - 1 (+1 without self view))
            views   = the chair's view with min(C, V_remote) tiles
                      + (without self view) an own view for each of the A - 1 remote sites
                        on screen
                      + one shared view per distinct (tier, fps) of the other remote video
                        receivers (and the recorder), with A tiles
* Compose: each shown source is scaled once per output frame for each distinct view tier
  (scale_ms_per_tile x sources x fps), and blitted into every view that shows it
  (blit_ms_per_tile x tiles in the view x view fps).
* Content sharing: one presentation stream decoded once and encoded once for everyone.
* Audio (20 ms ticks, 50 per second): every member is decoded (the speaker detector needs
  every level) and mixed (mix_us_per_member x N); encodes per tick = min(K, N) own mixes
  (the K loudest each hear everyone but themselves; the planner gives them the costliest
  codecs) + one shared "everyone" mix per distinct codec of the other members (and the
  recorder, which records Opus).
* RTP: every packet received and sent costs rtp_us_per_packet, a video packet received
  video_in_us_per_packet more and a video packet sent video_out_us_per_packet more; each
  member sends its send tier and receives its tier, plus audio; content adds the
  presenter's packets in and N - 1 copies out. The recorder writes to disk, not to the network.
  Each view frame also costs view_ms on the conference path beyond its encode and copies
  (Python composing it, the encoder's frame wrapping, payloading, each viewer's RTP).
* Overhead: a meeting with video costs video_room_ms per second beyond its unit work (its
  video phase runs on worker threads, in real time: hand-offs, GIL contention, wake-ups,
  cold caches); both figures come from `mcu bench calibrate` replaying a reference meeting
  on the conference path (mcu.replay), inline and then as the server runs it.

cpu ms per second = sum of (count x unit cost x rate); cores = that / 1000.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcu.plan.calibration import Calibration, LoadScenario
from mcu.plan.network import Rates, audio_stream, member_stream, video_stream
from mcu.plan.tiers import AUDIO_FRAMES_PER_S, SiteMedia, tier_rank

RECORDER_AUDIO_CODEC = "opus"
CATEGORIES: tuple[str, ...] = ("decode", "encode", "compose", "audio", "rtp", "overhead")


@dataclass(frozen=True)
class LayoutSpec:
    """How the picture is made: mode, tiles per page (grid) or seen by the chair (lecture)."""

    mode: str = "grid"
    tiles: int = 9
    chair_tiles: int = 1
    speakers: int = 3
    self_view: bool = False  # shown members see the shared picture (themselves included)
    audience_tiles: int = 1  # lecture: tiles the others see, the chair's included


@dataclass(frozen=True)
class ContentSpec:
    """A shared presentation (H.239/BFCP content) sent by one member to all the others."""

    tier: str = "hd720"
    fps: float = 5.0
    kbps: float = 512.0


@dataclass(frozen=True)
class MeetingShape:
    """One meeting: its members (member 0 is the chair) and what the MCU makes for them."""

    members: tuple[SiteMedia, ...]
    layout: LayoutSpec = field(default_factory=LayoutSpec)
    preset: str = "ultrafast"
    recorder: SiteMedia | None = None
    content: ContentSpec | None = None


@dataclass(frozen=True)
class View:
    """One distinct picture encoded by the MCU."""

    tier: str
    fps: float
    tiles: int
    own: bool  # True: a shown member's own view; False: shared by everyone of this tier/fps


@dataclass(frozen=True)
class ViewPlan:
    """Which streams are decoded and which views are encoded."""

    decodes: tuple[SiteMedia, ...]
    views: tuple[View, ...]
    scale_ops_per_s: float  # tile scalings per second


@dataclass(frozen=True)
class CpuBreakdown:
    """CPU of one meeting in ms per second (1000 = one core), by category."""

    decode: float
    encode: float
    compose: float
    audio: float
    rtp: float
    overhead: float
    plan: ViewPlan
    audio_encodes_per_tick: int
    packets_per_s: float

    @property
    def total(self) -> float:
        return self.decode + self.encode + self.compose + self.audio + self.rtp + self.overhead

    @property
    def cores(self) -> float:
        return self.total / 1000.0

    def by_category(self) -> dict[str, float]:
        return {c: getattr(self, c) for c in CATEGORIES}

    @property
    def bound_by(self) -> str:
        """The work with the largest share (first in CATEGORIES on a tie); the overhead is a
        consequence of that work, not a resource of its own."""
        parts = self.by_category()
        return max((c for c in CATEGORIES if c != "overhead"), key=lambda c: parts[c])


def _cost_key(m: SiteMedia) -> tuple[int, float]:
    return (tier_rank(m.sends), tier_rank(m.tier), m.fps)


def _shared_views(receivers: list[SiteMedia], tiles: int) -> list[View]:
    classes = sorted({(m.tier, m.fps) for m in receivers if m.has_video},
                     key=lambda k: (tier_rank(k[0]), k[1]), reverse=True)
    return [View(tier, fps, tiles, own=False) for tier, fps in classes]


def plan_views(shape: MeetingShape) -> ViewPlan:
    """Count decodes and distinct views for the layout mode (see the module docstring)."""
    mode = shape.layout.mode
    extra = [shape.recorder] if shape.recorder is not None else []
    if mode in ("grid", "voice"):
        tiles = 1 if mode == "voice" else shape.layout.tiles
        video = sorted((m for m in shape.members if m.has_video), key=_cost_key, reverse=True)
        shown = video[:tiles]
        if shape.layout.self_view:
            decodes, views = shown, _shared_views(video + extra, len(shown))
        else:
            decodes = video[: min(len(video), tiles + 1)]
            own_tiles = min(tiles, len(video) - 1)
            views = [View(m.tier, m.fps, own_tiles, own=True) for m in shown]
            views += _shared_views(video[len(shown):] + extra, len(shown))
        sources = shown + video[len(shown): len(decodes)]
    elif mode == "lecture":
        chair, remotes = shape.members[0], shape.members[1:]
        rvideo = sorted((m for m in remotes if m.has_video), key=_cost_key, reverse=True)
        seen = rvideo[: shape.layout.chair_tiles]
        shown = rvideo[: max(0, shape.layout.audience_tiles - 1)]  # beside the chair, for the others
        own = bool(shown) and not shape.layout.self_view
        remote_decodes = max(len(seen), min(len(rvideo), len(shown) + own))
        decodes = ([chair] if chair.has_video else []) + rvideo[:remote_decodes]
        tiles = (1 if chair.has_video else 0) + len(shown)
        views = []
        if chair.has_video:
            views.append(View(chair.tier, chair.fps, len(seen), own=True))
        if own:  # each remote site on screen sees the picture without itself
            views += [View(m.tier, m.fps, tiles, own=True) for m in shown]
            views += _shared_views(rvideo[len(shown):] + extra, tiles)
        else:
            views += _shared_views(list(remotes) + extra, tiles)
        sources = decodes
    else:
        raise ValueError(f"unknown layout mode {mode!r}")
    view_tiers = {v.tier: max(w.fps for w in views if w.tier == v.tier) for v in views}
    scale_ops = sum(len(sources) * fps for fps in view_tiers.values())
    return ViewPlan(tuple(decodes), tuple(views), float(scale_ops))


def meeting_cpu(shape: MeetingShape, cal: Calibration, rates: Rates | None = None) -> CpuBreakdown:
    """CPU ms per second of one meeting with calibration `cal` (see the module docstring)."""
    rates = rates or Rates()
    if shape.preset not in cal.encode_ms:
        raise ValueError(f"calibration {cal.path or ''} has no encode costs for preset {shape.preset!r}")
    enc = cal.encode_ms[shape.preset]
    vp = plan_views(shape)

    decode = sum(cal.decode_ms[m.sends] * m.fps for m in vp.decodes)
    encode = sum(enc[v.tier] * v.fps for v in vp.views)
    compose = cal.scale_ms_per_tile * vp.scale_ops_per_s + sum(
        cal.blit_ms_per_tile * v.tiles * v.fps for v in vp.views)
    if shape.content is not None:
        c = shape.content
        decode += cal.decode_ms[c.tier] * c.fps
        encode += enc[c.tier] * c.fps
    compose += cal.view_ms * sum(v.fps for v in vp.views)
    overhead = cal.video_room_ms if vp.views else 0.0

    members = list(shape.members)
    n = len(members)
    k = min(shape.layout.speakers, n)
    ranked = sorted(members, key=lambda m: cal.audio_encode_us[m.audio_codec], reverse=True)
    shared_codecs = {m.audio_codec for m in ranked[k:]}
    if shape.recorder is not None:
        shared_codecs.add(RECORDER_AUDIO_CODEC)
    encode_us = sum(cal.audio_encode_us[m.audio_codec] for m in ranked[:k]) + sum(
        cal.audio_encode_us[c] for c in shared_codecs)
    decode_us = sum(cal.audio_decode_us[m.audio_codec] for m in members)
    mix_us = cal.mix_us_per_member * n
    audio = (encode_us + decode_us + mix_us) * AUDIO_FRAMES_PER_S / 1000.0

    packets_out = sum(member_stream(rates, m).packets_per_s for m in members)
    packets_in = sum(member_stream(rates, m, sent=True).packets_per_s for m in members)
    video_out = sum(video_stream(rates, m.tier, m.fps).packets_per_s for m in members if m.has_video)
    video_in = sum(video_stream(rates, m.sends, m.fps).packets_per_s for m in members if m.has_video)
    if shape.content is not None and n > 1:
        c = shape.content
        content = video_stream(rates, c.tier, c.fps, c.kbps).packets_per_s
        packets_in, video_in = packets_in + content, video_in + content
        packets_out, video_out = packets_out + content * (n - 1), video_out + content * (n - 1)
    packets = packets_in + packets_out
    rtp = (packets * cal.rtp_us_per_packet + video_in * cal.video_in_us_per_packet
           + video_out * cal.video_out_us_per_packet) / 1000.0
    return CpuBreakdown(decode, encode, compose, audio, rtp, overhead, vp, k + len(shared_codecs), packets)


def load_shape(load: LoadScenario) -> MeetingShape:
    """The meeting a measured load scenario ran: `members` identical members."""
    media = SiteMedia(load.tier, load.fps, load.audio_codec, load.send_tier)
    return MeetingShape(
        members=(media,) * load.members,
        layout=LayoutSpec(load.layout, load.tiles, load.tiles, load.speakers),
        preset=load.preset,
    )


__all__ = ["CATEGORIES", "ContentSpec", "CpuBreakdown", "LayoutSpec", "MeetingShape", "View",
           "ViewPlan", "audio_stream", "load_shape", "meeting_cpu", "plan_views"]
