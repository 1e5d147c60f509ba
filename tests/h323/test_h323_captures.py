"""The public captures (vectors/ndpi-h323*.pcap, see vectors/INDEX.tsv) decode with our
parsers: TPKT, Q.931 and H.225.0 on TCP 1720, H.245 on the separate channel (TCP 1232)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pcaplib import read_segments, tcp_streams

from mcu.h323 import capabilities as caps
from mcu.h323 import h225, h245, q931
from mcu.h323.errors import H225DecodeError, H323Error
from mcu.h323.tpkt import TpktFramer

VECTORS = Path(__file__).parent / "vectors"
CALLGEN = ("10.1.3.143", 32803, "10.1.6.18", 1720)
TERMINAL_310I = ("10.1.6.18", 1720, "10.1.3.143", 32803)
H245_FROM_310I = ("10.1.6.18", 1232, "10.1.3.143", 32804)
H245_FROM_CALLGEN = ("10.1.3.143", 32804, "10.1.6.18", 1232)


@pytest.fixture(scope="module")
def streams():
    return tcp_streams(read_segments(VECTORS / "ndpi-h323.pcap"))


def _messages(data: bytes) -> list[h225.SignallingMessage]:
    return [h225.parse_signalling(p) for p in TpktFramer().feed(data)]


def test_index_lists_the_frames_we_check():
    lines = (VECTORS / "INDEX.tsv").read_text().splitlines()
    frames = {line.split("\t")[0]: line.split("\t")[4] for line in lines[1:]}
    assert frames["6"].startswith("CS: setup") and frames["38"].startswith("openLogicalChannel")


def test_callgen_setup(streams):
    (setup,) = _messages(streams[CALLGEN].data)
    assert setup.q931.name == "Setup" and setup.q931.call_reference == 0x77F4
    body = setup.info.body
    assert isinstance(body, h225.Setup)
    assert body.source_aliases == [h225.Alias(h225.ALIAS_H323_ID, "m.jemec")]
    assert body.source_info.vendor.product == "Callgen323 pogacsam"
    assert body.source_info.vendor.t35_country == 9 and body.source_info.vendor.manufacturer == 61
    assert body.dest_call_signal_address == ("10.1.6.18", 1720)
    assert body.source_call_signal_address == ("10.1.3.143", 32803)
    assert body.conference_id.hex() == "f8fdf93ecd9ed6119ab2000476222017"
    assert body.call_id.hex() == "c0fef93ecd9ed6119ab2000476222017"
    assert not setup.info.h245_tunnelling and body.fast_start is None
    # re-encoded by pycrate, the value is the same (bitmaps may be longer: v7 knows more)
    again = h225.decode_user_information(h225.encode_user_information(setup.info))
    assert again == setup.info


def test_310i_answers(streams):
    messages = _messages(streams[TERMINAL_310I].data)
    assert [m.q931.name for m in messages] == ["CallProceeding", "Alerting", "Connect"]
    for message in messages:
        assert message.q931.from_destination and message.q931.call_reference == 0x77F4
    connect = messages[2].info.body
    assert isinstance(connect, h225.Connect)
    assert connect.h245_address == ("10.1.6.18", 1232)
    assert connect.destination_info.vendor.product == "310i"
    assert messages[2].q931.display == "M.JEMEC"


def _h245(data: bytes) -> list[h245.H245Message]:
    return [h245.decode_h245(p) for p in TpktFramer().feed(data)]


def test_310i_h245(streams):
    messages = _h245(streams[H245_FROM_310I].data)
    names = [type(m).__name__ for m in messages]
    assert names == ["TerminalCapabilitySet", "MasterSlaveDetermination",
                     "TerminalCapabilitySetAck", "MasterSlaveDeterminationAck",
                     "OpenLogicalChannel", "OpenLogicalChannelAck"]
    tcs, msd, _, msd_ack, olc, olc_ack = messages
    assert tcs.remote.audio == [caps.Codec("PCMA", "audio", frames=30)]
    assert msd.terminal_type == 0 and msd.status_determination_number == 9588693
    assert msd_ack.decision == h245.MSD_DECISION_MASTER
    assert olc.number == 61 and olc.codec.name == "PCMA" and olc.session_id == 1
    assert olc.media_control == ("10.1.6.18", 2007) and not olc.reverse
    assert olc_ack.number == 101
    assert olc_ack.media == ("10.1.6.18", 2006) and olc_ack.media_control == ("10.1.6.18", 2007)


def test_callgen_h245(streams):
    messages = _h245(streams[H245_FROM_CALLGEN].data)
    tcs, msd, tcs_ack, msd_ack, olc, olc_ack = messages
    assert isinstance(tcs, h245.TerminalCapabilitySet) and tcs.sequence_number == 1
    assert tcs.remote.audio == [caps.Codec("PCMA", "audio", frames=240)]
    assert msd.terminal_type == 50
    assert tcs_ack == h245.TerminalCapabilitySetAck(1)
    assert msd_ack.decision == h245.MSD_DECISION_SLAVE
    assert olc.number == 101 and olc.silence_suppression is True
    assert olc.media_control == ("10.1.3.143", 5001)
    assert olc_ack.number == 61 and olc_ack.media == ("10.1.3.143", 5000)


def test_abilis_setup_and_split_tpkt_header(streams):
    setup = streams[("192.168.0.208", 56837, "192.168.0.1", 1720)]
    framer = TpktFramer()
    payloads = []
    for _, _, chunk in setup.chunks:
        payloads += framer.feed(chunk)
    message = h225.parse_signalling(payloads[0])
    assert isinstance(message.info.body, h225.Setup)
    assert message.info.body.source_info.vendor is None
    assert message.info.body.source_aliases[0] == h225.Alias(h225.ALIAS_H323_ID,
                                                             "ABILIS CPX 2000")
    # the answer comes as a lone TPKT header (frame 48), then the rest (frame 50)
    answer = streams[("192.168.0.1", 1720, "192.168.0.208", 56837)]
    assert [len(c) for _, _, c in answer.chunks] == [4, 39]
    framer = TpktFramer()
    assert framer.feed(answer.chunks[0][2]) == []
    (alerting,) = framer.feed(answer.chunks[1][2])
    assert h225.parse_signalling(alerting).q931.name == "Alerting"


def test_other_vendor_setup_is_refused_like_wireshark_does(streams):
    # frame 65: Wireshark too reads "too long integer ... Malformed Packet" in the UUIE
    (payload,) = TpktFramer().feed(streams[("17.2.0.124", 3032, "17.2.0.122", 1720)].data)
    message = q931.parse_q931(payload)
    assert message.calling_number.digits == "5295672"
    assert message.called_number.digits == "9246526"
    with pytest.raises(H225DecodeError):
        h225.parse_signalling(payload)
    (release,) = _messages(streams[("17.2.0.122", 1720, "17.2.0.124", 3032)].data)
    assert release.q931.name == "ReleaseComplete"
    assert isinstance(release.info.body, h225.ReleaseComplete)


def test_overflow_capture_is_refused_with_our_errors():
    for segment in read_segments(VECTORS / "ndpi-h323-overflow.pcap"):
        if not segment.payload:
            continue
        try:
            for payload in TpktFramer().feed(segment.payload):
                h225.parse_signalling(payload)
        except H323Error:
            pass
        try:
            q931.parse_q931(segment.payload)
        except H323Error:
            pass
