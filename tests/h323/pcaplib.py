"""A tiny libpcap reader and writer for the H.323 tests (no scapy).

Reads classic pcap files (either byte order, Ethernet or raw IPv4 link types) and
reassembles TCP streams by sequence number, dropping retransmissions; writes a pcap of
fake IPv4/TCP segments (and UDP datagrams) on 127.0.0.1 so that tshark can decode what our cores emitted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

PCAP_MAGIC_LE = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_VLAN = 0x8100
IPPROTO_TCP = 6
IPPROTO_UDP = 17
TCP_FLAG_SYN = 0x02
TCP_FLAG_PSH = 0x08
TCP_FLAG_ACK = 0x10


@dataclass
class Segment:
    """One TCP or UDP payload with its frame number (1-based, as in Wireshark)."""

    frame: int
    proto: int
    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    payload: bytes


@dataclass
class TcpStream:
    """One direction of a TCP connection, reassembled in sequence order."""

    src: str
    sport: int
    dst: str
    dport: int
    chunks: list[tuple[int, int, bytes]] = field(default_factory=list)  # (frame, seq, data)

    @property
    def data(self) -> bytes:
        return b"".join(chunk for _, _, chunk in self.chunks)


def _ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def read_segments(path: Path) -> list[Segment]:
    """All TCP and UDP payloads of a classic pcap file, in capture order."""
    data = path.read_bytes()
    (magic,) = struct.unpack("<I", data[:4])
    endian = "<" if magic == PCAP_MAGIC_LE else ">"
    _, _, _, _, _, _, linktype = struct.unpack(endian + "IHHiIII", data[:24])
    offset = 24
    frame = 0
    out: list[Segment] = []
    while offset + 16 <= len(data):
        _, _, incl_len, _ = struct.unpack(endian + "IIII", data[offset : offset + 16])
        packet = data[offset + 16 : offset + 16 + incl_len]
        offset += 16 + incl_len
        frame += 1
        if linktype == LINKTYPE_ETHERNET:
            ethertype = struct.unpack("!H", packet[12:14])[0]
            ip = packet[14:]
            if ethertype == ETHERTYPE_VLAN:
                ethertype = struct.unpack("!H", packet[16:18])[0]
                ip = packet[18:]
            if ethertype != ETHERTYPE_IPV4:
                continue
        elif linktype == LINKTYPE_RAW:
            ip = packet
        else:
            continue
        if len(ip) < 20 or ip[0] >> 4 != 4:
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        proto = ip[9]
        src, dst = _ip(ip[12:16]), _ip(ip[16:20])
        l4 = ip[ihl:total] if total >= ihl else ip[ihl:]
        if proto == IPPROTO_TCP and len(l4) >= 20:
            sport, dport, seq = struct.unpack("!HHI", l4[:8])
            doff = (l4[12] >> 4) * 4
            out.append(Segment(frame, proto, src, sport, dst, dport, seq, bytes(l4[doff:])))
        elif proto == IPPROTO_UDP and len(l4) >= 8:
            sport, dport = struct.unpack("!HH", l4[:4])
            out.append(Segment(frame, proto, src, sport, dst, dport, 0, bytes(l4[8:])))
    return out


def tcp_streams(segments: list[Segment]) -> dict[tuple[str, int, str, int], TcpStream]:
    """TCP payloads grouped per direction; a segment whose sequence number was seen is a
    retransmission and is dropped."""
    streams: dict[tuple[str, int, str, int], TcpStream] = {}
    seen: set[tuple[str, int, str, int, int]] = set()
    for seg in segments:
        if seg.proto != IPPROTO_TCP or not seg.payload:
            continue
        key = (seg.src, seg.sport, seg.dst, seg.dport)
        if key + (seg.seq,) in seen:
            continue
        seen.add(key + (seg.seq,))
        stream = streams.setdefault(key, TcpStream(*key))
        stream.chunks.append((seg.frame, seg.seq, seg.payload))
    for stream in streams.values():
        stream.chunks.sort(key=lambda c: c[1])
    return streams


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class PcapWriter:
    """Writes TCP payloads as fake IPv4 segments of established connections (one SYN
    exchange per connection first, so that dissectors see a proper stream)."""

    def __init__(self) -> None:
        self._records: list[bytes] = []
        self._seq: dict[tuple[str, int, str, int], int] = {}
        self._time = 1_700_000_000.0

    def _frame(self, src: str, sport: int, dst: str, dport: int, flags: int,
               payload: bytes) -> None:
        key = (src, sport, dst, dport)
        rkey = (dst, dport, src, sport)
        seq = self._seq.setdefault(key, 1000)
        ack = self._seq.get(rkey, 0)
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
        saddr = bytes(int(x) for x in src.split("."))
        daddr = bytes(int(x) for x in dst.split("."))
        pseudo = saddr + daddr + struct.pack("!BBH", 0, IPPROTO_TCP, len(tcp) + len(payload))
        csum = _checksum(pseudo + tcp + payload)
        tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
        total = 20 + len(tcp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, IPPROTO_TCP, 0,
                         saddr, daddr)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        self._seq[key] = seq + len(payload) + (1 if flags & TCP_FLAG_SYN else 0)
        self._record(ip + tcp + payload)

    def datagram(self, src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> None:
        """One UDP datagram (RAS on port 1719); UDP checksum 0: none computed (RFC 768)."""
        udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0)
        saddr = bytes(int(x) for x in src[0].split("."))
        daddr = bytes(int(x) for x in dst[0].split("."))
        total = 20 + len(udp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, IPPROTO_UDP, 0,
                         saddr, daddr)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        self._record(ip + udp + payload)

    def _record(self, packet: bytes) -> None:
        self._time += 0.001
        sec = int(self._time)
        usec = int((self._time - sec) * 1_000_000)
        self._records.append(struct.pack("<IIII", sec, usec, len(packet), len(packet)) + packet)

    def connect(self, client: tuple[str, int], server: tuple[str, int]) -> None:
        self._frame(client[0], client[1], server[0], server[1], TCP_FLAG_SYN, b"")
        self._frame(server[0], server[1], client[0], client[1], TCP_FLAG_SYN | TCP_FLAG_ACK,
                    b"")
        self._frame(client[0], client[1], server[0], server[1], TCP_FLAG_ACK, b"")

    def send(self, src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> None:
        self._frame(src[0], src[1], dst[0], dst[1], TCP_FLAG_PSH | TCP_FLAG_ACK, payload)

    def write(self, path: Path) -> None:
        header = struct.pack("<IHHiIII", PCAP_MAGIC_LE, 2, 4, 0, 0, 65535, LINKTYPE_RAW)
        path.write_bytes(header + b"".join(self._records))
