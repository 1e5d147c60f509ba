"""Named errors of the codec layer; each message says what went wrong and what to do next."""

from __future__ import annotations


class MediaError(Exception):
    """Base of every error raised by mcu.media."""


class UnsupportedCodecError(MediaError):
    """The codec name (or its clock rate) is not one this MCU can encode or decode."""


class PcmFormatError(MediaError, ValueError):
    """PCM handed to an encoder or resampler has the wrong dtype, shape or length."""


class VideoFormatError(MediaError, ValueError):
    """Planes handed to a video encoder do not match its configured I420 size."""


class UnsupportedVideoSizeError(MediaError, ValueError):
    """The codec cannot encode pictures of the requested size (H.263 has fixed formats)."""


class CorruptVideoError(MediaError):
    """A video access unit could not be decoded; the caller should request a keyframe."""


class CorruptAudioError(MediaError):
    """An audio payload could not be decoded; the caller should conceal the frame."""
