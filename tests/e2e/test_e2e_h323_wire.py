"""Wireshark as an independent decoder of what the running MCU puts on the wire: dumpcap captures
loopback while one `mcu serve`, registered at the test gatekeeper (RAS on UDP), takes H.323 calls
in the four signalling modes (fast connect tunnelled, fast connect with H.245 on its own
connection, H.245 tunnelled without fast start, H.245 on its own connection), a PIN room entered
by UserInputIndication, a video call with videoFastUpdatePicture and flowControlCommand, a call
to an unknown room (released by the MCU) and a dial-out to a listening terminal (released when the
MCU stops, which also unregisters it). Debian's tshark then decodes the capture: every frame the
MCU sent with TCP payload is Q.931/H.225.0 or H.245, every RAS datagram H.225.0 RAS, each message
kind is there, and nothing is malformed, flagged by an expert item or left undecoded."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mcu.h323 import rasmessages as rm
from mcu.synthetic.gatekeeper import GatekeeperServer
from mcu.synthetic.h323 import CallRefused, H323Site
from tests.helpers import McuProcess, free_port, until

REPO = Path(__file__).resolve().parents[2]
TIME_TO_LIVE = 4  # s: short, so that a keep-alive RRQ goes out within the test
Address = tuple[str, int]
H323_PROTOS = {"tpkt", "q931", "h225", "h245", "per"}
# a value whose name is "Unknown" (Q.931 type of number / numbering plan 0) is decoded, not unknown
UNKNOWN_IS_A_VALUE = {"q931.number_type", "q931.numbering_plan"}
UNDECODED = re.compile(r"unknown|undecoded|not decoded|malformed|encoding error|not implemented",
                       re.IGNORECASE)

# what the MCU must send, as tshark names it, in any of its conversations
MCU_SENDS = {
    "RAS": ["h225.gatekeeperRequest_element", "h225.registrationRequest_element",
            "h225.admissionRequest_element", "h225.disengageRequest_element",
            "h225.unregistrationRequest_element", "h225.disengageConfirm_element",
            "h225.mcu_element", "h225.dialledDigits"],
    "H.225.0": ["h225.setup_element", "h225.callProceeding_element", "h225.connect_element",
                "h225.releaseComplete_element", "h225.fastStart"],
    "H.245": ["h245.terminalCapabilitySet_element", "h245.terminalCapabilitySetAck_element",
              "h245.masterSlaveDetermination_element", "h245.masterSlaveDeterminationAck_element",
              "h245.openLogicalChannel_element", "h245.openLogicalChannelAck_element",
              "h245.h2250LogicalChannelParameters_element", "h245.genericVideoCapability_element",
              "h245.endSessionCommand"],
}
# what the terminals sent, so that the MCU's answers to them are on the wire too
TERMINALS_SEND = ["h245.userInput", "h245.videoFastUpdatePicture_element",
                  "h245.flowControlCommand_element", "h225.registrationConfirm_element",
                  "h225.admissionConfirm_element", "h225.disengageConfirm_element",
                  "h225.unregistrationConfirm_element", "h225.disengageRequest_element"]


# ---------------------------------------------------------------------------------- capture


class Capture:
    """dumpcap on lo with a BPF filter, writing pcapng; stopped with SIGINT."""

    def __init__(self, path: Path, bpf: str) -> None:
        dumpcap = shutil.which("dumpcap") or ("/usr/bin/dumpcap" if Path("/usr/bin/dumpcap").exists() else None)
        if dumpcap is None or shutil.which("tshark") is None:
            pytest.fail("dumpcap/tshark are missing: install the Debian package (apt-get install -y tshark); "
                        "Wireshark is the independent decoder of what the MCU sends")
        self.path = path
        self.stderr: list[str] = []
        self.started = threading.Event()
        self.proc = subprocess.Popen([dumpcap, "-i", "lo", "-f", bpf, "-w", str(path)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 15
        while not (self.started.is_set() and path.exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("dumpcap cannot capture on the loopback interface (it needs root, or "
                            "`setcap cap_net_raw,cap_net_admin=eip /usr/bin/dumpcap` and membership of "
                            "the wireshark group; `dpkg-reconfigure wireshark-common`):\n"
                            + "".join(self.stderr))
            time.sleep(0.02)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            if "Capturing on" in line:
                self.started.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def bpf_filter(h323_port: int, ras_ports: list[int]) -> str:
    """The MCU's call-signalling port, the RAS ports, and the ephemeral TCP ports: H.245 runs between
    ports that neither side knows before the call (and a dial-out leaves from one)."""
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return (f"tcp port {h323_port} or tcp portrange {low}-{high} or "
            + " or ".join(f"udp port {p}" for p in ras_ports))


# ---------------------------------------------------------------------------------- decoding


@dataclass
class Frame:
    number: int
    src: Address
    dst: Address
    transport: str  # "tcp" or "udp"
    payload: int  # bytes of TCP/UDP payload
    protocols: str  # frame.protocols, e.g. eth:ethertype:ip:tcp:tpkt:q931:h225:h245
    reassembled_in: int | None  # a TCP segment of a PDU that tshark completes in a later frame
    retransmission: bool  # the kernel sent these bytes again (tshark decodes them once)
    names: set[str] = field(default_factory=set)  # field names in the H.323 protocols
    values: dict[str, set[str]] = field(default_factory=dict)  # their values, as tshark shows them
    problems: list[str] = field(default_factory=list)


def _walk(elem: ET.Element, proto: str, frame: Frame) -> None:
    for child in elem:
        name = child.get("name", "")
        here = name if child.tag == "proto" else proto
        showname = child.get("showname") or child.get("show") or ""
        if name.startswith("_ws.malformed") or name == "_ws.short" or name == "_ws.unreassembled":
            frame.problems.append(f"{name}: {showname}")
        elif here in H323_PROTOS or name.split(".")[0] in H323_PROTOS:
            if name == "_ws.expert":
                frame.problems.append(f"{here}: {showname}")
            elif name.startswith(("per.error", "per.encoding_error", "per.size_constraint",
                                  "per.choice_extension_unknown", "per.sequence_extension_unknown")):
                frame.problems.append(f"{name}: {showname}")
            elif UNDECODED.search(showname) and name not in UNKNOWN_IS_A_VALUE:
                frame.problems.append(f"{name or child.tag}: {showname}")
            if child.tag == "field" and name:
                frame.names.add(name)
                frame.values.setdefault(name, set()).add(child.get("show") or "")
        _walk(child, here, frame)


def _first(packet: ET.Element, name: str) -> str | None:
    found = packet.find(f".//field[@name='{name}']")
    return None if found is None else found.get("show")


def decode(pcap: Path, ras_ports: list[int], h245_ports: set[int], display: str) -> list[Frame]:
    """tshark -T pdml over the capture: H.225.0 RAS on our RAS ports (not 1719), H.225.0 call
    signalling found by the Q.931-over-TPKT heuristic on any port, H.245 by the h245Address in
    H.225.0 and, to be sure, by decode-as on the ports the terminals' H.245 channels used."""
    decodes = [arg for p in ras_ports for arg in ("-d", f"udp.port=={p},h225")]
    decodes += [arg for p in sorted(h245_ports) for arg in ("-d", f"tcp.port=={p},h245")]
    result = subprocess.run(["tshark", "-n", "-r", str(pcap), *decodes, "-Y", display, "-T", "pdml"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"tshark failed: {result.stderr}"
    frames = []
    for packet in ET.fromstring(result.stdout).iter("packet"):
        transport = "tcp" if packet.find("proto[@name='tcp']") is not None else "udp"
        src = (_first(packet, "ip.src") or "", int(_first(packet, f"{transport}.srcport") or 0))
        dst = (_first(packet, "ip.dst") or "", int(_first(packet, f"{transport}.dstport") or 0))
        length = _first(packet, "tcp.len") if transport == "tcp" else _first(packet, "udp.length")
        payload = int(length or 0) - (8 if transport == "udp" else 0)
        reassembled = _first(packet, "tcp.reassembled_in")
        retransmission = any(packet.find(f".//field[@name='tcp.analysis.{kind}']") is not None
                             for kind in ("retransmission", "fast_retransmission", "spurious_retransmission"))
        frame = Frame(int(_first(packet, "frame.number") or 0), src, dst, transport, payload,
                      _first(packet, "frame.protocols") or "", int(reassembled) if reassembled else None,
                      retransmission)
        _walk(packet, "", frame)
        frames.append(frame)
    return frames


# ---------------------------------------------------------------------------------- the calls


@dataclass
class Leg:
    """One TCP connection of a call as the terminal saw it: the MCU's end and the terminal's."""

    label: str  # e.g. "fast-connect signalling", "separate-h245 H.245"
    mcu: Address
    terminal: Address


def legs_of(site: H323Site, label: str) -> list[Leg]:
    connection = site._connection  # the terminal's own sockets name the MCU's ports
    assert connection is not None and connection.transport is not None, label
    legs = []
    for kind, transport in (("signalling", connection.transport), ("H.245", connection.h245)):
        if transport is not None:
            mine, theirs = transport.get_extra_info("sockname"), transport.get_extra_info("peername")
            legs.append(Leg(f"{label} {kind}", (theirs[0], theirs[1]), (mine[0], mine[1])))
    return legs


MODES = {"fast-connect": (True, True), "separate-h245-fast": (True, False),
         "tunnelled-h245": (False, True), "separate-h245": (False, False)}


def test_wireshark_decodes_every_h225_h245_and_ras_message_the_running_mcu_sends(tmp_path: Path) -> None:
    token = "wire-test-token-0123456789"
    (tmp_path / "admin.token").write_text(token + "\n", encoding="utf-8")
    h323_port, ras_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    admin_port = free_port(socket.SOCK_STREAM)
    legs: list[Leg] = []
    facts: dict[str, object] = {}
    with GatekeeperServer() as gk:
        gk_host, gk_port = gk.address
        ras_ports = [ras_port, gk_port]
        capture = Capture(tmp_path / "h323.pcapng", bpf_filter(h323_port, ras_ports))
        try:
            extra = (f'[h323]\nhost = "127.0.0.1"\nport = {h323_port}\n'
                     f'[h323.gatekeeper]\naddress = "{gk_host}:{gk_port}"\ntime_to_live = {TIME_TO_LIVE}\n'
                     f'ras_port = {ras_port}\n'
                     f'[admin]\nport = {admin_port}\ntoken_file = "admin.token"\n')
            mcu = McuProcess(tmp_path, extra=extra)
            try:
                asyncio.run(asyncio.wait_for(_calls(mcu, gk, h323_port, ras_port, legs, facts), 40))
            finally:
                mcu.stop()
            log = mcu.log()
            time.sleep(0.2)  # the UCF on its way to the capture
        finally:
            capture.stop()
        urqs = gk.of_kind(rm.URQ)
    context = f"facts={facts}\nMCU log:\n{log[-3000:]}"
    assert "Traceback" not in log, context
    assert urqs, f"the MCU must unregister when it stops\n{context}"

    mcu_ends = {("127.0.0.1", h323_port), ("127.0.0.1", ras_port)} | {leg.mcu for leg in legs}
    conversations = {frozenset((leg.mcu, leg.terminal)): leg.label for leg in legs}
    conversations[frozenset((("127.0.0.1", ras_port), (gk_host, gk_port)))] = "RAS"
    tcp_ports = sorted({p for leg in legs for p in (leg.mcu[1], leg.terminal[1])})
    display = (f"tcp.port in {{{', '.join(map(str, tcp_ports))}}} or "
               f"(udp.port == {ras_port} and udp.port == {gk_port})")
    h245_ports = {leg.terminal[1] for leg in legs if leg.label.endswith("H.245")}
    frames = [f for f in decode(capture.path, ras_ports, h245_ports, display)
              if frozenset((f.src, f.dst)) in conversations]

    sent: dict[str, Counter[str]] = {"MCU": Counter(), "terminal": Counter()}  # field name: frames
    by_leg: dict[str, Counter[str]] = {}
    undecoded, problems = [], []
    for f in frames:
        who = "MCU" if f.src in mcu_ends else "terminal"
        label = conversations[frozenset((f.src, f.dst))]
        where = f"frame {f.number} {who} {f.src[1]}->{f.dst[1]} ({label}, {f.protocols})"
        if f.payload <= 0 or f.retransmission:
            continue
        layers = f.protocols.split(":")
        if f.transport == "udp" and "h225" not in layers:
            undecoded.append(where)
        if f.transport == "tcp" and f.reassembled_in is None and not ("h225" in layers or "h245" in layers):
            undecoded.append(where)
        problems += [f"{where}: {p}" for p in f.problems]
        sent[who].update(f.names)
        by_leg.setdefault(f"{who} {label}", Counter()).update(f.names)
    summary = "\n".join(f"{k}: {sorted(n for n in c if n.endswith(('_element', 'Command')))}"
                        for k, c in sorted(by_leg.items()))
    report = f"{summary}\n{context}"

    assert frames, f"nothing of ours in the capture\n{''.join(capture.stderr)}\n{report}"
    assert not problems, "tshark flags the H.323 messages:\n" + "\n".join(problems[:40]) + "\n" + report
    assert not undecoded, "frames tshark does not decode as H.225.0/H.245/RAS:\n" + "\n".join(undecoded)
    for kind, names in MCU_SENDS.items():
        missing = [n for n in names if not sent["MCU"][n]]
        assert not missing, f"no {kind} {missing} from the MCU on the wire\n{report}"
    missing = [n for n in TERMINALS_SEND if not sent["terminal"][n]]
    assert not missing, f"no {missing} from the terminals/gatekeeper on the wire\n{report}"
    rrqs = [f.values.get("h225.keepAlive") for f in frames if f.src == ("127.0.0.1", ras_port)
            and "h225.registrationRequest_element" in f.names]
    assert {"0"} in rrqs and {"1"} in rrqs, f"a full RRQ and a keep-alive RRQ: {rrqs}\n{report}"

    def mcu_sent(label: str, name: str) -> bool:
        return bool(by_leg.get(f"MCU {label}", Counter())[name])

    for mode, (fast_start, tunnelling) in MODES.items():
        h245_leg = f"{mode} signalling" if tunnelling else f"{mode} H.245"
        assert mcu_sent(f"{mode} signalling", "h225.connect_element"), f"{mode}: the MCU's Connect\n{report}"
        assert mcu_sent(f"{mode} signalling", "h225.callProceeding_element"), f"{mode}\n{report}"
        assert mcu_sent(f"{mode} signalling", "h225.fastStart") == fast_start, f"{mode}: fast start\n{report}"
        assert mcu_sent(h245_leg, "h245.terminalCapabilitySet_element"), f"{mode}: H.245 on {h245_leg}\n{report}"
        assert mcu_sent(h245_leg, "h245.masterSlaveDeterminationAck_element"), f"{mode}\n{report}"
        if not fast_start:
            assert mcu_sent(h245_leg, "h245.openLogicalChannel_element"), f"{mode}: OLC\n{report}"
            assert mcu_sent(h245_leg, "h245.openLogicalChannelAck_element"), f"{mode}: OLC Ack\n{report}"
        if not tunnelling:
            assert not mcu_sent(f"{mode} signalling", "h245.terminalCapabilitySet_element"), report
    assert facts.get("unknown room") == 1, f"unknown room: Q.850 cause 1\n{report}"
    assert mcu_sent("unknown-room signalling", "h225.releaseComplete_element"), report
    for name in ("h225.releaseComplete_element", "h245.endSessionCommand"):  # the call the gatekeeper dropped
        assert mcu_sent("tunnelled-h245 signalling", name), f"{name} from the MCU\n{report}"
    assert mcu_sent("dial-out signalling", "h225.setup_element"), report
    assert mcu_sent("dial-out signalling", "h225.releaseComplete_element"), report
    assert mcu_sent("dial-out H.245", "h245.openLogicalChannel_element"), report


async def _calls(mcu: McuProcess, gk: GatekeeperServer, port: int, ras_port: int, legs: list[Leg],
                 facts: dict[str, object]) -> None:
    """The four modes in turn (the PIN room in the first, video in the last, the gatekeeper drops
    the third: the MCU releases it), a refusal, a keep-alive, then a dial-out left up until the
    MCU stops."""
    await until(lambda: gk.core.endpoints, 10, "the MCU's registration at the gatekeeper")
    for mode, (fast_start, tunnelling) in MODES.items():
        video = mode == "separate-h245"
        site = H323Site(31 + len(legs), fast_start=fast_start, tunnelling=tunnelling, video=video)
        try:
            room = "4200" if mode == "fast-connect" else "4100"
            joined = len(mcu.events("member.joined"))
            await site.call("127.0.0.1", port, room)
            if not tunnelling:
                await until(lambda: site.h245_channel, 5, f"{mode}: the H.245 connection")  # noqa: B023
            legs += legs_of(site, mode)
            if room == "4200":  # the PIN, by UserInputIndication
                site.send_dtmf("2468#")
                await until(lambda: len(mcu.events("member.joined")) > joined, 5,  # noqa: B023
                            f"{mode}: member.joined after the PIN")
            else:
                await until(lambda: len(mcu.events("member.joined")) > joined, 5,  # noqa: B023
                            f"{mode}: member.joined")
                site.send_dtmf("5")
            if video:
                await until(site.video_up.is_set, 5, "H.264 channels both ways")
                site.request_keyframe()
                site.limit_bitrate(256)
                await until(lambda: any(e.get("video_kbps") == 256 for e in mcu.events("member.media_changed")),
                            5, "the video encoder at 256 kbit/s after the flowControlCommand")
            await asyncio.sleep(0.1)  # the MCU's answers to the last indications
            if mode == "tunnelled-h245":  # the gatekeeper drops the call: the MCU releases it, DCF
                arq = gk.of_kind(rm.ARQ)[-1]
                gk.do(lambda core: core.drop_call(arq, ("127.0.0.1", ras_port)))  # type: ignore[arg-type]  # noqa: B023
                await until(lambda: site.ended is not None, 5, "the MCU to release the dropped call")  # noqa: B023
        finally:
            await site.close()

    lost = H323Site(40)
    try:
        await lost.call("127.0.0.1", port, "9999")
    except CallRefused as exc:
        facts["unknown room"] = exc.cause
    finally:
        await lost.close()
    legs += legs_of(lost, "unknown-room")
    await until(lambda: len(gk.of_kind(rm.DRQ)) >= 3, 5, "a DRQ for each call the gatekeeper did not drop")
    facts["keep-alive"] = await until(lambda: any(getattr(m, "keep_alive", False) for m in gk.of_kind(rm.RRQ)),
                                      TIME_TO_LIVE + 1, "a keep-alive RRQ")

    dialled = H323Site(41, fast_start=False, tunnelling=False)
    try:
        host, listen_port = await dialled.listen()
        dial = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "mcu", "dial", "4100", f"h323:site41@{host}:{listen_port}",
                             "-c", str(mcu.config)],
            check=False, capture_output=True, text=True, timeout=20, cwd=REPO, env=os.environ.copy())
        facts["dial"] = dial.returncode, (dial.stdout + dial.stderr)[-500:]
        await dialled.wait_media(10)
        await until(lambda: dialled.h245_channel, 5, "dial-out: the H.245 connection")
        legs += legs_of(dialled, "dial-out")
        await asyncio.to_thread(mcu.stop)  # the MCU releases the call, disengages and unregisters
        await until(lambda: dialled.ended is not None, 5, "the MCU's ReleaseComplete to the dialled terminal")
    finally:
        await dialled.close()
