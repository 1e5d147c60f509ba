# cython: language_level=3, boundscheck=False, wraparound=False
"""The RTP plane in C: recvmmsg(2)/sendmmsg(2) on non-blocking sockets, header parse, statistics.

The asyncio datagram path costs one event-loop callback (and one `recvfrom`) per packet and one
`sendto` per packet sent. Here a readable socket is drained in batches of up to RECV_BATCH
datagrams per system call, and the packets of one video frame go to a viewer in one system call.

Addresses: a destination is given as its packed `struct sockaddr` (`pack_address`, computed once
when the remote changes, never per packet); a source comes back as a (host, port) tuple, reused
while consecutive datagrams come from the same address (they nearly always do on a per-call
port), so no string is formatted per packet.

Audio packets in C: a source a transport has latched can be offloaded to an AudioInbound (the
member's RFC 3550 statistics and jitter buffer), which `BatchReceiver.receive` hands its packets
to without making a Python object of them; what it declines comes back as datagrams.

Errors never raise per packet: ``BatchReceiver.receive` returns the errno that stopped it (0 for "nothing more to read");
`send_batch_to` returns where it stopped and the errno there (0 if all went out). The caller counts them against the member.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from libc.stdint cimport int64_t
from libc.string cimport memcmp, memcpy, memset

from mcu._jitter cimport AudioJitterBuffer

import socket as _socket


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    struct sockaddr:
        unsigned short sa_family
    struct sockaddr_storage:
        unsigned short ss_family
    struct iovec:
        void *iov_base
        size_t iov_len
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    int recvmmsg(int fd, mmsghdr *msgvec, unsigned int vlen, int flags, void *timeout)
    int sendmmsg(int fd, mmsghdr *msgvec, unsigned int vlen, int flags)
    long sendto(int fd, const void *buf, size_t len, int flags, const sockaddr *dest, socklen_t dlen)
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    cmsghdr *CMSG_FIRSTHDR(msghdr *message)
    cmsghdr *CMSG_NXTHDR(msghdr *message, cmsghdr *header)
    unsigned char *CMSG_DATA(cmsghdr *header)
    int setsockopt(int fd, int level, int name, const void *value, socklen_t length)
    int AF_INET
    int AF_INET6
    int MSG_DONTWAIT
    int SOL_SOCKET
    int SO_TIMESTAMPNS
    int SCM_TIMESTAMPNS

cdef extern from "<time.h>" nogil:
    struct timespec:
        long tv_sec
        long tv_nsec
    int clock_gettime(int clock, timespec *now)
    int CLOCK_REALTIME

cdef extern from "<netinet/in.h>" nogil:
    struct in_addr:
        unsigned int s_addr
    struct sockaddr_in:
        unsigned short sin_family
        unsigned short sin_port
        in_addr sin_addr
    struct in6_addr:
        unsigned char s6_addr[16]
    struct sockaddr_in6:
        unsigned short sin6_family
        unsigned short sin6_port
        in6_addr sin6_addr
    unsigned short ntohs(unsigned short)

cdef extern from "<arpa/inet.h>" nogil:
    const char *inet_ntop(int af, const void *src, char *dst, socklen_t size)

cdef enum:
    RECV_BATCH = 32          # datagrams per recvmmsg call
    SEND_BATCH = 64          # datagrams per sendmmsg call (a 1080p keyframe takes a few calls)
    MAX_DATAGRAM = 2048      # larger than any RTP packet we accept (MTU-sized, SRTP tag included)
    ADDRESS_TEXT = 64
    CONTROL_SPACE = 64       # room for one SCM_TIMESTAMPNS control message (32 bytes on x86_64)

RECV_BATCH_SIZE = RECV_BATCH
SEND_BATCH_SIZE = SEND_BATCH
MAX_DATAGRAM_SIZE = MAX_DATAGRAM


def pack_address(int family, str host, int port):
    """The packed `struct sockaddr` of an IP literal of `family`, for `send_batch_to` and `send_to`
    (ValueError/OSError if `host` is not one)."""
    cdef sockaddr_in v4
    cdef sockaddr_in6 v6
    raw = _socket.inet_pton(family, host)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    if family == AF_INET:
        memset(&v4, 0, sizeof(v4))
        v4.sin_family = AF_INET
        v4.sin_port = ((port & 0xFF) << 8) | (port >> 8)
        memcpy(&v4.sin_addr, PyBytes_AS_STRING(raw), 4)
        return PyBytes_FromStringAndSize(<char *>&v4, sizeof(v4))
    memset(&v6, 0, sizeof(v6))
    v6.sin6_family = AF_INET6
    v6.sin6_port = ((port & 0xFF) << 8) | (port >> 8)
    memcpy(&v6.sin6_addr, PyBytes_AS_STRING(raw), 16)
    return PyBytes_FromStringAndSize(<char *>&v6, sizeof(v6))


def enable_arrival_times(int fd):
    """Have the kernel stamp each datagram's arrival (SO_TIMESTAMPNS), for `receive(times=...)`
    on a socket read long after its packets came; returns 0 or the errno."""
    cdef int on = 1
    if setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0:
        return errno
    return 0


cdef double _realtime() noexcept nogil:
    cdef timespec now
    clock_gettime(CLOCK_REALTIME, &now)
    return now.tv_sec + now.tv_nsec * 1e-9


cdef double _arrival(msghdr *message, double now, double realtime) noexcept nogil:
    """When the datagram came, on the caller's clock: `now` minus its age by the kernel's
    stamp (CLOCK_REALTIME), or `now` itself without a usable stamp."""
    cdef cmsghdr *header = CMSG_FIRSTHDR(message)
    cdef timespec *stamp
    cdef double age
    while header != NULL:
        if header.cmsg_level == SOL_SOCKET and header.cmsg_type == SCM_TIMESTAMPNS:
            stamp = <timespec *>CMSG_DATA(header)
            age = realtime - (stamp.tv_sec + stamp.tv_nsec * 1e-9)
            if 0.0 <= age < 60.0:  # a clock step makes a stamp meaningless: keep `now`
                return now - age
            return now
        header = CMSG_NXTHDR(message, header)
    return now


cdef object _address_tuple(sockaddr_storage *address):
    cdef char text[ADDRESS_TEXT]
    cdef sockaddr_in *v4
    cdef sockaddr_in6 *v6
    if address.ss_family == AF_INET:
        v4 = <sockaddr_in *>address
        inet_ntop(AF_INET, &v4.sin_addr, text, ADDRESS_TEXT)
        return (text.decode("ascii"), ntohs(v4.sin_port))
    if address.ss_family == AF_INET6:
        v6 = <sockaddr_in6 *>address
        inet_ntop(AF_INET6, &v6.sin6_addr, text, ADDRESS_TEXT)
        return (text.decode("ascii"), ntohs(v6.sin6_port))
    return ("", 0)


cdef bytes _source_key(sockaddr_storage *address):
    """A source as the bytes `pack_address` makes of it: family, port and address only (the
    flow label and scope a kernel may fill in are not part of who sent it)."""
    cdef sockaddr_in v4
    cdef sockaddr_in6 v6
    if address.ss_family == AF_INET:
        memset(&v4, 0, sizeof(v4))
        v4.sin_family = AF_INET
        v4.sin_port = (<sockaddr_in *>address).sin_port
        v4.sin_addr = (<sockaddr_in *>address).sin_addr
        return PyBytes_FromStringAndSize(<char *>&v4, sizeof(v4))
    memset(&v6, 0, sizeof(v6))
    v6.sin6_family = AF_INET6
    v6.sin6_port = (<sockaddr_in6 *>address).sin6_port
    v6.sin6_addr = (<sockaddr_in6 *>address).sin6_addr
    return PyBytes_FromStringAndSize(<char *>&v6, sizeof(v6))


cdef class BatchReceiver:
    """recvmmsg buffers for one socket; `receive()` drains it a batch at a time."""

    cdef mmsghdr messages[RECV_BATCH]
    cdef iovec vectors[RECV_BATCH]
    cdef sockaddr_storage names[RECV_BATCH]
    cdef char buffers[RECV_BATCH][MAX_DATAGRAM]
    cdef char controls[RECV_BATCH][CONTROL_SPACE]
    cdef sockaddr_storage last_name
    cdef socklen_t last_length
    cdef object last_address
    cdef readonly int fd
    cdef readonly long long batches

    def __cinit__(self, int fd):
        cdef int i
        self.fd = fd
        self.last_length = 0
        self.last_address = None
        self.batches = 0
        for i in range(RECV_BATCH):
            self.vectors[i].iov_base = self.buffers[i]
            self.vectors[i].iov_len = MAX_DATAGRAM

    def receive(self, list out, int limit=256, dict offloaded=None, double now=0.0, list times=None):
        """Append (datagram, (host, port)) of up to `limit` waiting datagrams to `out`; returns
        0 when the socket is drained, else the errno that stopped the read (e.g. ECONNREFUSED
        after an ICMP port unreachable), which the caller counts.

        `offloaded` maps a source's `source_key` to the AudioInbound that takes its packets in C
        (arrived at `now`); what it declines is appended to `out` like the rest.

        `times` (a socket with `enable_arrival_times`): each datagram's arrival on the clock of
        `now` is taken from the kernel's stamp, given to the AudioInbound, and appended to `times`
        for each datagram appended to `out`."""
        cdef int i, got, error = 0
        cdef PyObject *sink
        cdef bint offloading = offloaded is not None and len(offloaded) > 0
        cdef bint stamped = times is not None
        cdef int wanted
        cdef mmsghdr *m
        cdef int total = 0
        cdef double realtime = 0.0, arrival = now
        while total < limit:
            wanted = min(RECV_BATCH, limit - total)
            for i in range(wanted):
                m = &self.messages[i]
                m.msg_hdr.msg_name = &self.names[i]
                m.msg_hdr.msg_namelen = sizeof(sockaddr_storage)
                m.msg_hdr.msg_iov = &self.vectors[i]
                m.msg_hdr.msg_iovlen = 1
                if stamped:
                    m.msg_hdr.msg_control = self.controls[i]
                    m.msg_hdr.msg_controllen = CONTROL_SPACE
                else:
                    m.msg_hdr.msg_control = NULL
                    m.msg_hdr.msg_controllen = 0
                m.msg_hdr.msg_flags = 0
                m.msg_len = 0
            with nogil:
                got = recvmmsg(self.fd, self.messages, wanted, MSG_DONTWAIT, NULL)
                if stamped:
                    realtime = _realtime()
            if got < 0:
                error = errno
                if error == EAGAIN:  # EWOULDBLOCK is the same value on Linux
                    return 0
                if error == EINTR:
                    continue
                return error
            self.batches += 1
            for i in range(got):
                m = &self.messages[i]
                if stamped:
                    arrival = _arrival(&m.msg_hdr, now, realtime)
                if offloading:
                    sink = PyDict_GetItem(offloaded, _source_key(&self.names[i]))
                    if sink != NULL and (<AudioInbound>sink)._take(
                            <const unsigned char *>self.buffers[i], m.msg_len, arrival):
                        continue
                out.append((PyBytes_FromStringAndSize(self.buffers[i], m.msg_len),
                            self._source(&self.names[i], m.msg_hdr.msg_namelen)))
                if stamped:
                    times.append(arrival)
            total += got
            if got < wanted:
                return 0
        return 0

    cdef object _source(self, sockaddr_storage *name, socklen_t length):
        if self.last_address is not None and length == self.last_length and \
                memcmp(name, &self.last_name, length) == 0:
            return self.last_address
        memcpy(&self.last_name, name, length)
        self.last_length = length
        self.last_address = _address_tuple(name)
        return self.last_address


def send_batch_to(int fd, list packets, list destinations, Py_ssize_t start=0):
    """Send packets[i] to destinations[i] (packed) from `start` on, in sendmmsg calls of up to
    SEND_BATCH. Stops at the first datagram the kernel refuses: returns (index it stopped at,
    errno) there, or (len(packets), 0) when all went out; the caller counts it and goes on
    from index + 1."""
    cdef mmsghdr messages[SEND_BATCH]
    cdef iovec vectors[SEND_BATCH]
    cdef Py_ssize_t n = len(packets), i, count
    cdef int sent
    cdef bytes packet, name
    if len(destinations) != n:
        raise ValueError("one destination per packet")
    while start < n:
        count = min(SEND_BATCH, n - start)
        for i in range(count):
            packet = <bytes>packets[start + i]
            name = <bytes>destinations[start + i]
            vectors[i].iov_base = PyBytes_AS_STRING(packet)
            vectors[i].iov_len = <size_t>PyBytes_GET_SIZE(packet)
            messages[i].msg_hdr.msg_name = PyBytes_AS_STRING(name)
            messages[i].msg_hdr.msg_namelen = <socklen_t>PyBytes_GET_SIZE(name)
            messages[i].msg_hdr.msg_iov = &vectors[i]
            messages[i].msg_hdr.msg_iovlen = 1
            messages[i].msg_hdr.msg_control = NULL
            messages[i].msg_hdr.msg_controllen = 0
            messages[i].msg_hdr.msg_flags = 0
        with nogil:
            sent = sendmmsg(fd, messages, <unsigned int>count, MSG_DONTWAIT)
        if sent < 0:
            if errno == EINTR:
                continue
            return start, errno
        start += sent
        if sent < count:  # the kernel stopped at this one: ask it why
            with nogil:
                sent = sendmmsg(fd, &messages[sent], 1, MSG_DONTWAIT)
            if sent < 0:
                return start, errno
            start += sent
    return n, 0


def send_to(int fd, bytes packet, bytes destination):
    """sendto(2) of one datagram to the packed `destination`; 0 or the errno of the failure."""
    cdef long result
    cdef const char *data = PyBytes_AS_STRING(packet)
    cdef size_t length = <size_t>PyBytes_GET_SIZE(packet)
    cdef const char *name = PyBytes_AS_STRING(destination)
    cdef socklen_t name_length = <socklen_t>PyBytes_GET_SIZE(destination)
    while True:
        with nogil:
            result = sendto(fd, data, length, MSG_DONTWAIT, <const sockaddr *>name, name_length)
        if result >= 0:
            return 0
        if errno != EINTR:
            return errno


# ---------------------------------------------------------------- RTP header parse

from mcu.rtp.errors import RtpBadExtensionLengthError, RtpBadPaddingError, RtpBadVersionError, RtpShortPacketError
from mcu.rtp.packet import RtpPacket as _RtpPacket


cdef inline unsigned int _u32(const unsigned char *p) noexcept nogil:
    return (<unsigned int>p[0] << 24) | (<unsigned int>p[1] << 16) | (<unsigned int>p[2] << 8) | p[3]


cdef enum HeaderError:
    HEADER_OK = 0
    HEADER_SHORT
    HEADER_VERSION
    HEADER_CSRC_OVERRUN
    HEADER_EXTENSION_TRUNCATED
    HEADER_EXTENSION_OVERRUN
    HEADER_PADDING


cdef struct Header:
    int csrc_count
    int extension_words       # when the X bit is set
    Py_ssize_t extension      # offset of the extension data (after its 4-byte header)
    int padding               # the padding count, when the P bit is set
    Py_ssize_t payload_start
    Py_ssize_t payload_end


cdef HeaderError _parse_header(const unsigned char *p, Py_ssize_t length, Header *h) noexcept nogil:
    """Where the parts of an RTP packet lie, by the rules of RtpPacket.parse (the specification)."""
    cdef Py_ssize_t offset = 12, end
    h.csrc_count = 0
    h.extension_words = 0
    h.extension = 0
    h.padding = 0
    if length < 12:
        return HEADER_SHORT
    if p[0] >> 6 != 2:
        return HEADER_VERSION
    h.csrc_count = p[0] & 0x0F
    if h.csrc_count:
        offset += 4 * h.csrc_count
        if offset > length:
            return HEADER_CSRC_OVERRUN
    if p[0] & 0x10:
        if offset + 4 > length:
            return HEADER_EXTENSION_TRUNCATED
        h.extension_words = (p[offset + 2] << 8) | p[offset + 3]
        offset += 4
        h.extension = offset
        offset += 4 * h.extension_words
        if offset > length:
            return HEADER_EXTENSION_OVERRUN
    end = length
    if p[0] & 0x20:
        h.padding = p[length - 1]
        if h.padding == 0 or end - h.padding < offset:
            return HEADER_PADDING
        end -= h.padding
    h.payload_start = offset
    h.payload_end = end
    return HEADER_OK


def parse_rtp(bytes data):
    """`RtpPacket.parse` (mcu/rtp/packet.py, the specification) in C: the same packet for
    every input, the same error class and message for every malformed one."""
    cdef Py_ssize_t length = PyBytes_GET_SIZE(data)
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef Header h
    cdef HeaderError error = _parse_header(p, length, &h)
    cdef int i
    if error == HEADER_SHORT:
        raise RtpShortPacketError(f"RTP packet of {length} bytes is shorter than 12")
    if error == HEADER_VERSION:
        raise RtpBadVersionError(f"RTP version {p[0] >> 6}, expected 2")
    if error == HEADER_CSRC_OVERRUN:
        raise RtpShortPacketError(f"{h.csrc_count} CSRCs do not fit in {length} bytes")
    if error == HEADER_EXTENSION_TRUNCATED:
        raise RtpShortPacketError("header extension header is truncated")
    if error == HEADER_EXTENSION_OVERRUN:
        raise RtpBadExtensionLengthError(
            f"header extension of {h.extension_words} words overruns the {length}-byte packet")
    if error == HEADER_PADDING:
        raise RtpBadPaddingError(f"padding count {h.padding} is invalid for this packet")
    csrc = [_u32(p + 12 + 4 * i) for i in range(h.csrc_count)]
    ext_profile = None
    ext_data = b""
    if p[0] & 0x10:
        ext_profile = (p[h.extension - 4] << 8) | p[h.extension - 3]
        ext_data = PyBytes_FromStringAndSize(<const char *>p + h.extension, 4 * h.extension_words)
    padding = b""
    if p[0] & 0x20:
        padding = PyBytes_FromStringAndSize(<const char *>p + h.payload_end, length - h.payload_end)
    payload = PyBytes_FromStringAndSize(<const char *>p + h.payload_start, h.payload_end - h.payload_start)
    b1 = p[1]
    return _RtpPacket(b1 & 0x7F, (p[2] << 8) | p[3], _u32(p + 4), _u32(p + 8), bool(b1 & 0x80), payload,
                      csrc, ext_profile, ext_data, padding)


# ---------------------------------------------------------------- receive statistics

from mcu.rtp.rtcp import ReportBlock as _ReportBlock
from mcu.rtp.rtcp import ntp_middle32 as _ntp_middle32
from mcu.rtp.stats import MAX_DROPOUT, MAX_MISORDER, MIN_SEQUENTIAL, RTP_SEQ_MOD

cdef int64_t _SEQ_MOD = RTP_SEQ_MOD
cdef int64_t _DROPOUT = MAX_DROPOUT
cdef int64_t _MISORDER = MAX_MISORDER
cdef int64_t _MIN_SEQUENTIAL = MIN_SEQUENTIAL


cdef class ReceiveStatistics:
    """mcu.rtp.stats.ReceiveStatistics (the specification, RFC 3550 A.1, A.3, A.8) in C: the same
    attributes, the same results for every packet sequence (tests/rtp/test_rtp_stats_c.py)."""

    cdef public int64_t ssrc, clock_rate, max_seq, cycles, base_seq, bad_seq, probation
    cdef public int64_t received, expected_prior, received_prior, jitter_q4, packets, octets
    cdef public int64_t last_sr_ntp_middle
    cdef public bint valid, started
    cdef bint _has_transit, _has_sr
    cdef int64_t _transit
    cdef double _sr_arrival

    def __init__(self, int64_t ssrc, int64_t clock_rate):
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = _SEQ_MOD + 1
        self.probation = _MIN_SEQUENTIAL
        self.received = self.expected_prior = self.received_prior = 0
        self._has_transit = False
        self._transit = 0
        self.jitter_q4 = 0
        self.packets = self.octets = 0
        self.valid = self.started = False
        self.last_sr_ntp_middle = 0
        self._has_sr = False
        self._sr_arrival = 0.0

    @property
    def transit(self):
        return self._transit if self._has_transit else None

    @transit.setter
    def transit(self, value):
        self._has_transit = value is not None
        self._transit = 0 if value is None else value

    @property
    def last_sr_arrival(self):
        return self._sr_arrival if self._has_sr else None

    @last_sr_arrival.setter
    def last_sr_arrival(self, value):
        self._has_sr = value is not None
        self._sr_arrival = 0.0 if value is None else value

    cdef inline void _init_seq(self, int64_t seq) noexcept:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = _SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update(self, int64_t seq, int64_t rtp_timestamp, int64_t payload_len, double now):
        """Account one packet; False if it failed sequence validation (probation or jump)."""
        return self._update(seq, rtp_timestamp, payload_len, now)

    cdef bint _update(self, int64_t seq, int64_t rtp_timestamp, int64_t payload_len, double now) noexcept:
        cdef int64_t arrival, transit, d
        self.packets += 1
        self.octets += payload_len
        if not self._update_seq(seq):
            return False
        arrival = <int64_t>(now * <double>self.clock_rate)  # int() of a float: toward zero
        transit = (arrival - rtp_timestamp) & 0xFFFFFFFF
        if self._has_transit:
            d = (transit - self._transit) & 0xFFFFFFFF
            if d > 0x7FFFFFFF:
                d = 0x100000000 - d
            self.jitter_q4 += d - ((self.jitter_q4 + 8) >> 4)
        self._has_transit = True
        self._transit = transit
        return True

    cdef inline bint _update_seq(self, int64_t seq) noexcept:
        cdef int64_t udelta
        if not self.started:
            self.started = True
            self._init_seq(seq)
            self.max_seq = (seq - 1) & 0xFFFF
            self.probation = _MIN_SEQUENTIAL
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            if udelta == 1:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    self.valid = True
                    return True
            else:
                self.probation = _MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < _DROPOUT:
            if seq < self.max_seq:
                self.cycles += _SEQ_MOD
            self.max_seq = seq
        elif udelta <= _SEQ_MOD - _MISORDER:
            if seq == self.bad_seq:
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        self.received += 1
        return True

    @property
    def extended_max(self):
        return self.cycles + self.max_seq

    @property
    def expected(self):
        return self.cycles + self.max_seq - self.base_seq + 1 if self.valid else 0

    @property
    def cumulative_lost(self):
        return self.expected - self.received

    @property
    def jitter(self):
        return self.jitter_q4 >> 4

    def on_sender_report(self, ntp_timestamp, double now):
        self.last_sr_ntp_middle = _ntp_middle32(ntp_timestamp)
        self._has_sr = True
        self._sr_arrival = now

    def report_block(self, double now):
        """A report block for an SR/RR; resets the interval used for fraction lost (A.3)."""
        cdef int64_t expected = self.expected
        cdef int64_t expected_interval = expected - self.expected_prior
        cdef int64_t received_interval, lost_interval, fraction = 0, dlsr = 0
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        if self._has_sr:
            dlsr = <int64_t>((now - self._sr_arrival) * 65536)
        return _ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=min(fraction, 255),
            packets_lost=self.cumulative_lost,
            highest_sequence=(self.cycles + self.max_seq) & 0xFFFFFFFF,
            jitter=self.jitter_q4 >> 4,
            lsr=self.last_sr_ntp_middle,
            dlsr=dlsr,
        )


# ---------------------------------------------------------------- audio packets in, in C



cdef class AudioInbound:
    """What a member does with an audio packet of its codec (RtpTransport's checks and counters,
    RtpSession.receive_rtp, AudioIn.receive: statistics, then the jitter buffer) in one C call,
    for the packets a transport's socket takes on its behalf (`RtpTransport.offload`). Anything
    else (RTCP, DTMF, another payload type or SSRC kept by the Python statistics, a malformed
    packet) is declined and goes the Python way, which is the specification."""

    cdef readonly int payload_type
    cdef readonly AudioJitterBuffer jitter
    cdef dict statistics  # the RtpSession's inbound: SSRC -> ReceiveStatistics
    cdef int64_t clock_rate
    cdef public object counters  # the transport's TransportCounters, while offloaded
    cdef readonly double last_arrival  # `now` of the last packet taken (0: none yet)
    cdef readonly int64_t taken
    cdef public bint active  # False once the member's audio pipeline is rebuilt

    def __init__(self, int payload_type, AudioJitterBuffer jitter, dict statistics, int64_t clock_rate):
        self.payload_type = payload_type
        self.jitter = jitter
        self.statistics = statistics
        self.clock_rate = clock_rate
        self.counters = None
        self.last_arrival = 0.0
        self.taken = 0
        self.active = True

    def take(self, bytes data, double now):
        """The C path for one datagram: True if taken, False if declined (Python's to handle)."""
        return self._take(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), now)

    cdef bint _take(self, const unsigned char *p, Py_ssize_t length, double now) except -1:
        cdef Header h
        cdef int64_t ssrc, seq, timestamp
        cdef PyObject *found
        cdef ReceiveStatistics stats
        if not self.active or self.counters is None:
            return False
        if length < 12 or 192 <= p[1] <= 223:  # RTCP on an rtcp-mux port (RFC 5761)
            return False
        if (p[1] & 0x7F) != self.payload_type or _parse_header(p, length, &h) != HEADER_OK:
            return False
        ssrc = _u32(p + 8)
        found = PyDict_GetItem(self.statistics, ssrc)
        if found == NULL:
            stats = ReceiveStatistics(ssrc, self.clock_rate)
            PyDict_SetItem(self.statistics, ssrc, stats)
        elif type(<object>found) is ReceiveStatistics:
            stats = <ReceiveStatistics>found
        else:
            return False
        seq = (p[2] << 8) | p[3]
        timestamp = _u32(p + 4)
        stats._update(seq, timestamp, h.payload_end - h.payload_start, now)
        payload = PyBytes_FromStringAndSize(<const char *>p + h.payload_start, h.payload_end - h.payload_start)
        self.jitter._put(ssrc, seq, timestamp, payload, now)
        counters = self.counters
        counters.rtp_packets += 1
        counters.rtp_bytes += length
        self.last_arrival = now
        self.taken += 1
        return True


