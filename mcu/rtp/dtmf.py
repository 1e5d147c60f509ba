"""RFC 4733 telephone-event: parse/build, a receiver that reports each event once, a sender."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mcu.rtp.errors import PayloadShortError

EVENT_SIZE = 4
EVENT_END = 0x80
DTMF_EVENTS = "0123456789*#ABCD"
EVENT_FLASH = 16
END_RETRANSMISSIONS = 3  # RFC 4733 2.5.1.4
DEFAULT_UPDATE_INTERVAL = 0.05  # s between updates of a long event
DEFAULT_EVENT_TIMEOUT = 1.0  # s without updates before an unfinished event is closed


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int  # 0..63, -dBm0
    duration: int  # timestamp units

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < EVENT_SIZE:
            raise PayloadShortError(f"telephone-event needs 4 bytes, has {len(payload)}")
        event, flags, duration = struct.unpack_from("!BBH", payload, 0)
        return cls(event, bool(flags & EVENT_END), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        flags = (EVENT_END if self.end else 0) | (self.volume & 0x3F)
        return struct.pack("!BBH", self.event, flags, min(self.duration, 0xFFFF))


def event_name(event: int) -> str:
    if event < len(DTMF_EVENTS):
        return DTMF_EVENTS[event]
    return "flash" if event == EVENT_FLASH else f"event-{event}"


@dataclass(frozen=True, slots=True)
class DtmfBegin:
    digit: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class DtmfEnd:
    digit: str
    timestamp: int
    duration: int  # timestamp units
    end_seen: bool  # False when closed by timeout (all end packets lost)


DtmfEvent = DtmfBegin | DtmfEnd


class DtmfReceiver:
    """Feed telephone-event packets; each event (keyed by its RTP timestamp) begins and ends
    once, whatever the number of updates and retransmitted end packets."""

    def __init__(self, timeout: float = DEFAULT_EVENT_TIMEOUT, history: int = 16) -> None:
        self.timeout = timeout
        self._history = history
        self._finished: list[int] = []  # timestamps of recently ended events
        self._current: tuple[int, int, int] | None = None  # (timestamp, event, duration)
        self._last_update = 0.0
        self.duplicates = 0

    def receive(self, timestamp: int, payload: bytes, now: float) -> list[DtmfEvent]:
        ev = TelephoneEvent.parse(payload)
        if timestamp in self._finished:
            self.duplicates += 1
            return []
        out: list[DtmfEvent] = []
        if self._current is not None and self._current[0] != timestamp:
            out.extend(self._close(end_seen=False))
        if self._current is None:
            self._current = (timestamp, ev.event, ev.duration)
            out.append(DtmfBegin(event_name(ev.event), timestamp))
        else:
            self._current = (timestamp, ev.event, max(self._current[2], ev.duration))
        self._last_update = now
        if ev.end:
            out.extend(self._close(end_seen=True))
        return out

    def handle_timer(self, now: float) -> list[DtmfEvent]:
        if self._current is not None and now - self._last_update >= self.timeout:
            return self._close(end_seen=False)
        return []

    def _close(self, end_seen: bool) -> list[DtmfEvent]:
        assert self._current is not None
        ts, event, duration = self._current
        self._current = None
        self._finished.append(ts)
        del self._finished[: -self._history]
        return [DtmfEnd(event_name(event), ts, duration, end_seen)]


@dataclass(frozen=True, slots=True)
class DtmfPacket:
    """What the sender wants on the wire: payload and the RTP fields that go with it."""

    payload: bytes
    timestamp_offset: int  # all packets of one event share the event's start timestamp
    marker: bool


def dtmf_packets(
    digit: str,
    duration: float,
    clock_rate: int = 8000,
    volume: int = 10,
    interval: float = DEFAULT_UPDATE_INTERVAL,
) -> list[DtmfPacket]:
    """Packets for one digit: the first with marker, updates every `interval`, the end three
    times. The caller sends them `interval` apart with the same RTP timestamp."""
    event = DTMF_EVENTS.index(digit.upper()) if digit != "flash" else EVENT_FLASH
    total = int(duration * clock_rate)
    step = int(interval * clock_rate)
    out: list[DtmfPacket] = []
    dur = step
    while dur < total:
        out.append(DtmfPacket(TelephoneEvent(event, False, volume, dur).serialize(), 0, not out))
        dur += step
    end = TelephoneEvent(event, True, volume, total).serialize()
    first_is_end = not out
    for i in range(END_RETRANSMISSIONS):
        out.append(DtmfPacket(end, 0, first_is_end and i == 0))
    return out
