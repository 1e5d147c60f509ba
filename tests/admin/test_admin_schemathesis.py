"""schemathesis (PyPI) against the served OpenAPI document: no request may give a 5xx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from admin_helpers import TOKEN, RunningMcu, SippUac, write_admin_config

from mcu.calls.control import DialError
from mcu.sip.uri import SipUri

pytestmark = pytest.mark.peer
MAX_EXAMPLES = 8


def _schemathesis() -> str:
    path = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail("schemathesis not installed in the venv: pip install schemathesis")
    return path


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    with RunningMcu(write_admin_config(tmp_path, sites=[("hq", "sip:hq@127.0.0.1:9", "HQ")])) as mcu:
        assert mcu.server is not None
        real_dial = mcu.server.dial

        async def loopback_only_dial(room: str, uri: str, display_name: str = "") -> str:
            # generated URIs name any host on earth; tests may only talk to 127.0.0.1
            if SipUri.parse(uri).host_port()[0] != "127.0.0.1":
                raise DialError(f"test guard: not dialling {uri} off this machine")
            return await real_dial(room, uri, display_name)
        mcu.server.dial = loopback_only_dial  # type: ignore[method-assign]
        uac = SippUac(mcu.sip_port, "4100")
        try:
            mcu.wait_members("4100", 1)
            # half the runs hit the live room and member, so commands get past the lookups
            st_config = tmp_path / "schemathesis.toml"
            st_config.write_text('[parameters]\n"path.room" = "4100"\n"path.member" = "1"\n', encoding="utf-8")
            result = subprocess.run(
                [_schemathesis(), "--config-file", str(st_config), "run", f"{mcu.url}/openapi.json", "-H", f"Authorization: Bearer {TOKEN}",
                 "--checks", "not_a_server_error", "-n", str(MAX_EXAMPLES), "--seed", "1",
                 "--request-timeout", "10", "--phases", "examples,coverage,fuzzing"],
                check=False, capture_output=True, text=True, timeout=120)
        finally:
            uac.kill()
    report = result.stdout[-4000:] + result.stderr[-2000:]
    print(result.stdout[-1200:])
    assert result.returncode == 0, f"schemathesis found problems:\n{report}"
    assert " 0 failed" not in result.stdout and "generated" in result.stdout and "failed" not in result.stdout, report
