"""Codec capability tables: what the MCU can send and receive, and in which order it prefers them."""

from __future__ import annotations

from dataclasses import dataclass, field

from .h264 import LEVELS, VideoLimits, fit_resolution

AUDIO = "audio"
VIDEO = "video"

PCMU = "PCMU"
PCMA = "PCMA"
G722 = "G722"
OPUS = "opus"
TELEPHONE_EVENT = "telephone-event"
H264 = "H264"
VP8 = "VP8"
H263_1998 = "H263-1998"
H263 = "H263"

# RFC 3551 static payload types the MCU understands.
STATIC_PT_PCMU = 0
STATIC_PT_PCMA = 8
STATIC_PT_G722 = 9
STATIC_PT_H263 = 34


@dataclass(frozen=True)
class CodecSpec:
    """One codec as SDP names it. ``sample_rate`` is the real one (G.722: 16 kHz on an 8 kHz clock)."""

    name: str
    kind: str
    clock_rate: int
    channels: int = 1
    sample_rate: int | None = None
    static_pt: int | None = None

    @property
    def real_sample_rate(self) -> int:
        return self.sample_rate or self.clock_rate


CODECS: dict[str, CodecSpec] = {
    PCMU: CodecSpec(PCMU, AUDIO, 8000, static_pt=STATIC_PT_PCMU),
    PCMA: CodecSpec(PCMA, AUDIO, 8000, static_pt=STATIC_PT_PCMA),
    G722: CodecSpec(G722, AUDIO, 8000, sample_rate=16000, static_pt=STATIC_PT_G722),
    OPUS: CodecSpec(OPUS, AUDIO, 48000, channels=2),
    H264: CodecSpec(H264, VIDEO, 90000),
    VP8: CodecSpec(VP8, VIDEO, 90000),
    H263_1998: CodecSpec(H263_1998, VIDEO, 90000),
    H263: CodecSpec(H263, VIDEO, 90000, static_pt=STATIC_PT_H263),
}
TELEPHONE_EVENT_RATES = (8000, 48000)
STATIC_BY_PT = {spec.static_pt: spec for spec in CODECS.values() if spec.static_pt is not None}
_NAMES_LOWER = {name.lower(): name for name in CODECS}
_NAMES_LOWER[TELEPHONE_EVENT] = TELEPHONE_EVENT


def canonical_name(encoding: str) -> str | None:
    """Our spelling of an rtpmap encoding name (case-insensitive), or None if unsupported."""
    return _NAMES_LOWER.get(encoding.lower())


# Our dynamic payload types when we write an offer.
OFFER_PT = {
    OPUS: 111,
    (TELEPHONE_EVENT, 48000): 110,
    (TELEPHONE_EVENT, 8000): 101,
    (H264, 1): 96,
    (H264, 0): 97,
    VP8: 98,
    H263_1998: 99,
}

# H.263 picture formats (RFC 4629) by fmtp name, largest first.
H263_FORMATS: dict[str, tuple[int, int]] = {
    "CIF16": (1408, 1152),
    "CIF4": (704, 576),
    "CIF": (352, 288),
    "QCIF": (176, 144),
    "SQCIF": (128, 96),
}
H263_BASE_FPS = 30000 / 1001
H263_DEFAULT_FORMATS = {"QCIF": "2"}  # assumed when an offer carries no picture size at all


@dataclass(frozen=True)
class Capabilities:
    """What this MCU offers and accepts, in its order of preference.

    ``h264_max_level`` is the highest level we decode and encode; ``video_max_*`` cap what we send.
    """

    audio_codecs: tuple[str, ...] = (OPUS, G722, PCMU, PCMA)
    video_codecs: tuple[str, ...] = (H264, VP8, H263_1998, H263)
    telephone_event: bool = True
    h264_max_level: str = "3.1"
    h264_packetization_modes: tuple[int, ...] = (1, 0)
    video_max_width: int = 1280
    video_max_height: int = 720
    video_max_fps: float = 30.0
    content_fps: float = 5.0  # what content is sent at ([bfcp] content_fps): its size limits follow
    video_max_kbps: int = 2048
    audio_max_kbps: int = 128
    h263_formats: tuple[str, ...] = ("CIF4", "CIF", "QCIF", "SQCIF")
    rtcp_fb: frozenset[str] = field(default_factory=lambda: frozenset(
        {"nack", "nack pli", "ccm fir"}))
    rtcp_mux: bool = True
    opus_fmtp: str = "minptime=10;useinbandfec=1"
    ptime_ms: int = 20
    session_name: str = "open-mcu"
    username: str = "mcu"

    def __post_init__(self) -> None:
        for name in self.audio_codecs:
            if CODECS.get(name) is None or CODECS[name].kind != AUDIO:
                raise ValueError(f"audio_codecs: {name!r} is not a supported audio codec")
        for name in self.video_codecs:
            if CODECS.get(name) is None or CODECS[name].kind != VIDEO:
                raise ValueError(f"video_codecs: {name!r} is not a supported video codec")
        if self.h264_max_level not in LEVELS:
            raise ValueError(f"h264_max_level: unknown H.264 level {self.h264_max_level!r}")
        if not set(self.h264_packetization_modes) <= {0, 1}:
            raise ValueError("h264_packetization_modes: only 0 and 1 are supported")


def vp8_limits(params: dict[str, str], cap_width: int, cap_height: int,
               cap_fps: float) -> VideoLimits:
    """RFC 7741: max-fs in macroblocks, max-fr in frames per second; both optional."""
    max_fs = int(params["max-fs"]) if params.get("max-fs", "").isdigit() else None
    fps = cap_fps
    if params.get("max-fr", "").isdigit() and int(params["max-fr"]) > 0:
        fps = min(fps, float(params["max-fr"]))
    width, height, fps = fit_resolution(max_fs, None, cap_width, cap_height, fps)
    return VideoLimits(width, height, fps, max_fs=max_fs)


def h263_formats(params: dict[str, str]) -> dict[str, int]:
    """Offered picture formats with their MPI (frame interval in 1/29.97 s units)."""
    out: dict[str, int] = {}
    source = params if any(k.upper() in H263_FORMATS for k in params) else H263_DEFAULT_FORMATS
    for key, value in source.items():
        name = key.upper()
        if name in H263_FORMATS and value.isdigit() and 1 <= int(value) <= 32:
            out[name] = int(value)
    return out


def h263_limits(formats: dict[str, int], cap_width: int, cap_height: int,
                cap_fps: float) -> VideoLimits | None:
    """The largest accepted format within caps and its frame rate; None if nothing fits."""
    for name, (width, height) in H263_FORMATS.items():
        if name in formats and width <= cap_width and height <= cap_height:
            return VideoLimits(width, height, round(min(cap_fps, H263_BASE_FPS / formats[name]), 2))
    return None
