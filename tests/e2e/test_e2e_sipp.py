"""The running MCU against real sipp: calls, re-INVITE hold/resume with INFO DTMF, OPTIONS,
malformed requests, unknown and full rooms."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import McuProcess

SCENARIOS = Path(__file__).resolve().parents[1] / "sip" / "scenarios"
pytestmark = pytest.mark.peer

EXPECT_STATUS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="INVITE answered with {code}">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="{code}"/>
  <send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
</scenario>
"""


def sipp(port: int, scenario: Path | str, service: str, transport: str = "u1", calls: int = 1,
         extra: list[str] | None = None) -> subprocess.CompletedProcess:
    binary = shutil.which("sipp")
    if binary is None:
        pytest.fail("sipp not found: the test setup installs Debian's sip-tester (bash .ci/setup.sh test)")
    args = [binary, f"127.0.0.1:{port}", "-s", service, "-t", transport, "-m", str(calls), "-nostdin",
            "-i", "127.0.0.1", "-p", "0", "-timeout", "20s", "-timeout_error", "-trace_err",
            "-error_file", "/dev/stderr", *(extra or [])]
    args += ["-sf", str(scenario)] if str(scenario).endswith(".xml") else ["-sn", str(scenario)]
    return subprocess.run(args, check=False, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def mcu(tmp_path_factory: pytest.TempPathFactory):
    # sipp places every call from one address: give it the limits a trusted front door would get
    limits = "[limits]\ncalls_per_second = 100\ncall_burst = 100\nunconfirmed_calls = 100\n"
    with McuProcess(tmp_path_factory.mktemp("mcu"), extra=limits) as process:
        yield process


@pytest.mark.parametrize("transport", ["u1", "t1"])
@pytest.mark.parametrize("scenario", ["uac_bye", "reinvite_hold", "options", "malformed"])
def test_scenarios_against_the_mcu(mcu: McuProcess, scenario: str, transport: str) -> None:
    before = len(mcu.events("member.joined"))
    result = sipp(mcu.sip_port, SCENARIOS / f"{scenario}.xml", "4100", transport)
    assert result.returncode == 0, f"sipp {scenario} ({transport}) failed:\n{result.stderr[-2000:]}"
    if scenario in ("uac_bye", "reinvite_hold"):
        assert len(mcu.events("member.joined")) == before + 1, "the caller joined room 4100"


def test_unknown_room_gets_404_and_full_room_486(mcu: McuProcess, tmp_path: Path) -> None:
    for code, service, calls in (("404", "9999", 1), ("486", "4200", 1)):
        scenario = tmp_path / f"expect_{code}.xml"
        scenario.write_text(EXPECT_STATUS.format(code=code))
        if code == "486":
            # Room 4200 holds 2 members: fill it with two callers that stay (PIN entry keeps them).
            holders = [subprocess.Popen([shutil.which("sipp") or "sipp", f"127.0.0.1:{mcu.sip_port}",
                                         "-sn", "uac", "-s", "4200", "-m", "1", "-d", "8000", "-nostdin",
                                         "-i", "127.0.0.1", "-p", "0", "-timeout", "30s"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
            from tests.helpers import wait_for
            wait_for(lambda: len(mcu.events("member.pin_prompt")) >= 2, 15, "two callers in room 4200")
        result = sipp(mcu.sip_port, scenario, service)
        assert result.returncode == 0, f"expected {code} for room {service}:\n{result.stderr[-2000:]}"
        if code == "486":
            for holder in holders:
                holder.wait(30)
    rejected = {e["status"] for e in mcu.events("call.rejected")}
    assert {404, 486} <= rejected


def test_call_rate_burst_leaves_no_member_behind(mcu: McuProcess) -> None:
    before_join, before_left = len(mcu.events("member.joined")), len(mcu.events("member.left"))
    result = sipp(mcu.sip_port, "uac", "4100", calls=30, extra=["-r", "30", "-d", "200"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(mcu.events("member.joined")) - before_join == 30
    from tests.helpers import wait_for
    wait_for(lambda: len(mcu.events("member.left")) - before_left == 30, 10, "30 members to leave")


def test_invite_without_offer_gets_our_offer_and_joins_with_the_answer_in_ack(mcu: McuProcess) -> None:
    before = len(mcu.events("member.joined"))
    scenario = Path(__file__).parent / "scenarios" / "invite_no_offer.xml"
    result = sipp(mcu.sip_port, scenario, "4100")
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(mcu.events("member.joined")) == before + 1, mcu.log()[-2000:]


def test_reinvite_to_a_new_port_moves_our_media_there(mcu: McuProcess) -> None:
    """The caller's audio moves to media_port+10 by re-INVITE: the MCU's RTP must follow. sipp echoes
    our RTP from its first port (-rtp_echo), so the MCU has latched there before the move."""
    import socket
    import threading
    import time

    from tests.helpers import free_port

    media_port = free_port()
    while media_port % 2:
        media_port = free_port()
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", media_port + 10))
    listener.settimeout(0.2)
    arrivals: list[float] = []
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            try:
                listener.recv(2048)
                arrivals.append(time.monotonic())
            except TimeoutError:
                continue

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        result = sipp(mcu.sip_port, Path(__file__).parent / "scenarios" / "reinvite_move.xml", "4100",
                      extra=["-mp", str(media_port), "-rtp_echo"])
    finally:
        done.set()
        thread.join(2)
        listener.close()
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(arrivals) > 50, f"only {len(arrivals)} RTP packets reached the new port"
    assert min(arrivals) - started > 0.9, "nothing is sent to the new port before the re-INVITE moves it there"
