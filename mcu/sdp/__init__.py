"""mcu.sdp: sans-I/O SDP model, codec tables, offer/answer and interop profiles."""

from .codecs import Capabilities
from .h264 import VideoLimits
from .negotiate import (
    ChosenCodec,
    MediaResult,
    NegotiationError,
    NegotiationResult,
    create_offer,
    negotiate,
    process_answer,
)
from .profiles import DEFAULT_PROFILE, EndpointProfile, ProfileError, Profiles, load_profiles
from .session import SdpParseError, SessionDescription, parse, serialize

__all__ = [
    "DEFAULT_PROFILE", "Capabilities", "ChosenCodec", "EndpointProfile", "MediaResult",
    "NegotiationError", "NegotiationResult", "ProfileError", "Profiles", "SdpParseError",
    "SessionDescription", "VideoLimits", "create_offer", "load_profiles", "negotiate", "parse",
    "process_answer", "serialize",
]
