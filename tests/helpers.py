"""Shared test helpers: free ports, throwaway configs, waiting on conditions."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Callable


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
                      rooms: str | None = None, extra: str = "") -> Path:
    """A config listening on 127.0.0.1 only, with rooms 4100 (open) and 4200 (PIN 2468)."""
    rtp_base = 30000 + (sip_port % 1000) * 20
    (tmp_path / "rooms.toml").write_text(rooms if rooms is not None else (
        '[[room]]\nnumber = "4100"\nname = "Open room"\n'
        '[[room]]\nnumber = "4200"\nname = "PIN room"\npin = "2468"\nmax_members = 2\n'
    ), encoding="utf-8")
    path = tmp_path / "mcu.toml"
    path.write_text(
        f'[log]\nformat = "{log_format}"\nlevel = "debug"\n'
        f'[[sip.listen]]\ntransport = "udp"\nhost = "127.0.0.1"\nport = {sip_port}\n'
        f'[[sip.listen]]\ntransport = "tcp"\nhost = "127.0.0.1"\nport = {sip_port}\n'
        f'[rtp]\nhost = "127.0.0.1"\nport_min = {rtp_base}\nport_max = {rtp_base + 19999 - (sip_port % 1000) * 20}\n'
        f'[metrics]\nenabled = false\n[admin]\nenabled = false\n' + extra,
        encoding="utf-8",
    )
    return path


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
