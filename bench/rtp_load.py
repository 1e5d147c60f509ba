"""RTP load benchmark: 100 audio members, 50 packets/s each way, on loopback.

A load generator in another process sends PCMU RTP (room noise) to 100 member sockets of
our shell (mcu.io.rtp_transport on uvloop) and drains what comes back. Our process
receives, parses, keeps RFC 3550 statistics, jitter-buffers and depacketizes, then every
20 ms rewrites one 160-byte payload per member through its OutboundStream and sends it.

Only OUR process's CPU time is measured (time.process_time). A reference phase runs the
same load through a bare uvloop DatagramProtocol that unpacks the header and echoes, so
the figures can be compared as a ratio measured in the same run.

    .venv/bin/python bench/rtp_load.py [--members 100] [--seconds 20] [--reference-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import socket
import struct
import time
from dataclasses import dataclass

import uvloop

from mcu.io.rtp_transport import PortAllocator, RtpTransport
from mcu.rtp.jitterbuffer import AudioJitterBuffer
from mcu.rtp.packet import RtpPacket
from mcu.rtp.session import OutboundStream, RtpSession

HOST = "127.0.0.1"
PTIME = 0.02
SAMPLES = 160
PCMU = 0
WARMUP = 2.0
SETTLE = 1.0


def generator(ports: list[int], seconds: float, result: mp.Queue) -> None:  # type: ignore[type-arg]
    """Load generator process: one socket per member, 50 packets/s each, drains replies."""
    rng = random.Random(1)
    socks = []
    for _ in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST, 0))
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        socks.append(s)
    # -55 dBFS-ish room noise in mu-law: codes near 0xFF/0x7F, never digital silence
    noise = [
        bytes(rng.choice((0xFE, 0xFD, 0x7E, 0x7D, 0xFF, 0x7F)) for _ in range(SAMPLES))
        for _ in range(8)
    ]
    header = struct.Struct("!BBHII")
    sent = received = 0
    start = time.perf_counter()
    next_t = start
    n = 0
    while time.perf_counter() - start < seconds:
        for i, s in enumerate(socks):
            pkt = header.pack(0x80, PCMU, n & 0xFFFF, (n * SAMPLES) & 0xFFFFFFFF, 0x1000 + i)
            try:
                s.sendto(pkt + noise[(n + i) & 7], (HOST, ports[i]))
                sent += 1
            except BlockingIOError:
                pass
        for s in socks:
            while True:
                try:
                    s.recv(2048)
                    received += 1
                except BlockingIOError:
                    break
        n += 1
        next_t += PTIME
        delay = next_t - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    result.put((sent, received))


@dataclass
class Member:
    transport: RtpTransport
    session: RtpSession
    jitter: AudioJitterBuffer
    out: OutboundStream


async def run_mcu(members: int, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    alloc = PortAllocator(*port_range(members))
    group: list[Member] = []
    for i in range(members):
        out = OutboundStream(0x2000 + i, PCMU, 8000, rng=random.Random(i))
        session = RtpSession(out, cname=f"member{i}@mcu")
        jb = AudioJitterBuffer(clock_rate=8000, frame_duration=PTIME)

        def on_rtp(
            p: RtpPacket,
            addr: tuple[str, int],
            now: float,
            session: RtpSession = session,
            jb: AudioJitterBuffer = jb,
        ) -> None:
            session.receive_rtp(p, now)
            jb.put(p, now)

        t = await RtpTransport.open(alloc, on_rtp, host=HOST, inactivity_timeout=30.0)
        group.append(Member(t, session, jb, out))

    silence = b"\xff" * SAMPLES
    media_ts = 0
    stop = False

    def tick(when: float) -> None:
        nonlocal media_ts
        if stop:
            return
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
    proc = ctx.Process(target=generator, args=(ports, WARMUP + seconds + SETTLE, q), daemon=True)
    proc.start()
    first = loop.time() + PTIME
    loop.call_at(first, tick, first)
    await asyncio.sleep(WARMUP + 0.5)  # generator start-up and jitter buffers filling
    rx0 = sum(m.transport.counters.rtp_packets for m in group)
    tx0 = sum(m.transport.counters.sent_rtp for m in group)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    rx = sum(m.transport.counters.rtp_packets for m in group) - rx0
    tx = sum(m.transport.counters.sent_rtp for m in group) - tx0
    stop = True
    sent, received = await loop.run_in_executor(None, q.get)
    proc.join()
    lost = sum(m.jitter.stats.lost for m in group)
    played = sum(m.jitter.stats.played for m in group)
    for m in group:
        m.transport.close()
    return {
        "cpu": cpu1 - cpu0,
        "wall": wall1 - wall0,
        "rx": rx,
        "tx": tx,
        "gen_sent": sent,
        "gen_received": received,
        "played": played,
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--reference-seconds", type=float, default=10.0)
    args = ap.parse_args()
    ref = None
    if args.reference_seconds > 0:
        ref = uvloop.run(run_reference(args.members, args.reference_seconds))
    mcu = uvloop.run(run_mcu(args.members, args.seconds))
    print(f"{args.members} members, 50 packets/s each way, {args.seconds:.0f} s measured")
    pct = report("mcu RTP path (parse, stats, JB, out)", mcu)
    if ref is not None:
        ref_pct = report("reference: bare uvloop echo", ref)
        print(f"ratio mcu / bare echo: {pct / ref_pct:.2f}x")
    print(
        f"generator: sent {mcu['gen_sent']:.0f}, received {mcu['gen_received']:.0f}; "
        f"jitter buffers played {mcu['played']:.0f}, concealed {mcu['concealed']:.0f}"
    )
    print(f"target: under 10% of one core -> {'PASS' if pct < 10 else 'MISS'}")


if __name__ == "__main__":
    main()
