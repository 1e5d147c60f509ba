# Types of the Cython extension mcu/_rtp.pyx (batched UDP I/O for the RTP plane).
RECV_BATCH_SIZE: int
SEND_BATCH_SIZE: int
MAX_DATAGRAM_SIZE: int

def pack_address(family: int, host: str, port: int) -> bytes: ...
def send_batch_to(fd: int, packets: list[bytes], destinations: list[bytes], start: int = 0) -> tuple[int, int]: ...
def send_to(fd: int, packet: bytes, destination: bytes) -> int: ...
def enable_arrival_times(fd: int) -> int: ...

class BatchReceiver:
    fd: int
    batches: int
    def __init__(self, fd: int) -> None: ...
    def receive(self, out: list[tuple[bytes, tuple[str, int]]], limit: int = 256,
                offloaded: dict[bytes, AudioInbound] | None = None, now: float = 0.0,
                times: list[float] | None = None) -> int: ...

from mcu._jitter import AudioJitterBuffer
from mcu.rtp.packet import RtpPacket
from mcu.rtp.rtcp import ReportBlock

def parse_rtp(data: bytes) -> RtpPacket: ...

class ReceiveStatistics:  # the C port of mcu.rtp.stats.ReceiveStatistics
    ssrc: int
    clock_rate: int
    max_seq: int
    cycles: int
    base_seq: int
    bad_seq: int
    probation: int
    received: int
    expected_prior: int
    received_prior: int
    jitter_q4: int
    packets: int
    octets: int
    last_sr_ntp_middle: int
    valid: bool
    started: bool
    transit: int | None
    last_sr_arrival: float | None
    def __init__(self, ssrc: int, clock_rate: int) -> None: ...
    def update(self, seq: int, rtp_timestamp: int, payload_len: int, now: float) -> bool: ...
    @property
    def extended_max(self) -> int: ...
    @property
    def expected(self) -> int: ...
    @property
    def cumulative_lost(self) -> int: ...
    @property
    def jitter(self) -> int: ...
    def on_sender_report(self, ntp_timestamp: int, now: float) -> None: ...
    def report_block(self, now: float) -> ReportBlock: ...

class AudioInbound:
    payload_type: int
    jitter: AudioJitterBuffer
    counters: object  # the transport's TransportCounters while offloaded, else None
    last_arrival: float
    taken: int
    active: bool
    def __init__(self, payload_type: int, jitter: AudioJitterBuffer, statistics: dict[int, object],
                 clock_rate: int) -> None: ...
    def take(self, data: bytes, now: float) -> bool: ...

class OutboundStream:  # the C port of mcu.rtp.session.OutboundStream
    ssrc: int
    payload_type: int
    clock_rate: int
    sequence: int
    last_timestamp: int
    packet_count: int
    octet_count: int
    retransmitted: int
    def __init__(self, ssrc: int, payload_type: int, clock_rate: int, sequence_start: int | None = None,
                 timestamp_start: int | None = None, rng: object = None, history: int = 0) -> None: ...
    @property
    def last_send_time(self) -> float | None: ...
    def timestamp_for(self, media_timestamp: int) -> int: ...
    def switch_source(self, now: float) -> None: ...
    def packetize(self, payload: bytes, media_timestamp: int, now: float, marker: bool = False,
                  extensions: list[object] | None = None) -> bytes: ...
    def retransmit(self, sequence_numbers: list[int], now: float) -> list[bytes]: ...
    def sender_report(self, now: float, reports: list[object] | None = None) -> object: ...
