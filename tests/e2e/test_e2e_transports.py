"""The MCU over IPv6 (sipp on ::1) and TLS (a Python ssl client), as configured in conf."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_e2e_sipp import SCENARIOS
from tests.helpers import McuProcess, free_port

pytestmark = pytest.mark.peer


def free_port6() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    return cert, key


def test_call_over_ipv6_udp_and_options_over_tls(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    v6, tls = free_port6(), free_port()
    extra = (f'[[sip.listen]]\ntransport = "udp"\nhost = "::1"\nport = {v6}\n'
             f'[[sip.listen]]\ntransport = "tls"\nhost = "127.0.0.1"\nport = {tls}\n'
             f'[sip]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    with McuProcess(tmp_path / "mcu", extra=extra) as mcu:
        listening = {e["transport"] + " " + e["addr"] for e in mcu.events("sip.listening")}
        assert f"tls 127.0.0.1:{tls}" in listening, listening
        binary = shutil.which("sipp")
        if binary is None:
            pytest.fail("sipp not found: the test setup installs Debian's sip-tester")
        result = subprocess.run([binary, f"[::1]:{v6}", "-sf", str(SCENARIOS / "uac_bye.xml"), "-s", "4100",
                                 "-i", "::1", "-p", "0", "-m", "1", "-nostdin", "-timeout", "20s",
                                 "-timeout_error", "-trace_err", "-error_file", "/dev/stderr"],
                                check=False, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr[-2000:]
        joined = mcu.events("member.joined")
        assert joined and joined[-1]["remote"].startswith("::1"), mcu.log()[-2000:]

        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with socket.create_connection(("127.0.0.1", tls), timeout=10) as raw, \
                context.wrap_socket(raw) as tls_socket:
            tls_socket.sendall((
                f"OPTIONS sip:4100@127.0.0.1:{tls};transport=tls SIP/2.0\r\n"
                "Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls1\r\nMax-Forwards: 70\r\n"
                "From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:4100@127.0.0.1>\r\nCall-ID: tls-options-1\r\n"
                "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode())
            answer = tls_socket.recv(65536).decode()
        assert answer.startswith("SIP/2.0 200"), answer
        assert "Allow:" in answer and "INVITE" in answer
