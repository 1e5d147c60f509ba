"""mcu.media: PyAV codec wrappers picked from a registry by RTP encoding name."""

from mcu.media.base import (
    AudioCodecInfo,
    AudioDecoder,
    AudioEncoder,
    EncodedFrame,
    VideoDecoder,
    VideoEncoder,
    VideoEncoderConfig,
)
from mcu.media.errors import (
    CorruptAudioError,
    CorruptVideoError,
    MediaError,
    PcmFormatError,
    UnsupportedCodecError,
    UnsupportedVideoSizeError,
    VideoFormatError,
)
from mcu.media.frames import I420, alloc_i420, frame_to_planes, planes_to_frame, psnr
from mcu.media.h264 import split_annexb
from mcu.media.registry import (
    AudioCodec,
    create_video_encoder,
    get_audio_codec,
    get_video_decoder,
    get_video_encoder,
    video_encoder_config,
)
from mcu.media.resample import Resampler

__all__ = [
    "I420",
    "AudioCodec",
    "AudioCodecInfo",
    "AudioDecoder",
    "AudioEncoder",
    "CorruptAudioError",
    "CorruptVideoError",
    "EncodedFrame",
    "MediaError",
    "PcmFormatError",
    "Resampler",
    "UnsupportedCodecError",
    "UnsupportedVideoSizeError",
    "VideoDecoder",
    "VideoEncoder",
    "VideoEncoderConfig",
    "VideoFormatError",
    "alloc_i420",
    "create_video_encoder",
    "frame_to_planes",
    "get_audio_codec",
    "get_video_decoder",
    "get_video_encoder",
    "planes_to_frame",
    "psnr",
    "split_annexb",
    "video_encoder_config",
]
