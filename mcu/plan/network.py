"""Bitrates and packet rates on the wire, with RTP/UDP/IP overhead per packet.

Formulas (all per direction, per stream):

    video packets/s  = fps x ceil(bytes per frame / payload_bytes)
                       where bytes per frame = video_kbps x 1000 / 8 / fps
    audio packets/s  = 1000 / 20 ms ptime = 50
    wire kbit/s      = codec kbit/s + packets/s x overhead_bytes x 8 / 1000

overhead_bytes defaults to 40: IPv4 20 + UDP 8 + RTP 12 (link-layer framing excluded; set
58 to count Ethernet's 18). payload_bytes defaults to 1200, the MCU's H.264 slice size
(DESIGN.md: `slice-max-size=1200`). Example: G.711 64 kbit/s + 50 x 40 x 8 / 1000
= 64 + 16 = 80 kbit/s on the wire; hd720 at 1500 kbit/s, 30 fps: 6250 bytes per frame =
6 packets, 180 packets/s, 1500 + 57.6 = 1557.6 kbit/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mcu.plan.tiers import AUDIO_FRAMES_PER_S, DEFAULT_AUDIO_KBPS, DEFAULT_VIDEO_KBPS, SiteMedia

DEFAULT_OVERHEAD_BYTES = 40   # IPv4 20 + UDP 8 + RTP 12
DEFAULT_PAYLOAD_BYTES = 1200  # H.264 slice-max-size used by the MCU
BITS_PER_BYTE = 8


@dataclass(frozen=True)
class Rates:
    """Codec bitrates and packetization used for bandwidth and packet-rate figures."""

    video_kbps: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_VIDEO_KBPS))
    audio_kbps: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_AUDIO_KBPS))
    payload_bytes: int = DEFAULT_PAYLOAD_BYTES
    overhead_bytes: int = DEFAULT_OVERHEAD_BYTES


@dataclass(frozen=True)
class StreamRate:
    """One direction of one stream: codec bitrate, packets per second and wire bitrate."""

    codec_kbps: float
    packets_per_s: float
    wire_kbps: float

    def __add__(self, other: StreamRate) -> StreamRate:
        return StreamRate(self.codec_kbps + other.codec_kbps, self.packets_per_s + other.packets_per_s,
                          self.wire_kbps + other.wire_kbps)

    def times(self, factor: float) -> StreamRate:
        return StreamRate(self.codec_kbps * factor, self.packets_per_s * factor, self.wire_kbps * factor)


NO_STREAM = StreamRate(0.0, 0.0, 0.0)


def wire_kbps(codec_kbps: float, packets_per_s: float, overhead_bytes: int) -> float:
    return codec_kbps + packets_per_s * overhead_bytes * BITS_PER_BYTE / 1000.0


def video_stream(rates: Rates, tier: str, fps: float, kbps: float | None = None) -> StreamRate:
    """A video stream of `tier` at `fps` (kbps overrides the tier's bitrate, e.g. content)."""
    codec = rates.video_kbps[tier] if kbps is None else kbps
    bytes_per_frame = codec * 1000.0 / BITS_PER_BYTE / fps
    pps = fps * math.ceil(bytes_per_frame / rates.payload_bytes)
    return StreamRate(codec, pps, wire_kbps(codec, pps, rates.overhead_bytes))


def audio_stream(rates: Rates, codec: str) -> StreamRate:
    kbps = rates.audio_kbps[codec]
    return StreamRate(kbps, AUDIO_FRAMES_PER_S, wire_kbps(kbps, AUDIO_FRAMES_PER_S, rates.overhead_bytes))


def member_stream(rates: Rates, media: SiteMedia, sent: bool = False) -> StreamRate:
    """What one member receives (sent=True: what it sends): audio plus video if any. The two
    differ only for a member whose send_tier is not its tier."""
    out = audio_stream(rates, media.audio_codec)
    if media.has_video:
        out = out + video_stream(rates, media.sends if sent else media.tier, media.fps)
    return out
