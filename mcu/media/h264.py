"""H.264: libx264 encoder (both packetization modes, constrained baseline for old terminals)
and the native libavcodec decoder; Annex-B splitting into NAL units."""

from __future__ import annotations

from mcu.media.base import EncodedFrame, VideoEncoderConfig
from mcu.media.pyav_video import PyAVVideoDecoder, PyAVVideoEncoder

START_CODE = b"\x00\x00\x01"
NAL_TYPE_MASK = 0x1F
NAL_TYPE_SLICE = 1
NAL_TYPE_IDR = 5
NAL_TYPE_SEI = 6
NAL_TYPE_SPS = 7
NAL_TYPE_PPS = 8

# x264's "baseline" is constrained baseline (constraint_set1 set): what legacy terminals accept.
X264_PROFILES = {
    "constrained-baseline": "baseline",
    "baseline": "baseline",
    "main": "main",
    "high": "high",
}


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B byte stream, start codes (3 or 4 bytes) removed."""
    starts = []
    i = data.find(START_CODE)
    while i >= 0:
        starts.append(i)
        i = data.find(START_CODE, i + 3)
    nals = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(data)
        nal = data[start + 3 : end]
        nal = nal.rstrip(b"\x00")  # zero byte of a following 4-byte start code, trailing_zero_8bits
        if nal:
            nals.append(nal)
    return nals


def nal_type(nal: bytes) -> int:
    return nal[0] & NAL_TYPE_MASK


def x264_options(config: VideoEncoderConfig) -> dict[str, str]:
    params = ["repeat-headers=1"]  # SPS/PPS before every IDR, so joiners can start anywhere
    if config.packetization_mode == 0:
        params.append(f"slice-max-size={config.max_payload_size}")
    options = {
        "preset": config.preset,
        "tune": "zerolatency",
        "forced-idr": "1",  # pict_type I -> IDR, not a mere I frame
        "x264-params": ":".join(params),
    }
    if config.profile is not None:
        options["profile"] = X264_PROFILES[config.profile]
    if config.level is not None:
        options["level"] = config.level
    return options


class H264Encoder(PyAVVideoEncoder):
    def __init__(self, config: VideoEncoderConfig) -> None:
        super().__init__(config, "libx264", x264_options(config), zero_copy=True)

    def _wrap(self, data: bytes, pts: int, keyframe: bool) -> EncodedFrame:
        frame = super()._wrap(data, pts, keyframe)
        return EncodedFrame(frame.data, frame.pts, frame.keyframe, tuple(split_annexb(data)))


class H264Decoder(PyAVVideoDecoder):
    def __init__(self, threads: int = 1, freeze_until_keyframe: bool = True) -> None:
        super().__init__("h264", threads, freeze_until_keyframe)
