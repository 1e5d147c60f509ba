"""H.264 RTP payload format (RFC 6184): single NAL unit, STAP-A and FU-A.

packetization-mode 0 sends single NAL units only (no aggregation, no fragmentation): the
encoder must cap slice size (x264 `slice-max-size`), and a larger NAL is an error.
packetization-mode 1 aggregates small NALs into STAP-A and fragments large ones into FU-A.
Frames are Annex B byte streams; the depacketizer emits 4-byte start codes.
"""

from __future__ import annotations

import struct

from mcu.rtp.errors import (
    FragmentationError,
    NalTooLargeError,
    PayloadShortError,
    PayloadUnsupportedError,
)

NAL_TYPE_SLICE = 1
NAL_TYPE_IDR = 5
NAL_TYPE_SEI = 6
NAL_TYPE_SPS = 7
NAL_TYPE_PPS = 8
NAL_TYPE_AUD = 9
NAL_TYPE_STAP_A = 24
NAL_TYPE_STAP_B = 25
NAL_TYPE_MTAP16 = 26
NAL_TYPE_MTAP24 = 27
NAL_TYPE_FU_A = 28
NAL_TYPE_FU_B = 29

NAL_TYPE_MASK = 0x1F
NAL_NRI_MASK = 0x60
NAL_F_MASK = 0x80
FU_START = 0x80
FU_END = 0x40
FU_A_HEADER_SIZE = 2
STAP_A_HEADER_SIZE = 1
STAP_A_LENGTH_SIZE = 2
START_CODE = b"\x00\x00\x00\x01"
PACKETIZATION_MODE_SINGLE_NAL = 0
PACKETIZATION_MODE_NON_INTERLEAVED = 1


def split_annexb(stream: bytes) -> list[bytes]:
    """Split an Annex B byte stream into NAL units (start codes and trailing zeros removed)."""
    nals: list[bytes] = []
    n = len(stream)
    start = stream.find(b"\x00\x00\x01")
    while start != -1:
        begin = start + 3
        nxt = stream.find(b"\x00\x00\x01", begin)
        end = n if nxt == -1 else nxt
        nal = stream[begin:end].rstrip(b"\x00")
        if nal:
            nals.append(bytes(nal))
        start = nxt
    return nals


def join_annexb(nals: list[bytes]) -> bytes:
    return b"".join(START_CODE + nal for nal in nals)


class H264Payloader:
    """Annex B access unit -> RTP payloads for one packetization mode."""

    def __init__(self, packetization_mode: int = PACKETIZATION_MODE_NON_INTERLEAVED) -> None:
        if packetization_mode not in (0, 1):
            raise ValueError(f"packetization-mode {packetization_mode} is not supported (0 or 1)")
        self.packetization_mode = packetization_mode

    def payload(self, mtu: int, frame: bytes) -> list[bytes]:
        return self.payload_nals(mtu, split_annexb(frame))

    def payload_nals(self, mtu: int, nals: list[bytes]) -> list[bytes]:
        if mtu <= FU_A_HEADER_SIZE + 1:
            raise ValueError(f"MTU {mtu} is too small for H.264")
        if self.packetization_mode == PACKETIZATION_MODE_SINGLE_NAL:
            for nal in nals:
                if len(nal) > mtu:
                    raise NalTooLargeError(
                        f"NAL of {len(nal)} bytes exceeds MTU {mtu} in packetization-mode 0; "
                        "cap the encoder's slice size (x264-params slice-max-size)"
                    )
            return list(nals)
        out: list[bytes] = []
        pending: list[bytes] = []  # small NALs waiting to be aggregated

        def flush() -> None:
            if len(pending) == 1:
                out.append(pending[0])
            elif pending:
                nri = max(n[0] & NAL_NRI_MASK for n in pending)
                f = max(n[0] & NAL_F_MASK for n in pending)
                out.append(
                    bytes((f | nri | NAL_TYPE_STAP_A,))
                    + b"".join(struct.pack("!H", len(n)) + n for n in pending)
                )
            pending.clear()

        for nal in nals:
            if len(nal) > mtu:
                flush()
                out.extend(_fu_a(mtu, nal))
                continue
            size = STAP_A_HEADER_SIZE + sum(STAP_A_LENGTH_SIZE + len(n) for n in pending)
            if pending and size + STAP_A_LENGTH_SIZE + len(nal) > mtu:
                flush()
            pending.append(nal)
        flush()
        return out


