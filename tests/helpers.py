"""Shared test helpers: free ports, throwaway configs, waiting on conditions."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Self


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host` right now."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, other) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        return port


def write_test_config(tmp_path: Path, sip_port: int, log_format: str = "kv",
                      rooms: str | None = None, extra: str = "", metrics_port: int | None = None,
                      inactivity_timeout: float = 30.0, shared_port: bool = False) -> Path:
    """A config listening on 127.0.0.1 only, with rooms 4100 (open) and 4200 (PIN 2468);
    `shared_port`: every call's media on the first port pair of the test's slice."""
    import shutil

    conf = Path(__file__).resolve().parents[1] / "conf"
    for name in ("endpoints.toml", "layouts.toml", "sites.toml", "calibration.toml"):
        shutil.copy(conf / name, tmp_path / name)
    rtp_base = 20000 + (sip_port % 100) * 400  # a private slice of ports per test MCU
    (tmp_path / "rooms.toml").write_text(rooms if rooms is not None else (
        '[[room]]\nnumber = "4100"\nname = "Open room"\n'
        '[[room]]\nnumber = "4200"\nname = "PIN room"\npin = "2468"\nmax_members = 2\n'
    ), encoding="utf-8")
    path = tmp_path / "mcu.toml"
    path.write_text(
        f'[log]\nformat = "{log_format}"\nlevel = "debug"\n'
        f'[[sip.listen]]\ntransport = "udp"\nhost = "127.0.0.1"\nport = {sip_port}\n'
        f'[[sip.listen]]\ntransport = "tcp"\nhost = "127.0.0.1"\nport = {sip_port}\n'
        f'[rtp]\nhost = "127.0.0.1"\nport_min = {rtp_base}\nport_max = {rtp_base + 399}\n'
        f'inactivity_timeout = {inactivity_timeout}\nshared_port = {rtp_base if shared_port else 0}\n'
        + (f'[metrics]\nenabled = true\nport = {metrics_port}\n' if metrics_port else '[metrics]\nenabled = false\n')
        + ("" if "[admin]" in extra else '[admin]\nenabled = false\n')
        + ("" if "[h323]" in extra else '[h323]\nenabled = false\n') + extra,
        encoding="utf-8",
    )
    return path


async def until(condition: Callable[[], object], timeout: float, what: str) -> object:
    """`wait_for` inside a running event loop: the condition's value once truthy."""
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def need_tshark(decodes: str) -> str:
    """tshark's path: the independent decoder of what we send; a test fails saying how to get it."""
    import shutil

    import pytest

    path = shutil.which("tshark")
    if path is None:
        pytest.fail(f"tshark is missing: install the Debian package (apt-get install -y tshark, or "
                    f"bash .ci/setup.sh test); it is the independent {decodes} decoder")
    return path


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def tone_power(pcm, rate: int, freq: float) -> float:
    """Goertzel power of `freq` in `pcm`, normalised so a full-scale sine gives about 1.0."""
    from mcu.synthetic.sound import goertzel_power

    return goertzel_power(pcm, rate, freq)


def tone(freq: float, rate: int, samples: int, amplitude: float = 0.3, start: int = 0):
    import numpy as np

    t = (np.arange(samples) + start) / rate
    return np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def room_noise(samples: int, dbfs: float = -55.0, seed: int = 0):
    """Background noise of an idle room system's microphone (never digital silence)."""
    from mcu.synthetic.sound import noise_samples

    return noise_samples(samples, dbfs, seed)


class McuProcess:
    """`python -m mcu serve` on a throwaway config, as an operator would run it; log kept for asserts."""

    def __init__(self, tmp_path: Path, rooms: str | None = None, extra: str = "", log_format: str = "json",
                 metrics_port: int | None = None, inactivity_timeout: float = 30.0, shared_port: bool = False):
        import os
        import subprocess
        import sys
        import threading

        tmp_path.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_port()
        self.metrics_port = metrics_port
        self.config = write_test_config(tmp_path, self.sip_port, log_format, rooms, extra, metrics_port,
                                        inactivity_timeout, shared_port)
        self.lines: list[str] = []
        repo = Path(__file__).resolve().parents[1]
        self.proc = subprocess.Popen([sys.executable, "-m", "mcu", "serve", "-c", str(self.config)],
                                     cwd=repo, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(lambda: self.has("mcu.ready") or self.proc.poll() is not None, 30, "mcu.ready")
        if self.proc.poll() is not None:
            raise AssertionError("mcu serve exited at start:\n" + "".join(self.lines))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def events(self, name: str) -> list[dict]:
        import json

        out = []
        for line in list(self.lines):
            if f'"event": "{name}"' in line:
                out.append(json.loads(line))
        return out

    def log(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except Exception:
                self.proc.kill()
                raise
        self._reader.join(5)
        return self.proc.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.asynccontextmanager
async def in_calls(sites: list, uri: str) -> AsyncIterator[list]:  # type: ignore[type-arg]
    """Every synthetic site calls `uri` (in order) for the block; all close after, whatever happens."""
    try:
        for site in sites:
            await site.call(uri)
        yield sites
    finally:
        for site in sites:
            await site.close()
        await asyncio.sleep(0.2)  # let the BYEs reach the MCU
