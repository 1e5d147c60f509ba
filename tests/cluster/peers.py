"""The real peers of the cluster tests: redis-server and Kamailio, on free ports of 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

from tests.helpers import free_port


class Peer:
    """A process whose stderr/stdout is kept so that a failing test can show it."""

    def __init__(self, name: str, argv: list[str], cwd: Path) -> None:
        if shutil.which(argv[0]) is None:
            raise AssertionError(f"{argv[0]} is not installed: `bash .ci/setup.sh test` installs it "
                                 f"(Debian packages redis-server, kamailio, kamailio-redis-modules)")
        self.name = name
        self.lines: list[str] = []
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self, last: int = 60) -> str:
        return f"--- {self.name} output (last {last} lines) ---\n" + "".join(self.lines[-last:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class RedisServer(Peer):
    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port(__import__("socket").SOCK_STREAM)
        super().__init__("redis-server", ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                          "--save", "", "--appendonly", "no", "--dir", str(workdir)], workdir)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        while not any("Ready to accept connections" in line for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("redis-server did not start\n" + self.output())
            time.sleep(0.05)
