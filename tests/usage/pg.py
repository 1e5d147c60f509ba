"""A throwaway PostgreSQL 15 cluster for a test: initdb + pg_ctl on 127.0.0.1 and a free port, run
as the `postgres` system user when the tests run as root (postgres refuses to run as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import socket

from helpers import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresCluster:
    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise AssertionError(f"PostgreSQL 15 not found in {PG_BIN}: apt-get install postgresql")
        self.port = free_port(socket.SOCK_STREAM)
        self.dir = Path(tempfile.mkdtemp(prefix="mcu-pg-"))
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            os.chmod(self.dir, 0o700)
        self.data = self.dir / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/usage"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.dir, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr[-1500:]}")
        return result

    def start(self) -> PostgresCluster:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options,
                  "-w", "-t", "60", "start")
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "usage")
        return self

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
