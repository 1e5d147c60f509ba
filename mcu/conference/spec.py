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
