"""Integration against real sipp on 127.0.0.1 (UDP, TCP), TLS with Python's ssl client."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from sip_test_app import TestApp

from mcu.sip import events as ev

SCENARIOS = Path(__file__).parent / "scenarios"
SIPP = shutil.which("sipp")
pytestmark = pytest.mark.peer


def _need_sipp() -> str:
    if SIPP is None:
        pytest.fail("sipp binary not found: apt-get install sip-tester")
    return SIPP


async def _sipp(args: list[str], timeout: float = 20.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        _need_sipp(), *args, "-nostdin", "-m", "1", "-timeout", "15s", "-timeout_error",
        "-i", "127.0.0.1", "-p", "0", "-trace_err", "-error_file", "/dev/stderr",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, err.decode(errors="replace")[-2000:]


def _run(coro) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(coro)


@pytest.mark.parametrize("proto", ["udp", "tcp"])
@pytest.mark.parametrize("scenario,service", [
    ("uac_bye", "4100"), ("cancel", "ring4100"), ("reinvite_hold", "4100"),
    ("options", "4100"), ("malformed", "4100"),
])
def test_sipp_scenario(proto: str, scenario: str, service: str) -> None:
    async def main() -> None:
        app = TestApp(ring_delay=5.0)
        await app.start([(proto, "127.0.0.1", 0)])
        try:
            port = app.port(proto)
            rc, err = await _sipp([f"127.0.0.1:{port}", "-sf", str(SCENARIOS / f"{scenario}.xml"),
                                   "-s", service, "-t", "u1" if proto == "udp" else "t1"])
            assert rc == 0, f"sipp {scenario} over {proto} failed: {err}"
            stats = app.ua.stats()
            assert stats["internal_errors"] == 0
            if scenario == "malformed":
                assert stats["parse_errors"] == 1
            if scenario in ("uac_bye", "reinvite_hold"):
                kinds = [type(e) for e in app.events]
                assert ev.CallEstablished in kinds and ev.CallEnded in kinds
            if scenario == "reinvite_hold":
                infos = [e for e in app.events if isinstance(e, ev.InfoReceived)]
                assert infos and b"Signal=5" in infos[0].body
                assert infos[0].content_type == "application/dtmf-relay"
            if scenario == "cancel":
                ended = [e for e in app.events if isinstance(e, ev.CallEnded)]
                assert ended and ended[0].reason == "cancelled"
        finally:
            await app.close()
    _run(main())


def test_dial_out_to_sipp_uas() -> None:
    async def main() -> None:
        app = TestApp()
        await app.start([("udp", "127.0.0.1", 0)])
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        proc = await asyncio.create_subprocess_exec(
            _need_sipp(), "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-m", "1",
            "-nostdin", "-timeout", "15s", stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        try:
            await asyncio.sleep(0.5)
            call = app.ua.dial(f"sip:service@127.0.0.1:{port}", b"v=0\r\n")
            assert app.shell is not None
            app.shell.transmit()
            answered = await app.wait_for(ev.CallAnswered)
            assert answered.call_id == call  # type: ignore[attr-defined]
            app.ua.hangup(call)
            app.shell.transmit()
            _, err = await asyncio.wait_for(proc.communicate(), 20)
            assert proc.returncode == 0, f"sipp uas failed: {err.decode()[-1000:]}"
        finally:
            if proc.returncode is None:
                proc.kill()
            await app.close()
    _run(main())


def test_tls_call_with_python_ssl_client(tmp_path: Path) -> None:
    """sipp here lacks TLS (`sipp -v` shows no TLS), so Python's ssl client is the peer."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)

    async def main() -> None:
        app = TestApp()
        await app.start([("tls", "127.0.0.1", 0)], str(cert), str(key))
        port = app.port("tls")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        sdp = b"v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        common = ("Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK{b}\r\n"
                  "From: <sip:t@127.0.0.1>;tag=77\r\nTo: <sip:4100@127.0.0.1>{to}\r\n"
                  "Call-ID: tls-1\r\nCSeq: {n} {m}\r\nMax-Forwards: 70\r\n")
        invite = (f"INVITE sip:4100@127.0.0.1:{port};transport=tls SIP/2.0\r\n"
                  + common.format(b="1", to="", n=1, m="INVITE")
                  + "Contact: <sips:t@127.0.0.1:5999>\r\nContent-Type: application/sdp\r\n"
                  + f"Content-Length: {len(sdp)}\r\n\r\n").encode() + sdp
        writer.write(invite)
        text = b""
        while b"SIP/2.0 200" not in text:
            text += await asyncio.wait_for(reader.read(65536), 5)
        ok = text[text.index(b"SIP/2.0 200"):].decode()
        to_line = next(line for line in ok.split("\r\n") if line.startswith("To:"))
        tag = to_line.split(";tag=")[1]
        for method, n, branch in (("ACK", 1, "2"), ("BYE", 2, "3")):
            writer.write((f"{method} sips:mcu@127.0.0.1:{port} SIP/2.0\r\n"
                          + common.format(b=branch, to=f";tag={tag}", n=n, m=method)
                          + "Content-Length: 0\r\n\r\n").encode())
        text = b""
        while b"CSeq: 2 BYE" not in text:
            text += await asyncio.wait_for(reader.read(65536), 5)
        assert b"SIP/2.0 200 OK" in text
        kinds = [type(e) for e in app.events]
        assert ev.IncomingCall in kinds and ev.CallEstablished in kinds and ev.CallEnded in kinds
        writer.close()
        await app.close()
    _run(main())
