# cython: language_level=3, boundscheck=False, wraparound=False
"""Batched UDP I/O for the RTP plane: recvmmsg(2) and sendmmsg(2) on a non-blocking socket.

The asyncio datagram path costs one event-loop callback (and one `recvfrom`) per packet and one
`sendto` per packet sent. Here a readable socket is drained in batches of up to RECV_BATCH
datagrams per system call, and the packets of one video frame go to a viewer in one system call.

Addresses: a destination is given as its packed `struct sockaddr` (`pack_address`, computed once
when the remote changes, never per packet); a source comes back as a (host, port) tuple, reused
while consecutive datagrams come from the same address (they nearly always do on a per-call
port), so no string is formatted per packet.

Errors never raise per packet: ``BatchReceiver.receive` returns the errno that stopped it (0 for "nothing more to read");
`send_batch_to` returns where it stopped and the errno there (0 if all went out). The caller counts them against the member.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno
from libc.string cimport memcmp, memcpy, memset

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
    int AF_INET
    int AF_INET6
    int MSG_DONTWAIT

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


cdef class BatchReceiver:
    """recvmmsg buffers for one socket; `receive()` drains it a batch at a time."""

    cdef mmsghdr messages[RECV_BATCH]
    cdef iovec vectors[RECV_BATCH]
    cdef sockaddr_storage names[RECV_BATCH]
    cdef char buffers[RECV_BATCH][MAX_DATAGRAM]
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

    def receive(self, list out, int limit=256):
        """Append (datagram, (host, port)) of up to `limit` waiting datagrams to `out`; returns
        0 when the socket is drained, else the errno that stopped the read (e.g. ECONNREFUSED
        after an ICMP port unreachable), which the caller counts."""
        cdef int i, got, error = 0
        cdef int wanted
        cdef mmsghdr *m
        cdef int total = 0
        while total < limit:
            wanted = min(RECV_BATCH, limit - total)
            for i in range(wanted):
                m = &self.messages[i]
                m.msg_hdr.msg_name = &self.names[i]
                m.msg_hdr.msg_namelen = sizeof(sockaddr_storage)
                m.msg_hdr.msg_iov = &self.vectors[i]
                m.msg_hdr.msg_iovlen = 1
                m.msg_hdr.msg_control = NULL
                m.msg_hdr.msg_controllen = 0
                m.msg_hdr.msg_flags = 0
                m.msg_len = 0
            with nogil:
                got = recvmmsg(self.fd, self.messages, wanted, MSG_DONTWAIT, NULL)
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
                out.append((PyBytes_FromStringAndSize(self.buffers[i], m.msg_len),
                            self._source(&self.names[i], m.msg_hdr.msg_namelen)))
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


def parse_rtp(bytes data):
    """`RtpPacket.parse` (mcu/rtp/packet.py, the specification) in C: the same packet for
    every input, the same error class and message for every malformed one."""
    cdef Py_ssize_t length = PyBytes_GET_SIZE(data)
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef Py_ssize_t offset = 12, end, i
    cdef int b0, b1, cc, pad
    cdef unsigned int words
    if length < 12:
        raise RtpShortPacketError(f"RTP packet of {length} bytes is shorter than 12")
    b0 = p[0]
    b1 = p[1]
    if b0 >> 6 != 2:
        raise RtpBadVersionError(f"RTP version {b0 >> 6}, expected 2")
    cc = b0 & 0x0F
    csrc = []
    if cc:
        end = offset + 4 * cc
        if end > length:
            raise RtpShortPacketError(f"{cc} CSRCs do not fit in {length} bytes")
        for i in range(cc):
            csrc.append(_u32(p + offset + 4 * i))
        offset = end
    ext_profile = None
    ext_data = b""
    if b0 & 0x10:
        if offset + 4 > length:
            raise RtpShortPacketError("header extension header is truncated")
        ext_profile = (p[offset] << 8) | p[offset + 1]
        words = (p[offset + 2] << 8) | p[offset + 3]
        offset += 4
        end = offset + 4 * words
        if end > length:
            raise RtpBadExtensionLengthError(
                f"header extension of {words} words overruns the {length}-byte packet")
        ext_data = PyBytes_FromStringAndSize(<const char *>p + offset, end - offset)
        offset = end
    end = length
    padding = b""
    if b0 & 0x20:
        pad = p[length - 1]
        if pad == 0 or end - pad < offset:
            raise RtpBadPaddingError(f"padding count {pad} is invalid for this packet")
        end -= pad
        padding = PyBytes_FromStringAndSize(<const char *>p + end, length - end)
    payload = PyBytes_FromStringAndSize(<const char *>p + offset, end - offset)
    return _RtpPacket(b1 & 0x7F, (p[2] << 8) | p[3], _u32(p + 4), _u32(p + 8), bool(b1 & 0x80), payload,
                      csrc, ext_profile, ext_data, padding)
