"""Batched UDP I/O (mcu._rtp: recvmmsg/sendmmsg from C) and the RTP shell on top of it: every
datagram arrives once and in order across batch boundaries, sources are reported right when they
change between datagrams of one batch, kernel errors come back as errno values (never raised),
and a video frame goes to a viewer in one call, SRTP-protected when keyed."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest
from test_rtp_transport_shell import Sink, free_port_base, peer, rtp, settle

from mcu._rtp import (
    RECV_BATCH_SIZE,
    SEND_BATCH_SIZE,
    BatchReceiver,
    pack_address,
    send_batch_to,
    send_to,
)
from mcu.io.rtp_transport import PortAllocator, RtpTransport
from mcu.rtp.srtp import SrtpContext
from mcu.sdp.crypto import SrtpKeys


def udp(family: int = socket.AF_INET, host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.setblocking(False)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return s


def test_a_burst_larger_than_every_batch_arrives_once_in_order() -> None:
    a, b = udp(), udp()
    packets = [i.to_bytes(2, "big") * 300 for i in range(3 * SEND_BATCH_SIZE + 5)]
    dest = pack_address(socket.AF_INET, *b.getsockname())
    assert send_batch_to(a.fileno(), packets, [dest] * len(packets)) == (len(packets), 0)
    receiver, out = BatchReceiver(b.fileno()), []
    assert receiver.receive(out, limit=10_000) == 0
    assert [data for data, _ in out] == packets
    assert {addr for _, addr in out} == {a.getsockname()}
    assert receiver.batches >= len(packets) // RECV_BATCH_SIZE


def test_the_limit_leaves_the_rest_for_the_next_call() -> None:
    a, b = udp(), udp()
    send_batch_to(a.fileno(), [bytes([i]) for i in range(50)], [pack_address(socket.AF_INET, *b.getsockname())] * 50)
    receiver, first, rest = BatchReceiver(b.fileno()), [], []
    receiver.receive(first, limit=20)
    receiver.receive(rest)
    assert [d for d, _ in first] == [bytes([i]) for i in range(20)]
    assert [d for d, _ in rest] == [bytes([i]) for i in range(20, 50)]


def test_sources_alternating_within_one_batch_are_each_reported() -> None:
    a, c, b = udp(), udp(), udp()
    dest = pack_address(socket.AF_INET, *b.getsockname())
    for i in range(6):
        assert send_to((a if i % 2 else c).fileno(), bytes([i]), dest) == 0
    out: list[tuple[bytes, tuple[str, int]]] = []
    BatchReceiver(b.fileno()).receive(out)
    assert [addr for _, addr in out] == [c.getsockname(), a.getsockname()] * 3


def test_ipv6_addresses_round_trip() -> None:
    a, b = udp(socket.AF_INET6, "::1"), udp(socket.AF_INET6, "::1")
    assert send_to(a.fileno(), b"v6", pack_address(socket.AF_INET6, "::1", b.getsockname()[1])) == 0
    out: list[tuple[bytes, tuple[str, int]]] = []
    BatchReceiver(b.fileno()).receive(out)
    assert out == [(b"v6", ("::1", a.getsockname()[1]))]


def test_kernel_errors_come_back_as_errno_values() -> None:
    a, gone = udp(), udp()
    receiver = BatchReceiver(gone.fileno())
    gone.close()
    out: list[tuple[bytes, tuple[str, int]]] = []
    assert receiver.receive(out) == errno.EBADF and out == []
    broadcast = pack_address(socket.AF_INET, "255.255.255.255", 9)
    assert send_to(a.fileno(), b"x", broadcast) == errno.EACCES
    assert send_batch_to(a.fileno(), [b"x", b"y"], [broadcast, broadcast]) == (0, errno.EACCES)
    with pytest.raises(ValueError):
        send_batch_to(a.fileno(), [b"x"], [])
    with pytest.raises(OSError):
        pack_address(socket.AF_INET, "vc-room.example", 5004)
    with pytest.raises(ValueError):
        pack_address(socket.AF_INET, "127.0.0.1", 0)


def test_a_video_frame_goes_to_the_viewer_in_one_call_protected_when_keyed() -> None:
    ours, theirs = bytes(range(30)), bytes(range(30, 60))
    keys = SrtpKeys("AES_CM_128_HMAC_SHA1_80", remote_key=theirs, local_key=ours)

    async def main() -> None:
        base = free_port_base()
        sink = Sink()
        viewer = peer()
        t = await RtpTransport.open(PortAllocator(base, base + 15), sink.on_rtp,
                                    remote_rtp=viewer.getsockname())
        frame = [rtp(seq) for seq in range(100, 100 + 2 * SEND_BATCH_SIZE + 3)]  # a keyframe
        t.send_rtp_many(frame)
        t.set_srtp(keys)
        t.send_rtp_many(frame[:3])
        await settle()
        got = []
        while True:
            try:
                got.append(viewer.recv(2048))
            except BlockingIOError:
                break
        assert got[:len(frame)] == frame
        receiver = SrtpContext(SrtpKeys("AES_CM_128_HMAC_SHA1_80", remote_key=ours, local_key=theirs))
        assert [receiver.unprotect_rtp(p) for p in got[len(frame):]] == frame[:3]
        assert t.counters.sent_rtp == len(frame) + 3
        t.close()

    asyncio.run(main())


def test_a_keyframe_burst_to_the_shell_is_delivered_whole() -> None:
    async def main() -> None:
        base = free_port_base()
        sink = Sink()
        t = await RtpTransport.open(PortAllocator(base, base + 15), sink.on_rtp, sink.on_rtcp)
        sender = peer()
        dest = pack_address(socket.AF_INET, "127.0.0.1", t.rtp_port)
        send_batch_to(sender.fileno(), [rtp(seq) for seq in range(600)], [dest] * 600)  # > one READ_LIMIT
        for _ in range(100):
            await settle()
            if len(sink.rtp) == 600:
                break
        assert [seq for seq, _ in sink.rtp] == list(range(600))
        assert t.latched_rtp and t.remote_rtp == sender.getsockname()
        t.close()

    asyncio.run(main())
