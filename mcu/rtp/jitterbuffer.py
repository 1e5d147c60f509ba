"""Audio and video jitter buffers. Sans-I/O: every call takes `now` in seconds.

Audio: packets go in with put(); the mixer calls pop() once per frame tick and gets a frame,
a lost marker (the decoder conceals) or None (nothing to play: not started, or the sender
is silent). The playout delay follows measured jitter within [min_delay, max_delay].

Video: push() returns events: FrameReady (a complete, decodable frame), NackRequest,
KeyframeRequest, FrameDropped. Incomplete frames are never handed on; after an unrecovered
loss, frames are dropped until a keyframe arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcu.rtp.errors import PayloadParseError
from mcu.rtp.packet import RtpPacket
from mcu.rtp.payload import Depacketizer
from mcu.rtp.sequence import Unwrapper

# ---------------------------------------------------------------- audio

DEFAULT_FRAME_DURATION = 0.02
DEFAULT_MIN_DELAY = 0.02
DEFAULT_MAX_DELAY = 0.2
JITTER_MULTIPLIER = 3.0  # target = frame + k * jitter covers most of the delay spread
MAX_CONSECUTIVE_LOST = 10  # after this many lost ticks with an empty buffer, stop and rebuffer
RESET_SEQUENCE_JUMP = 1000  # a jump this large (seq) is treated as a restarted stream


@dataclass(slots=True)
class AudioFrame:
    """One playout slot. `lost` True means: conceal (payload is empty). `inserted` marks a
    concealment slot added to grow the delay; it does not consume a sequence number."""

    sequence: int  # extended
    timestamp: int
    payload: bytes
    lost: bool = False
    inserted: bool = False


@dataclass(slots=True)
class AudioJitterStats:
    received: int = 0
    played: int = 0
    lost: int = 0  # concealed slots
    late: int = 0  # arrived after their slot
    inserted: int = 0  # concealment slots added to grow the delay
    duplicates: int = 0
    dropped: int = 0  # discarded to shrink the delay or because the buffer was full
    resets: int = 0  # SSRC change or sequence jump


class AudioJitterBuffer:
    def __init__(
        self,
        clock_rate: int = 8000,
        frame_duration: float = DEFAULT_FRAME_DURATION,
        min_delay: float = DEFAULT_MIN_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
    ) -> None:
        if not 0 <= min_delay <= max_delay:
            raise ValueError("need 0 <= min_delay <= max_delay")
        self.clock_rate = clock_rate
        self.frame_duration = frame_duration
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.stats = AudioJitterStats()
        self._capacity = max(2, round(max_delay / frame_duration) * 2)
        self._reset(None)

    def _reset(self, ssrc: int | None) -> None:
        self._ssrc = ssrc
        self._seq = Unwrapper(16)
        self._packets: dict[int, tuple[int, bytes]] = {}
        self._next: int | None = None  # extended seq of the next slot once playing
        self._first_arrival = 0.0
        self._empty_lost = 0
        self._grow = False
        self._jitter = 0.0  # seconds, RFC 3550 A.8 smoothing
        self._transit: float | None = None
        self._timestamps = Unwrapper(32)

    @property
    def jitter(self) -> float:
        return self._jitter

    @property
    def target_delay(self) -> float:
        target = self.frame_duration + JITTER_MULTIPLIER * self._jitter
        return min(self.max_delay, max(self.min_delay, target))

    @property
    def depth(self) -> int:
        return len(self._packets)

    def put(self, packet: RtpPacket, now: float) -> None:
        self.put_raw(packet.ssrc, packet.sequence_number, packet.timestamp, packet.payload, now)

    def put_raw(self, ssrc: int, seq16: int, timestamp: int, payload: bytes, now: float) -> None:
        if ssrc != self._ssrc:
            if self._ssrc is not None:
                self.stats.resets += 1
            self._reset(ssrc)
        seq = self._seq.unwrap(seq16)
        nxt = self._next
        if nxt is not None and abs(seq - nxt) > RESET_SEQUENCE_JUMP:
            self.stats.resets += 1
            self._reset(ssrc)
            seq = self._seq.unwrap(seq16)
            nxt = None
        self.stats.received += 1
        # interarrival jitter in seconds (RFC 3550 A.8 with arrival in media units)
        ts = self._timestamps.unwrap(timestamp)
        transit = now - ts / self.clock_rate
        if self._transit is not None:
            d = abs(transit - self._transit)
            self._jitter += (d - self._jitter) / 16.0
        self._transit = transit
        if nxt is not None and seq < nxt:
            self.stats.late += 1
            self._grow = True  # the delay is too short for this network: add a slot
            return
        if seq in self._packets:
            self.stats.duplicates += 1
            return
        if not self._packets and nxt is None:
            self._first_arrival = now
        self._packets[seq] = (timestamp, payload)
        if len(self._packets) > self._capacity:
            oldest = min(self._packets)
            del self._packets[oldest]
            self.stats.dropped += 1
            if nxt is not None and oldest >= nxt:
                self._next = oldest + 1

    def pop(self, now: float) -> AudioFrame | None:
        packets = self._packets
        if self._next is None:
            if not packets or now - self._first_arrival < self.target_delay:
                return None
            self._next = min(packets)
            self._empty_lost = 0
        # Shrink when more is buffered than the target needs (jitter went down).
        buffered = len(packets) * self.frame_duration
        if buffered > self.target_delay + 2 * self.frame_duration and self._next in packets:
            del packets[self._next]
            self._next += 1
            self.stats.dropped += 1
        seq = self._next
        item = packets.pop(seq, None)
        if item is not None:
            self._next = seq + 1
            self._empty_lost = 0
            self.stats.played += 1
            return AudioFrame(seq, item[0], item[1])
        if not packets:
            self._empty_lost += 1
            if self._empty_lost > MAX_CONSECUTIVE_LOST:
                # The sender went quiet (hold, DTX): stop concealing and rebuffer later.
                self._next = None
                self._first_arrival = now
                return None
        # Late arrivals showed the delay is too short: hold this slot one tick longer.
        # (An underrun alone is not evidence: it may be loss, and growing would add delay.)
        if self._grow and buffered + self.frame_duration <= self.max_delay:
            self._grow = False
            self.stats.inserted += 1
            return AudioFrame(seq, 0, b"", lost=True, inserted=True)
        self._next = seq + 1
        self.stats.lost += 1
        return AudioFrame(seq, 0, b"", lost=True)


# ---------------------------------------------------------------- video

DEFAULT_NACK_WAIT = 0.15  # s a hole may stay open (NACKs outstanding) before giving up
DEFAULT_MAX_PACKETS = 2000
NACK_RETRY_INTERVAL = 0.05
MAX_NACK_RETRIES = 3
KEYFRAME_REQUEST_INTERVAL = 0.5  # s, do not storm the sender


@dataclass(frozen=True, slots=True)
class FrameReady:
    frame: bytes
    timestamp: int
    keyframe: bool
    first_sequence: int
    last_sequence: int


@dataclass(frozen=True, slots=True)
class NackRequest:
    ssrc: int
    sequence_numbers: list[int]  # 16-bit, for an RTCP NACK


@dataclass(frozen=True, slots=True)
class KeyframeRequest:
    ssrc: int
    reason: str


@dataclass(frozen=True, slots=True)
class FrameDropped:
    timestamp: int
    reason: str


VideoEvent = FrameReady | NackRequest | KeyframeRequest | FrameDropped


@dataclass(slots=True)
class VideoJitterStats:
    received: int = 0
    duplicates: int = 0
    late: int = 0
    frames: int = 0
    frames_dropped: int = 0
    nacks: int = 0
    keyframe_requests: int = 0
    resets: int = 0


@dataclass(slots=True)
class _Held:
    timestamp: int
    marker: bool
    payload: bytes
    head: bool


@dataclass(slots=True)
class _Hole:
    since: float
    last_nack: float
    retries: int = 0


class VideoJitterBuffer:
    """Assemble frames by timestamp and marker; detect loss; never emit incomplete frames."""

    def __init__(
        self,
        depacketizer: Depacketizer,
        nack: bool = True,
        nack_wait: float = DEFAULT_NACK_WAIT,
        max_packets: int = DEFAULT_MAX_PACKETS,
        keyframe_interval: float = KEYFRAME_REQUEST_INTERVAL,
    ) -> None:
        self.depacketizer = depacketizer
        self.nack = nack
        self.nack_wait = nack_wait
        self.max_packets = max_packets
        self.keyframe_interval = keyframe_interval
        self.stats = VideoJitterStats()
        self._last_keyframe_request = -1e9
        self._reset(None)

    def _reset(self, ssrc: int | None) -> None:
        self._ssrc = ssrc
        self._seq = Unwrapper(16)
        self._packets: dict[int, _Held] = {}
        self._next: int | None = None  # first seq of the next frame, once known
        self._holes: dict[int, _Hole] = {}
        self._need_keyframe = True
        self._highest: int | None = None
        self._tail: tuple[int, bool, int] | None = None  # (seq, ends frame, ts) last discarded

    def push(self, packet: RtpPacket, now: float) -> list[VideoEvent]:
        events: list[VideoEvent] = []
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                self.stats.resets += 1
            self._reset(packet.ssrc)
        seq = self._seq.unwrap(packet.sequence_number)
        if self._highest is not None and abs(seq - self._highest) > RESET_SEQUENCE_JUMP:
            self.stats.resets += 1
            self._reset(packet.ssrc)
            seq = self._seq.unwrap(packet.sequence_number)
        self.stats.received += 1
        if self._next is not None and seq < self._next:
            self.stats.late += 1
            return events
        if seq in self._packets:
            self.stats.duplicates += 1
            return events
        self._packets[seq] = _Held(
            packet.timestamp,
            packet.marker,
            packet.payload,
            self.depacketizer.is_partition_head(packet.payload),
        )
        self._holes.pop(seq, None)
        if self._highest is None or seq > self._highest:
            if self._highest is not None:
                for missing in range(self._highest + 1, seq):
                    self._holes[missing] = _Hole(now, -1e9)
            self._highest = seq
        events.extend(self._drain(now))
        events.extend(self.handle_timer(now))
        return events

    def handle_timer(self, now: float) -> list[VideoEvent]:
        events: list[VideoEvent] = []
        if self.nack and self._holes:
            due = [
                s for s, h in self._holes.items()
                if h.retries < MAX_NACK_RETRIES and now - h.last_nack >= NACK_RETRY_INTERVAL
            ]
            if due:
                for s in due:
                    hole = self._holes[s]
                    hole.retries += 1
                    hole.last_nack = now
                self.stats.nacks += 1
                assert self._ssrc is not None
                events.append(NackRequest(self._ssrc, [s & 0xFFFF for s in sorted(due)]))
        oldest = min(self._holes.values(), key=lambda h: h.since, default=None)
        if (oldest is not None and now - oldest.since >= self.nack_wait) or (
            len(self._packets) > self.max_packets
        ):
            events.extend(self._give_up(now))
            events.extend(self._drain(now))
        return events

    def _keyframe_request(self, now: float, reason: str) -> list[VideoEvent]:
        if now - self._last_keyframe_request < self.keyframe_interval or self._ssrc is None:
            return []
        self._last_keyframe_request = now
        self.stats.keyframe_requests += 1
        return [KeyframeRequest(self._ssrc, reason)]

    def _drop(self, timestamp: int, reason: str) -> FrameDropped:
        self.stats.frames_dropped += 1
        return FrameDropped(timestamp, reason)

    def _is_frame_start(self, seq: int) -> bool:
        """A head whose predecessor is known to end a frame. With nothing known before it,
        only trusted at stream start (no packet discarded yet)."""
        p = self._packets[seq]
        if not p.head:
            return False
        prev = self._packets.get(seq - 1)
        if prev is not None:
            return prev.marker or prev.timestamp != p.timestamp
        if self._tail is not None:
            tail_seq, tail_end, tail_ts = self._tail
            if tail_seq == seq - 1:
                return tail_end or tail_ts != p.timestamp
            return False
        return True

    def _give_up(self, now: float) -> list[VideoEvent]:
        """Skip past the first hole: drop what depends on it, resync on a known frame start."""
        events: list[VideoEvent] = []
        packets = self._packets
        first_hole = min(self._holes) if self._holes else max(packets, default=0) + 1
        resume = None
        for s in sorted(packets):
            if s > first_hole and self._is_frame_start(s):
                resume = s
                break
        limit = resume if resume is not None else max(packets, default=first_hole) + 1
        dropped_ts: list[int] = []
        for s in sorted(packets):
            if s < limit:
                held = packets.pop(s)
                self._tail = (s, held.marker, held.timestamp)
                if not dropped_ts or dropped_ts[-1] != held.timestamp:
                    dropped_ts.append(held.timestamp)
        if self._tail is None:
            self._tail = (first_hole, False, -1)  # nothing known: never trust a bare head
        for s in [s for s in self._holes if s < limit]:
            del self._holes[s]
        events.extend(self._drop(ts, "packet lost") for ts in dropped_ts)
        if not dropped_ts:
            events.append(self._drop(-1, "packet lost"))
        self._next = resume
        self._need_keyframe = True
        events.extend(self._keyframe_request(now, "packet lost"))
        return events

    def _drain(self, now: float) -> list[VideoEvent]:
        events: list[VideoEvent] = []
        packets = self._packets
        while True:
            start = self._next
            if start is None:
                # Waiting for a frame start: drop anything older than the earliest one.
                heads = [s for s in packets if self._is_frame_start(s)]
                if not heads:
                    return events
                start = min(heads)
                if any(h < start for h in self._holes):
                    return events  # a missing older packet may still complete a frame
                orphans = sorted(s for s in packets if s < start)
                if orphans:  # tail of a frame whose start we never saw
                    events.append(self._drop(packets[orphans[0]].timestamp, "no frame start"))
                    for s in orphans:
                        held = packets.pop(s)
                        self._tail = (s, held.marker, held.timestamp)
                self._next = start
            first = packets.get(start)
            if first is None:
                return events
            ts = first.timestamp
            seq = start
            payloads = []
            while True:
                p = packets.get(seq)
                if p is None:
                    return events  # incomplete: wait for the hole, or give up later
                if p.timestamp != ts:
                    seq -= 1  # timestamp changed without a marker: frame ended before
                    break
                payloads.append(p.payload)
                if self.depacketizer.is_partition_tail(p.marker, p.payload):
                    break
                seq += 1
            last = seq
            for s in range(start, last + 1):
                del packets[s]
            self._next = last + 1
            events.extend(self._emit(payloads, ts, start, last, now))

    def _emit(
        self, payloads: list[bytes], ts: int, start: int, last: int, now: float
    ) -> list[VideoEvent]:
        keyframe = self.depacketizer.is_keyframe(payloads)
        if self._need_keyframe and not keyframe:
            return [self._drop(ts, "waiting for keyframe"), *self._keyframe_request(now, "no keyframe")]
        try:
            frame = self.depacketizer.assemble(payloads)
        except PayloadParseError as exc:
            self._need_keyframe = True
            return [self._drop(ts, f"bad payload: {exc.reason}"), *self._keyframe_request(now, "bad payload")]
        self._need_keyframe = False
        self.stats.frames += 1
        return [FrameReady(frame, ts, keyframe, start & 0xFFFF, last & 0xFFFF)]


__all__ = [
    "AudioFrame",
    "AudioJitterBuffer",
    "AudioJitterStats",
    "FrameDropped",
    "FrameReady",
    "KeyframeRequest",
    "NackRequest",
    "VideoEvent",
    "VideoJitterBuffer",
    "VideoJitterStats",
]
