"""Janus AudioBridge as the audio-mixing peer: N plain-RTP participants in one room.

Janus runs from a private config folder that loads only the AudioBridge plugin and the HTTP
transport on 127.0.0.1 (the stock /etc/janus loads every plugin). A participant process
binds one UDP socket per participant, joins each over the REST API (`allow_rtp_participants`),
then sends the same pre-encoded 20 ms frames our synthetic sites send (one talker's tone,
room noise from the others) from that socket and counts what comes back.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import shutil
import socket
import subprocess
import time
import traceback
import urllib.request
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import uvloop

from bench.mcu_run import free_port
from mcu.synthetic.identity import tone_for
from mcu.synthetic.media import audio_cycle

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
ROOM = 4242
START_TIMEOUT = 15.0
FRAME = 0.020
CODECS = {  # our scenario codec -> (janus codec, room rate, RTP payload type, clock rate)
    "pcmu": ("pcmu", 16000, 0, 8000),
    "opus": ("opus", 48000, 111, 48000),
}


class JanusError(RuntimeError):
    """Janus is missing, did not start, or refused a request (its answer is in the message)."""


def janus_binary() -> str:
    path = shutil.which("janus")
    if path is None:
        raise JanusError("janus not found: apt-get install -y --no-install-recommends janus")
    return path


def write_config(folder: Path, http_port: int, rtp_base: int) -> Path:
    """A janus.jcfg that loads only AudioBridge and HTTP on 127.0.0.1:http_port."""
    for sub, lib in (("plugins", "plugins/libjanus_audiobridge.so"),
                     ("transports", "transports/libjanus_http.so")):
        d = folder / sub
        d.mkdir(parents=True, exist_ok=True)
        link = d / Path(lib).name
        if not link.exists():
            link.symlink_to(JANUS_LIB / lib)
    for sub in ("events", "loggers"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "janus.jcfg").write_text(
        "general: {\n"
        f'  configs_folder = "{folder}"\n  plugins_folder = "{folder}/plugins"\n'
        f'  transports_folder = "{folder}/transports"\n  events_folder = "{folder}/events"\n'
        f'  loggers_folder = "{folder}/loggers"\n  debug_level = 3\n  session_timeout = 0\n'
        "}\nmedia: {\n}\nnat: {\n  ice_ignore_list = \"vmnet\"\n}\n"
        "plugins: {\n}\ntransports: {\n}\nloggers: {\n}\nevents: {\n}\n", encoding="utf-8")
    (folder / "janus.transport.http.jcfg").write_text(
        "general: {\n  json = \"compact\"\n  base_path = \"/janus\"\n  http = true\n"
        f"  port = {http_port}\n  ip = \"127.0.0.1\"\n  https = false\n}}\n"
        "admin: {\n  admin_http = false\n  admin_https = false\n}\n", encoding="utf-8")
    (folder / "janus.plugin.audiobridge.jcfg").write_text(
        "general: {\n  local_ip = \"127.0.0.1\"\n"
        f"  rtp_port_range = \"{rtp_base}-{rtp_base + 999}\"\n  events = false\n}}\n",
        encoding="utf-8")
    return folder / "janus.jcfg"


class JanusProcess:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.http_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}/janus"
        config = write_config(folder, self.http_port, 40000 + (self.http_port % 10) * 1000)
        self.log_path = folder / "janus.log"
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([janus_binary(), "-C", str(config), "-F", str(folder)],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                request(self.url + "/info", None)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise JanusError(f"janus did not start; see {self.log_path}") from None
                time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def request(url: str, body: dict[str, Any] | None, timeout: float = 30.0) -> Any:
    data = None
    if body is not None:
        body = dict(body, transaction=f"t{time.monotonic_ns()}")
        data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        reply: Any = json.loads(r.read())
    if isinstance(reply, dict) and reply.get("janus") == "error":
        raise JanusError(f"janus refused {body}: {reply}")
    return reply


@dataclass(frozen=True)
class JanusPlan:
    url: str
    members: int
    codec: str  # pcmu | opus
    talkers: int = 1


def _join_all(plan: JanusPlan, ports: list[int]) -> list[tuple[str, int]]:
    """Create the room and join every participant; Janus's (ip, port) per participant."""
    codec, rate, pt, _ = CODECS[plan.codec]
    session = request(plan.url, {"janus": "create"})["data"]["id"]
    surl = f"{plan.url}/{session}"
    handles = [request(surl, {"janus": "attach", "plugin": "janus.plugin.audiobridge"})["data"]["id"]
               for _ in ports]
    request(f"{surl}/{handles[0]}", {"janus": "message", "body": {
        "request": "create", "room": ROOM, "sampling_rate": rate, "allow_rtp_participants": True,
        "audiolevel_event": False, "record": False}})
    for i, (handle, port) in enumerate(zip(handles, ports)):
        rtp: dict[str, Any] = {"ip": "127.0.0.1", "port": port}
        if codec == "opus":
            rtp.update(payload_type=pt, fec=False)
        request(f"{surl}/{handle}", {"janus": "message", "body": {
            "request": "join", "room": ROOM, "display": f"p{i}", "codec": codec, "rtp": rtp}})
    remote: dict[int, tuple[str, int]] = {}
    deadline = time.monotonic() + 60
    while len(remote) < len(handles) and time.monotonic() < deadline:
        events = request(f"{surl}?maxev=50", None, timeout=35)
        for e in events if isinstance(events, list) else [events]:
            data = e.get("plugindata", {}).get("data", {})
            info = data.get("rtp") or e.get("rtp")
            if data.get("audiobridge") == "joined" and info and "port" in info:
                remote[e["sender"]] = (info.get("ip", "127.0.0.1"), int(info["port"]))
    if len(remote) < len(handles):
        raise JanusError(f"only {len(remote)} of {len(handles)} RTP participants joined Janus")
    return [remote[h] for h in handles]


