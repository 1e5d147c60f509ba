"""The `mcu` command as an operator runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def mcu(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcu", *args], cwd=REPO, capture_output=True, check=False,
                          text=True, timeout=60, **kw)


def test_help_explains_each_command() -> None:
    out = mcu("--help").stdout
    for command in ("serve", "check-config", "version"):
        assert command in out


def test_version() -> None:
    result = mcu("version")
    assert result.returncode == 0 and result.stdout.startswith("open-mcu ")


def test_check_config_rejects_with_file_line_key(tmp_path: Path) -> None:
    (tmp_path / "rooms.toml").write_text("")
    bad = tmp_path / "mcu.toml"
    for name in ("endpoints.toml", "layouts.toml", "sites.toml"):
        (tmp_path / name).write_bytes((REPO / "conf" / name).read_bytes())
    bad.write_text("[video]\nfps = 500\n")
    result = mcu("check-config", "-c", str(bad))
    assert result.returncode == 1
    assert f"{bad}:2: video.fps: must be between 1 and 60" in result.stderr


def test_check_config_accepts_shipped_config() -> None:
    result = mcu("check-config")
    assert result.returncode == 0, result.stderr


def test_serve_refuses_bad_config(tmp_path: Path) -> None:
    (tmp_path / "rooms.toml").write_text("")
    bad = tmp_path / "mcu.toml"
    bad.write_text("[sip]\nport = 5060\n")
    result = mcu("serve", "-c", str(bad))
    assert result.returncode == 1 and "sip.port: unknown key" in result.stderr


def test_serve_logs_and_stops_cleanly_on_sigterm_and_sigint(tmp_path: Path) -> None:
    from tests.helpers import free_port, write_test_config

    for sig in (signal.SIGTERM, signal.SIGINT):
        config = write_test_config(tmp_path, sip_port=free_port(), log_format="json")
        proc = subprocess.Popen([sys.executable, "-m", "mcu", "serve", "-c", str(config)], cwd=REPO,
                                stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if '"event": "mcu.ready"' in line or not line:
                break
        assert any('"event": "mcu.ready"' in x for x in lines), "".join(lines)
        proc.send_signal(sig)
        rest = proc.communicate(timeout=30)[1]
        assert proc.returncode == 0, rest
        assert '"event": "mcu.stopped"' in rest
