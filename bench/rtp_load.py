"""RTP load benchmark: 100 audio members, 50 packets/s each way, on loopback.

A load generator in another process sends PCMU RTP (room noise) to 100 member sockets of
our shell (mcu.io.rtp_transport on uvloop) and drains what comes back. Our process
receives, parses, keeps RFC 3550 statistics, jitter-buffers and depacketizes, then every
20 ms rewrites one 160-byte payload per member through its OutboundStream and sends it.

Only OUR process's CPU time is measured (time.process_time). Phases in one run: the path before
issue 16 (the asyncio datagram I/O, one uvloop callback per datagram, transport.sendto per packet,
and the Python statistics and jitter buffer: the "before"); the MCU's path on per-call ports
(recvmmsg batches, each latched source's audio taken in C by its AudioInbound, sendto from C),
with the loop woken per packet and, as the MCU runs it, with the offloaded sockets read by the
tick at their kernel-stamped arrivals (TickReads); the same on one shared port; the shared port with every packet through Python (what the C
receive path saves); and a bare uvloop DatagramProtocol that unpacks the header and echoes.
Then a video fan-out phase: one encoder's frames (8 packets each) rewritten per viewer and sent
per packet through the asyncio path, per packet through the C path, and per frame in one
sendmmsg (send_rtp_many).

    .venv/bin/python bench/rtp_load.py [--members 100] [--seconds 20] [--reference-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import resource
import selectors
import socket
import struct
import time
from dataclasses import dataclass

import uvloop

from mcu._jitter import AudioJitterBuffer  # as the MCU uses it
from mcu._rtp import AudioInbound, ReceiveStatistics
from mcu._rtp import OutboundStream as COutboundStream
from mcu.io.rtp_transport import MediaSocket, PortAllocator, RtpTransport, SharedPorts, TickReads
from mcu.rtp import jitterbuffer, stats
from mcu.rtp.packet import RtpPacket
from mcu.rtp.session import OutboundStream, RtpSession

HOST = "127.0.0.1"
PTIME = 0.02
SAMPLES = 160
PCMU = 0
WARMUP = 2.0
SETTLE = 1.0


def generator(ports: list[int], seconds: float, result: mp.Queue,  # type: ignore[type-arg]
              sources: list[int] | None = None) -> None:
    """Load generator process: one socket per member (bound to `sources` if given, as the
    addresses a shared port expects), 50 packets/s each, drains replies. Each payload starts
    with its send time; the MCU path sends a member's own payload back out of its jitter buffer,
    so a reply's arrival minus that time is the MCU's added latency, RTP in to RTP out (replies
    are read as they arrive, between the sends; the warm-up's are left out)."""
    rng = random.Random(1)
    socks = []
    for i, _ in enumerate(ports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST, sources[i] if sources else 0))
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        socks.append(s)
    # -55 dBFS-ish room noise in mu-law: codes near 0xFF/0x7F, never digital silence
    noise = [
        bytes(rng.choice((0xFE, 0xFD, 0x7E, 0x7D, 0xFF, 0x7F)) for _ in range(SAMPLES))
        for _ in range(8)
    ]
    header = struct.Struct("!BBHII")
    stamp = struct.Struct("!d")
    selector = selectors.DefaultSelector()
    for s in socks:
        selector.register(s, selectors.EVENT_READ)
    sent = received = 0
    latencies: list[float] = []
    start = time.perf_counter()
    next_t = start
    n = 0
    while time.perf_counter() - start < seconds:
        for i, s in enumerate(socks):
            pkt = header.pack(0x80, PCMU, n & 0xFFFF, (n * SAMPLES) & 0xFFFFFFFF, 0x1000 + i)
            try:
                s.sendto(pkt + stamp.pack(time.perf_counter()) + noise[(n + i) & 7][8:], (HOST, ports[i]))
                sent += 1
            except BlockingIOError:
                pass
        n += 1
        next_t += PTIME
        while (delay := next_t - time.perf_counter()) > 0:
            for key, _ in selector.select(delay):
                while True:
                    try:
                        data = key.fileobj.recv(2048)  # type: ignore[union-attr]
                    except BlockingIOError:
                        break
                    received += 1
                    arrived = time.perf_counter()
                    if arrived - start > WARMUP + 0.5 and data[12:13] != b"\xff":  # not concealment
                        latencies.append(arrived - stamp.unpack_from(data, 12)[0])
    latencies.sort()
    result.put((sent, received, latencies))


