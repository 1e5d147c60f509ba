"""A black-box fuzzer against a running `mcu serve` on 127.0.0.1: SIP over UDP and TCP, RTP and
RTCP into real calls, and the admin HTTP API. Seeded, bounded in count and in time.

    report = run_fuzz(tmp_path, seed=1, count=3000, seconds=40)
    assert not report.failures, report.summary()

Input `index` of a run with `seed` is generated from `random.Random(f"{seed}/{index}")` alone
(its kind, base message and strategies), so one input can be replayed without the others
(`python -m bench.fuzz --seed S --index I`). In-dialog messages and media take the tags and
ports of the run's own calls, so their bytes differ from run to run; the report keeps the bytes.

What counts as a failure: the MCU exits or stops answering OPTIONS; a SIP 500 (the UA caught an
exception) or an admin 500; a traceback, `tick.error` or an unhandled-exception line in its log;
after the run, a fresh call that does not complete or does not hear a second site.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz import mutators as mut
from tests.helpers import McuProcess, free_port, in_calls, wait_for

TOKEN = "fuzz-token-0123456789abcdef"
ROOM = "4100"
PIN_ROOM = "4200"
LOG_MARKERS = ("Traceback", "tick.error", "admin.error", "exception was never retrieved",
               "Exception in callback", "Unhandled exception", '"level": "critical"')
WEIGHTS = {"sip-udp": 34, "sip-tcp": 10, "rtp": 30, "rtcp": 12, "admin": 14}
SIP_TIMEOUT = 0.8  # s to wait for a final answer to one SIP input
ADMIN_TIMEOUT = 1.5
UDP_WINDOW = 24  # SIP inputs in flight over UDP
TCP_WINDOW = 6
KEEP_CALLS = 4  # fuzz calls the MCU accepted, kept up for a while before our BYE
PROBE_EVERY = 4.0  # s between two OPTIONS probes during the run
SUSPECT_WINDOW = 2.0  # s: inputs sent this long before a log finding are its suspects
MAX_UDP = 65507
OFFERS = Path(__file__).resolve().parents[1] / "sdp" / "offers"
COMPACT = {b"v": b"via", b"f": b"from", b"t": b"to", b"i": b"call-id", b"l": b"content-length",
           b"c": b"content-type", b"m": b"contact"}

# ----------------------------------------------------------------------------- the MCU


def write_fuzz_config(tmp: Path, sip_port: int, admin_port: int, metrics_port: int) -> Path:
    """127.0.0.1 only: SIP UDP+TCP, rooms 4100 (open) and 4200 (PIN), admin API with a token,
    a loopback roster (dial-roster dials nobody real) and limits that let the fuzzer through."""
    import shutil

    conf = Path(__file__).resolve().parents[2] / "conf"
    for name in ("endpoints.toml", "layouts.toml"):
        shutil.copy(conf / name, tmp / name)
    (tmp / "sites.toml").write_text(
        '[[sites]]\nid = "roster-1"\nuri = "sip:roster-1@127.0.0.1:9"\nname = "Roster one"\nrole = "chair"\n'
        '[[sites]]\nid = "roster-2"\nuri = "sip:roster-2@127.0.0.1:9"\nname = "Roster two"\n', encoding="utf-8")
    (tmp / "rooms.toml").write_text(
        f'[[room]]\nnumber = "{ROOM}"\nname = "Open room"\n'
        f'[[room]]\nnumber = "{PIN_ROOM}"\nname = "PIN room"\npin = "2468"\nmax_members = 2\n', encoding="utf-8")
    (tmp / "admin.token").write_text(TOKEN + "\n", encoding="utf-8")
    rtp_base = 30000 + (sip_port % 50) * 200
    path = tmp / "mcu.toml"
    path.write_text(
        '[log]\nformat = "json"\nlevel = "info"\n'
        f'[[sip.listen]]\ntransport = "udp"\nhost = "127.0.0.1"\nport = {sip_port}\n'
        f'[[sip.listen]]\ntransport = "tcp"\nhost = "127.0.0.1"\nport = {sip_port}\n'
        f'[rtp]\nhost = "127.0.0.1"\nport_min = {rtp_base}\nport_max = {rtp_base + 199}\ninactivity_timeout = 60.0\n'
        '[video]\nfps = 10\n'
        f'[metrics]\nenabled = true\nhost = "127.0.0.1"\nport = {metrics_port}\n'
        f'[admin]\nenabled = true\nhost = "127.0.0.1"\nport = {admin_port}\ntoken_file = "admin.token"\n'
        + _limits_section(), encoding="utf-8")
    return path


GENEROUS_LIMITS = {"calls_per_second": 1000.0, "call_burst": 10000, "flood_factor": 1000.0, "unconfirmed_calls": 1000,
                   "tcp_connections_per_address": 10000, "admin_requests_per_second": 10000.0, "admin_burst": 100000,
                   "pin_failures": 10000, "room_pin_alarm": 100000}


def _limits_section() -> str:
    """[limits] that let one fuzzing address through (the rate limits are not what is fuzzed here);
    only the keys this version of the config knows."""
    import dataclasses

    from mcu.config import LimitsSection

    known = {f.name for f in dataclasses.fields(LimitsSection)}
    return "[limits]\n" + "".join(f"{k} = {v}\n" for k, v in GENEROUS_LIMITS.items() if k in known)


class FuzzMcu(McuProcess):
    """McuProcess on the fuzz config (admin API on, with a token)."""

    def __init__(self, tmp_path: Path) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_port()
        self.admin_port = free_port(socket.SOCK_STREAM)
        self.metrics_port = free_port(socket.SOCK_STREAM)
        self.config = write_fuzz_config(tmp_path, self.sip_port, self.admin_port, self.metrics_port)
        self.lines: list[str] = []
        repo = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen([sys.executable, "-m", "mcu", "serve", "-c", str(self.config)],
                                     cwd=repo, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(lambda: self.has("mcu.ready") or self.proc.poll() is not None, 30, "mcu.ready")
        if self.proc.poll() is not None or not self.has("admin.listening"):
            self.stop()
            raise AssertionError("mcu serve exited at start or without its admin API:\n" + "".join(self.lines))


# ----------------------------------------------------------------------------- records


@dataclass
class FuzzInput:
    index: int
    kind: str  # sip-udp, sip-tcp, rtp, rtcp, admin
    base: str  # the valid message it started from
    strategy: str
    data: bytes
    target: str = ""
    sent_at: float = 0.0

    def describe(self, limit: int = 700) -> str:
        shown = self.data if len(self.data) <= limit else self.data[:limit] + b"...(%d bytes)" % len(self.data)
        return f"#{self.index} {self.kind} {self.base} [{self.strategy}] {self.target}\n    {shown!r}"


@dataclass
class Finding:
    what: str
    detail: str
    suspects: list[FuzzInput] = field(default_factory=list)
    key: str = ""
    count: int = 1

    def describe(self, seed: int, shown: int = 4) -> str:
        """The finding, and its suspects (the input itself, or those sent just before a log line),
        newest first: the first is the likeliest."""
        out = [f"FINDING {self.what} (x{self.count}): {self.detail}"]
        suspects = sorted(self.suspects, key=lambda s: -s.sent_at)
        for s in suspects[:shown]:
            out.append("  input " + s.describe())
            out.append(f"    replay: python -m bench.fuzz --seed {seed} --index {s.index}")
        if len(suspects) > shown:
            out.append("  other suspects: " + " ".join(f"#{s.index}" for s in suspects[shown:]))
        return "\n".join(out)


@dataclass
class FuzzReport:
    seed: int
    sent: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)  # "kind status" -> count
    strategies: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    planned: int = 0
    mcu_log: str = ""

    @property
    def failures(self) -> list[Finding]:
        return self.findings

    def summary(self) -> str:
        lines = [f"fuzz seed {self.seed}: {sum(self.sent.values())} of {self.planned} inputs in {self.seconds:.1f} s",
                 "  sent: " + ", ".join(f"{k} {v}" for k, v in sorted(self.sent.items())),
                 "  answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items()))]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  findings: {len(self.findings)}")
        lines += [f.describe(self.seed) for f in self.findings]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- SIP plumbing


def parse_sip(data: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """(start line, first value of each header by lower-case long name, body) of SIP text."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        headers.setdefault(COMPACT.get(key, key), value.strip())
    return lines[0], headers, body


