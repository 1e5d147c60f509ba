"""A real RTMP ingest for the tests: nginx with libnginx-mod-rtmp on 127.0.0.1, started from its
own config in a temporary folder; it records every stream it receives as FLV files."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")


class NginxRtmp:
    def __init__(self, work: Path, port: int):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists() or not MODULE.exists():
            raise AssertionError("nginx with the RTMP module is missing: apt-get install nginx-light libnginx-mod-rtmp")
        self.nginx, self.work, self.port = nginx, work, port
        self.records = work / "rec"
        self.records.mkdir(parents=True, exist_ok=True)
        self.conf = work / "nginx.conf"
        # as root, nginx's worker would record as nobody, who cannot enter pytest's tmp folders
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"load_module {MODULE};\n{user}daemon off;\npid {work}/nginx.pid;\nerror_log {work}/error.log info;\n"
            "events { worker_connections 64; }\n"
            f"rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n"
            f"  application live {{ live on; record all; record_path {self.records}; record_unique on; }} }} }}\n",
            encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.nginx, "-p", str(self.work), "-c", str(self.conf), "-e",
                                      str(self.work / "error.log")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited at start: {self.proc.stderr.read().decode()[-1000:]}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not listen on 127.0.0.1:{self.port} within 10 s")

    def stop(self) -> None:
        """Stop at once (SIGTERM: fast shutdown, connections dropped, record files closed)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def recorded(self) -> list[Path]:
        return sorted(self.records.glob("*.flv"))