# ---------------------------------------------------------------- outbound streams

from cpython.mem cimport PyMem_Free, PyMem_Malloc

import random as _random

from mcu.rtp.packet import RtpPacket as _Packet
from mcu.rtp.rtcp import SenderReport as _SenderReport
from mcu.rtp.rtcp import ntp_from_unix as _ntp_from_unix
from mcu.rtp.session import MAX_RESEND as _MAX_RESEND_OBJ
from mcu.rtp.session import RESEND_INTERVAL as _RESEND_INTERVAL_OBJ

cdef double _RESEND_INTERVAL = _RESEND_INTERVAL_OBJ
cdef Py_ssize_t _MAX_RESEND = _MAX_RESEND_OBJ


cdef inline bytes _rtp_bytes(int payload_type, bint marker, unsigned int seq, unsigned int ts,
                             unsigned int ssrc, bytes payload):
    cdef Py_ssize_t n = PyBytes_GET_SIZE(payload)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 12 + n)
    cdef unsigned char *p = <unsigned char *>PyBytes_AS_STRING(out)
    p[0] = 0x80
    p[1] = payload_type | (0x80 if marker else 0)
    p[2] = (seq >> 8) & 0xFF
    p[3] = seq & 0xFF
    p[4] = (ts >> 24) & 0xFF
    p[5] = (ts >> 16) & 0xFF
    p[6] = (ts >> 8) & 0xFF
    p[7] = ts & 0xFF
    p[8] = (ssrc >> 24) & 0xFF
    p[9] = (ssrc >> 16) & 0xFF
    p[10] = (ssrc >> 8) & 0xFF
    p[11] = ssrc & 0xFF
    memcpy(p + 12, PyBytes_AS_STRING(payload), n)
    return out