def status_of(start: bytes) -> int | None:
    m = re.match(rb"SIP/2\.0 (\d{3})", start)
    return int(m.group(1)) if m else None


def split_stream(buffer: bytearray) -> list[bytes]:
    """Complete SIP messages at the front of a TCP buffer (by Content-Length)."""
    out: list[bytes] = []
    while True:
        while buffer[:2] == b"\r\n":
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return out
        m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", bytes(buffer[:end]))
        total = end + 4 + (int(m.group(1)) if m else 0)
        if len(buffer) < total:
            return out
        out.append(bytes(buffer[:total]))
        del buffer[:total]


def answer_ok(request: bytes) -> bytes:
    """200 OK to a request the MCU sent us (BYE on timeout, session refresh)."""
    head = request.partition(b"\r\n\r\n")[0].split(b"\r\n")
    keep = [h for h in head[1:] if h.split(b":", 1)[0].strip().lower() in
            (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq")]
    return b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"


@dataclass
class Conn:
    """One TCP connection of SIP inputs: its buffer and when we close it."""

    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    close_at: float = 0.0


@dataclass
class Pending:
    token: bytes
    item: FuzzInput | None  # None: our own housekeeping (ACK/BYE/probe), not counted
    method: str
    conn: Conn | None  # None: UDP
    deadline: float
    status: int | None = None  # final status once answered
    response: bytes = b""
    provisional: bool = False


class SipPipe:
    """Sends SIP over one UDP socket and per-input TCP connections, matches answers to inputs by a
    token they carry (in branch, Call-ID and tag), answers the MCU's own requests with 200."""

    def __init__(self, mcu_port: int, on_answer) -> None:  # type: ignore[no-untyped-def]
        self.mcu = ("127.0.0.1", mcu_port)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.setblocking(False)
        self.local = f"127.0.0.1:{self.udp.getsockname()[1]}"
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.udp, selectors.EVENT_READ, None)
        self.pending: dict[bytes, Pending] = {}
        self.conns: list[Conn] = []
        self.on_answer = on_answer
        self.stray = 0
        self.byes_in: set[str] = set()  # Call-IDs the MCU hung up

    def close(self) -> None:
        for conn in list(self.conns):
            self._close(conn)
        self.selector.close()
        self.udp.close()

    def in_flight(self, tcp: bool) -> int:
        return sum(1 for p in self.pending.values() if (p.conn is not None) == tcp)

    def send(self, data: bytes, token: bytes, method: str, item: FuzzInput | None, tcp: bool = False,
             conn: Conn | None = None, timeout: float = SIP_TIMEOUT) -> Pending | None:
        """Send one message; None when it could not leave (too big for UDP, connection refused)."""
        now = time.monotonic()
        try:
            if tcp:
                if conn is None:
                    conn = self._connect()
                conn.sock.setblocking(True)
                conn.sock.settimeout(2.0)
                try:
                    conn.sock.sendall(data)
                finally:
                    conn.sock.setblocking(False)
                conn.close_at = max(conn.close_at, now + timeout + 0.2)
            else:
                if len(data) > MAX_UDP:
                    return None
                self.udp.sendto(data, self.mcu)
        except OSError:
            return None
        pending = Pending(token, item, method, conn if tcp else None, now + timeout)
        self.pending[token] = pending
        return pending

    def _connect(self) -> Conn:
        sock = socket.create_connection(self.mcu, timeout=2.0)
        conn = Conn(sock)
        self.conns.append(conn)
        self.selector.register(sock, selectors.EVENT_READ, conn)
        return conn

    def _close(self, conn: Conn) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)
        conn.sock.close()
        if conn in self.conns:
            self.conns.remove(conn)
        for p in self.pending.values():
            if p.conn is conn and p.status is None:
                p.deadline = 0.0  # resolves as "closed" on the next pump

    def pump(self, seconds: float) -> None:
        """Read and dispatch for up to `seconds`; expire what waited too long."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            for key, _ in self.selector.select(max(0.0, remaining)):
                if key.data is None:
                    self._read_udp()
                else:
                    self._read_tcp(key.data)
            self._expire()
            if time.monotonic() >= deadline:
                return

    def _read_udp(self) -> None:
        for _ in range(64):
            try:
                data, _ = self.udp.recvfrom(70000)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP port unreachable reported on the socket
                return
            self._dispatch(data, None)

    def _read_tcp(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(70000)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.buffer += data
        for message in split_stream(conn.buffer):
            self._dispatch(message, conn)

    def _dispatch(self, data: bytes, conn: Conn | None) -> None:
        start, headers, _ = parse_sip(data)
        status = status_of(start)
        if status is None:  # a request from the MCU: BYE, refresh
            if start.startswith(b"BYE "):
                self.byes_in.add(headers.get(b"call-id", b"").decode("latin-1"))
            reply = answer_ok(data)
            with contextlib.suppress(OSError):
                if conn is None:
                    self.udp.sendto(reply, self.mcu)
                else:
                    conn.sock.send(reply)
            return
        pending = next((p for t, p in self.pending.items() if t in data), None)
        if pending is None:
            self.stray += 1
            return
        if status < 200:
            if not pending.provisional:  # an INVITE: 100 Trying first, then a little more time, once
                pending.deadline = max(pending.deadline, time.monotonic() + SIP_TIMEOUT)
            pending.provisional = True
            return
        pending.status, pending.response = status, data
        del self.pending[pending.token]
        self.on_answer(pending, headers)

    def _expire(self) -> None:
        now = time.monotonic()
        for token, p in list(self.pending.items()):
            if p.deadline <= now:
                del self.pending[token]
                self.on_answer(p, {})
        for conn in list(self.conns):
            if conn.close_at <= now and not any(p.conn is conn for p in self.pending.values()):
                self._close(conn)

    def request(self, data: bytes, token: bytes, method: str, timeout: float = 5.0) -> Pending:
        """Send over UDP and wait for the final answer (setup and probes)."""
        pending = self.send(data, token, method, None, timeout=timeout)
        if pending is None:
            raise OSError("could not send")
        end = time.monotonic() + timeout + 0.5
        while pending.status is None and pending.token in self.pending and time.monotonic() < end:
            self.pump(0.02)
        return pending


@dataclass
class Exchange:
    """One admin request in flight: its connection, what came back so far, its deadline."""

    sock: socket.socket
    item: FuzzInput
    deadline: float
    reply: bytes = b""


class AdminPipe:
    """Admin HTTP requests, one connection each, up to `window` in flight (a request that leaves
    the server waiting for more body must not stall the run); `on_answer(item, status)`."""

    def __init__(self, addr: tuple[str, int], on_answer, window: int = 8) -> None:  # type: ignore[no-untyped-def]
        self.addr = addr
        self.on_answer = on_answer
        self.window = window
        self.selector = selectors.DefaultSelector()
        self.flying: dict[socket.socket, Exchange] = {}

    def send(self, item: FuzzInput) -> None:
        while len(self.flying) >= self.window:
            self.pump(0.01)
        try:
            sock = socket.create_connection(self.addr, timeout=2.0)
        except OSError as exc:
            self.on_answer(item, f"connect {exc.strerror or type(exc).__name__}")
            return
        with contextlib.suppress(OSError):  # the server may refuse the rest of a huge request
            sock.sendall(item.data)
        sock.setblocking(False)
        self.flying[sock] = Exchange(sock, item, time.monotonic() + ADMIN_TIMEOUT)
        self.selector.register(sock, selectors.EVENT_READ)

    def pump(self, seconds: float) -> None:
        for key, _ in self.selector.select(seconds) if self.flying else ():
            ex = self.flying[key.fileobj]  # type: ignore[index]
            try:
                chunk = ex.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            ex.reply += chunk
            if not chunk or b"\r\n" in ex.reply:
                self._done(ex)
        now = time.monotonic()
        for ex in [e for e in self.flying.values() if e.deadline <= now]:
            self._done(ex)

    def _done(self, ex: Exchange) -> None:
        self.selector.unregister(ex.sock)
        del self.flying[ex.sock]
        ex.sock.close()
        m = re.match(rb"HTTP/1\.[01] (\d{3})", ex.reply)
        status = m.group(1).decode() if m else ("no answer" if ex.deadline <= time.monotonic() else
                                                 "closed" if not ex.reply else "garbled")
        self.on_answer(ex.item, status)

    def drain(self) -> None:
        end = time.monotonic() + ADMIN_TIMEOUT + 0.5
        while self.flying and time.monotonic() < end:
            self.pump(0.05)

    def close(self) -> None:
        for ex in list(self.flying.values()):
            self.selector.unregister(ex.sock)
            ex.sock.close()
        self.flying.clear()
        self.selector.close()


def sip_request(method: str, uri: str, *, token: str, local: str, call_id: str | None = None,
                from_tag: str | None = None, to_tag: str | None = None, cseq: int = 1, transport: str = "UDP",
                body: bytes = b"", content_type: str = "application/sdp") -> bytes:
    """A valid request as text; `token` goes into the branch (and Call-ID and tag by default)."""
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {local};branch=z9hG4bK{token};rport",
        "Max-Forwards: 70",
        f"From: \"Fuzz site\" <sip:fuzz@127.0.0.1>;tag={from_tag or token}",
        f"To: <{uri}>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {call_id or token + '@fuzz'}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:fuzz@{local};transport={transport.lower()}>",
        "User-Agent: mcu-fuzz/1",
        "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE",
        "Supported: timer",
    ]
    if body:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def offer_sdp(audio_port: int, video_port: int | None = None, rtcp: tuple[int, int] | None = None,
              mux: bool = False, session: int = 1) -> bytes:
    """A PCMU (+ H.264) offer as a room system sends it."""
    lines = ["v=0", f"o=fuzz {session} 1 IN IP4 127.0.0.1", "s=fuzz", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio {audio_port} RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
             "a=fmtp:101 0-15", "a=ptime:20", "a=sendrecv"]
    if rtcp:
        lines.append(f"a=rtcp:{rtcp[0]}")
    if mux:
        lines.append("a=rtcp-mux")
    if video_port is not None:
        lines += [f"m=video {video_port} RTP/AVP 97", "a=rtpmap:97 H264/90000",
                  "a=fmtp:97 packetization-mode=1;profile-level-id=42e01f", "a=rtcp-fb:* nack", "a=rtcp-fb:* nack pli",
                  "a=rtcp-fb:* ccm fir", "a=sendrecv"]
        if rtcp:
            lines.append(f"a=rtcp:{rtcp[1]}")
        if mux:
            lines.append("a=rtcp-mux")
    return ("\r\n".join(lines) + "\r\n").encode()


def bind_pair() -> tuple[socket.socket, socket.socket]:
    """Two UDP sockets on ports P and P+1 (RTP and RTCP of a sink), P even."""
    for _ in range(100):
        first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        second = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if port % 2 == 0:
                second.bind(("127.0.0.1", port + 1))
                return first, second
        except OSError:
            pass
        first.close()
        second.close()
    raise OSError("no free pair of UDP ports")


def corpus_offers(audio_port: int, video_port: int) -> list[bytes]:
    """The vendors' offers of tests/sdp/offers with their ports pointed at our sinks."""
    out = []
    for path in sorted(OFFERS.glob("*.sdp")):
        text = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        text = re.sub(rb"(?m)^(m=(\w+) )\d+",
                      lambda m: m.group(1) + b"%d" % (video_port if m.group(2) == b"video" else audio_port), text)
        out.append(mut.loopback_only(re.sub(rb"IN IP4 [\d.]+", b"IN IP4 127.0.0.1", text)))
    return out


