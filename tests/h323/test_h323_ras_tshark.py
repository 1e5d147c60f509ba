"""Wireshark as an independent decoder of RAS: every message the MCU's RAS core sends (and the
test gatekeeper's answers) in one scenario, written to a pcap as UDP to and from port 1719;
`tshark -V` must find each h225.RasMessage and nothing malformed."""

from __future__ import annotations

import subprocess

from pcaplib import PcapWriter
from test_h323_ras import CALL_ID, CONF_ID, MCU_RAS, MCU_SIGNALLING, Pair
from test_h323_tshark import _tshark

from mcu.h323 import rasmessages as rm
from mcu.h323.h225 import ALIAS_DIALED_DIGITS, ALIAS_H323_ID, Alias

# what we send, as tshark names the RasMessage choices and the fields that matter
EXPECTED_FIELDS = ["h225.gatekeeperRequest_element", "h225.registrationRequest_element",
                   "h225.admissionRequest_element", "h225.disengageRequest_element",
                   "h225.infoRequestResponse_element", "h225.unregistrationConfirm_element",
                   "h225.disengageConfirm_element", "h225.unregistrationRequest_element",
                   "h225.mcu_element", "h225.dialledDigits", "h225.h323_ID", "h225.keepAlive",
                   "h225.answerCall", "h225.perCallInfo", "h225.endpointIdentifier"]
EXPECTED_SUMMARY = ["RAS: gatekeeperRequest", "RAS: gatekeeperConfirm", "RAS: registrationRequest",
                    "RAS: registrationConfirm", "RAS: admissionRequest", "RAS: admissionConfirm",
                    "RAS: disengageRequest", "RAS: infoRequestResponse", "RAS: unregistrationRequest",
                    "RAS: unregistrationConfirm", "RAS: disengageConfirm"]


def _scenario() -> Pair:
    """Registration, a keep-alive, an incoming and an outgoing call (ARQ, DRQ), an IRQ, the
    gatekeeper's DRQ and URQ (answered, then a new registration), and our URQ on stop."""
    pair = Pair(ttl=20)
    pair.register()
    pair.advance(11.0)  # a keep-alive RRQ
    site = [Alias(ALIAS_H323_ID, "site7")]
    pair.mcu.admit(CALL_ID, CONF_ID, 77, answer_call=True, source_aliases=site,
                   destination_aliases=[Alias(ALIAS_DIALED_DIGITS, "4100")], now=pair.now,
                   src_call_signal_address=("127.0.0.3", 40000), dest_call_signal_address=MCU_SIGNALLING)
    pair.mcu.admit(CONF_ID, CALL_ID, 78, answer_call=False, source_aliases=[Alias(ALIAS_H323_ID, "open-mcu")],
                   destination_aliases=site, now=pair.now, dest_call_signal_address=("127.0.0.3", 1720))
    pair.pump()
    pair.gk.info_request(MCU_RAS)
    pair.pump()
    pair.mcu.disengage(CALL_ID, pair.now)
    pair.pump()
    (_, outgoing) = pair.gk.of_kind(rm.ARQ)
    pair.gk.drop_call(outgoing, MCU_RAS)  # type: ignore[arg-type]
    pair.pump()
    pair.gk.unregister("ep1", MCU_RAS)
    pair.pump()
    pair.mcu.stop(pair.now)
    pair.pump()
    return pair


def test_tshark_decodes_every_ras_message_we_send(tmp_path):
    tshark = _tshark()
    pair = _scenario()
    assert pair.mcu.stopped
    writer = PcapWriter()
    for src, dst, data in pair.gk.wire:
        writer.datagram(src, dst, data)
    pcap = tmp_path / "ras.pcap"
    writer.write(pcap)
    verbose = subprocess.run([tshark, "-n", "-r", str(pcap), "-V"], capture_output=True, text=True,
                             timeout=120, check=True).stdout
    assert "Malformed" not in verbose, verbose
    assert "[Expert Info (Error" not in verbose and "[Expert Info (Warning" not in verbose, verbose
    assert "Possible encoding error" not in verbose and "UNKNOWN PER" not in verbose, verbose
    assert "keepAlive: True" in verbose and "answerCall: True" in verbose, verbose
    fields = subprocess.run([tshark, "-n", "-r", str(pcap), "-T", "pdml"], capture_output=True,
                            text=True, timeout=120, check=True).stdout
    for name in EXPECTED_FIELDS:
        assert f'name="{name}"' in fields, f"tshark found no {name}"
    summary = subprocess.run([tshark, "-n", "-r", str(pcap)], capture_output=True, text=True,
                             timeout=120, check=True).stdout
    for text in EXPECTED_SUMMARY:
        assert text in summary, summary
    frames = summary.strip().splitlines()
    assert len(frames) == len(pair.gk.wire) and all("RAS:" in f for f in frames), summary
