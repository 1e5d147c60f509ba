"""H.263 RTP payload formats: RFC 4629 (H263-1998/2000) and RFC 2190 (H.263, mode A).

Packets are split at byte-aligned picture and GOB start codes where possible; a run longer
than the MTU is cut at a byte boundary (what ffmpeg does without macroblock info).
"""

from __future__ import annotations

import itertools

from mcu.rtp.errors import FragmentationError, PayloadShortError, PayloadUnsupportedError

RFC4629_HEADER_SIZE = 2
RFC4629_P = 0x04  # in the first header byte: picture/GOB start, two zero bytes omitted
RFC4629_V = 0x02  # VRC byte present
RFC2190_MODE_A_SIZE = 4
RFC2190_MODE_B_SIZE = 8
RFC2190_MODE_C_SIZE = 12
RFC2190_F = 0x80
RFC2190_P = 0x40
PSC_PREFIX = b"\x00\x00"
PSC_THIRD_MASK = 0xFC  # PSC is 22 bits: 0000 0000 0000 0000 1000 00
PSC_THIRD = 0x80
SOURCE_FORMAT_EXTENDED = 7


def _start_code_offsets(frame: bytes) -> list[int]:
    """Byte-aligned picture or GOB start codes (16 zero bits then a 1)."""
    out = []
    pos = frame.find(PSC_PREFIX)
    while pos != -1 and pos + 2 < len(frame):
        if frame[pos + 2] & 0x80:
            out.append(pos)
            pos = frame.find(PSC_PREFIX, pos + 3)
        else:
            pos = frame.find(PSC_PREFIX, pos + 1)
    return out


def _runs(frame: bytes, limit: int) -> list[tuple[bytes, bool]]:
    """Split at start codes then at `limit`; flag whether each piece starts at a start code."""
    starts = _start_code_offsets(frame)
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = starts + [len(frame)]
    pieces: list[tuple[bytes, bool]] = []
    for a, b in itertools.pairwise(bounds):
        segment = frame[a:b]
        at_code = segment[:2] == PSC_PREFIX and len(segment) > 2 and bool(segment[2] & 0x80)
        for pos in range(0, len(segment), limit):
            pieces.append((segment[pos : pos + limit], at_code and pos == 0))
    return pieces


class H263Rfc4629Payloader:
    def payload(self, mtu: int, frame: bytes) -> list[bytes]:
        limit = mtu - RFC4629_HEADER_SIZE
        if limit <= 2:
            raise ValueError(f"MTU {mtu} is too small for H.263")
        out = []
        for piece, at_code in _runs(frame, limit):
            if at_code:
                out.append(bytes((RFC4629_P, 0)) + piece[2:])
            else:
                out.append(b"\x00\x00" + piece)
        return out


class H263Rfc4629Depacketizer:
    def _body(self, payload: bytes) -> bytes:
        if len(payload) < RFC4629_HEADER_SIZE:
            raise PayloadShortError("H.263+ payload shorter than its 2-byte header")
        b0, b1 = payload[0], payload[1]
        plen = ((b0 & 0x01) << 5) | (b1 >> 3)
        pos = RFC4629_HEADER_SIZE + (1 if b0 & RFC4629_V else 0) + plen
        if pos > len(payload):
            raise PayloadShortError("H.263+ extra picture header overruns the payload")
        body = payload[pos:]
        return PSC_PREFIX + body if b0 & RFC4629_P else body

    def is_partition_head(self, payload: bytes) -> bool:
        return len(payload) >= 3 and bool(payload[0] & RFC4629_P) and payload[2] & 0xFC == 0x80

    def is_partition_tail(self, marker: bool, payload: bytes) -> bool:
        return marker

    def depacketize(self, payload: bytes) -> bytes:
        return self._body(payload)

    def assemble(self, payloads: list[bytes]) -> bytes:
        if not payloads:
            raise FragmentationError("H.263+ frame without packets")
        return b"".join(self._body(p) for p in payloads)

    def is_keyframe(self, payloads: list[bytes]) -> bool:
        try:
            frame = self._body(payloads[0]) if payloads else b""
        except PayloadShortError:
            return False
        return picture_is_intra(frame)


def picture_is_intra(frame: bytes) -> bool:
    """Read the picture coding type from an H.263 (or H.263+ PLUSPTYPE) picture header."""
    info = parse_picture_header(frame)
    return info is not None and info[1]