def answer_ports(sdp: bytes) -> dict[str, tuple[str, int, int | None]]:
    """kind -> (address, RTP port, a=rtcp port or None) of an SDP answer."""
    out: dict[str, tuple[str, int, int | None]] = {}
    session_c = re.search(rb"(?m)^c=IN IP4 (\S+)", sdp)
    for section in re.split(rb"(?m)^(?=m=)", sdp)[1:]:
        m = re.match(rb"m=(\w+) (\d+)", section)
        if m is None or m.group(2) == b"0":
            continue
        c = re.search(rb"(?m)^c=IN IP4 (\S+)", section) or session_c
        rtcp = re.search(rb"(?m)^a=rtcp:(\d+)", section)
        out[m.group(1).decode()] = ((c.group(1).decode() if c else "127.0.0.1"), int(m.group(2)),
                                    int(rtcp.group(1)) if rtcp else None)
    return out


# ----------------------------------------------------------------------------- media calls


class MediaCall:
    """A call of our own with real media sockets: sends a tone (PCMU) and H.264 pictures so the MCU
    latches our addresses, counts what comes back; fuzzed packets leave from the same sockets."""

    def __init__(self, pipe: SipPipe, name: str, mux: bool, tone_hz: int) -> None:
        from mcu.synthetic.identity import colour_for, rgb_to_yuv
        from mcu.synthetic.media import audio_cycle, video_cycle

        self.name, self.mux = name, mux
        self.socks: dict[str, socket.socket] = {}
        for key in (("audio", "video") if mux else ("audio", "audio-rtcp", "video", "video-rtcp")):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            self.socks[key] = s
        self.audio = audio_cycle("PCMU", 8000, tone_hz, 1).tone
        self.video = video_cycle("H264", 320, 180, 10, rgb_to_yuv(colour_for(tone_hz % 7 + 1)), name, 20, 1)
        rng = random.Random(name)
        self.ssrc = {"audio": rng.getrandbits(32), "video": rng.getrandbits(32)}
        self.seq = {"audio": rng.getrandbits(16), "video": rng.getrandbits(16)}
        self.ts = {"audio": rng.getrandbits(32), "video": rng.getrandbits(32)}
        self.remote: dict[str, tuple[str, int, int | None]] = {}
        self.received: Counter[str] = Counter()
        self.mcu_ssrc: dict[str, int] = {}
        self.mcu_seq: dict[str, int] = {}
        self.call_id = f"media-{name}-{rng.getrandbits(32)}@fuzz"
        self.from_tag = f"m{rng.getrandbits(32)}"
        self.to_tag = ""
        self.pipe = pipe
        self._lock = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None
        self.ended = False

    def port(self, key: str) -> int:
        return self.socks[key].getsockname()[1]

    def rtp_sock(self, kind: str) -> socket.socket:
        return self.socks[kind]

    def rtcp_sock(self, kind: str) -> socket.socket:
        return self.socks[kind if self.mux else f"{kind}-rtcp"]

    def dial(self, uri: str) -> None:
        rtcp = None if self.mux else (self.port("audio-rtcp"), self.port("video-rtcp"))
        body = offer_sdp(self.port("audio"), self.port("video"), rtcp, self.mux)
        token = f"setup{self.from_tag}"
        data = sip_request("INVITE", uri, token=token, local=self.pipe.local, call_id=self.call_id,
                           from_tag=self.from_tag, body=body)
        answer = self.pipe.request(data, token.encode(), "INVITE")
        if answer.status != 200:
            raise AssertionError(f"media call {self.name}: INVITE answered {answer.status}:\n{answer.response[:500]!r}")
        _, headers, sdp = parse_sip(answer.response)
        tag = re.search(rb";tag=([^;>\s]+)", headers.get(b"to", b""))
        self.to_tag = tag.group(1).decode() if tag else ""
        self.uri = uri
        ack = sip_request("ACK", uri, token=f"ack{self.from_tag}", local=self.pipe.local, call_id=self.call_id,
                          from_tag=self.from_tag, to_tag=self.to_tag)
        self.pipe.udp.sendto(ack, self.pipe.mcu)
        self.remote = answer_ports(sdp)
        if "audio" not in self.remote:
            raise AssertionError(f"media call {self.name}: no audio in the answer:\n{sdp!r}")
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"fuzz-media-{self.name}")
        self._thread.start()

    def mcu_addr(self, kind: str, rtcp: bool) -> tuple[str, int] | None:
        if kind not in self.remote:
            return None
        host, port, rtcp_port = self.remote[kind]
        if not rtcp or self.mux:
            return host, port
        return host, rtcp_port or port + 1

    def next_header(self, kind: str, marker: bool = False, pt: int | None = None) -> bytes:
        with self._lock:
            seq = self.seq[kind]
            self.seq[kind] = (seq + 1) & 0xFFFF
            ts = self.ts[kind]
        pt = pt if pt is not None else (0 if kind == "audio" else 97)
        return mut.RTP_HEADER.pack(0x80, pt | (0x80 if marker else 0), seq, ts, self.ssrc[kind])

    def _run(self) -> None:
        import select

        start = time.monotonic()
        audio_n = video_n = 0
        socks = list(self.socks.values())
        keys = {s: k for k, s in self.socks.items()}
        while self._running:
            wait = start + audio_n * 0.020 - time.monotonic()
            readable, _, _ = select.select(socks, [], [], max(0.0, wait))
            for sock in readable:
                self._drain(keys[sock], sock)
            now = time.monotonic() - start
            if now >= audio_n * 0.020:
                self._send("audio", self.next_header("audio") + self.audio[audio_n % len(self.audio)])
                with self._lock:
                    self.ts["audio"] = (self.ts["audio"] + 160) & 0xFFFFFFFF
                audio_n += 1
            if "video" in self.remote and now >= video_n * 0.1:
                frame = self.video.frames[video_n % len(self.video.frames)]
                for i, payload in enumerate(frame):
                    self._send("video", self.next_header("video", marker=i == len(frame) - 1) + payload)
                with self._lock:
                    self.ts["video"] = (self.ts["video"] + 9000) & 0xFFFFFFFF
                video_n += 1

    def _send(self, kind: str, data: bytes) -> None:
        addr = self.mcu_addr(kind, rtcp=False)
        if addr is not None:
            with contextlib.suppress(OSError):
                self.rtp_sock(kind).sendto(data, addr)

    def _drain(self, key: str, sock: socket.socket) -> None:
        for _ in range(16):
            try:
                data = sock.recv(70000)
            except OSError:  # nothing more, or ICMP unreachable reported on the socket
                return
            kind = key.split("-")[0]
            if len(data) >= 12 and data[0] >> 6 == 2 and not 192 <= data[1] <= 223:
                self.received[kind] += 1
                self.mcu_ssrc[kind] = int.from_bytes(data[8:12], "big")
                self.mcu_seq[kind] = int.from_bytes(data[2:4], "big")
            else:
                self.received[kind + "-rtcp"] += 1

    def hangup(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(2)
        if self.to_tag and not self.ended:
            bye = sip_request("BYE", self.uri, token=f"bye{self.from_tag}", local=self.pipe.local,
                              call_id=self.call_id, from_tag=self.from_tag, to_tag=self.to_tag, cseq=2)
            with contextlib.suppress(OSError):
                self.pipe.request(bye, f"bye{self.from_tag}".encode(), "BYE", timeout=2.0)
        for s in self.socks.values():
            s.close()


# ----------------------------------------------------------------------------- the fuzzer


@dataclass
class Dialog:
    """The fuzzer's own call for in-dialog inputs (re-INVITE, BYE, INFO, UPDATE)."""

    call_id: str
    from_tag: str
    to_tag: str
    cseq: int = 1
    alive: bool = True


class Fuzzer:
    def __init__(self, mcu: FuzzMcu, seed: int, report: FuzzReport) -> None:
        self.mcu = mcu
        self.seed = seed
        self.report = report
        self.uri = f"sip:{ROOM}@127.0.0.1:{mcu.sip_port}"
        self.admin = ("127.0.0.1", mcu.admin_port)
        self.pipe = SipPipe(mcu.sip_port, self._on_answer)
        self.admin_pipe = AdminPipe(self.admin, self._on_admin_answer)
        self.sinks = [*bind_pair(), *bind_pair()]  # where fuzz calls' media goes: audio and video RTP/RTCP
        self.sink_ports = (self.sinks[0].getsockname()[1], self.sinks[2].getsockname()[1])
        self.stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # media from an address nobody latched
        self.stranger.bind(("127.0.0.1", 0))
        audio, video = self.sink_ports
        self.offers = [offer_sdp(audio, video), offer_sdp(audio)] + corpus_offers(audio, video)
        self.calls: list[MediaCall] = []
        self.dialog: Dialog | None = None
        self.kept: deque[tuple[bytes, dict[bytes, bytes]]] = deque()  # accepted fuzz INVITEs: (token, answer headers)
        self.recent: deque[FuzzInput] = deque(maxlen=400)
        self.log_seen = 0
        self.last_probe = time.monotonic()
        self.dead = False

    # -------------------------------------------------------------- setup and teardown

    def setup(self) -> None:
        for i, mux in enumerate((False, True)):
            call = MediaCall(self.pipe, f"media{i + 1}", mux, 500 + 200 * i)
            call.dial(self.uri)
            self.calls.append(call)
        time.sleep(1.0)  # latching, first keyframe

    def teardown(self) -> None:
        for call in self.calls:
            call.hangup()
        while self.kept:
            self._hang_up_kept()
        if self.dialog is not None and self.dialog.alive:
            self._send_in_dialog_plain("BYE")
        self.pipe.pump(0.5)
        self.pipe.close()
        self.admin_pipe.close()
        for sock in (*self.sinks, self.stranger):
            sock.close()

    # -------------------------------------------------------------- the run

    def run(self, indexes: Iterable[int], seconds: float) -> None:
        start = time.monotonic()
        deadline = start + seconds
        for index in indexes:
            if time.monotonic() >= deadline or self.dead:
                if not self.dead:
                    self.report.notes.append(f"time limit of {seconds:.0f} s reached at input #{index}")
                break
            self.one(index)
            self._watch()
        self.pipe.pump(SIP_TIMEOUT + 0.3)  # answers to the last inputs
        self.admin_pipe.drain()
        self._watch()
        self.report.seconds = time.monotonic() - start

    def one(self, index: int) -> None:
        rng = random.Random(f"{self.seed}/{index}")
        kind = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        if kind.startswith("sip"):
            self._sip(index, rng, tcp=kind == "sip-tcp")
        elif kind in ("rtp", "rtcp"):
            self._media(index, rng, rtcp=kind == "rtcp")
        else:
            self._admin(index, rng)
        self.admin_pipe.pump(0.0)

    # -------------------------------------------------------------- SIP inputs

    def _sip(self, index: int, rng: random.Random, tcp: bool) -> None:
        token = f"fz{self.seed}x{index}x"
        transport = "TCP" if tcp else "UDP"
        base = rng.choice(("INVITE", "INVITE", "INVITE", "OPTIONS", "re-INVITE", "re-INVITE", "BYE", "INFO", "UPDATE",
                           "UPDATE", "CANCEL", "ACK", "INVITE-4200", "INVITE-nobody", "REGISTER"))
        offer = rng.choice(self.offers)
        table = mut.SIP_STRATEGIES if rng.random() < 0.6 else {"sdp": mut.body_mutation, **mut.BYTE_STRATEGIES}
        if base.startswith("INVITE") or base in ("OPTIONS", "CANCEL", "ACK", "REGISTER"):
            room = {"INVITE-4200": PIN_ROOM, "INVITE-nobody": "9999"}.get(base, ROOM)
            method = base.split("-")[0]
            uri = f"sip:{room}@127.0.0.1:{self.pipe.mcu[1]}"
            data = sip_request(method, uri, token=token, local=self.pipe.local, transport=transport,
                               body=offer if method == "INVITE" else b"")
        else:
            dialog = self._dialog()
            if dialog is None:
                return
            dialog.cseq += 1
            method = "INVITE" if base == "re-INVITE" else base
            body, ctype = (offer, "application/sdp") if method in ("INVITE", "UPDATE") else (
                (b"Signal=5\r\nDuration=160\r\n", "application/dtmf-relay") if method == "INFO" else (b"", ""))
            data = sip_request(method, self.uri, token=token, local=self.pipe.local, call_id=dialog.call_id,
                               from_tag=dialog.from_tag, to_tag=dialog.to_tag, cseq=dialog.cseq, transport=transport,
                               body=body, content_type=ctype)
        strategy, data = mut.mutate(rng, table, data)
        item = FuzzInput(index, "sip-tcp" if tcp else "sip-udp", base, strategy, data, f"127.0.0.1:{self.pipe.mcu[1]}")
        while self.pipe.in_flight(tcp) >= (TCP_WINDOW if tcp else UDP_WINDOW):
            self.pipe.pump(0.01)
        self._sent(item)
        if self.pipe.send(data, token.encode(), method, item, tcp=tcp) is None:
            self.report.answers[f"{item.kind} not sent"] += 1
        self.pipe.pump(0.0)

    def _on_answer(self, pending: Pending, headers: dict[bytes, bytes]) -> None:
        item = pending.item
        if item is None:  # setup, probes, our own BYEs: the caller looks at the answer
            return
        outcome = str(pending.status) if pending.status else ("1xx only" if pending.provisional else "no answer")
        self.report.answers[f"{item.kind} {outcome}"] += 1
        if pending.status == 500 and b"CSeq Out of Order" not in pending.response.partition(b"\r\n")[0]:
            # (RFC 3261 12.2.2 answers an in-dialog CSeq lower than the last one with 500; our
            # in-dialog inputs are pipelined, so they may arrive out of order.)
            self._finding("SIP 500 (the UA caught an exception)", f"{item.kind} {item.base}", [item],
                          pending.response.partition(b"\r\n")[0].decode("latin-1"))
        in_dialog = self.dialog is not None and self.dialog.call_id.encode() == headers.get(b"call-id")
        if in_dialog and (pending.status == 481 or (pending.status == 200 and pending.method == "BYE")):
            self.dialog.alive = False  # type: ignore[union-attr]
        if pending.status is None or not 200 <= pending.status < 300 or pending.method != "INVITE":
            return
        # An INVITE the MCU accepted: ACK it; a new call is kept up a little, then hung up.
        ack = self._in_call("ACK", headers, pending.token + b"ack")
        self._send_housekeeping(ack, pending)
        if pending.conn is not None:
            self._send_housekeeping(self._in_call("BYE", headers, pending.token + b"bye"), pending)
        elif not in_dialog:
            self.kept.append((pending.token, headers))
            if len(self.kept) > KEEP_CALLS:
                self._hang_up_kept()

    def _in_call(self, method: str, headers: dict[bytes, bytes], token: bytes) -> bytes:
        """ACK or BYE in the dialog an answer created (its Call-ID, From, To with tag)."""
        cseq = (headers.get(b"cseq", b"1").split() or [b"1"])[0]
        number = int(cseq) if cseq.isdigit() and len(cseq) < 10 else 1
        if method == "BYE":
            number += 1
        lines = [f"{method} {self.uri} SIP/2.0".encode(),
                 b"Via: SIP/2.0/UDP " + self.pipe.local.encode() + b";branch=z9hG4bK" + token + b";rport",
                 b"Max-Forwards: 70", b"From: " + headers.get(b"from", b""), b"To: " + headers.get(b"to", b""),
                 b"Call-ID: " + headers.get(b"call-id", b""), b"CSeq: %d %s" % (number, method.encode()),
                 b"Content-Length: 0"]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def _send_housekeeping(self, data: bytes, pending: Pending) -> None:
        if pending.conn is not None:
            data = data.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
            with contextlib.suppress(OSError):
                pending.conn.sock.send(data)
                pending.conn.close_at = time.monotonic() + 1.0
            return
        with contextlib.suppress(OSError):
            self.pipe.udp.sendto(data, self.pipe.mcu)

    def _hang_up_kept(self) -> None:
        token, headers = self.kept.popleft()
        bye = self._in_call("BYE", headers, token + b"bye")
        with contextlib.suppress(OSError):
            self.pipe.udp.sendto(bye, self.pipe.mcu)

    def _dialog(self) -> Dialog | None:
        """The fuzzer's call for in-dialog inputs, set up (again) when it has gone."""
        if self.dialog is not None and self.dialog.alive:
            return self.dialog
        n = random.Random(f"{self.seed}/dialog/{len(self.report.notes)}/{time.monotonic()}").getrandbits(32)
        token = f"dlg{n}"
        data = sip_request("INVITE", self.uri, token=token, local=self.pipe.local,
                           body=offer_sdp(*self.sink_ports))
        answer = self.pipe.request(data, token.encode(), "INVITE", timeout=3.0)
        if answer.status != 200:
            self.report.notes.append(f"could not set up the in-dialog call: {answer.status}")
            return None
        _, headers, _ = parse_sip(answer.response)
        tag = re.search(rb";tag=([^;>\s]+)", headers.get(b"to", b""))
        self.dialog = Dialog(f"{token}@fuzz", token, tag.group(1).decode() if tag else "")
        self.pipe.udp.sendto(self._in_call("ACK", headers, token.encode() + b"ack"), self.pipe.mcu)
        return self.dialog

    def _send_in_dialog_plain(self, method: str) -> None:
        d = self.dialog
        assert d is not None
        d.cseq += 1
        data = sip_request(method, self.uri, token=f"end{d.from_tag}", local=self.pipe.local, call_id=d.call_id,
                           from_tag=d.from_tag, to_tag=d.to_tag, cseq=d.cseq)
        with contextlib.suppress(OSError):
            self.pipe.request(data, f"end{d.from_tag}".encode(), method, timeout=2.0)

    # -------------------------------------------------------------- media inputs

    def _media(self, index: int, rng: random.Random, rtcp: bool) -> None:
        call = rng.choice(self.calls)
        kind = rng.choice(("audio", "audio", "video"))
        source = rng.choice(("own", "own", "own", "stranger"))
        wrong_port = rng.random() < 0.1  # RTP to the RTCP port and the other way round
        if rtcp:
            base, data = self._rtcp_base(rng, call, kind)
            strategy, data = mut.mutate(rng, mut.RTCP_STRATEGIES, data)
        else:
            base, data = self._rtp_base(rng, call, kind)
            strategy, data = mut.mutate(rng, mut.RTP_STRATEGIES, data)
            data = data[:MAX_UDP]
        addr = call.mcu_addr(kind, rtcp != wrong_port)
        if addr is None:
            return
        sock = self.stranger if source == "stranger" else (call.rtcp_sock(kind) if rtcp else call.rtp_sock(kind))
        item = FuzzInput(index, "rtcp" if rtcp else "rtp", f"{call.name} {base}", strategy, data,
                         f"{addr[0]}:{addr[1]} from {source}")
        self._sent(item)
        try:
            sock.sendto(data, addr)
            self.report.answers[f"{item.kind} sent"] += 1
        except OSError as exc:
            self.report.answers[f"{item.kind} not sent ({exc.strerror})"] += 1
        self.pipe.pump(0.0)

    def _rtp_base(self, rng: random.Random, call: MediaCall, kind: str) -> tuple[str, bytes]:
        if kind == "video":
            frame = rng.choice(call.video.frames)
            return "video rtp", call.next_header("video", marker=rng.random() < 0.3) + rng.choice(frame)
        pt, payload = rng.choice(((0, rng.choice(call.audio)), (101, b"\x05\x0a\x00\xa0")))
        return "audio rtp", call.next_header("audio", pt=pt) + payload

    def _rtcp_base(self, rng: random.Random, call: MediaCall, kind: str) -> tuple[str, bytes]:
        import struct

        ours = call.ssrc[kind]
        theirs = call.mcu_ssrc.get(kind, 0)
        seq = call.mcu_seq.get(kind, 0)
        rr = struct.pack("!BBHI", 0x81, 201, 7, ours) + struct.pack("!IIIIII", theirs, 0, seq, 10, 0, 0)
        cname = b"\x01\x05fuzz1"
        sdes_body = struct.pack("!I", ours) + cname + b"\x00" * (-(4 + len(cname)) % 4 or 4)
        sdes = struct.pack("!BBH", 0x81, 202, len(sdes_body) // 4) + sdes_body
        which = rng.choice(("rr+sdes", "nack", "pli", "fir", "bye", "remb"))
        if which == "nack":
            fb = struct.pack("!BBHII", 0x81, 205, 3, ours, theirs) + struct.pack("!HH", (seq - 5) & 0xFFFF, 0x00FF)
        elif which == "pli":
            fb = struct.pack("!BBHII", 0x81, 206, 2, ours, theirs)
        elif which == "fir":
            fb = struct.pack("!BBHII", 0x84, 206, 4, ours, 0) + struct.pack("!IB3x", theirs, rng.randrange(256))
        elif which == "bye":
            fb = struct.pack("!BBHI", 0x81, 203, 1, ours)
        elif which == "remb":
            fb = struct.pack("!BBHII", 0x8F, 206, 5, ours, 0) + b"REMB" + struct.pack("!II", 1 << 24 | 1 << 18 | 50000, theirs)
        else:
            fb = b""
        return f"{kind} rtcp {which}", rr + sdes + fb

    # -------------------------------------------------------------- admin inputs

    ADMIN_BASES: tuple[tuple[str, str, str], ...] = (
        ("GET", "/rooms", ""), ("GET", f"/rooms/{ROOM}/members", ""), ("GET", "/openapi.json", ""),
        ("POST", f"/rooms/{ROOM}/layout", '{"layout": "speaker"}'), ("POST", f"/rooms/{ROOM}/layout", '{"layout": "grid", "mode": "auto"}'),
        ("POST", f"/rooms/{ROOM}/mode", '{"mode": "voice"}'), ("POST", f"/rooms/{ROOM}/mode", '{"mode": "auto"}'),
        ("POST", f"/rooms/{PIN_ROOM}/lock", "{}"), ("POST", f"/rooms/{PIN_ROOM}/unlock", "{}"),
        ("POST", f"/rooms/{ROOM}/pin", '{"region": 0, "target": "1"}'), ("POST", f"/rooms/{ROOM}/unpin", "{}"),
        ("POST", f"/rooms/{ROOM}/floor", '{"target": "auto"}'), ("POST", f"/rooms/{ROOM}/floor", '{"target": "2"}'),
        ("POST", f"/rooms/{ROOM}/members/999/remove", '{"reason": "fuzz"}'),
        ("POST", f"/rooms/{PIN_ROOM}/members/all/mute", "{}"), ("POST", f"/rooms/{ROOM}/members/999/deaf", "{}"),
        ("GET", f"/rooms/{ROOM}/members/1/snapshot", ""), ("POST", "/reload", "{}"),
    )
    DIAL_BASES: tuple[tuple[str, str, str], ...] = (
        ("POST", f"/rooms/{ROOM}/dial", '{"target": "sip:nobody@127.0.0.1:9"}'),
        ("POST", f"/rooms/{ROOM}/dial", '{"target": "roster-2"}'), ("POST", f"/rooms/{ROOM}/dial-roster", "{}"),
        ("POST", f"/rooms/{ROOM}/redial", "{}"),
    )
    DIAL_TARGETS = ("sip:nobody@127.0.0.1:9", "sip:@127.0.0.1", "sip:x@[::1]:9", "sip:x@127.0.0.1:99999", "sip:",
                    "tel:123", "sips:x@127.0.0.1:9", "roster-1", "nope", "sip:x@localhost:9", "x" * 300, "",
                    "sip:x@127.0.0.1:9;transport=tcp", "sip:x@127.0.0.1:9?Route=%3Csip:127.0.0.1:9%3E")

    def _admin(self, index: int, rng: random.Random) -> None:
        import json

        if rng.random() < 0.08:  # dialling: structured mutations only, loopback targets only
            method, path, _ = rng.choice(self.DIAL_BASES)
            body = json.dumps({"target": rng.choice(self.DIAL_TARGETS), "name": rng.choice(("", "x" * 200, "Đà Nẵng"))})
            strategy, data = "dial_target", self._http(method, path, body)
        else:
            method, path, body = rng.choice(self.ADMIN_BASES)
            strategy, data = mut.mutate(rng, mut.HTTP_STRATEGIES, self._http(method, path, body))
        item = FuzzInput(index, "admin", f"{method} {path}", strategy, data, f"127.0.0.1:{self.admin[1]}")
        self._sent(item)
        self.admin_pipe.send(item)
        self.admin_pipe.pump(0.0)
        self.pipe.pump(0.0)

    def _on_admin_answer(self, item: FuzzInput, status: str) -> None:
        self.report.answers[f"admin {status}"] += 1
        if status == "500":
            self._finding("admin 500 (a command raised)", item.base, [item])

    @staticmethod
    def _http(method: str, path: str, body: str) -> bytes:
        raw = body.encode()
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {TOKEN}",
                "Content-Type: application/json", f"Content-Length: {len(raw)}"]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + raw

    def _http_exchange(self, data: bytes, addr: tuple[str, int] | None = None) -> str:
        try:
            with socket.create_connection(addr or self.admin, timeout=ADMIN_TIMEOUT) as s:
                s.settimeout(ADMIN_TIMEOUT)
                with contextlib.suppress(OSError):
                    s.sendall(data)
                reply = b""
                end = time.monotonic() + ADMIN_TIMEOUT
                while time.monotonic() < end and b"\r\n" not in reply:  # the status line is enough
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
        except TimeoutError:
            return "no answer"
        except OSError as exc:
            return f"connection {exc.strerror or type(exc).__name__}"
        m = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
        return m.group(1).decode() if m else ("closed" if not reply else "garbled")

    # -------------------------------------------------------------- watching the MCU

    def _sent(self, item: FuzzInput) -> None:
        item.sent_at = time.monotonic()
        self.recent.append(item)
        self.report.sent[item.kind] += 1
        self.report.strategies[f"{item.kind} {item.strategy}"] += 1

    def _suspects(self, at: float) -> list[FuzzInput]:
        return [i for i in self.recent if at - SUSPECT_WINDOW <= i.sent_at <= at][-6:]

    def _finding(self, what: str, detail: str, suspects: list[FuzzInput], extra: str = "", key: str = "") -> None:
        """Record a finding; the same one again (same `key`) only counts, keeping 3 sets of suspects."""
        key = key or f"{what}|{detail}"
        for f in self.report.findings:
            if f.key == key:
                f.count += 1
                if f.count <= 3:
                    f.suspects += suspects[-2:]
                return
        self.report.findings.append(Finding(what, detail + (f"\n    {extra}" if extra else ""), suspects, key=key))

    def _watch(self, probe: bool = True) -> None:
        lines = self.mcu.lines
        now = time.monotonic()
        while self.log_seen < len(lines):
            line = lines[self.log_seen]
            self.log_seen += 1
            if any(m in line for m in LOG_MARKERS):
                excerpt = _log_excerpt(line)
                event = _log_event(line)
                self._finding("MCU log: " + event, excerpt, self._suspects(now),
                              key=re.sub(r"\d+", "N", event + "|" + excerpt.rsplit("\n", 1)[-1]))
        if self.mcu.proc.poll() is not None:
            self._finding("MCU exited", f"exit code {self.mcu.proc.returncode}", self._suspects(now))
            self.dead = True
            return
        if probe and now - self.last_probe >= PROBE_EVERY:
            self.last_probe = now
            status = self.options()
            if status != 200:
                self._finding("MCU did not answer OPTIONS with 200 during the run", f"got {status}", self._suspects(now))
                self.dead = True

    def options(self) -> int | None:
        token = f"probe{random.getrandbits(40)}"
        data = sip_request("OPTIONS", self.uri, token=token, local=self.pipe.local)
        return self.pipe.request(data, token.encode(), "OPTIONS", timeout=3.0).status


def _log_doc(line: str) -> dict[str, str]:
    import json

    try:
        doc = json.loads(line)
    except ValueError:
        return {"event": line.strip()[:200]}
    return doc if isinstance(doc, dict) else {"event": line.strip()[:200]}


def _log_event(line: str) -> str:
    """The log line's event, first line only (asyncio puts the task's repr after it)."""
    return str(_log_doc(line).get("event", "")).splitlines()[0][:160] if line.strip() else ""


def _log_excerpt(line: str) -> str:
    """The log line's fields without the traceback, then the traceback's last frames."""
    doc = _log_doc(line)
    error = str(doc.pop("error", ""))
    event = str(doc.pop("event", ""))
    fields = " ".join(f"{k}={v}" for k, v in doc.items() if k not in ("ts",))
    frames = error.strip().splitlines()
    head = f"{fields} event={event[:400]!r}"
    return head + ("\n    " + "\n    ".join(frames[-9:]) if frames else "")


# ----------------------------------------------------------------------------- after the run


def health_checks(fuzzer: Fuzzer, report: FuzzReport) -> None:
    """The MCU survived: alive, answers OPTIONS, our media calls still get audio, a fresh call of
    two synthetic sites completes and each hears the other, and nothing bad reached the log."""
    from mcu.synthetic import SyntheticEndpoint

    mcu = fuzzer.mcu
    if mcu.proc.poll() is not None:
        report.findings.append(Finding("MCU exited", f"exit code {mcu.proc.returncode}"))
        return
    status = fuzzer.options()
    if status != 200:
        report.findings.append(Finding("no OPTIONS 200 after the run", f"got {status}"))
    for call in fuzzer.calls:
        if call.call_id in fuzzer.pipe.byes_in:
            report.notes.append(f"the MCU hung up media call {call.name} during the run (BYE)")
            continue
        before = call.received["audio"]
        time.sleep(0.6)
        if call.received["audio"] - before < 10:
            report.findings.append(Finding(
                f"media call {call.name} stopped receiving audio",
                f"{call.received['audio'] - before} packets in 0.6 s (total {dict(call.received)})"))
    # An operator can still look at the room the fuzz calls are in, and Prometheus can still scrape.
    for path in ("/rooms", f"/rooms/{ROOM}/members"):
        answer = fuzzer._http_exchange(fuzzer._http("GET", path, ""))
        if answer != "200":
            report.findings.append(Finding(f"admin GET {path} after the run answered {answer}",
                                           "the operator cannot list what the fuzz calls left in the room"))
    assert mcu.metrics_port is not None
    answer = fuzzer._http_exchange(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", ("127.0.0.1", mcu.metrics_port))
    if answer != "200":
        report.findings.append(Finding(f"GET /metrics after the run answered {answer}", "Prometheus cannot scrape"))
    restore = [("POST", f"/rooms/{ROOM}/unlock", "{}"), ("POST", f"/rooms/{ROOM}/members/all/unmute", "{}"),
               ("POST", f"/rooms/{ROOM}/members/all/undeaf", "{}")]
    for method, path, body in restore:  # admin inputs may have changed the room; an operator would undo it
        fuzzer._http_exchange(fuzzer._http(method, path, body))
    fuzzer.teardown()
    sites = [SyntheticEndpoint(91, "Check one", audio_codec="PCMU"), SyntheticEndpoint(92, "Check two", audio_codec="G722")]
    heard: dict[int, float] = {}

    async def fresh_call() -> None:
        async with in_calls(sites, f"sip:{ROOM}@127.0.0.1:{mcu.sip_port}"):
            await asyncio.sleep(2.5)
            heard[91] = sites[0].heard_tone(sites[1].tone_hz)
            heard[92] = sites[1].heard_tone(sites[0].tone_hz)

    try:
        asyncio.run(asyncio.wait_for(fresh_call(), 30))
    except Exception as exc:  # noqa: BLE001 - the check reports what went wrong
        report.findings.append(Finding("a fresh call after the run failed", f"{type(exc).__name__}: {exc}"))
    else:
        for site, other in ((sites[0], sites[1]), (sites[1], sites[0])):
            if site.stats.audio.packets_in < 50 or heard[site.number] < 0.01:
                report.findings.append(Finding(
                    "a fresh call after the run does not hear the other site",
                    f"site {site.number}: {site.stats.audio.packets_in} audio packets, tone of {other.number} "
                    f"at {heard[site.number]:.4f}"))
    time.sleep(0.3)
    fuzzer._watch(probe=False)


def run_fuzz(tmp_path: Path, seed: int, count: int, seconds: float,
             indexes: Iterable[int] | None = None) -> FuzzReport:
    """Start an MCU, set up two media calls, send up to `count` inputs within `seconds`, check it."""
    report = FuzzReport(seed, planned=count)
    with FuzzMcu(tmp_path) as mcu:
        fuzzer = Fuzzer(mcu, seed, report)
        try:
            fuzzer.setup()
            fuzzer.run(indexes if indexes is not None else range(count), seconds)
        finally:
            health_checks(fuzzer, report)
        report.notes.append(f"stray SIP answers (matched no input): {fuzzer.pipe.stray}")
        for call in fuzzer.calls:
            report.notes.append(f"{call.name} received {dict(call.received)}")
    report.mcu_log = mcu.log()
    return report
