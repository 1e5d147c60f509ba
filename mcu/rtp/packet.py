"""RTP packets (RFC 3550) with header extensions (RFC 8285) and audio level (RFC 6464)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from mcu.rtp.errors import (
    RtpBadExtensionError,
    RtpBadExtensionLengthError,
    RtpBadPaddingError,
    RtpBadVersionError,
    RtpShortPacketError,
)

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
EXTENSION_PROFILE_ONE_BYTE = 0xBEDE
EXTENSION_PROFILE_TWO_BYTE = 0x1000  # low 4 bits are "appbits"
EXTENSION_PROFILE_TWO_BYTE_MASK = 0xFFF0
ONE_BYTE_ID_RESERVED = 15  # RFC 8285 4.2: stop parsing
ONE_BYTE_MAX_LEN = 16
TWO_BYTE_MAX_LEN = 255
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

_HEADER = struct.Struct("!BBHII")
_HALF = struct.Struct("!HH")


@dataclass(slots=True)
class HeaderExtension:
    """One RFC 8285 element: local identifier and its data."""

    id: int
    data: bytes


@dataclass(slots=True)
class RtpPacket:
    """An RTP packet. `extension_profile`/`extension_data` keep the raw header extension so
    that serialization is byte-exact; use header_extensions()/set_header_extensions() for
    RFC 8285 elements. `padding` is the raw padding including its trailing count byte."""

    payload_type: int = 0
    sequence_number: int = 0
    timestamp: int = 0
    ssrc: int = 0
    marker: bool = False
    payload: bytes = b""
    csrc: list[int] = field(default_factory=list)
    extension_profile: int | None = None
    extension_data: bytes = b""
    padding: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        length = len(data)
        if length < RTP_HEADER_SIZE:
            raise RtpShortPacketError(f"RTP packet of {length} bytes is shorter than 12")
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data, 0)
        if b0 >> 6 != RTP_VERSION:
            raise RtpBadVersionError(f"RTP version {b0 >> 6}, expected 2")
        offset = RTP_HEADER_SIZE
        cc = b0 & 0x0F
        csrc: list[int] = []
        if cc:
            end = offset + 4 * cc
            if end > length:
                raise RtpShortPacketError(f"{cc} CSRCs do not fit in {length} bytes")
            csrc = list(struct.unpack_from(f"!{cc}I", data, offset))
            offset = end
        ext_profile: int | None = None
        ext_data = b""
        if b0 & 0x10:
            if offset + 4 > length:
                raise RtpShortPacketError("header extension header is truncated")
            ext_profile, words = _HALF.unpack_from(data, offset)
            offset += 4
            end = offset + 4 * words
            if end > length:
                raise RtpBadExtensionLengthError(
                    f"header extension of {words} words overruns the {length}-byte packet"
                )
            ext_data = bytes(data[offset:end])
            offset = end
        end = length
        padding = b""
        if b0 & 0x20:
            pad = data[-1]
            if pad == 0 or end - pad < offset:
                raise RtpBadPaddingError(f"padding count {pad} is invalid for this packet")
            end -= pad
            padding = bytes(data[end:])
        return cls(
            payload_type=b1 & 0x7F,
            sequence_number=seq,
            timestamp=ts,
            ssrc=ssrc,
            marker=bool(b1 & 0x80),
            payload=bytes(data[offset:end]),
            csrc=csrc,
            extension_profile=ext_profile,
            extension_data=ext_data,
            padding=padding,
        )

    def serialize(self) -> bytes:
        b0 = (RTP_VERSION << 6) | len(self.csrc)
        if self.padding:
            b0 |= 0x20
        if self.extension_profile is not None:
            b0 |= 0x10
        b1 = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        parts = [
            _HEADER.pack(
                b0, b1, self.sequence_number & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc
            )
        ]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension_profile is not None:
            if len(self.extension_data) % 4:
                raise ValueError("extension_data must be a multiple of 4 bytes")
            parts.append(_HALF.pack(self.extension_profile, len(self.extension_data) // 4))
            parts.append(self.extension_data)
        parts.append(self.payload)
        if self.padding:
            if self.padding[-1] != len(self.padding):
                raise ValueError("padding must end with its own length")
            parts.append(self.padding)
        return b"".join(parts)

    def __bytes__(self) -> bytes:
        return self.serialize()

    def header_extensions(self) -> list[HeaderExtension]:
        if self.extension_profile is None:
            return []
        return parse_header_extensions(self.extension_profile, self.extension_data)

    def get_extension(self, ext_id: int) -> bytes | None:
        for ext in self.header_extensions():
            if ext.id == ext_id:
                return ext.data
        return None

    def set_header_extensions(self, extensions: list[HeaderExtension]) -> None:
        if not extensions:
            self.extension_profile = None
            self.extension_data = b""
            return
        self.extension_profile, self.extension_data = build_header_extensions(extensions)


def parse_header_extensions(profile: int, data: bytes) -> list[HeaderExtension]:
    """Parse RFC 8285 elements; other profiles yield one element with id=-1 and the raw data."""
    one_byte = profile == EXTENSION_PROFILE_ONE_BYTE
    if not one_byte and profile & EXTENSION_PROFILE_TWO_BYTE_MASK != EXTENSION_PROFILE_TWO_BYTE:
        return [HeaderExtension(-1, bytes(data))]
    form = "one-byte" if one_byte else "two-byte"
    out: list[HeaderExtension] = []
    pos = 0
    n = len(data)
    # Both forms are a run of (id, length, data) elements with zero padding bytes between them;
    # only the element header differs (4+4 bits with length-1, or two whole bytes).
    while pos < n:
        b = data[pos]
        if b == 0:  # padding byte
            pos += 1
            continue
        if one_byte:
            ext_id = b >> 4
            if ext_id == ONE_BYTE_ID_RESERVED:
                break
            size = (b & 0x0F) + 1
            pos += 1
        else:
            if pos + 2 > n:
                raise RtpBadExtensionError("two-byte element header is truncated")
            ext_id = b
            size = data[pos + 1]
            pos += 2
        if pos + size > n:
            raise RtpBadExtensionError(f"{form} element id {ext_id} overruns the extension")
        out.append(HeaderExtension(ext_id, bytes(data[pos : pos + size])))
        pos += size
    return out


def build_header_extensions(extensions: list[HeaderExtension]) -> tuple[int, bytes]:
    """Encode elements, one-byte form when every id is 1..14 and data 1..16 bytes."""
    one_byte = all(
        1 <= e.id <= 14 and 1 <= len(e.data) <= ONE_BYTE_MAX_LEN for e in extensions
    )
    body = bytearray()
    if one_byte:
        profile = EXTENSION_PROFILE_ONE_BYTE
        for e in extensions:
            body.append((e.id << 4) | (len(e.data) - 1))
            body += e.data
    else:
        profile = EXTENSION_PROFILE_TWO_BYTE
        for e in extensions:
            if not 1 <= e.id <= 255 or len(e.data) > TWO_BYTE_MAX_LEN:
                raise ValueError(f"extension id {e.id} / {len(e.data)} bytes cannot be encoded")
            body += bytes((e.id, len(e.data)))
            body += e.data
    body += b"\x00" * (-len(body) % 4)
    return profile, bytes(body)


@dataclass(frozen=True, slots=True)
class AudioLevel:
    """RFC 6464: level in -dBov (0 loudest .. 127 silence) and the voice-activity flag."""

    level: int
    voice: bool


def parse_audio_level(data: bytes) -> AudioLevel:
    if len(data) < 1:
        raise RtpBadExtensionError("audio level element is empty")
    return AudioLevel(level=data[0] & 0x7F, voice=bool(data[0] & 0x80))


def build_audio_level(level: int, voice: bool) -> bytes:
    if not 0 <= level <= 127:
        raise ValueError(f"audio level {level} -dBov outside 0..127")
    return bytes(((0x80 if voice else 0) | level,))


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 section 4 demultiplexing for rtcp-mux: RTCP packet types 192..223."""
    return len(data) >= 2 and 192 <= data[1] <= 223
