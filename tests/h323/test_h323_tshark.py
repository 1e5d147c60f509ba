"""Wireshark as an independent decoder: the bytes of the back-to-back calls are written to a
pcap (fake TCP/IPv4 on 127.0.0.x: call signalling on 1720, H.245 on its own port) and
`tshark -V` must name the messages and find nothing malformed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from harness import MCU_H245_PORT, MCU_PORTS, SIGNALLING_PORT, call_pair
from pcaplib import PcapWriter
from test_h323_call import MODES

from mcu.h323.refusal import Refusal
from tests.helpers import need_tshark

# the fields tshark names for what each mode must carry
EXPECTED = {
    "fast-connect-tunnelled": ["h225.setup_element", "h225.callProceeding_element",
                               "h225.connect_element", "h225.fastStart",
                               "h245.terminalCapabilitySet_element",
                               "h245.masterSlaveDetermination_element",
                               "h245.videoFastUpdatePicture_element",
                               "h225.releaseComplete_element"],
    "fast-connect-separate-h245": ["h225.setup_element", "h225.fastStart",
                                   "h245.terminalCapabilitySet_element",
                                   "h245.masterSlaveDeterminationAck_element",
                                   "h245.endSessionCommand"],
    "tunnelled-h245": ["h225.setup_element", "h245.terminalCapabilitySet_element",
                       "h245.openLogicalChannel_element",
                       "h245.openLogicalChannelAck_element",
                       "h245.h2250LogicalChannelParameters_element",
                       "h245.userInput", "h245.flowControlCommand_element"],
    "separate-h245": ["h225.setup_element", "h245.terminalCapabilitySet_element",
                      "h245.openLogicalChannel_element", "h245.openLogicalChannelAck_element",
                      "h245.genericVideoCapability_element", "h245.maximumBitRate"],
}


def _tshark() -> str:
    return need_tshark("H.225/H.245")


def _record(mode: str, path: Path) -> None:
    pair = call_pair(**MODES[mode])
    pair.mcu.accept(MCU_PORTS, 0.0)
    pair.pump()
    pair.mcu.request_keyframe(0.0)
    pair.terminal.send_dtmf("7", 0.0)
    pair.terminal.limit_bitrate(0.0, "video", 512)
    pair.pump()
    pair.mcu.hangup(0.0, Refusal.NORMAL)
    pair.pump()
    writer = PcapWriter()
    connected: set[tuple] = set()
    for src, dst, data in pair.wire.records:
        key = tuple(sorted((src, dst)))
        if key not in connected:
            connected.add(key)
            client, server = (src, dst) if dst[1] in (SIGNALLING_PORT, MCU_H245_PORT) else (
                dst, src)
            writer.connect(client, server)
        writer.send(src, dst, data)
    writer.write(path)


@pytest.mark.parametrize("mode", MODES)
def test_tshark_decodes_our_calls(mode, tmp_path):
    tshark = _tshark()
    pcap = tmp_path / f"{mode}.pcap"
    _record(mode, pcap)
    decode = ["-d", f"tcp.port=={MCU_H245_PORT},h245"]  # 1720 is H.225.0 by default
    verbose = subprocess.run([tshark, "-n", "-r", str(pcap), "-V", *decode],
                             capture_output=True, text=True, timeout=120, check=True).stdout
    assert "Malformed" not in verbose, verbose
    assert "[Expert Info (Error" not in verbose, verbose
    assert "Possible encoding error" not in verbose, verbose
    fields = subprocess.run([tshark, "-n", "-r", str(pcap), "-T", "pdml", *decode],
                            capture_output=True, text=True, timeout=120, check=True).stdout
    for name in EXPECTED[mode]:
        assert f'name="{name}"' in fields, f"tshark found no {name} in {mode}"
    summary = subprocess.run([tshark, "-n", "-r", str(pcap), *decode],
                             capture_output=True, text=True, timeout=120, check=True).stdout
    assert "CS: setup" in summary and "CS: releaseComplete" in summary, summary


def test_tshark_decodes_a_refusal_with_reason(tmp_path):
    """A ReleaseComplete with a reason and a callIdentifier: the case pycrate 0.8 mis-encodes
    without the fix in mcu/h323/per.py (Wireshark: "open type length 0")."""
    tshark = _tshark()
    pair = call_pair(fast_start=True, tunnelling=True)
    pair.mcu.reject(Refusal.BUSY, 0.0)
    pair.pump()
    writer = PcapWriter()
    first = pair.wire.records[0]
    writer.connect(first[0], first[1])
    for src, dst, data in pair.wire.records:
        writer.send(src, dst, data)
    pcap = tmp_path / "refused.pcap"
    writer.write(pcap)
    verbose = subprocess.run([tshark, "-n", "-r", str(pcap), "-V"], capture_output=True,
                             text=True, timeout=120, check=True).stdout
    assert "reason: inConf" in verbose and "Cause value: User busy" in verbose, verbose
    assert "Malformed" not in verbose and "Possible encoding error" not in verbose, verbose
