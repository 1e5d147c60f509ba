"""Two cores back to back (harness.py): a terminal on the same library dials the MCU's
H323Call; a call completes in each H.245 mode, then commands, DTMF and hang-up flow."""

from __future__ import annotations

import pytest
from harness import MCU_PORTS, TERMINAL_PORTS, call_pair

from mcu.h323 import events as ev
from mcu.h323 import h225, q931
from mcu.h323.call import H323Call, H323Config
from mcu.h323.capabilities import G711A, CapabilitySpec, Codec
from mcu.h323.errors import H323StateError
from mcu.h323.refusal import Refusal
from mcu.h323.tpkt import encode_tpkt

MODES = {
    "fast-connect-tunnelled": {"fast_start": True, "tunnelling": True},
    "fast-connect-separate-h245": {"fast_start": True, "tunnelling": False},
    "tunnelled-h245": {"fast_start": False, "tunnelling": True},
    "separate-h245": {"fast_start": False, "tunnelling": False},
}


def _answered(mode: str):
    pair = call_pair(**MODES[mode])
    pair.mcu.accept(MCU_PORTS, 0.0)
    pair.pump()
    return pair


@pytest.mark.parametrize("mode", MODES)
def test_call_completes(mode):
    pair = call_pair(**MODES[mode])
    (incoming,) = pair.of("mcu", ev.IncomingCall)
    assert incoming.destination_aliases == [h225.Alias("dialledDigits", "4100")]
    assert incoming.source_aliases[0] == h225.Alias("h323-ID", "room12")
    assert incoming.called_number == "4100" and incoming.display == "Room 12"
    assert incoming.vendor.product == "TestTerminal"
    assert incoming.fast_start == MODES[mode]["fast_start"]
    assert incoming.h245_mode == (ev.H245_TUNNELLED if MODES[mode]["tunnelling"]
                                  else ev.H245_CONNECT)
    if incoming.fast_start:
        (offered,) = pair.of("mcu", ev.MediaOffered)
        assert [c.name for c in offered.send[("audio", "main")]] == ["G722", "PCMU", "PCMA"]
    pair.mcu.accept(MCU_PORTS, 0.0)
    pair.pump()
    assert pair.of("terminal", ev.CallAnswered)[0].vendor.product == "open-mcu"
    streams = pair.of("mcu", ev.MediaNegotiated)[-1].streams
    assert set(streams) == {("audio", "main"), ("video", "main")}
    audio, video = streams[("audio", "main")], streams[("video", "main")]
    assert audio.send.codec.name == "G722" and audio.receive.codec.name == "G722"
    assert audio.send.remote_rtp == TERMINAL_PORTS["audio"].rtp
    assert audio.send.remote_rtcp == TERMINAL_PORTS["audio"].rtcp
    assert audio.receive.remote_rtcp == TERMINAL_PORTS["audio"].rtcp
    assert audio.receive.payload_type == 9 and audio.local == MCU_PORTS["audio"]
    assert video.send.codec.name == "H264" and video.receive.payload_type == 96
    assert video.send.remote_rtp == TERMINAL_PORTS["video"].rtp
    term = pair.of("terminal", ev.MediaNegotiated)[-1].streams
    assert term[("audio", "main")].send.remote_rtp == MCU_PORTS["audio"].rtp
    assert term[("video", "main")].send.remote_rtp == MCU_PORTS["video"].rtp
    assert pair.mcu.session.is_master is True and pair.terminal.session.is_master is False
    assert not pair.of("mcu", ev.ProtocolViolation)
    assert not pair.of("terminal", ev.ProtocolViolation)
    assert not pair.of("mcu", ev.CallEnded)


@pytest.mark.parametrize("mode", MODES)
def test_commands_dtmf_and_hangup(mode):
    pair = _answered(mode)
    assert pair.mcu.request_keyframe(0.0)
    pair.terminal.send_dtmf("4#", 0.0, duration_ms=100)
    assert pair.terminal.request_keyframe(0.0)
    assert pair.terminal.limit_bitrate(0.0, "video", 384)
    pair.pump()
    assert pair.of("terminal", ev.KeyframeRequested) == [ev.KeyframeRequested()]
    assert pair.of("mcu", ev.KeyframeRequested) == [ev.KeyframeRequested()]
    assert [d.digit for d in pair.of("mcu", ev.DtmfReceived)] == ["4", "#"]
    assert pair.of("mcu", ev.BitrateLimited) == [ev.BitrateLimited(384, "video")]
    pair.mcu.hangup(0.0)
    pair.pump()
    (ended,) = pair.of("mcu", ev.CallEnded)
    assert ended.refusal == Refusal.NORMAL and not ended.by_remote and ended.cause == 16
    (term_ended,) = pair.of("terminal", ev.CallEnded)
    assert term_ended.by_remote and term_ended.refusal == Refusal.NORMAL
    assert pair.mcu.get_timer() is None


