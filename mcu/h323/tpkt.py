"""TPKT framing of H.225.0 call signalling and H.245 over TCP (RFC 1006 clause 6, as used by
H.225.0 clause 6: "TPKT encapsulation").

A TPKT is a 4-octet header: version (3), reserved (0), a 16-bit big-endian length that
counts the header too, then the payload. A TPKT of length 4 carries nothing: some endpoints
send it as a keep-alive, and it is skipped.
"""

from __future__ import annotations

from .errors import TpktBadLengthError, TpktBadVersionError, TpktTooLongError

TPKT_VERSION = 3
TPKT_RESERVED = 0
TPKT_HEADER_LENGTH = 4
TPKT_MAX_LENGTH = 0xFFFF
TPKT_MAX_PAYLOAD = TPKT_MAX_LENGTH - TPKT_HEADER_LENGTH


def encode_tpkt(payload: bytes) -> bytes:
    """One TPKT around `payload` (RFC 1006 clause 6); an empty payload gives a keep-alive."""
    if len(payload) > TPKT_MAX_PAYLOAD:
        raise TpktTooLongError(f"payload of {len(payload)} bytes does not fit a TPKT")
    length = len(payload) + TPKT_HEADER_LENGTH
    return bytes((TPKT_VERSION, TPKT_RESERVED, length >> 8, length & 0xFF)) + payload


class TpktFramer:
    """Cuts a TCP byte stream into TPKT payloads, whatever the read boundaries.

    `feed(data)` returns the complete payloads so far; a header split across reads waits for
    the rest. A bad version or a length below 4 raises a TpktError: the stream is out of step
    and the framer stays failed (the shell closes the connection).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._failed: TpktBadVersionError | TpktBadLengthError | None = None
        self.keepalives = 0

    @property
    def pending(self) -> int:
        """Bytes received that do not make a whole TPKT yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        out: list[bytes] = []
        while len(self._buffer) >= TPKT_HEADER_LENGTH:
            version = self._buffer[0]
            if version != TPKT_VERSION:
                self._failed = TpktBadVersionError(
                    f"TPKT version {version}, expected {TPKT_VERSION}: not H.323 on this port?"
                )
                raise self._failed
            length = (self._buffer[2] << 8) | self._buffer[3]
            if length < TPKT_HEADER_LENGTH:
                self._failed = TpktBadLengthError(f"TPKT length {length} is below the header")
                raise self._failed
            if len(self._buffer) < length:
                break
            payload = bytes(self._buffer[TPKT_HEADER_LENGTH:length])
            del self._buffer[:length]
            if payload:
                out.append(payload)
            else:
                self.keepalives += 1
        return out
