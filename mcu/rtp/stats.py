"""Per-stream receive statistics (RFC 3550 A.1, A.3, A.8) and the RTCP interval (6.2, A.7)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from mcu.rtp.rtcp import ReportBlock, ntp_from_unix, ntp_middle32

RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2

RTCP_MIN_TIME = 5.0
RTCP_SENDER_BW_FRACTION = 0.25
RTCP_RCVR_BW_FRACTION = 1 - RTCP_SENDER_BW_FRACTION
COMPENSATION = 2.71828 - 1.5  # e - 3/2, A.7 timer reconsideration
REDUCED_MIN_PER_KBPS = 360.0  # 6.2: reduced minimum = 360 / session bandwidth in kbit/s


class ReceiveStatistics:
    """Sequence validation, loss and jitter of one incoming SSRC. __slots__ for the hot path."""

    __slots__ = (
        "bad_seq",
        "base_seq",
        "clock_rate",
        "cycles",
        "expected_prior",
        "jitter_q4",
        "last_sr_arrival",
        "last_sr_ntp_middle",
        "max_seq",
        "octets",
        "packets",
        "probation",
        "received",
        "received_prior",
        "ssrc",
        "started",
        "transit",
        "valid",
    )

    def __init__(self, ssrc: int, clock_rate: int) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = RTP_SEQ_MOD + 1
        self.probation = MIN_SEQUENTIAL
        self.received = 0  # valid packets counted for loss (A.1)
        self.expected_prior = 0
        self.received_prior = 0
        self.transit: int | None = None
        self.jitter_q4 = 0  # jitter * 16, integer arithmetic of A.8
        self.packets = 0  # every packet seen, valid or not
        self.octets = 0  # payload octets
        self.valid = False
        self.started = False
        self.last_sr_ntp_middle = 0
        self.last_sr_arrival: float | None = None

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update(self, seq: int, rtp_timestamp: int, payload_len: int, now: float) -> bool:
        """Account one packet; False if it failed sequence validation (probation or jump)."""
        self.packets += 1
        self.octets += payload_len
        if not self._update_seq(seq):
            return False
        arrival = int(now * self.clock_rate)
        transit = (arrival - rtp_timestamp) & 0xFFFFFFFF
        if self.transit is not None:
            d = (transit - self.transit) & 0xFFFFFFFF  # modular: survives timestamp wrap
            if d > 0x7FFFFFFF:
                d = 0x100000000 - d
            self.jitter_q4 += d - ((self.jitter_q4 + 8) >> 4)
        self.transit = transit
        return True

    def _update_seq(self, seq: int) -> bool:
        if not self.started:
            self.started = True
            self._init_seq(seq)
            self.max_seq = (seq - 1) & 0xFFFF
            self.probation = MIN_SEQUENTIAL
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            # A.1: a source is valid after MIN_SEQUENTIAL packets in sequence
            if udelta == 1:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    self.valid = True
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:
                self._init_seq(seq)  # the sender restarted: resync
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: duplicate or reordered packet, counted
        self.received += 1
        return True

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1 if self.valid else 0

    @property
    def cumulative_lost(self) -> int:
        return self.expected - self.received

    @property
    def jitter(self) -> int:
        """Interarrival jitter in timestamp units (RFC 3550 A.8)."""
        return self.jitter_q4 >> 4

    def on_sender_report(self, ntp_timestamp: int, now: float) -> None:
        self.last_sr_ntp_middle = ntp_middle32(ntp_timestamp)
        self.last_sr_arrival = now

    def report_block(self, now: float) -> ReportBlock:
        """A report block for an SR/RR; resets the interval used for fraction lost (A.3)."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        dlsr = 0
        if self.last_sr_arrival is not None:
            dlsr = int((now - self.last_sr_arrival) * 65536)
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=min(fraction, 255),
            packets_lost=self.cumulative_lost,
            highest_sequence=self.extended_max & 0xFFFFFFFF,
            jitter=self.jitter,
            lsr=self.last_sr_ntp_middle,
            dlsr=dlsr,
        )


def round_trip_time(block: ReportBlock, now: float) -> float | None:
    """RTT in seconds from a report block about our stream (RFC 3550 6.4.1), or None."""
    if block.lsr == 0:
        return None
    arrival = ntp_middle32(ntp_from_unix(now))
    rtt = (arrival - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt > 0x7FFFFFFF:
        return 0.0  # clock skew between our arrival and their DLSR: clamp
    return rtt / 65536.0


@dataclass(slots=True)
class RtcpIntervalParams:
    session_bandwidth: float  # bit/s of the RTP session (AS)
    reduced_minimum: bool = True  # RFC 3550 6.2 allows 360/kbps instead of 5 s
    rtcp_fraction: float = 0.05


def rtcp_interval(
    members: int,
    senders: int,
    we_sent: bool,
    avg_rtcp_size: float,
    initial: bool,
    params: RtcpIntervalParams,
    rng: random.Random | None = None,
) -> float:
    """The randomised RTCP transmission interval of RFC 3550 A.7, in seconds."""
    rtcp_bw = params.session_bandwidth * params.rtcp_fraction / 8.0  # octets/s
    min_time = RTCP_MIN_TIME
    if params.reduced_minimum and params.session_bandwidth > 0:
        min_time = min(min_time, REDUCED_MIN_PER_KBPS / (params.session_bandwidth / 1000.0))
    if initial:
        min_time /= 2
    n = members
    if 0 < senders <= members * RTCP_SENDER_BW_FRACTION:
        if we_sent:
            rtcp_bw *= RTCP_SENDER_BW_FRACTION
            n = senders
        else:
            rtcp_bw *= RTCP_RCVR_BW_FRACTION
            n -= senders
    t = avg_rtcp_size * n / rtcp_bw if rtcp_bw > 0 else min_time
    t = max(t, min_time)
    r = (rng or random).random()
    return t * (r + 0.5) / COMPENSATION


class RtcpScheduler:
    """Tells when the next compound report is due; call sent(now, size) after each one."""

    def __init__(self, params: RtcpIntervalParams, rng: random.Random | None = None) -> None:
        self.params = params
        self.rng = rng or random.Random()
        self.avg_rtcp_size = 100.0
        self.members = 2
        self.senders = 1
        self.we_sent = True
        self._initial = True
        self.next_time: float | None = None

    def due(self, now: float) -> bool:
        if self.next_time is None:
            self.next_time = now + self._interval()
        return now >= self.next_time

    def sent(self, now: float, size: int) -> None:
        self.avg_rtcp_size = size / 16.0 + self.avg_rtcp_size * 15.0 / 16.0  # A.7 smoothing
        self._initial = False
        self.next_time = now + self._interval()

    def _interval(self) -> float:
        return rtcp_interval(
            self.members,
            self.senders,
            self.we_sent,
            self.avg_rtcp_size,
            self._initial,
            self.params,
            self.rng,
        )
