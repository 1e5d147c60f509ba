"""Wireshark decodes what the running MCU sends on the wire: dumpcap captures loopback while the
MCU (on the standard ports: call signalling on TCP 1720, its RAS socket on UDP 1719) registers
at a test gatekeeper and takes H.323 calls in all four modes (one with video, a keyframe
request and a bit-rate cap, one the gatekeeper drops, one with a PIN by UserInputIndication)
and one refusal; tshark must find every
kind of message and nothing malformed in the MCU's H.225.0, H.245 and RAS."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mcu.synthetic.gatekeeper import GatekeeperServer
from mcu.synthetic.h323 import CallRefused, H323Site
from tests.helpers import McuProcess, wait_for

SIGNALLING, RAS = 1720, 1719  # the ports Wireshark dissects as H.225.0 without being told
MODES = [(True, True), (True, False), (False, True), (False, False)]  # (fast start, tunnelling)
ROOMS = '[[room]]\nnumber = "4100"\nname = "Open"\n[[room]]\nnumber = "4200"\nname = "PIN"\npin = "2468"\n'
# what the MCU's own messages must include (Wireshark field names)
MCU_SENDS = {"h225.callProceeding_element", "h225.connect_element", "h225.releaseComplete_element",
             "h225.fastStart", "h245.terminalCapabilitySet_element", "h245.masterSlaveDetermination_element",
             "h245.openLogicalChannel_element", "h245.openLogicalChannelAck_element",
             "h245.endSessionCommand", "h225.gatekeeperRequest_element", "h225.registrationRequest_element",
             "h225.admissionRequest_element", "h225.disengageRequest_element",
             "h225.unregistrationRequest_element"}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: apt-get install -y tshark (or bash .ci/setup.sh test); "
                    "it is the independent H.225.0/H.245 decoder")
    return path


def free(port: int, kind: int) -> None:
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:  # as the MCU's listener does: TIME-WAITs of the last run are fine
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            pytest.fail(f"port {port} on 127.0.0.1 is taken ({exc}): this test runs the MCU on the "
                        "standard H.323 ports so that Wireshark dissects them; stop whatever holds it")


class Capture:
    """dumpcap on the loopback interface into a pcapng file, stopped by SIGINT."""

    def __init__(self, path: Path, bpf: str) -> None:
        self.path = path
        self.proc = subprocess.Popen([tool("dumpcap"), "-q", "-i", "lo", "-f", bpf, "-w", str(path)],
                                     stderr=subprocess.PIPE, text=True)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:  # capturing once a probe datagram shows up in the file
            wait_for(lambda: self._probe(probe), 15, "dumpcap to start capturing")
        finally:
            probe.close()

    def _probe(self, probe: socket.socket) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"dumpcap could not capture on lo (root or CAP_NET_RAW needed): {self.proc.stderr.read()}")  # type: ignore[union-attr]
        probe.sendto(b"probe", ("127.0.0.1", RAS + 100))
        time.sleep(0.1)
        return self.path.exists() and self.path.stat().st_size > 200

    def stop(self) -> None:
        time.sleep(0.3)  # the last segments reach the file
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)


def test_wireshark_decodes_every_h225_h245_and_ras_message_the_running_mcu_sends(tmp_path: Path) -> None:
    free(SIGNALLING, socket.SOCK_STREAM)
    free(RAS, socket.SOCK_DGRAM)
    pcap = tmp_path / "mcu.pcapng"
    with GatekeeperServer() as gk:
        capture = Capture(pcap, f"tcp or (udp and (port {RAS} or port {gk.address[1]} or port {RAS + 100}))")
        extra = (f'[h323]\nhost = "127.0.0.1"\nport = {SIGNALLING}\n'
                 f'[h323.gatekeeper]\naddress = "127.0.0.1:{gk.address[1]}"\nras_port = {RAS}\n')
        refused: list[CallRefused] = []
        try:
            with McuProcess(tmp_path / "mcu", rooms=ROOMS, extra=extra) as mcu:
                wait_for(lambda: mcu.events("h323.gatekeeper_registered"), 10, "the registration")

                async def main() -> None:
                    for n, (fast_start, tunnelling) in enumerate(MODES):
                        site = H323Site(30 + n, fast_start=fast_start, tunnelling=tunnelling, video=n == 0)
                        try:
                            await site.call("127.0.0.1", SIGNALLING, "4200" if n == 2 else "4100")
                            if n == 2:
                                site.send_dtmf("2468#")
                            await site.wait_media()
                            if n == 0:
                                site.request_keyframe()
                                site.limit_bitrate(384)
                            await asyncio.sleep(1.0)
                            if n == 3:  # the gatekeeper drops this call: the MCU ends it (endSession)
                                arq = gk.of_kind("admissionRequest")[-1]
                                gk.do(lambda core: core.drop_call(arq, ("127.0.0.1", RAS)))  # noqa: B023
                                await site_ended(site)
                        finally:
                            await site.close()
                    try:
                        await H323Site(39).call("127.0.0.1", SIGNALLING, "9999")
                    except CallRefused as exc:
                        refused.append(exc)

                asyncio.run(asyncio.wait_for(main(), 60))
                wait_for(lambda: len(gk.of_kind("disengageRequest")) >= 3, 10, "a DRQ for each call the gatekeeper did not drop")
                log = mcu.log()
            wait_for(lambda: gk.of_kind("unregistrationRequest"), 5, "the URQ")
        finally:
            capture.stop()
    assert refused and refused[0].cause == 1, log[-2000:]
    tshark = tool("tshark")
    pdml = subprocess.run([tshark, "-n", "-r", str(pcap), "-T", "pdml", "-Y", "h225 || h245"],
                          capture_output=True, text=True, timeout=120, check=True).stdout
    from_mcu: set[str] = set()
    problems: list[str] = []
    packets = ET.fromstring(pdml).findall("packet")
    mcu_h245, terminal_h245 = h245_listeners(packets)
    for packet in packets:
        src, dst = (field(packet, "tcp.srcport"), field(packet, "tcp.dstport"))
        ours = src == str(SIGNALLING) or field(packet, "udp.srcport") == str(RAS) \
            or src in mcu_h245 or dst in terminal_h245
        names = {f.get("name") or "" for f in packet.iter("field")} | {p.get("name") or "" for p in packet.iter("proto")}
        bad = [t for t in (f.get("showname") or "" for f in packet.iter("field"))
               if "Malformed" in t or "Possible encoding error" in t or "[Expert Info (Error" in t]
        if "_ws.malformed" in names or bad:
            problems.append(f"frame {field(packet, 'frame.number')} from port {src}: {bad or '_ws.malformed'}")
        if ours:
            from_mcu |= names
    assert len(packets) > 30, f"only {len(packets)} H.225/H.245 frames captured"
    assert not problems, "\n".join(problems)
    missing = MCU_SENDS - from_mcu
    assert not missing, f"tshark found none of {sorted(missing)} in the MCU's messages"


async def site_ended(site: H323Site) -> None:
    for _ in range(200):
        if site.ended is not None:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"H.323 site {site.number}: the MCU did not end the call the gatekeeper dropped")


def field(packet: ET.Element, name: str) -> str | None:
    return next((f.get("show") for f in packet.iter("field") if f.get("name") == name), None)


def h245_listeners(packets: list[ET.Element]) -> tuple[set[str], set[str]]:
    """The ports of the separate H.245 channels: the MCU's (h245Address in what it sends from
    1720) and the terminals' (h245Address in what they send to it)."""
    mcu, terminals = set(), set()
    for packet in packets:
        for address in packet.iter("field"):
            if address.get("name") == "h225.h245Address":
                ports = {f.get("show") for f in address.iter("field") if f.get("name") == "h225.h245IpPort"}
                (mcu if field(packet, "tcp.srcport") == str(SIGNALLING) else terminals).update(
                    p for p in ports if p)
    return mcu, terminals