class AsyncioMediaSocket:
    """The shell's I/O before mcu._rtp (the "before" of this benchmark): a uvloop datagram
    endpoint, one Python callback per datagram, one transport.sendto per packet."""


    def __init__(self, transport: asyncio.DatagramTransport) -> None:
        self.transport = transport
        self._addresses: dict[bytes, tuple[str, int]] = {}

    @classmethod
    async def open(cls, loop, family, host, port, on_datagram, on_error):  # type: ignore[no-untyped-def]
        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                on_datagram(data, addr)

            def error_received(self, exc: Exception) -> None:
                on_error(exc)

        transport, _ = await loop.create_datagram_endpoint(Protocol, local_addr=(host, port))
        return cls(transport)

    def _address(self, destination: bytes) -> tuple[str, int]:
        addr = self._addresses.get(destination)
        if addr is None:
            port = int.from_bytes(destination[2:4], "big")
            addr = self._addresses[destination] = (socket.inet_ntoa(destination[4:8]), port)
        return addr

    def send(self, data: bytes, destination: bytes) -> bool:
        self.transport.sendto(data, self._address(destination))
        return True

    def send_many(self, packets: list[bytes], destination: bytes) -> int:
        for p in packets:
            self.send(p, destination)
        return len(packets)

    @property
    def sockname(self) -> tuple[str, int]:
        return self.transport.get_extra_info("sockname")[:2]  # type: ignore[no-any-return]

    def close(self) -> None:
        self.transport.close()


@dataclass
class Member:
    transport: RtpTransport
    session: RtpSession
    jitter: AudioJitterBuffer
    out: OutboundStream


