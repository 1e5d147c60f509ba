"""Expected one-way delay from a site to the central site (where the MCU is), per stream.

    propagation_ms = measured RTT / 2                          if rtt_ms is given
                   = distance_km x route_factor x 0.005 ms/km  otherwise (light in fibre,
                     ~200,000 km/s; route_factor > 1 because cables do not run straight)
    jitter_ms      = the site's network jitter allowance (queueing on its access link)
    buffer_ms      = the MCU's jitter buffer depth (the receiving terminal's is assumed equal
                     and counted in `codec_ms` only through its decode time: terminals vary)

    audio: mcu_ms   = one 20 ms mix tick + (decode + mix share + encode) of one frame
           codec_ms = 20 ms packetization (ptime) + the codec's look-ahead
    video: mcu_ms   = decode (sender's tier) + one output frame period (waiting for the
                      compose tick, worst case) + scale + blit + encode (viewer's tier)
           codec_ms = one capture frame period + the sender's encode + the viewer's decode
                      (the MCU's calibrated libx264/FFmpeg times stand in for the terminals')

    one-way = propagation + jitter + buffer + mcu + codec, for audio and video separately.

A site's worst is the larger of the two; ITU-T G.114 advises keeping one-way delay under
150 ms for interactive speech. Between two remote sites the path crosses the MCU, so the
propagation and jitter of both sites add (site_to_site).
"""

from __future__ import annotations

from dataclasses import dataclass

from mcu.plan.calibration import Calibration
from mcu.plan.tiers import AUDIO_FRAME_MS, SiteMedia

FIBRE_MS_PER_KM = 0.005          # 5 us per km: light at ~2/3 c in glass
G114_LIMIT_MS = 150.0            # ITU-T G.114: one-way delay for interactive speech
CODEC_LOOKAHEAD_MS: dict[str, float] = {
    "g711": 0.0,    # sample by sample
    "g722": 1.5,    # QMF analysis/synthesis filters
    "opus": 6.5,    # CELT/SILK look-ahead at the default frame size
}


@dataclass(frozen=True)
class Path:
    """How one site reaches the central site."""

    distance_km: float = 0.0
    rtt_ms: float | None = None
    route_factor: float = 1.5
    jitter_ms: float = 10.0

    @property
    def propagation_ms(self) -> float:
        if self.rtt_ms is not None:
            return self.rtt_ms / 2.0
        return self.distance_km * self.route_factor * FIBRE_MS_PER_KM


@dataclass(frozen=True)
class StreamDelay:
    propagation_ms: float
    jitter_ms: float
    buffer_ms: float
    mcu_ms: float
    codec_ms: float

    @property
    def total_ms(self) -> float:
        return self.propagation_ms + self.jitter_ms + self.buffer_ms + self.mcu_ms + self.codec_ms


@dataclass(frozen=True)
class SiteDelay:
    audio: StreamDelay
    video: StreamDelay | None

    @property
    def worst_ms(self) -> float:
        return max(self.audio.total_ms, self.video.total_ms if self.video else 0.0)

    @property
    def within_g114(self) -> bool:
        return self.worst_ms <= G114_LIMIT_MS


def audio_mcu_ms(cal: Calibration, codec: str, members: int) -> float:
    work_us = cal.audio_decode_us[codec] + cal.mix_us_per_member * members + cal.audio_encode_us[codec]
    return AUDIO_FRAME_MS + work_us / 1000.0


def video_mcu_ms(cal: Calibration, sender: SiteMedia, viewer: SiteMedia, preset: str, tiles: int) -> float:
    frame_wait = 1000.0 / viewer.fps
    return (cal.decode_ms[sender.tier] + frame_wait + cal.scale_ms_per_tile
            + cal.blit_ms_per_tile * tiles + cal.encode_ms[preset][viewer.tier])


def video_codec_ms(cal: Calibration, sender: SiteMedia, viewer: SiteMedia, preset: str) -> float:
    return 1000.0 / sender.fps + cal.encode_ms[preset][sender.tier] + cal.decode_ms[viewer.tier]


def site_delay(cal: Calibration, path: Path, site: SiteMedia, viewer: SiteMedia, *, members: int,
               tiles: int, preset: str, buffer_ms: float) -> SiteDelay:
    """One-way delay of `site`'s audio and video as the central site (`viewer`) gets it."""
    prop, jit = path.propagation_ms, path.jitter_ms
    audio = StreamDelay(prop, jit, buffer_ms, audio_mcu_ms(cal, site.audio_codec, members),
                        AUDIO_FRAME_MS + CODEC_LOOKAHEAD_MS[site.audio_codec])
    video = None
    if site.has_video and viewer.has_video:
        video = StreamDelay(prop, jit, buffer_ms, video_mcu_ms(cal, site, viewer, preset, tiles),
                            video_codec_ms(cal, site, viewer, preset))
    return SiteDelay(audio, video)


def site_to_site(a: SiteDelay, path_b: Path) -> float:
    """Worst one-way delay from site a to site b through the MCU: b's leg is added to a's."""
    return a.worst_ms + path_b.propagation_ms + path_b.jitter_ms
