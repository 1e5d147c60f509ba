"""Codec wrappers chosen by RTP encoding name (case-insensitive, as written in SDP)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mcu.media.base import (
    AudioCodecInfo,
    AudioDecoder,
    AudioEncoder,
    VideoDecoder,
    VideoEncoder,
    VideoEncoderConfig,
)
from mcu.media.errors import UnsupportedCodecError
from mcu.media.g711 import PCMA, PCMU, G711Decoder, G711Encoder
from mcu.media.g722 import G722, G722Decoder, G722Encoder
from mcu.media.h263 import H263Decoder, H263Encoder, H263PlusEncoder
from mcu.media.h264 import H264Decoder, H264Encoder
from mcu.media.opus import OPUS_MONO, OpusDecoder, OpusEncoder
from mcu.media.vp8 import VP8Decoder, VP8Encoder

AUDIO_CODECS: dict[str, AudioCodecInfo] = {
    "PCMU": PCMU,
    "PCMA": PCMA,
    "G722": G722,
    "OPUS": OPUS_MONO,
}

VIDEO_ENCODERS: dict[str, Callable[[VideoEncoderConfig], VideoEncoder]] = {
    "H264": H264Encoder,
    "VP8": VP8Encoder,
    "H263-1998": H263PlusEncoder,
    "H263-2000": H263PlusEncoder,
    "H263": H263Encoder,
}

VIDEO_DECODERS: dict[str, Callable[..., VideoDecoder]] = {
    "H264": H264Decoder,
    "VP8": VP8Decoder,
    "H263-1998": H263Decoder,
    "H263-2000": H263Decoder,
    "H263": H263Decoder,
}


def _audio_info(name: str, rate: int | None) -> AudioCodecInfo:
    info = AUDIO_CODECS.get(name.upper())
    if info is None:
        raise UnsupportedCodecError(
            f"no audio codec {name!r}; supported: {', '.join(AUDIO_CODECS)}")
    if rate is not None and rate != info.clock_rate:
        raise UnsupportedCodecError(
            f"{info.name} runs at RTP clock {info.clock_rate}, not {rate}; check the SDP rtpmap")
    return info


@dataclass(frozen=True)
class AudioCodec:
    """An audio codec picked by name: its facts, and factories for fresh encoders/decoders
    (each stream needs its own: G.722 and Opus keep state between frames)."""

    info: AudioCodecInfo

    def encoder(self, channels: int = 1, bitrate: int | None = None) -> AudioEncoder:
        if self.info.name == "opus":
            return OpusEncoder(channels, bitrate)
        if channels != 1:
            raise UnsupportedCodecError(f"{self.info.name} is mono only, not {channels} channels")
        if self.info.name == "G722":
            return G722Encoder()
        return G711Encoder(self.info)

    def decoder(self) -> AudioDecoder:
        if self.info.name == "opus":
            return OpusDecoder()
        if self.info.name == "G722":
            return G722Decoder()
        return G711Decoder(self.info)


def get_audio_codec(name: str, rate: int | None = None) -> AudioCodec:
    """name: "PCMU", "PCMA", "G722", "opus"; rate: the RTP clock rate from the rtpmap (checked)."""
    return AudioCodec(_audio_info(name, rate))


def video_encoder_config(name: str, width: int, height: int, fps: int = 30,
                         bitrate: int = 1_500_000, **options: object) -> VideoEncoderConfig:
    """Canonical config (the shared-encoder key); options are VideoEncoderConfig fields:
    keyint, preset, profile, level, packetization_mode, max_payload_size, threads."""
    codec = name.upper()
    if codec not in VIDEO_ENCODERS:
        raise UnsupportedCodecError(
            f"no video encoder {name!r}; supported: {', '.join(VIDEO_ENCODERS)}")
    return VideoEncoderConfig(codec, width, height, fps, bitrate, **options)  # type: ignore[arg-type]


def create_video_encoder(config: VideoEncoderConfig) -> VideoEncoder:
    return VIDEO_ENCODERS[config.codec](config)


def get_video_encoder(name: str, width: int, height: int, fps: int = 30,
                      bitrate: int = 1_500_000, **options: object) -> VideoEncoder:
    return create_video_encoder(video_encoder_config(name, width, height, fps, bitrate, **options))


def get_video_decoder(name: str, threads: int = 1,
                      freeze_until_keyframe: bool = True) -> VideoDecoder:
    factory = VIDEO_DECODERS.get(name.upper())
    if factory is None:
        raise UnsupportedCodecError(
            f"no video decoder {name!r}; supported: {', '.join(VIDEO_DECODERS)}")
    return factory(threads=threads, freeze_until_keyframe=freeze_until_keyframe)