class _Participant(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1


async def _participants(plan: JanusPlan, conn: Connection) -> None:
    codec, _, pt, clock = CODECS[plan.codec]
    socks = []
    for _ in range(plan.members):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    loop = asyncio.get_running_loop()
    remotes = await loop.run_in_executor(None, _join_all, plan, [s.getsockname()[1] for s in socks])
    protos: list[_Participant] = []
    for s, remote in zip(socks, remotes):
        s.connect(remote)  # Janus sends from the port it advertised, to ours
        _, proto = await loop.create_datagram_endpoint(_Participant, sock=s)
        protos.append(proto)
    name = "PCMU" if codec == "pcmu" else "opus"
    cycles = [audio_cycle(name, clock, tone_for(i + 1), i + 1) for i in range(plan.members)]
    headers = [(0x80, pt, i * 7919 & 0xFFFF, 0x1000 + i) for i in range(plan.members)]
    sent = 0
    start = loop.time()
    k = 0
    stop = asyncio.Event()
    loop.add_reader(conn.fileno(), stop.set)
    conn.send({"ready": True})
    while not stop.is_set():
        for i, proto in enumerate(protos):
            cyc = cycles[i]
            payloads = cyc.tone if i < plan.talkers else cyc.noise
            b0, b1, seq0, ssrc = headers[i]
            hdr = bytes((b0, b1 | (0x80 if k == 0 else 0))) + ((seq0 + k) & 0xFFFF).to_bytes(2, "big") \
                + (k * cyc.timestamp_step & 0xFFFFFFFF).to_bytes(4, "big") + ssrc.to_bytes(4, "big")
            assert proto.transport is not None
            proto.transport.sendto(hdr + payloads[k % len(payloads)])
            sent += 1
        k += 1
        await asyncio.sleep(max(0.0, start + k * FRAME - loop.time()))
    conn.recv()
    conn.send({"sent": sent, "received": sum(p.received for p in protos),
               "per_member_received": [p.received for p in protos]})


def participants_main(plan: JanusPlan, conn: Connection) -> None:
    try:
        uvloop.run(_participants(plan, conn))
    except Exception:  # noqa: BLE001 - reported to the parent
        conn.send({"error": traceback.format_exc()})


class JanusParticipants:
    def __init__(self, plan: JanusPlan) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=participants_main, args=(plan, child), daemon=True)
        self.proc.start()
        child.close()

    def wait_ready(self, timeout: float = 120.0) -> None:
        if not self.conn.poll(timeout):
            raise JanusError("Janus participants did not get ready")
        reply = self.conn.recv()
        if "error" in reply:
            raise JanusError(f"Janus participants failed:\n{reply['error']}")

    def stop(self) -> dict[str, Any]:
        self.conn.send("stop")
        if not self.conn.poll(30):
            raise JanusError("Janus participants did not stop")
        reply: dict[str, Any] = self.conn.recv()
        self.proc.join(10)
        return reply


@dataclass(frozen=True)
class JanusResult:
    codec: str
    members: int
    cores: float
    cpu_seconds: float
    window_s: float
    rss_mb: float
    sent: int
    received: int
    participants_cores: float

    @property
    def received_per_member_second(self) -> float:
        return self.received / self.members / self.window_s if self.window_s else 0.0


def run_janus(codec: str, members: int, window: float, warmup: float, folder: Path,
              talkers: int = 1) -> JanusResult:
    """Janus AudioBridge mixing `members` plain-RTP participants; its CPU over `window` s."""
    from bench import procstat

    janus = JanusProcess(folder)
    parts: JanusParticipants | None = None
    try:
        parts = JanusParticipants(JanusPlan(janus.url, members, codec, talkers))
        parts.wait_ready()
        time.sleep(warmup)
        s0, p0 = procstat.sample(janus.pid), procstat.sample(parts.proc.pid or 0)
        time.sleep(window)
        s1, p1 = procstat.sample(janus.pid), procstat.sample(parts.proc.pid or 0)
        counts = parts.stop()
        parts = None
    finally:
        if parts is not None:
            parts.proc.terminate()
        janus.stop()
    w = procstat.window(s0, s1)
    return JanusResult(codec, members, w.cores, w.cpu_seconds, w.wall_seconds, w.rss_kb / 1024,
                       counts["sent"], counts["received"],
                       (p1.cpu_seconds - p0.cpu_seconds) / w.wall_seconds)
