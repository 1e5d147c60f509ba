"""Run `python -m mcu serve` for one benchmark scenario, on a config written for it.

The config folder (mcu.toml, rooms.toml and copies of the shipped layouts/sites/endpoints)
goes into the run's results folder so the run can be repeated by hand; the MCU's log goes
next to it (mcu.log). Only 127.0.0.1 is used.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.scenario import Scenario

REPO = Path(__file__).resolve().parents[1]
READY_EVENT = "mcu.ready"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
RTP_PORTS = 1600  # RTP/RTCP pairs for 100 members and their churned replacements
MEMBER_PIN = "1111"
CHAIR_PIN = "9999"


class McuStartError(RuntimeError):
    """The MCU did not report ready (its log is named in the message)."""


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def rooms_toml(scenario: Scenario, record: bool = False) -> str:
    room = scenario.room
    lines = ["[[room]]", f'number = "{room.number}"', f'name = "{room.name}"',
             f'layout = "{room.layout}"', f'mode = "{room.mode}"',
             f"max_members = {scenario.members.count + 20}"]
    if room.chair_pin:
        lines += [f'pin = "{MEMBER_PIN}"', f'chair_pin = "{room.chair_pin}"']
    if room.self_view:
        lines.append("self_view = true")
    if record:
        lines.append('record = "auto"')
    return "\n".join(lines) + "\n"


def mcu_toml(scenario: Scenario, sip_port: int, metrics_port: int, rtp_base: int,
             shared_port: bool = False) -> str:
    room = scenario.room
    return (
        '[log]\nformat = "json"\nlevel = "info"\n'
        f'[[sip.listen]]\ntransport = "udp"\nhost = "127.0.0.1"\nport = {sip_port}\n'
        f'[rtp]\nhost = "127.0.0.1"\nport_min = {rtp_base}\nport_max = {rtp_base + RTP_PORTS - 1}\n'
        f'shared_port = {rtp_base if shared_port else 0}\n'
        f"[audio]\nrate = {room.audio_rate}\n"
        f'[video]\nfps = {room.fps}\npreset = "{room.preset}"\n'
        f'[metrics]\nenabled = true\nhost = "127.0.0.1"\nport = {metrics_port}\n'
        "[admin]\nenabled = false\n"
        # every generated site calls from 127.0.0.1: the per-address abuse limits would refuse most
        "[limits]\ncalls_per_second = 1000.0\ncall_burst = 1000\nunconfirmed_calls = 1000\n"
    )


class BenchMcu:
    """The MCU under test, started on a config written into `folder`."""

    def __init__(self, scenario: Scenario, folder: Path, extra: str = "", shared_port: bool = False,
                 record: bool = False) -> None:
        """`extra`: more TOML for mcu.toml (e.g. an [admission] section); `shared_port`: every
        call's media on one port ([rtp] shared_port) instead of a pair per call; `record`: the
        room is recorded from its first join (into `folder`/recordings)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("endpoints.toml", "layouts.toml", "sites.toml"):
            shutil.copy(REPO / "conf" / name, folder / name)
        self.sip_port = free_port()
        self.metrics_port = free_port()
        rtp_base = 30000 + (self.sip_port % 10) * RTP_PORTS
        (folder / "rooms.toml").write_text(rooms_toml(scenario, record), encoding="utf-8")
        if record:
            extra += f'[recording]\ndir = "{folder / "recordings"}"\nmin_free_mb = 0\n'

        self.config = folder / "mcu.toml"
        self.config.write_text(mcu_toml(scenario, self.sip_port, self.metrics_port, rtp_base, shared_port) + extra,
                               encoding="utf-8")
        self.log_path = folder / "mcu.log"
        self.room_uri = f"sip:{scenario.room.number}@127.0.0.1:{self.sip_port}"
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "mcu", "serve", "-c", str(self.config)],
                                     cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while READY_EVENT not in self.log_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise McuStartError(f"mcu serve did not become ready; see {self.log_path}:\n"
                                    + self.log_text()[-2000:])
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def metrics(self) -> dict[str, float]:
        """The Prometheus exposition as {'name{labels}': value} (empty if unreachable)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                        timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                try:
                    out[key] = float(value)
                except ValueError:
                    continue
        return out

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


def metric_sum(metrics: dict[str, float], name: str) -> float:
    """Sum of every series of `name` (all label sets)."""
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


def metric_delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    """Growth of counter/histogram `name` over a window, series by series: a series created
    in the window counts from 0, one removed in it (a view torn down) is left out."""
    total = 0.0
    for key, value in after.items():
        if key == name or key.startswith(name + "{"):
            total += max(0.0, value - before.get(key, 0.0))
    return total
