"""A real McuServer with its admin API on a loop in a background thread, plus the peers the
admin tests call in with: sipp UACs that stay until the MCU hangs up, a sipp UAS for dial-out,
and a Python RTP peer that sends a tone and records what it hears."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import free_port, tone, wait_for

from mcu.admin import AdminService
from mcu.config import load_config
from mcu.media.registry import get_audio_codec
from mcu.rtp.packet import RtpPacket
from mcu.server import McuServer

TOKEN = "test-token-0123456789abcdef"
SCENARIOS = Path(__file__).parent / "scenarios"
CONF = Path(__file__).resolve().parents[2] / "conf"


def need_sipp() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise AssertionError("sipp binary not found: apt-get install sip-tester")
    return path


def write_admin_config(tmp: Path, *, admin_host: str = "127.0.0.1", admin_port: int | None = None,
                       token: str | None = TOKEN, sites: list[tuple[str, str, str]] = ()) -> Path:
    """A config on 127.0.0.1 with the admin API enabled; rooms 4100 (open) and 4200 (max 2).

    `sites`: roster entries (id, uri, name); the first is the chair."""
    for name in ("endpoints.toml", "layouts.toml"):
        shutil.copy(CONF / name, tmp / name)
    roster = "".join(f'[[sites]]\nid = "{i}"\nuri = "{u}"\nname = "{n}"\nrole = "{"chair" if k == 0 else "participant"}"\n'
                     f"order = {k}\n" for k, (i, u, n) in enumerate(sites))
    (tmp / "sites.toml").write_text(roster, encoding="utf-8")
    (tmp / "rooms.toml").write_text(
        '[[room]]\nnumber = "4100"\nname = "Open room"\nlayout = "speaker"\n'
        '[[room]]\nnumber = "4200"\nname = "Small room"\nmax_members = 2\n', encoding="utf-8")
    token_line = 'token_file = ""\n'  # no token at all
    if token is not None:
        (tmp / "admin.token").write_text(token + "\n", encoding="utf-8")
        token_line = 'token_file = "admin.token"\n'
    sip_port = free_port()
    rtp_base = 40000 + (sip_port % 500) * 40
    path = tmp / "mcu.toml"
    path.write_text(
        '[log]\nlevel = "info"\n'
        f'[[sip.listen]]\ntransport = "udp"\nhost = "127.0.0.1"\nport = {sip_port}\n'
        f'[rtp]\nhost = "127.0.0.1"\nport_min = {rtp_base}\nport_max = {rtp_base + 39}\ninactivity_timeout = 120.0\n'
        '[video]\nfps = 5\n[metrics]\nenabled = false\n'
        f'[recording]\ndir = "{tmp / "recordings"}"\nmin_free_mb = 0\npreset = "ultrafast"\n'
        'stream_retry_initial = 30.0\n'
        f'[admin]\nenabled = true\nhost = "{admin_host}"\nport = {admin_port or free_port(socket.SOCK_STREAM)}\n'
        + token_line, encoding="utf-8")
    return path


class RunningMcu:
    """McuServer + admin API on their own event loop in a thread; the test thread stays free
    for blocking clients (urllib, sipp). `on_loop(fn)` runs fn on the MCU's loop and returns."""

    def __init__(self, config_path: Path):
        self.config = load_config(config_path)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="mcu-loop")
        self.server: McuServer | None = None
        self.admin: AdminService | None = None

    def __enter__(self) -> RunningMcu:  # noqa: PYI034 - 3.11 has Self, but keep it explicit
        self.thread.start()

        async def start() -> None:
            self.server = McuServer(self.config)
            await self.server.start()  # starts the admin API as `mcu serve` does
            self.admin = self.server.admin

        self.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self.server is not None:
                await self.server.stop()

        try:
            self.run(stop(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()

    def run(self, coro: Any, timeout: float = 20.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        async def call() -> Any:
            return fn()
        return self.run(call())

    @property
    def url(self) -> str:
        assert self.admin is not None
        return self.admin.url

    @property
    def sip_port(self) -> int:
        return self.config.mcu.sip.listen[0].port

    def room(self, number: str):  # type: ignore[no-untyped-def]
        assert self.server is not None
        return self.server.conference.rooms[number]

    def members(self, number: str) -> list[Any]:
        return self.on_loop(lambda: list(self.room(number).members.values()))

    def wait_members(self, number: str, count: int, timeout: float = 10.0) -> list[Any]:
        wait_for(lambda: len(self.members(number)) >= count, timeout, f"{count} member(s) in room {number}")
        return self.members(number)


def api(url: str, method: str, path: str, body: Any = None, token: str | None = TOKEN,
        raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; never raises on 4xx/5xx."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + path, data=data, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def api_json(url: str, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    status, _, data = api(url, method, path, body, **kw)
    return status, json.loads(data)


class SippUac:
    """A sipp UAC that calls a room and stays until the MCU sends BYE (exit code 0 = BYE seen)."""

    def __init__(self, mcu_port: int, room: str, scenario: str = "uac_wait_bye.xml", timeout: int = 40):
        self.proc = subprocess.Popen(
            [need_sipp(), f"127.0.0.1:{mcu_port}", "-sf", str(SCENARIOS / scenario), "-s", room,
             "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()), "-m", "1", "-nostdin",
             "-timeout", f"{timeout}s", "-timeout_error", "-trace_err", "-error_file", "/dev/stderr"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def placed(self, call_id: str) -> bool:
        """Whether this sipp placed the SIP call `call_id` (sipp names calls `<n>-<pid>@<ip>`)."""
        return call_id.startswith(f"1-{self.proc.pid}@")

    def wait(self, timeout: float = 15.0) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err.decode(errors="replace")[-1500:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


class SippUas:
    """sipp as a UAS on a free port: answers one call (audio and video), then waits for BYE."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [need_sipp(), "-sf", str(SCENARIOS / "uas_answer.xml"), "-i", "127.0.0.1", "-p", str(self.port),
             "-mp", str(free_port()), "-m", "1", "-nostdin", "-timeout", "40s"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.3)

    @property
    def uri(self) -> str:
        return f"sip:uas@127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


class RtpPeer:
    """Sends 20 ms PCMU frames to an MCU RTP port (a tone, or quiet noise) and records what comes back."""

    def __init__(self, mcu_rtp_port: int, freq: float | None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.005)
        self.target = ("127.0.0.1", mcu_rtp_port)
        self.freq = freq
        self.codec = get_audio_codec("PCMU", 8000)
        self.encoder = self.codec.encoder()
        self.decoder = self.codec.decoder()
        self.received: list[np.ndarray] = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        seq, ts, ssrc = 0, 0, 0x1234 + (self.freq or 0).__int__()
        rng = np.random.default_rng(1)
        next_send = time.monotonic()
        while self.running:
            now = time.monotonic()
            if now >= next_send:
                if self.freq:
                    pcm = tone(self.freq, 8000, 160, 0.3, start=ts)
                else:
                    pcm = np.round(rng.normal(0, 30, 160)).astype(np.int16)
                packet = RtpPacket(payload_type=0, sequence_number=seq & 0xFFFF, timestamp=ts, ssrc=ssrc,
                                   payload=self.encoder.encode(pcm))
                self.sock.sendto(packet.serialize(), self.target)
                seq, ts = seq + 1, ts + 160
                next_send += 0.020
            try:
                data = self.sock.recv(2048)
            except OSError:
                continue
            packet = RtpPacket.parse(data)
            with self.lock:
                self.received.append(self.decoder.decode(packet.payload))

    def take(self) -> np.ndarray:
        with self.lock:
            out, self.received = self.received, []
        return np.concatenate(out) if out else np.zeros(0, np.int16)

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()
