"""Synthetic sites for tests and load benchmarks: SIP + RTP endpoints with a distinctive
tone and picture that record what they receive (see endpoint.SyntheticEndpoint)."""

from mcu.synthetic.endpoint import (
    CallSetupError,
    EndpointConfig,
    EndpointError,
    EndpointStats,
    NotInCallError,
    SyntheticEndpoint,
)
from mcu.synthetic.identity import colour_for, contrast_yuv, rgb_to_yuv, tone_for, yuv_for
from mcu.synthetic.pictures import colour_fraction, find_colour, make_picture, tile_colour_at
from mcu.synthetic.sound import goertzel_power, rms_dbfs

__all__ = [
    "CallSetupError", "EndpointConfig", "EndpointError", "EndpointStats", "NotInCallError",
    "SyntheticEndpoint", "colour_for", "colour_fraction", "contrast_yuv", "find_colour",
    "goertzel_power", "make_picture", "rgb_to_yuv", "rms_dbfs", "tile_colour_at", "tone_for",
    "yuv_for",
]
