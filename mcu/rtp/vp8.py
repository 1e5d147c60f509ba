"""VP8 RTP payload format (RFC 7741)."""

from __future__ import annotations

from dataclasses import dataclass

from mcu.rtp.errors import FragmentationError, PayloadShortError

VP8_X = 0x80
VP8_N = 0x20
VP8_S = 0x10
VP8_PID_MASK = 0x07
VP8_I = 0x80
VP8_L = 0x40
VP8_T = 0x20
VP8_K = 0x10
VP8_M = 0x80  # 15-bit PictureID
VP8_INTERFRAME_BIT = 0x01  # P bit of the VP8 frame tag: 0 means keyframe
PICTURE_ID_MAX = 0x7FFF


@dataclass(slots=True)
class Vp8Descriptor:
    start_of_partition: bool
    partition_id: int
    non_reference: bool = False
    picture_id: int | None = None
    tl0_pic_idx: int | None = None
    tid: int | None = None
    layer_sync: bool = False
    key_idx: int | None = None
    size: int = 1  # bytes taken by the descriptor


def parse_descriptor(payload: bytes) -> Vp8Descriptor:
    n = len(payload)
    if n < 1:
        raise PayloadShortError("empty VP8 payload")
    b0 = payload[0]
    d = Vp8Descriptor(bool(b0 & VP8_S), b0 & VP8_PID_MASK, bool(b0 & VP8_N))
    pos = 1
    if b0 & VP8_X:
        if n < 2:
            raise PayloadShortError("VP8 extension byte missing")
        x = payload[1]
        pos = 2
        if x & VP8_I:
            if n <= pos:
                raise PayloadShortError("VP8 PictureID missing")
            if payload[pos] & VP8_M:
                if n <= pos + 1:
                    raise PayloadShortError("VP8 15-bit PictureID truncated")
                d.picture_id = (payload[pos] & 0x7F) << 8 | payload[pos + 1]
                pos += 2
            else:
                d.picture_id = payload[pos] & 0x7F
                pos += 1
        if x & VP8_L:
            if n <= pos:
                raise PayloadShortError("VP8 TL0PICIDX missing")
            d.tl0_pic_idx = payload[pos]
            pos += 1
        if x & (VP8_T | VP8_K):
            if n <= pos:
                raise PayloadShortError("VP8 TID/KEYIDX missing")
            b = payload[pos]
            if x & VP8_T:
                d.tid = b >> 6
                d.layer_sync = bool(b & 0x20)
            if x & VP8_K:
                d.key_idx = b & 0x1F
            pos += 1
    if n <= pos:
        raise PayloadShortError("VP8 payload has a descriptor but no data")
    d.size = pos
    return d


class Vp8Payloader:
    """One frame -> payloads; a 15-bit PictureID is sent when `picture_id` is not None."""

    def __init__(self, picture_id: int | None = 0) -> None:
        self.picture_id = picture_id

    def payload(self, mtu: int, frame: bytes) -> list[bytes]:
        if self.picture_id is None:
            head = b""
        else:
            pid = self.picture_id
            head = bytes((VP8_I, VP8_M | pid >> 8, pid & 0xFF))
            self.picture_id = (pid + 1) & PICTURE_ID_MAX
        size = 1 + len(head)
        step = mtu - size
        if step <= 0:
            raise ValueError(f"MTU {mtu} is too small for VP8")
        out = []
        for pos in range(0, len(frame), step):
            b0 = (VP8_X if head else 0) | (VP8_S if pos == 0 else 0)
            out.append(bytes((b0,)) + head + frame[pos : pos + step])
        return out


class Vp8Depacketizer:
    def is_partition_head(self, payload: bytes) -> bool:
        if not payload:
            return False
        return bool(payload[0] & VP8_S) and payload[0] & VP8_PID_MASK == 0

    def is_partition_tail(self, marker: bool, payload: bytes) -> bool:
        return marker

    def depacketize(self, payload: bytes) -> bytes:
        return payload[parse_descriptor(payload).size :]

    def assemble(self, payloads: list[bytes]) -> bytes:
        if not payloads:
            raise FragmentationError("VP8 frame without packets")
        first = parse_descriptor(payloads[0])
        if not (first.start_of_partition and first.partition_id == 0):
            raise FragmentationError("VP8 frame does not start with partition 0")
        return b"".join(self.depacketize(p) for p in payloads)

    def is_keyframe(self, payloads: list[bytes]) -> bool:
        if not payloads:
            return False
        try:
            d = parse_descriptor(payloads[0])
        except PayloadShortError:
            return False
        if not (d.start_of_partition and d.partition_id == 0):
            return False
        return not payloads[0][d.size] & VP8_INTERFRAME_BIT
