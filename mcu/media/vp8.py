"""VP8: libvpx encoder in realtime mode, native libavcodec decoder."""

from __future__ import annotations

from mcu.media.base import VideoEncoderConfig
from mcu.media.pyav_video import PyAVVideoDecoder, PyAVVideoEncoder

# libvpx realtime speed (cpu-used, 0..16): higher is faster and blurrier; named after x264 presets
VPX_SPEED = {"ultrafast": 16, "superfast": 12, "veryfast": 8, "faster": 6, "fast": 4,
             "medium": 4}
DEFAULT_SPEED = 8


def vpx_options(config: VideoEncoderConfig) -> dict[str, str]:
    return {
        "deadline": "realtime",
        "cpu-used": str(VPX_SPEED.get(config.preset, DEFAULT_SPEED)),
        "lag-in-frames": "0",  # one frame in, one frame out
        "auto-alt-ref": "0",  # no hidden alt-ref frames: every packet is a shown picture
        "error-resilient": "1",
        "minrate": str(config.bitrate),  # min == max == b: CBR for steady RTP pacing
        "maxrate": str(config.bitrate),
        "bufsize": str(config.bitrate),
        "undershoot-pct": "95",
        "overshoot-pct": "15",
    }


class VP8Encoder(PyAVVideoEncoder):
    def __init__(self, config: VideoEncoderConfig) -> None:
        super().__init__(config, "libvpx", vpx_options(config), zero_copy=True)


class VP8Decoder(PyAVVideoDecoder):
    def __init__(self, threads: int = 1, freeze_until_keyframe: bool = True) -> None:
        super().__init__("vp8", threads, freeze_until_keyframe)
