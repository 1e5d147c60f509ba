"""The MCU registers its room URIs at an existing registrar (sipp, with digest authentication)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import McuProcess, free_port, wait_for

pytestmark = pytest.mark.peer
SCENARIO = Path(__file__).parent / "scenarios" / "registrar_digest.xml"


def registrar(port: int) -> subprocess.Popen:
    binary = shutil.which("sipp")
    if binary is None:
        pytest.fail("sipp not found: the test setup installs Debian's sip-tester")
    return subprocess.Popen([binary, "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(port), "-m", "1",
                             "-nostdin", "-timeout", "20s", "-trace_err", "-error_file", "/dev/stderr"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("password,outcome", [("s3cret-pass", "sip.registered"), ("wrong", "sip.register_failed")])
def test_room_registers_with_digest(tmp_path: Path, password: str, outcome: str) -> None:
    port = free_port()
    sipp = registrar(port)
    (tmp_path / "register.secret").write_text(password + "\n")
    extra = (f'[[sip.register]]\naor = "sip:4100@example.gov"\nregistrar = "sip:127.0.0.1:{port}"\n'
             f'user = "4100"\npassword_file = "register.secret"\nexpires = 300\n')
    try:
        with McuProcess(tmp_path, extra=extra) as mcu:
            wait_for(lambda: mcu.events("sip.registered") or mcu.events("sip.register_failed"), 15,
                     "the registration outcome")
            assert mcu.events(outcome), mcu.log()[-3000:]
            if outcome == "sip.register_failed":
                assert mcu.events(outcome)[0]["status"] == 403
            assert password not in mcu.log(), "the password must never be logged"
        sipp.wait(20)
        assert sipp.returncode == 0, sipp.stderr.read() if sipp.stderr else ""
    finally:
        if sipp.poll() is None:
            sipp.kill()