async def run_mcu(members: int, seconds: float, socket_class: type = MediaSocket,
                  shared: bool = False, in_c: bool = True, at_tick: bool = False) -> dict[str, float]:
    """The MCU's audio path for `members`. `in_c`: as the MCU runs it (C statistics and jitter
    buffer, each stream's packets offloaded to its AudioInbound once latched); else every packet
    through Python with the Python statistics and jitter buffer (the path before issue 16).
    `at_tick`: offloaded per-call sockets are read by the tick (TickReads), as the MCU does."""
    loop = asyncio.get_running_loop()
    RtpTransport.socket_class = socket_class
    lo, _ = port_range(members)
    shared_ports = SharedPorts.open(HOST, lo) if shared else None
    sources = [lo + 2 + i for i in range(members)] if shared else None  # the sites' own ports
    alloc = PortAllocator(*port_range(members))
    reads = TickReads() if at_tick else None
    group: list[Member] = []
    for i in range(members):
        out = (COutboundStream if in_c else OutboundStream)(0x2000 + i, PCMU, 8000, rng=random.Random(i))
        session = RtpSession(out, cname=f"member{i}@mcu",
                             statistics=ReceiveStatistics if in_c else stats.ReceiveStatistics)
        jb = (AudioJitterBuffer if in_c else jitterbuffer.AudioJitterBuffer)(clock_rate=8000, frame_duration=PTIME)
        inbound = AudioInbound(PCMU, jb, session.inbound, 8000) if in_c else None
        holder: list[RtpTransport] = []

        def on_rtp(
            p: RtpPacket,
            addr: tuple[str, int],
            now: float,
            session: RtpSession = session,
            jb: AudioJitterBuffer = jb,
            inbound: AudioInbound | None = inbound,
            holder: list[RtpTransport] = holder,
        ) -> None:
            session.receive_rtp(p, now)  # what MediaPlane's on_rtp does (Member.receive_audio)
            jb.put(p, now)
            if inbound is not None:
                holder[0].offload(inbound)

        if shared_ports is not None and sources is not None:
            t = RtpTransport.on_shared_port(shared_ports, on_rtp, remote_rtp=(HOST, sources[i]),
                                            inactivity_timeout=30.0)
        else:
            t = await RtpTransport.open(alloc, on_rtp, host=HOST, inactivity_timeout=30.0, tick_reads=reads)
        holder.append(t)
        group.append(Member(t, session, jb, out))

    silence = b"\xff" * SAMPLES
    media_ts = 0
    stop = False

    def tick(when: float) -> None:
        nonlocal media_ts
        if stop:
            return
        if reads is not None:
            reads.read_all()
        now = time.time()
        media_ts += SAMPLES
        for m in group:
            frame = m.jitter.pop(now)
            # PCMU depacketizes to itself; a lost/absent slot is concealed with silence here
            payload = frame.payload if frame is not None and not frame.lost else silence
            m.transport.send_rtp(m.out.packetize(payload, media_ts, now))
        loop.call_at(when + PTIME, tick, when + PTIME)

    ports = [m.transport.rtp_port for m in group]
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    proc = ctx.Process(target=generator, args=(ports, WARMUP + seconds + SETTLE, q, sources), daemon=True)
    proc.start()
    first = loop.time() + PTIME
    loop.call_at(first, tick, first)
    await asyncio.sleep(WARMUP + 0.5)  # generator start-up and jitter buffers filling
    rx0 = sum(m.transport.counters.rtp_packets for m in group)
    tx0 = sum(m.transport.counters.sent_rtp for m in group)
    cpu0, wall0, sys0 = time.process_time(), time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_stime
    await asyncio.sleep(seconds)
    cpu1, wall1, sys1 = time.process_time(), time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_stime
    rx = sum(m.transport.counters.rtp_packets for m in group) - rx0
    tx = sum(m.transport.counters.sent_rtp for m in group) - tx0
    stop = True
    sent, received, latencies = await loop.run_in_executor(None, q.get)
    proc.join()
    lost = sum(m.jitter.stats.lost for m in group)
    played = sum(m.jitter.stats.played for m in group)
    for m in group:
        m.transport.close()
    if shared_ports is not None:
        shared_ports.close()
    return {
        "cpu": cpu1 - cpu0,
        "kernel": sys1 - sys0,  # of cpu: system calls (on loopback a send includes the delivery)
        "wall": wall1 - wall0,
        "rx": rx,
        "tx": tx,
        "gen_sent": sent,
        "gen_received": received,
        "played": played,
        "latency_p50": latencies[len(latencies) // 2] if latencies else float("nan"),
        "latency_p99": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "concealed": lost,
    }


class _Echo(asyncio.DatagramProtocol):
    """Reference: unpack the RTP header, send a 172-byte packet back."""

    _h = struct.Struct("!BBHII")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport
        self.rx = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        _, _, seq, ts, ssrc = self._h.unpack_from(data)
        self.rx += 1
        self.t.sendto(self._h.pack(0x80, 0, seq, ts, ssrc ^ 1) + data[12:], addr)  # type: ignore[attr-defined]


async def run_reference(members: int, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    lo, _ = port_range(members)
    protos = []
    for i in range(members):
        _, proto = await loop.create_datagram_endpoint(_Echo, local_addr=(HOST, lo + 2 * i))
        protos.append(proto)
    ports = [lo + 2 * i for i in range(members)]
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    proc = ctx.Process(target=generator, args=(ports, WARMUP + seconds + SETTLE, q), daemon=True)
    proc.start()
    await asyncio.sleep(WARMUP + 0.5)
    rx0 = sum(p.rx for p in protos)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    rx = sum(p.rx for p in protos) - rx0
    await loop.run_in_executor(None, q.get)
    proc.join()
    for p in protos:
        p.t.close()
    return {"cpu": cpu1 - cpu0, "wall": wall1 - wall0, "rx": rx, "tx": rx}


_RANGE: tuple[int, int] | None = None


def port_range(members: int) -> tuple[int, int]:
    """A free even-aligned block of 2 * members ports on 127.0.0.1, probed once."""
    global _RANGE
    if _RANGE is None:
        for base in range(40000, 60000, 2 * members + 2):
            socks = []
            try:
                for p in range(base, base + 2 * members):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    socks.append(s)
                    s.bind((HOST, p))
            except OSError:
                continue
            finally:
                for s in socks:
                    s.close()
            _RANGE = (base, base + 2 * members - 1)
            break
        else:
            raise RuntimeError("no free UDP port block for the benchmark")
    return _RANGE


def report(name: str, r: dict[str, float]) -> float:
    pct = 100.0 * r["cpu"] / r["wall"]
    pkts = r["rx"] + r["tx"]
    per_core = pkts / r["cpu"] if r["cpu"] else float("inf")
    print(
        f"{name:<34} CPU {pct:5.2f}% of one core | {pkts / r['wall']:7.0f} packets/s "
        f"(rx {r['rx'] / r['wall']:.0f}/s, tx {r['tx'] / r['wall']:.0f}/s) | "
        f"{per_core:8.0f} packets/s per core"
    )
    return pct


def drain(port_queue: mp.Queue, stop: mp.Event) -> None:  # type: ignore[type-arg]
    """The viewers' side of the fan-out phase: one socket that reads and counts (not measured)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.settimeout(0.2)
    port_queue.put(s.getsockname()[1])
    received = 0
    while not stop.is_set():
        try:
            s.recv(2048)
            received += 1
        except TimeoutError:
            pass
    port_queue.put(received)


async def run_fanout(viewers: int, seconds: float, socket_class: type, batched: bool) -> dict[str, float]:
    """One encoder's 30 fps frames of FRAME_PACKETS packets to `viewers`: each viewer rewrites
    them into its own stream (OutboundStream, as Room.video_packets does) and sends them."""
    loop = asyncio.get_running_loop()
    RtpTransport.socket_class = socket_class
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    stop = ctx.Event()
    proc = ctx.Process(target=drain, args=(q, stop), daemon=True)
    proc.start()
    sink = (HOST, await loop.run_in_executor(None, q.get))
    alloc = PortAllocator(*port_range(viewers))
    group = []
    for i in range(viewers):
        t = await RtpTransport.open(alloc, lambda p, a, n: None, host=HOST, remote_rtp=sink, inactivity_timeout=None)
        group.append((t, OutboundStream(0x3000 + i, 96, 90000, rng=random.Random(i), history=512)))
    payloads = [bytes([n]) * 1100 for n in range(FRAME_PACKETS)]
    frames = 0

    def frame() -> None:
        nonlocal frames
        now = time.time()
        media_ts = frames * 3000
        for t, out in group:
            packets = [out.packetize(p, media_ts, now, marker=k == FRAME_PACKETS - 1)
                       for k, p in enumerate(payloads)]
            if batched:
                t.send_rtp_many(packets)
            else:
                for packet in packets:
                    t.send_rtp(packet)
        frames += 1

    async def run(duration: float) -> None:
        next_t = loop.time()
        end = next_t + duration
        while loop.time() < end:
            frame()
            next_t += 1 / 30
            await asyncio.sleep(max(0.0, next_t - loop.time()))

    await run(1.0)  # warm-up
    sent0 = sum(t.counters.sent_rtp for t, _ in group)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await run(seconds)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    sent = sum(t.counters.sent_rtp for t, _ in group) - sent0
    stop.set()
    await loop.run_in_executor(None, q.get)
    proc.join()
    for t, _ in group:
        t.close()
    return {"cpu": cpu1 - cpu0, "wall": wall1 - wall0, "rx": 0, "tx": sent}


FRAME_PACKETS = 8  # a 720p frame at ~1.5 Mbit/s and 30 fps is 6 kB: about 6-8 packets


def per_packet_us(r: dict[str, float]) -> float:
    return 1e6 * r["cpu"] / max(1.0, r["rx"] + r["tx"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--reference-seconds", type=float, default=10.0)
    ap.add_argument("--viewers", type=int, default=64, help="viewers of the video fan-out phase (0: skip it)")
    args = ap.parse_args()
    ref = None
    if args.reference_seconds > 0:
        ref = uvloop.run(run_reference(args.members, args.reference_seconds))
    before = uvloop.run(run_mcu(args.members, args.seconds, AsyncioMediaSocket, in_c=False))
    woken = uvloop.run(run_mcu(args.members, args.seconds, MediaSocket))
    mcu = uvloop.run(run_mcu(args.members, args.seconds, MediaSocket, at_tick=True))
    shared = uvloop.run(run_mcu(args.members, args.seconds, MediaSocket, shared=True))
    shared_python = uvloop.run(run_mcu(args.members, args.seconds, MediaSocket, shared=True, in_c=False))
    print(f"{args.members} members, 50 packets/s each way, {args.seconds:.0f} s measured per phase")
    pct = report("mcu RTP path (parse, stats, JB, out)", mcu)
    before_pct = report("before: asyncio I/O, all Python", before)
    report("own ports, woken per packet", woken)
    report("mcu on one shared port", shared)
    report("shared port, per packet in Python", shared_python)
    for name, r in (("before", before), ("own ports, woken per packet", woken), ("own ports, read at the tick", mcu),
                    ("shared port", shared), ("shared port, Python", shared_python)):
        kernel = 1e6 * r["kernel"] / max(1.0, r["rx"] + r["tx"])
        print(f"per packet in+out, {name}: {per_packet_us(r):.2f} us ({kernel:.2f} us in the kernel) "
              f"-> {per_packet_us(r) / per_packet_us(before):.2f}x of before (target <= 0.33x)")
    if ref is not None:
        ref_pct = report("reference: bare uvloop echo", ref)
        print(f"ratio mcu / bare echo: {pct / ref_pct:.2f}x (before: {before_pct / ref_pct:.2f}x)")
    print(
        f"generator: sent {mcu['gen_sent']:.0f}, received {mcu['gen_received']:.0f}; "
        f"jitter buffers played {mcu['played']:.0f}, concealed {mcu['concealed']:.0f}"
    )
    print(f"target: under 10% of one core -> {'PASS' if pct < 10 else 'MISS'}")
    for name, r in (("before", before), ("own ports, woken per packet", woken), ("own ports, read at the tick", mcu),
                    ("shared port", shared)):
        print(f"MCU-added audio latency (RTP in -> jitter buffer -> RTP out), {name}: "
              f"p50 {1000 * r['latency_p50']:.1f} ms, p99 {1000 * r['latency_p99']:.1f} ms (target p99 <= 40 ms)")
    if args.viewers:
        seconds = max(3.0, args.seconds / 2)
        runs = {
            "asyncio sendto per packet (before)": uvloop.run(run_fanout(args.viewers, seconds, AsyncioMediaSocket, False)),
            "C sendto per packet": uvloop.run(run_fanout(args.viewers, seconds, MediaSocket, False)),
            "C sendmmsg per frame (now)": uvloop.run(run_fanout(args.viewers, seconds, MediaSocket, True)),
        }
        print(f"video fan-out: 30 fps x {FRAME_PACKETS} packets to {args.viewers} viewers, "
              f"rewrite + send, {seconds:.0f} s each")
        for name, r in runs.items():
            report(name, r)
        base = per_packet_us(runs["asyncio sendto per packet (before)"])
        for name, r in runs.items():
            print(f"  {name:<36} {per_packet_us(r):5.2f} us per packet per viewer ({per_packet_us(r) / base:.2f}x)")


if __name__ == "__main__":
    main()
