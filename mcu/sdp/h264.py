"""H.264 SDP parameters (RFC 6184): profile-level-id, levels and receiver limits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

# profile_idc values (H.264 Annex A)
PROFILE_IDC_BASELINE = 0x42
PROFILE_IDC_MAIN = 0x4D
PROFILE_IDC_EXTENDED = 0x58
PROFILE_IDC_HIGH = 0x64

# profile-iop bits (constraint_set0..5 flags, most significant first)
IOP_SET0 = 0x80
IOP_SET1 = 0x40
IOP_SET3 = 0x10
IOP_SET4 = 0x08
IOP_SET5 = 0x04

LEVEL_1B = "1b"
DEFAULT_PROFILE_LEVEL_ID = "42000a"  # RFC 6184: Baseline level 1 when the parameter is absent
MACROBLOCK = 16
MIN_USEFUL_FPS = 15.0


class H264Profile(Enum):
    CONSTRAINED_BASELINE = "constrained-baseline"
    BASELINE = "baseline"
    MAIN = "main"
    EXTENDED = "extended"
    HIGH = "high"
    CONSTRAINED_HIGH = "constrained-high"


# Preference when several H.264 payload types are offered: what every legacy terminal decodes first.
PROFILE_RANK = {
    H264Profile.CONSTRAINED_BASELINE: 0,
    H264Profile.BASELINE: 1,
    H264Profile.MAIN: 2,
    H264Profile.CONSTRAINED_HIGH: 3,
    H264Profile.HIGH: 4,
}


@dataclass(frozen=True)
class LevelLimits:
    """H.264 Table A-1: max macroblocks/s, max frame size in macroblocks, max bitrate kbit/s."""

    max_mbps: int
    max_fs: int
    max_br_kbps: int


# Ordered from lowest to highest; keys are level names ("1b", "3.1", ...).
LEVELS: dict[str, LevelLimits] = {
    "1": LevelLimits(1485, 99, 64),
    LEVEL_1B: LevelLimits(1485, 99, 128),
    "1.1": LevelLimits(3000, 396, 192),
    "1.2": LevelLimits(6000, 396, 384),
    "1.3": LevelLimits(11880, 396, 768),
    "2": LevelLimits(11880, 396, 2000),
    "2.1": LevelLimits(19800, 792, 4000),
    "2.2": LevelLimits(20250, 1620, 4000),
    "3": LevelLimits(40500, 1620, 10000),
    "3.1": LevelLimits(108000, 3600, 14000),
    "3.2": LevelLimits(216000, 5120, 20000),
    "4": LevelLimits(245760, 8192, 20000),
    "4.1": LevelLimits(245760, 8192, 50000),
    "4.2": LevelLimits(522240, 8704, 50000),
    "5": LevelLimits(589824, 22080, 135000),
    "5.1": LevelLimits(983040, 36864, 240000),
    "5.2": LevelLimits(2073600, 36864, 240000),
}
LEVEL_ORDER = list(LEVELS)


class H264ParameterError(ValueError):
    """A profile-level-id or H.264 fmtp value is malformed or names an unknown level."""


def level_name(level_idc: int, profile_idc: int, iop: int) -> str:
    """Map level_idc (+ constraint_set3 for 1b) to a LEVELS key."""
    if level_idc == 9 or (level_idc == 11 and iop & IOP_SET3 and profile_idc in
                          (PROFILE_IDC_BASELINE, PROFILE_IDC_MAIN, PROFILE_IDC_EXTENDED)):
        return LEVEL_1B
    name = str(level_idc // 10) if level_idc % 10 == 0 else f"{level_idc // 10}.{level_idc % 10}"
    if name not in LEVELS:
        raise H264ParameterError(f"unknown H.264 level_idc {level_idc}")
    return name


def level_rank(name: str) -> int:
    return LEVEL_ORDER.index(name)


@dataclass(frozen=True)
class ProfileLevelId:
    """The three bytes of ``profile-level-id``: profile_idc, profile-iop, level_idc."""

    profile_idc: int
    iop: int
    level_idc: int

    @classmethod
    def parse(cls, text: str | None) -> ProfileLevelId:
        text = DEFAULT_PROFILE_LEVEL_ID if text is None else text.strip()
        if len(text) != 6:
            raise H264ParameterError(f"profile-level-id {text!r} must be 6 hex digits")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise H264ParameterError(f"profile-level-id {text!r} is not hexadecimal") from None
        return cls(raw[0], raw[1], raw[2])

    def __str__(self) -> str:
        return f"{self.profile_idc:02x}{self.iop:02x}{self.level_idc:02x}"

    @property
    def level(self) -> str:
        return level_name(self.level_idc, self.profile_idc, self.iop)

    @property
    def profile(self) -> H264Profile | None:
        """The profile, or None for one we cannot decode (High 10, 4:2:2, 4:4:4...)."""
        p, iop = self.profile_idc, self.iop
        if p == PROFILE_IDC_BASELINE:
            return H264Profile.CONSTRAINED_BASELINE if iop & IOP_SET1 else H264Profile.BASELINE
        if p == PROFILE_IDC_MAIN:
            return H264Profile.CONSTRAINED_BASELINE if iop & IOP_SET0 else H264Profile.MAIN
        if p == PROFILE_IDC_EXTENDED:
            if iop & IOP_SET0 and iop & IOP_SET1:
                return H264Profile.CONSTRAINED_BASELINE
            return H264Profile.BASELINE if iop & IOP_SET0 else None
        if p == PROFILE_IDC_HIGH:
            both = IOP_SET4 | IOP_SET5
            return H264Profile.CONSTRAINED_HIGH if iop & both == both else H264Profile.HIGH
        return None

    def with_level(self, name: str) -> ProfileLevelId:
        """Same profile, another level; handles the 1b encoding (RFC 6184 section 8.1)."""
        legacy = self.profile_idc in (PROFILE_IDC_BASELINE, PROFILE_IDC_MAIN, PROFILE_IDC_EXTENDED)
        iop = self.iop & ~IOP_SET3 if self.level == LEVEL_1B and legacy else self.iop
        if name == LEVEL_1B:
            return ProfileLevelId(self.profile_idc, iop | IOP_SET3, 11) if legacy else \
                ProfileLevelId(self.profile_idc, iop, 9)
        major, _, minor = name.partition(".")
        return ProfileLevelId(self.profile_idc, iop, int(major) * 10 + int(minor or 0))


def min_level(a: str, b: str) -> str:
    return a if level_rank(a) <= level_rank(b) else b


def answer_profile_level_id(offered: ProfileLevelId, local_max_level: str,
                            level_asymmetry: bool) -> ProfileLevelId:
    """The profile-level-id for an answer (RFC 6184 8.2.2).

    The profile is kept (it must be symmetric); the level is lowered to ours. When both sides
    allow level asymmetry the answer states our own receive level instead.
    """
    if level_asymmetry:
        return offered.with_level(local_max_level)
    return offered.with_level(min_level(offered.level, local_max_level))


@dataclass(frozen=True)
class VideoLimits:
    """What a member can receive, after codec parameters and interop caps."""

    max_width: int
    max_height: int
    max_fps: float
    max_fs: int | None = None  # macroblocks per frame
    max_mbps: int | None = None  # macroblocks per second
    max_bitrate_kbps: int | None = None


# Candidate sizes, largest first; the member gets the first one its limits allow.
STANDARD_SIZES: tuple[tuple[int, int], ...] = (
    (1920, 1080), (1280, 720), (1024, 576), (960, 540), (848, 480), (704, 576),
    (640, 360), (352, 288), (320, 180), (176, 144), (128, 96),
)


def frame_macroblocks(width: int, height: int) -> int:
    return math.ceil(width / MACROBLOCK) * math.ceil(height / MACROBLOCK)


def fit_resolution(max_fs: int | None, max_mbps: int | None, cap_width: int, cap_height: int,
                   cap_fps: float) -> tuple[int, int, float]:
    """Largest standard size within frame size, macroblock rate and caps, with its frame rate.

    A size is only taken if it still runs at MIN_USEFUL_FPS (or the cap, when lower); H.264 also
    bounds each dimension by sqrt(8 * max_fs) macroblocks.
    """
    wanted_fps = min(MIN_USEFUL_FPS, cap_fps)
    fallback: tuple[int, int, float] | None = None
    for width, height in STANDARD_SIZES:
        if width > cap_width or height > cap_height:
            continue
        fs = frame_macroblocks(width, height)
        if max_fs is not None:
            side = math.isqrt(8 * max_fs)
            if fs > max_fs or width / MACROBLOCK > side or height / MACROBLOCK > side:
                continue
        fps = cap_fps if max_mbps is None else min(cap_fps, max_mbps / fs)
        fallback = (width, height, round(fps, 2))
        if fps >= wanted_fps:
            return fallback
    if fallback is None:
        width, height = STANDARD_SIZES[-1]
        return width, height, cap_fps
    return fallback


def _opt_int(params: dict[str, str], key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise H264ParameterError(f"fmtp {key}={value!r} is not an integer")
    return int(value)


def h264_limits(params: dict[str, str], level: str, cap_width: int, cap_height: int,
                cap_fps: float) -> VideoLimits:
    """Receiver limits from a level and the fmtp max-fs/max-mbps/max-br/max-fps overrides.

    RFC 6184: max-fs, max-mbps and max-br may only raise what the level allows.
    max-fps is read as in RFC 7798 (frames per 100 s) since some terminals send it.
    """
    base = LEVELS[level]
    max_fs = max(base.max_fs, _opt_int(params, "max-fs") or 0)
    max_mbps = max(base.max_mbps, _opt_int(params, "max-mbps") or 0)
    max_br = max(base.max_br_kbps, _opt_int(params, "max-br") or 0)
    fps_cap = cap_fps
    max_fps = _opt_int(params, "max-fps")
    if max_fps:
        fps_cap = min(fps_cap, max_fps / 100)
    width, height, fps = fit_resolution(max_fs, max_mbps, cap_width, cap_height, fps_cap)
    return VideoLimits(width, height, fps, max_fs, max_mbps, max_br)