def _fu_a(mtu: int, nal: bytes) -> list[bytes]:
    indicator = (nal[0] & (NAL_F_MASK | NAL_NRI_MASK)) | NAL_TYPE_FU_A
    nal_type = nal[0] & NAL_TYPE_MASK
    data = nal[1:]
    step = mtu - FU_A_HEADER_SIZE
    out = []
    for pos in range(0, len(data), step):
        header = nal_type
        if pos == 0:
            header |= FU_START
        if pos + step >= len(data):
            header |= FU_END
        out.append(bytes((indicator, header)) + data[pos : pos + step])
    return out


class H264Depacketizer:
    """RTP payloads -> Annex B. Stateless per frame: assemble() takes a whole frame."""

    def is_partition_head(self, payload: bytes) -> bool:
        if len(payload) < 2:
            return False
        if payload[0] & NAL_TYPE_MASK == NAL_TYPE_FU_A:
            return bool(payload[1] & FU_START)
        return True

    def is_partition_tail(self, marker: bool, payload: bytes) -> bool:
        return marker

    def nal_units(self, payloads: list[bytes]) -> list[bytes]:
        nals: list[bytes] = []
        fu: bytearray | None = None
        for payload in payloads:
            if len(payload) < 1:
                raise PayloadShortError("empty H.264 payload")
            nal_type = payload[0] & NAL_TYPE_MASK
            if nal_type == NAL_TYPE_FU_A:
                if len(payload) < FU_A_HEADER_SIZE:
                    raise PayloadShortError("FU-A payload without its FU header")
                header = payload[1]
                if header & FU_START:
                    if fu is not None:
                        raise FragmentationError("FU-A start inside an unfinished FU-A")
                    fu = bytearray(
                        ((payload[0] & (NAL_F_MASK | NAL_NRI_MASK)) | (header & NAL_TYPE_MASK),)
                    )
                elif fu is None:
                    raise FragmentationError("FU-A continuation without its start fragment")
                fu += payload[2:]
                if header & FU_END:
                    nals.append(bytes(fu))
                    fu = None
                continue
            if fu is not None:
                raise FragmentationError("FU-A interrupted before its end fragment")
            if nal_type == NAL_TYPE_STAP_A:
                pos = STAP_A_HEADER_SIZE
                if len(payload) <= pos:
                    raise PayloadShortError("STAP-A without NAL units")
                while pos < len(payload):
                    if pos + STAP_A_LENGTH_SIZE > len(payload):
                        raise PayloadShortError("STAP-A NAL size is truncated")
                    (size,) = struct.unpack_from("!H", payload, pos)
                    pos += STAP_A_LENGTH_SIZE
                    if size == 0 or pos + size > len(payload):
                        raise PayloadShortError(f"STAP-A NAL of {size} bytes overruns the packet")
                    nals.append(bytes(payload[pos : pos + size]))
                    pos += size
                continue
            if nal_type in (NAL_TYPE_STAP_B, NAL_TYPE_MTAP16, NAL_TYPE_MTAP24, NAL_TYPE_FU_B, 0):
                raise PayloadUnsupportedError(
                    f"NAL type {nal_type} needs interleaved mode, which is not supported"
                )
            if nal_type > NAL_TYPE_FU_B:
                raise PayloadUnsupportedError(f"reserved NAL type {nal_type}")
            nals.append(bytes(payload))
        if fu is not None:
            raise FragmentationError("frame ends inside an FU-A (end fragment lost)")
        return nals

    def assemble(self, payloads: list[bytes]) -> bytes:
        return join_annexb(self.nal_units(payloads))

    def is_keyframe(self, payloads: list[bytes]) -> bool:
        for payload in payloads:
            if not payload:
                continue
            nal_type = payload[0] & NAL_TYPE_MASK
            if nal_type == NAL_TYPE_FU_A and len(payload) > 1:
                nal_type = payload[1] & NAL_TYPE_MASK
            elif nal_type == NAL_TYPE_STAP_A and len(payload) > 3:
                nal_type = payload[3] & NAL_TYPE_MASK
            if nal_type in (NAL_TYPE_IDR, NAL_TYPE_SPS):
                return True
        return False