def parse_picture_header(frame: bytes) -> tuple[int, bool] | None:
    """(source format, intra) from a picture header at byte 0, or None if there is none."""
    if len(frame) < 6 or frame[:2] != PSC_PREFIX or frame[2] & PSC_THIRD_MASK != PSC_THIRD:
        return None
    bits = int.from_bytes(frame[:8].ljust(8, b"\x00"), "big")

    def field(start: int, width: int) -> int:
        return (bits >> (64 - start - width)) & ((1 << width) - 1)

    src = field(35, 3)
    if src != SOURCE_FORMAT_EXTENDED:
        return src, field(38, 1) == 0
    # PLUSPTYPE: UFEP(3) then, if UFEP == 1, 18 bits of OPPTYPE, then MPPTYPE picture type(3)
    ufep = field(38, 3)
    ptype_at = 41 + (18 if ufep == 1 else 0)
    if ptype_at + 3 > 64:
        return None
    return src, field(ptype_at, 3) == 0


class H263Rfc2190Payloader:
    """RFC 2190 mode A: 4-byte header, packets start at picture or GOB boundaries."""

    def payload(self, mtu: int, frame: bytes) -> list[bytes]:
        limit = mtu - RFC2190_MODE_A_SIZE
        if limit <= 0:
            raise ValueError(f"MTU {mtu} is too small for H.263")
        info = parse_picture_header(frame)
        src, intra = info if info is not None else (0, False)
        # F=0 P=0 SBIT=0 EBIT=0 | SRC(3) I U S A | R(4) DBQ TRB | TR
        header = bytes((0, src << 5 | (0 if intra else 0x10), 0, 0))
        return [header + piece for piece, _ in _runs(frame, limit)]


class H263Rfc2190Depacketizer:
    """Accepts modes A, B and C; merges the partial bytes that SBIT/EBIT describe."""

    @staticmethod
    def _split(payload: bytes) -> tuple[int, int, bytes]:
        if len(payload) < RFC2190_MODE_A_SIZE:
            raise PayloadShortError("RFC 2190 payload shorter than its mode A header")
        b0 = payload[0]
        if not b0 & RFC2190_F:
            size = RFC2190_MODE_A_SIZE
        elif not b0 & RFC2190_P:
            size = RFC2190_MODE_B_SIZE
        else:
            size = RFC2190_MODE_C_SIZE
        if len(payload) <= size:
            raise PayloadShortError(f"RFC 2190 payload has a {size}-byte header and no data")
        return (b0 >> 3) & 7, b0 & 7, payload[size:]

    def is_partition_head(self, payload: bytes) -> bool:
        try:
            sbit, _, body = self._split(payload)
        except PayloadShortError:
            return False
        return sbit == 0 and len(body) > 2 and body[:2] == PSC_PREFIX and body[2] & 0xFC == 0x80

    def is_partition_tail(self, marker: bool, payload: bytes) -> bool:
        return marker

    def assemble(self, payloads: list[bytes]) -> bytes:
        if not payloads:
            raise FragmentationError("H.263 frame without packets")
        out = bytearray()
        prev_ebit = 0
        for payload in payloads:
            sbit, ebit, body = self._split(payload)
            if (sbit + prev_ebit) % 8:
                raise FragmentationError(f"SBIT {sbit} does not complete EBIT {prev_ebit}")
            if sbit and out:
                keep = 0xFF << prev_ebit & 0xFF  # the 8 - EBIT valid bits of the previous byte
                out[-1] = (out[-1] & keep) | (body[0] & (0xFF >> sbit))
                body = body[1:]
            elif sbit:
                raise FragmentationError("frame starts in the middle of a byte")
            out += body
            prev_ebit = ebit
        if prev_ebit:
            out[-1] &= 0xFF << prev_ebit & 0xFF
        return bytes(out)

    def is_keyframe(self, payloads: list[bytes]) -> bool:
        if not payloads:
            return False
        try:
            return picture_is_intra(self._split(payloads[0])[2])
        except PayloadShortError:
            return False


def check_mode_a(payload: bytes) -> None:
    """Raise if a payload is not mode A (some legacy terminals only decode mode A)."""
    if len(payload) < RFC2190_MODE_A_SIZE:
        raise PayloadShortError("RFC 2190 payload shorter than its mode A header")
    if payload[0] & RFC2190_F:
        raise PayloadUnsupportedError("RFC 2190 mode B/C packet where mode A was expected")
