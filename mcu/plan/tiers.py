"""Quality tiers and audio codecs the planner knows, with their default bitrates.

A tier is what a site sends and receives: `audio` (no video), `sd360` (640x360),
`hd720` (1280x720) or `fhd1080` (1920x1080), each at a frame rate (default 30).
The default video bitrates are those of H.264 baseline room systems at these sizes;
an input file may override them under `[tiers.NAME] video_kbps = ...`.
"""

from __future__ import annotations

from dataclasses import dataclass

AUDIO_ONLY = "audio"
VIDEO_TIERS: tuple[str, ...] = ("sd360", "hd720", "fhd1080")
TIERS: tuple[str, ...] = (AUDIO_ONLY, *VIDEO_TIERS)

RESOLUTIONS: dict[str, tuple[int, int]] = {
    "sd360": (640, 360),
    "hd720": (1280, 720),
    "fhd1080": (1920, 1080),
}

DEFAULT_FPS = 30.0
DEFAULT_VIDEO_KBPS: dict[str, float] = {
    "sd360": 512.0,
    "hd720": 1500.0,   # DESIGN.md: "1.5 Mbit/s baseline" for the 720p decode figure
    "fhd1080": 3000.0,
}

AUDIO_CODECS: tuple[str, ...] = ("g711", "g722", "opus")
DEFAULT_AUDIO_KBPS: dict[str, float] = {
    "g711": 64.0,   # 8 kHz x 8 bit
    "g722": 64.0,   # 16 kHz ADPCM, mode 1
    "opus": 32.0,   # wideband speech, a typical room-system setting
}

PRESETS: tuple[str, ...] = ("ultrafast", "superfast", "veryfast")

AUDIO_FRAME_MS = 20.0
AUDIO_FRAMES_PER_S = 1000.0 / AUDIO_FRAME_MS  # 50 packets/s each way at ptime 20


@dataclass(frozen=True)
class SiteMedia:
    """What one member sends and receives: its tier, frame rate and audio codec.

    A room system sends and receives the same tier; `send_tier` differs only where a member
    sends a smaller picture than it asks for (the benchmark's load generator sends 360p and
    receives 720p). Decoding and the packets in follow `sends`, views and packets out `tier`.
    """

    tier: str = "hd720"
    fps: float = DEFAULT_FPS
    audio_codec: str = "g722"
    send_tier: str = ""  # "": the same as tier

    @property
    def has_video(self) -> bool:
        return self.tier != AUDIO_ONLY

    @property
    def sends(self) -> str:
        return self.send_tier or self.tier


def tier_rank(tier: str) -> int:
    """Order of cost: audio < sd360 < hd720 < fhd1080."""
    return TIERS.index(tier)