cdef class OutboundStream:
    """mcu.rtp.session.OutboundStream (the specification: own SSRC, sequence and timestamp space,
    NACK history) in C: the same packets, counters and retransmissions for every call sequence and
    the same draws from `rng` (tests/rtp/test_rtp_outbound_c.py); the header is written into the
    packet's bytes directly rather than through struct and a concatenation."""

    cdef public unsigned int ssrc
    cdef public int payload_type
    cdef public int64_t clock_rate, sequence, last_timestamp, packet_count, octet_count, retransmitted
    cdef int64_t _ts_base, _media_base
    cdef bint _has_media_base, _has_sent
    cdef double _last_send
    # NACK history: `history` slots of (seq, ts, marker, payload), the payload shared, not copied
    cdef Py_ssize_t _slots
    cdef int64_t *_seqs
    cdef int64_t *_tss
    cdef bint *_markers
    cdef double *_resent
    cdef list _payloads

    def __cinit__(self, *args, **kwargs):
        self._seqs = self._tss = NULL
        self._markers = NULL
        self._resent = NULL

    def __dealloc__(self):
        PyMem_Free(self._seqs)
        PyMem_Free(self._tss)
        PyMem_Free(self._markers)
        PyMem_Free(self._resent)

    def __init__(self, ssrc, payload_type, clock_rate, sequence_start=None, timestamp_start=None,
                 rng=None, Py_ssize_t history=0):
        cdef Py_ssize_t i
        r = rng or _random.Random()
        self._slots = history if history > 0 else 0
        if self._slots:
            self._seqs = <int64_t *>PyMem_Malloc(self._slots * sizeof(int64_t))
            self._tss = <int64_t *>PyMem_Malloc(self._slots * sizeof(int64_t))
            self._markers = <bint *>PyMem_Malloc(self._slots * sizeof(bint))
            self._resent = <double *>PyMem_Malloc(self._slots * sizeof(double))
            if not (self._seqs and self._tss and self._markers and self._resent):
                raise MemoryError()
            for i in range(self._slots):
                self._seqs[i] = -1  # empty
                self._resent[i] = -1e9
        self._payloads = [None] * self._slots
        self.retransmitted = 0
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.sequence = r.getrandbits(16) if sequence_start is None else sequence_start & 0xFFFF
        self._ts_base = r.getrandbits(32) if timestamp_start is None else timestamp_start
        self._has_media_base = False
        self._media_base = 0
        self.last_timestamp = self._ts_base
        self._has_sent = False
        self._last_send = 0.0
        self.packet_count = 0
        self.octet_count = 0

    @property
    def last_send_time(self):
        return self._last_send if self._has_sent else None

    cpdef int64_t timestamp_for(self, int64_t media_timestamp):
        if not self._has_media_base:
            self._has_media_base = True
            self._media_base = media_timestamp
        return (self._ts_base + media_timestamp - self._media_base) & 0xFFFFFFFF

    def switch_source(self, double now):
        """The next media timestamp comes from another encoder: continue the timeline from
        the time elapsed since the last packet rather than jumping."""
        cdef double elapsed = now - self._last_send if self._has_sent else 0.0
        self._ts_base = (self.last_timestamp + <int64_t>round(elapsed * self.clock_rate)) & 0xFFFFFFFF
        self._has_media_base = False

    def packetize(self, payload, int64_t media_timestamp, double now, bint marker=False,
                  extensions=None):
        """Bytes of the next RTP packet of this stream."""
        if type(payload) is not bytes:
            payload = bytes(payload)
        cdef int64_t ts = self.timestamp_for(media_timestamp)
        cdef int64_t seq = self.sequence
        cdef Py_ssize_t slot
        self.sequence = (seq + 1) & 0xFFFF
        self.last_timestamp = ts
        self._has_sent = True
        self._last_send = now
        self.packet_count += 1
        self.octet_count += PyBytes_GET_SIZE(payload)
        if extensions:
            pkt = _Packet(self.payload_type, seq, ts, self.ssrc, marker, payload)
            pkt.set_header_extensions(extensions)
            return pkt.serialize()
        if self._slots:
            slot = seq % self._slots
            self._seqs[slot] = seq
            self._tss[slot] = ts
            self._markers[slot] = marker
            self._payloads[slot] = payload
            self._resent[slot] = -1e9
        return _rtp_bytes(self.payload_type, marker, <unsigned int>seq, <unsigned int>ts, self.ssrc, payload)

    def retransmit(self, sequence_numbers, double now):
        """The packets a receiver reported lost, as first sent, for those still kept: each at
        most once per RESEND_INTERVAL and at most MAX_RESEND per NACK."""
        cdef list out = []
        cdef Py_ssize_t slot
        cdef int64_t seq
        if not self._slots:
            return out
        for s in dict.fromkeys(sequence_numbers):
            seq = s
            slot = seq % self._slots
            if self._seqs[slot] != seq or now - self._resent[slot] < _RESEND_INTERVAL:
                continue
            self._resent[slot] = now
            out.append(_rtp_bytes(self.payload_type, self._markers[slot], <unsigned int>seq,
                                  <unsigned int>self._tss[slot], self.ssrc, self._payloads[slot]))
            if len(out) == _MAX_RESEND:
                break
        self.retransmitted += len(out)
        return out

    def sender_report(self, double now, reports=None):
        cdef int64_t rtp_ts = self.last_timestamp
        if self._has_sent:
            rtp_ts = (rtp_ts + <int64_t>round((now - self._last_send) * self.clock_rate)) & 0xFFFFFFFF
        return _SenderReport(
            ssrc=self.ssrc,
            ntp_timestamp=_ntp_from_unix(now),
            rtp_timestamp=rtp_ts,
            packet_count=self.packet_count,
            octet_count=self.octet_count,
            reports=list(reports or []),
        )
