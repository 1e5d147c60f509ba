"""Generic PyAV video encoder/decoder; codec modules supply the context options."""

from __future__ import annotations

import collections
from fractions import Fraction

import av
from av.video.frame import PictureType

from mcu.media.base import EncodedFrame, VideoDecoder, VideoEncoder, VideoEncoderConfig
from mcu.media.errors import CorruptVideoError, VideoFormatError
from mcu.media.frames import I420, PIXEL_FORMAT, check_planes, frame_to_planes, planes_to_frame

# Slice threads add no delay; frame threads would hold back (threads - 1) pictures.
THREAD_TYPE = "SLICE"


class PyAVVideoEncoder(VideoEncoder):
    """One libavcodec encoder context. `zero_copy` lets the context read the caller's alloc_i420
    buffer directly; only safe for encoders that copy the picture during encode (x264, libvpx)."""

    def __init__(self, config: VideoEncoderConfig, av_codec: str, options: dict[str, str],
                 zero_copy: bool = False) -> None:
        self.config = config
        self.zero_copy = zero_copy
        ctx = av.CodecContext.create(av_codec, "w")
        ctx.width = config.width
        ctx.height = config.height
        ctx.pix_fmt = PIXEL_FORMAT
        ctx.framerate = Fraction(config.fps, 1)
        ctx.time_base = Fraction(1, config.fps)  # frame counter pts; mpegvideo rejects 1/90000
        ctx.bit_rate = config.bitrate
        ctx.gop_size = config.keyint if config.keyint > 0 else 1 << 30
        ctx.max_b_frames = 0
        ctx.thread_count = config.threads
        ctx.thread_type = THREAD_TYPE
        ctx.options = options
        ctx.open()
        self._ctx = ctx
        self._index = 0
        self._pts: collections.deque[int] = collections.deque()
        self.frames_in = 0
        self.keyframes_out = 0
        self.bytes_out = 0

    def encode(self, planes: I420, pts: int, force_keyframe: bool = False) -> list[EncodedFrame]:
        try:
            check_planes(planes, self.config.width, self.config.height)
        except ValueError as exc:
            raise VideoFormatError(f"{self.config.codec} encoder: {exc}") from exc
        frame = planes_to_frame(planes, self.zero_copy)
        frame.pts = self._index
        if force_keyframe:
            frame.pict_type = PictureType.I
        self._index += 1
        self.frames_in += 1
        self._pts.append(pts)
        out = []
        for packet in self._ctx.encode(frame):
            out.append(self._wrap(bytes(packet), self._pts.popleft(), bool(packet.is_keyframe)))
        return out

    def _wrap(self, data: bytes, pts: int, keyframe: bool) -> EncodedFrame:
        self.keyframes_out += keyframe
        self.bytes_out += len(data)
        return EncodedFrame(data, pts, keyframe)


class PyAVVideoDecoder(VideoDecoder):
    """Decodes access units to I420 views. After a corrupt unit it can hold its output until a
    keyframe arrives (freeze rather than show a smeared picture); the caller asks for one."""

    def __init__(self, av_codec: str, threads: int = 1, freeze_until_keyframe: bool = True) -> None:
        ctx = av.CodecContext.create(av_codec, "r")
        ctx.thread_count = threads
        ctx.thread_type = THREAD_TYPE
        self._ctx = ctx
        self.freeze_until_keyframe = freeze_until_keyframe
        self.needs_keyframe = True  # nothing decoded yet: a keyframe is what we need first
        self.errors = 0  # access units that raised CorruptVideoError
        self.dropped = 0  # units skipped while waiting for a keyframe
        self.frames_out = 0

    def decode(self, access_unit: bytes, keyframe_hint: bool | None = None) -> list[I420]:
        """keyframe_hint: True/False from the depacketizer, None if unknown. While frozen,
        units hinted as non-key are dropped."""
        if not access_unit:
            self._fail("empty access unit")
        if self.needs_keyframe and self.freeze_until_keyframe and keyframe_hint is False:
            self.dropped += 1
            return []
        try:
            frames = self._ctx.decode(av.Packet(access_unit))
        except av.FFmpegError as exc:
            self._fail(f"{len(access_unit)} bytes: {exc}")
        out = []
        for frame in frames:
            if frame.key_frame or keyframe_hint:
                self.needs_keyframe = False
            if self.needs_keyframe and self.freeze_until_keyframe:
                self.dropped += 1
                continue
            out.append(frame_to_planes(frame))
        self.frames_out += len(out)
        return out

    def _fail(self, why: str) -> None:
        self.errors += 1
        self.needs_keyframe = True
        raise CorruptVideoError(f"{self._ctx.name} decoder: {why}; request a keyframe (PLI/FIR)")
