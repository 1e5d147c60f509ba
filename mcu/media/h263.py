"""H.263 (RFC 2190 terminals: fixed picture formats) and H.263+ (H263-1998, any size /4)."""

from __future__ import annotations

from mcu.media.base import VideoEncoderConfig
from mcu.media.errors import UnsupportedVideoSizeError
from mcu.media.pyav_video import PyAVVideoDecoder, PyAVVideoEncoder

# Source formats of H.263 baseline (ITU-T H.263 table 1).
H263_SIZES = {(128, 96): "SQCIF", (176, 144): "QCIF", (352, 288): "CIF", (704, 576): "4CIF",
              (1408, 1152): "16CIF"}
H263P_MAX = (2048, 1152)
H263P_ALIGN = 4


def h263_options(config: VideoEncoderConfig) -> dict[str, str]:
    # "ps": RTP payload size hint: GOB/slice boundaries near it help RFC 4629 packetizers
    return {"ps": str(config.max_payload_size)}


class H263Encoder(PyAVVideoEncoder):
    def __init__(self, config: VideoEncoderConfig) -> None:
        if (config.width, config.height) not in H263_SIZES:
            sizes = ", ".join(f"{w}x{h} {n}" for (w, h), n in H263_SIZES.items())
            raise UnsupportedVideoSizeError(
                f"H.263 cannot encode {config.width}x{config.height}; use one of {sizes}")
        super().__init__(config, "h263", h263_options(config))


class H263PlusEncoder(PyAVVideoEncoder):
    def __init__(self, config: VideoEncoderConfig) -> None:
        w, h = config.width, config.height
        if w % H263P_ALIGN or h % H263P_ALIGN or w > H263P_MAX[0] or h > H263P_MAX[1]:
            raise UnsupportedVideoSizeError(
                f"H.263+ needs width and height multiples of {H263P_ALIGN} up to "
                f"{H263P_MAX[0]}x{H263P_MAX[1]}, not {w}x{h}")
        super().__init__(config, "h263p", h263_options(config))


class H263Decoder(PyAVVideoDecoder):
    """libavcodec's h263 decoder reads both H.263 and H.263+ bitstreams."""

    def __init__(self, threads: int = 1, freeze_until_keyframe: bool = True) -> None:
        super().__init__("h263", threads, freeze_until_keyframe)