def test_reject_sends_release_complete_with_cause_and_reason():
    pair = call_pair(fast_start=True, tunnelling=True)
    pair.mcu.reject(Refusal.BUSY, 0.0)
    pair.pump()
    (ended,) = pair.of("terminal", ev.CallEnded)
    assert ended.refusal == Refusal.BUSY and ended.cause == q931.CAUSE_USER_BUSY
    assert ended.reason == h225.REASON_IN_CONF and ended.by_remote
    with pytest.raises(H323StateError):
        pair.mcu.accept(MCU_PORTS, 0.0)


def test_terminal_hangs_up_first():
    pair = _answered("separate-h245")
    pair.terminal.hangup(0.0)
    pair.pump()
    (ended,) = pair.of("mcu", ev.CallEnded)
    assert ended.by_remote and ended.refusal == Refusal.NORMAL


def test_no_common_video_gives_audio_only():
    pair = call_pair(fast_start=False, tunnelling=True,
                     terminal_spec=CapabilitySpec(audio=[G711A], video=[
                         Codec("H261", "video", max_bitrate=3840, qcif_mpi=1)]))
    pair.mcu.session.spec = CapabilitySpec(video=[Codec("H263", "video", max_bitrate=3840,
                                                        cif_mpi=1)])
    pair.mcu.accept(MCU_PORTS, 0.0)
    pair.pump()
    streams = pair.of("mcu", ev.MediaNegotiated)[-1].streams
    assert set(streams) == {("audio", "main")}
    assert streams[("audio", "main")].send.codec.name == "PCMA"


def test_status_inquiry_is_answered():
    pair = _answered("tunnelled-h245")
    inquiry = h225.build_q931(h225.UserInformation(h225.StatusInquiry(pair.terminal.call_id)),
                              pair.terminal.call_reference, False)
    pair.mcu.receive_data(encode_tpkt(bytes(inquiry)), 0.0)
    status = h225.parse_signalling(pair.mcu.data_to_send()[4:])
    assert status.q931.name == "Status" and status.q931.cause.value == 30
    assert status.q931.call_state == q931.CALL_STATE_ACTIVE


def test_garbage_first_message_ends_the_call_quietly():
    call = H323Call(H323Config(), ("10.0.0.9", 4000))
    call.receive_data(encode_tpkt(b"\x08\x02\x00\x01\x05\x7e\x00\x02\x05\xff"), 0.0)
    violation, ended = list(iter(call.next_event, None))
    assert isinstance(violation, ev.ProtocolViolation) and violation.reason == "h225 decode failed"
    assert isinstance(ended, ev.CallEnded) and ended.refusal == Refusal.PROTOCOL_ERROR
    assert call.data_to_send() == b""


def test_not_h323_on_the_port_ends_the_call():
    call = H323Call(H323Config(), ("10.0.0.9", 4000))
    call.receive_data(b"GET / HTTP/1.1\r\n\r\n", 0.0)
    violation, ended = list(iter(call.next_event, None))
    assert isinstance(violation, ev.ProtocolViolation) and violation.reason == "tpkt version is not 3"
    assert isinstance(ended, ev.CallEnded) and call.ended


def test_keepalive_tpkts_are_ignored_mid_call():
    pair = _answered("fast-connect-tunnelled")
    pair.mcu.receive_data(b"\x03\x00\x00\x04" * 3, 0.0)
    assert pair.mcu.next_event() is None and not pair.mcu.ended


def test_unanswered_h245_times_out():
    pair = call_pair(fast_start=False, tunnelling=True)
    pair.mcu.accept(MCU_PORTS, 0.0)
    pair.mcu.data_to_send()  # the Connect never reaches the terminal
    deadline = pair.mcu.get_timer()
    assert deadline == pytest.approx(30.0)
    pair.mcu.handle_timer(deadline)
    ended = [e for e in iter(pair.mcu.next_event, None) if isinstance(e, ev.CallEnded)]
    assert ended and ended[0].refusal == Refusal.PROTOCOL_ERROR


def test_dial_out_setup_times_out():
    call = H323Call.dial(H323Config(), ("10.0.0.9", 1720), [h225.Alias("dialledDigits", "1")],
                         MCU_PORTS, 0.0)
    assert call.data_to_send()
    call.handle_timer(call.get_timer())
    ended = [e for e in iter(call.next_event, None) if isinstance(e, ev.CallEnded)]
    assert ended[0].refusal == Refusal.NO_ANSWER
