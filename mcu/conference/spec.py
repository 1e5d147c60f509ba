"""What the conference is configured with: rooms, audio and video settings, abuse limits.

Plain frozen dataclasses with validated fields (mcu.settings); mcu.config loads them from TOML
with file and line in every error. The conference imports this module, never the loader.
"""


from __future__ import annotations

from dataclasses import dataclass

from mcu.settings import PIN, ROOM_NUMBER, in_range, one_of, setting


@dataclass(frozen=True)
class AudioSection:
    rate: int = setting(48000, one_of(8000, 16000, 48000))
    mix_size: int = setting(3, in_range(1, 10))
    hold_ms: int = setting(600, in_range(0, 10000))


@dataclass(frozen=True)
class VideoSection:
    fps: int = setting(30, in_range(1, 60))
    keyframe_interval: float = setting(10.0, in_range(1, 600))
    keyframe_min_interval: float = setting(1.0, in_range(0.1, 60))
    preset: str = setting("ultrafast", one_of("ultrafast", "superfast", "veryfast", "faster", "fast"))
    fit: str = setting("letterbox", one_of("letterbox", "crop"))


@dataclass(frozen=True)
class LimitsSection:
    """Abuse limits: what one source address (or one request) may cost the MCU."""

    calls_per_second: float = setting(2.0, in_range(0.1, 1000))  # new INVITEs per address, sustained
    call_burst: int = setting(10, in_range(1, 10000))  # ... and in a burst
    unconfirmed_calls: int = setting(4, in_range(1, 1000))  # calls per address answered but not ACKed
    answer_timeout: float = setting(5.0, in_range(0.5, 31))  # s an answered call may wait for its ACK
    retry_after: int = setting(30, in_range(1, 3600))  # seconds, in 503 and 403 refusals
    pin_failures: int = setting(10, in_range(1, 10000))  # wrong PINs per address per pin_window
    pin_window: float = setting(600.0, in_range(1, 86400))
    pin_lockout: float = setting(600.0, in_range(1, 86400))  # s an address is refused after that
    room_pin_alarm: int = setting(20, in_range(1, 100000))  # wrong PINs per room per pin_window
    pin_entry_timeout: float = setting(60.0, in_range(5, 600))  # s a caller may take to key the PIN
    sip_message_bytes: int = setting(65535, in_range(1500, 1 << 20))
    sip_headers: int = setting(100, in_range(10, 10000))
    sdp_media: int = setting(8, in_range(1, 64))  # m= sections in one SDP
    sdp_attributes: int = setting(256, in_range(8, 10000))  # a= lines in one SDP
    tcp_connections_per_address: int = setting(16, in_range(1, 10000))
    admin_requests_per_second: float = setting(20.0, in_range(0.1, 10000))  # per client address
    admin_burst: int = setting(40, in_range(1, 100000))


def timezone_name(value: str) -> str | None:
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(value)
    except (KeyError, ValueError, OSError):
        return "must be an IANA time zone name such as Asia/Ho_Chi_Minh (tzdata)"
    return None


@dataclass(frozen=True)
class RecordingSection:
    """Recordings (and live streams) of rooms: where, in what, and the disk's limits."""

    dir: str = "recordings"  # relative: under the MCU's working directory
    format: str = setting("mp4", one_of("mp4", "matroska"))  # mp4: H.264 + AAC; matroska: H.264 + Opus
    timezone: str = setting("Asia/Ho_Chi_Minh", timezone_name)  # local times in the side file
    width: int = setting(1280, in_range(160, 1920))
    height: int = setting(720, in_range(120, 1080))
    video_kbps: int = setting(2000, in_range(100, 20000))
    audio_kbps: int = setting(96, in_range(16, 320))
    preset: str = setting("superfast", one_of("ultrafast", "superfast", "veryfast", "faster", "fast"))
    keyframe_interval: float = setting(2.0, in_range(0.5, 10))  # s; a fragment each (what a crash can lose)
    layout: str = ""  # "": the listeners' view of the room; else a layout or group of layouts.toml
    min_free_mb: int = setting(500, in_range(0, 10_000_000))  # refuse to start below this
    keep_days: int = setting(0, in_range(0, 36500))  # delete recordings older than this; 0 keeps all
    queue_seconds: float = setting(1.0, in_range(0.1, 10))  # video waiting to encode before frames drop
    stream_video_kbps: int = setting(2500, in_range(100, 20000))
    stream_retry_initial: float = setting(1.0, in_range(0.1, 60))  # s before the first reconnect
    stream_retry_max: float = setting(30.0, in_range(1, 3600))  # the backoff doubles up to this
    stream_stall_timeout: float = setting(10.0, in_range(1, 600))  # s connecting, or sending nothing: retry


@dataclass(frozen=True)
class Room:
    number: str = setting("", lambda v: None if ROOM_NUMBER.match(v) else "must be 1-32 letters, digits, '_', '.' or '-'")
    name: str = ""
    pin: str = setting("", lambda v: None if PIN.match(v) else "must be up to 16 digits")
    chair_pin: str = setting("", lambda v: None if PIN.match(v) else "must be up to 16 digits")
    layout: str = "grid"
    mode: str = setting("auto", one_of("auto", "voice", "lecture", "fixed"))
    max_members: int = setting(100, in_range(1, 1000))
    self_view: bool = False  # members on screen see themselves too: one encode for the room
    encryption: str = setting("optional", one_of("optional", "required"))  # required: SRTP calls only
    record: str = setting("off", one_of("off", "auto"))  # auto: from the first join until the room empties
    content_policy: str = setting("anyone", one_of("anyone", "chair", "operator"))  # who may present
    content_takeover: bool = True  # a new presenter takes the floor (the old one is Revoked); false: waits
    content_layout: str = ""  # layout (or group) while content runs, for sites without a content stream
