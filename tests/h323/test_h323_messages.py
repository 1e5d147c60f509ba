"""H.225.0 UUIEs and H.245 messages: every message we build goes through pycrate and our
parser and comes back equal; refusals map both ways; fast connect chooses cleanly."""

from __future__ import annotations

import pytest

from mcu.h323 import capabilities as caps
from mcu.h323 import h225, h245, q931
from mcu.h323.errors import H225DecodeError, H225UnexpectedError, H245DecodeError
from mcu.h323.events import MediaPorts
from mcu.h323.faststart import (
    DIRECTION_CALLER_RECEIVES,
    DIRECTION_CALLER_SENDS,
    choose_fast_start,
    fast_start_answer,
)
from mcu.h323.refusal import Refusal, from_h323, to_h323

CALL_ID = bytes(range(16))
CONF_ID = bytes(range(16, 32))
MCU_INFO = h225.EndpointInfo(h225.VendorInfo("open-mcu", "0.1"), h225.ENDPOINT_MCU, mc=True)


def _olc_audio() -> h245.OpenLogicalChannel:
    return h245.OpenLogicalChannel(1, caps.G711U, 1, ("10.0.0.2", 5001))


BODIES = [
    h225.Setup(
        conference_id=CONF_ID, call_id=CALL_ID,
        source_info=h225.EndpointInfo(h225.VendorInfo("Room", "2.1", 9, 0, 61)),
        source_aliases=[h225.Alias(h225.ALIAS_H323_ID, "salle-12"),
                        h225.Alias(h225.ALIAS_DIALED_DIGITS, "5512")],
        destination_aliases=[h225.Alias(h225.ALIAS_DIALED_DIGITS, "4100"),
                             h225.Alias(h225.ALIAS_URL, "h323:4100@mcu.example.gov")],
        dest_call_signal_address=("10.0.0.1", 1720),
        source_call_signal_address=("10.0.0.2", 40000),
        h245_address=("10.0.0.2", 1300),
        fast_start=[h245.encode_fast_start(_olc_audio())],
    ),
    h225.Setup(conference_id=CONF_ID, call_id=CALL_ID, dest_call_signal_address=("::1", 1720)),
    h225.CallProceeding(CALL_ID, MCU_INFO),
    h225.Alerting(CALL_ID, MCU_INFO, h245_address=("10.0.0.1", 1300)),
    h225.Connect(call_id=CALL_ID, conference_id=CONF_ID, destination_info=MCU_INFO,
                 h245_address=("10.0.0.1", 1300),
                 fast_start=[h245.encode_fast_start(_olc_audio())]),
    h225.ReleaseComplete(CALL_ID),
    h225.ReleaseComplete(CALL_ID, h225.REASON_IN_CONF),
    h225.Facility(CALL_ID, h225.FACILITY_START_H245, CONF_ID, ("10.0.0.1", 1300)),
    h225.Facility(CALL_ID, h225.FACILITY_UNDEFINED),
    h225.Status(CALL_ID), h225.StatusInquiry(CALL_ID), h225.Information(CALL_ID),
    h225.Notify(CALL_ID), h225.Progress(CALL_ID, MCU_INFO), h225.Empty(),
]


@pytest.mark.parametrize("body", BODIES, ids=lambda b: b.body)
@pytest.mark.parametrize("tunnelling", [False, True])
def test_uuie_round_trip(body, tunnelling):
    control = [h245.encode_h245(h245.TerminalCapabilitySetAck(3))] if tunnelling else []
    info = h225.UserInformation(body, tunnelling, control)
    data = h225.encode_user_information(info)
    assert h225.decode_user_information(data) == info
    message = h225.build_q931(info, 77, True, display="MCU")
    parsed = h225.parse_signalling(bytes(message))
    assert parsed.info == info
    assert parsed.q931.message_type == h225.Q931_TYPE_OF_BODY[body.body]
    assert parsed.q931.call_reference == 77 and parsed.q931.from_destination


def test_uuie_decode_errors_are_ours():
    with pytest.raises(H225DecodeError):
        h225.decode_user_information(b"")
    with pytest.raises(H225DecodeError):
        h225.decode_user_information(b"\xff\xff\xff")
    good = h225.encode_user_information(h225.UserInformation(BODIES[0]))
    for cut in range(1, len(good) - 1):
        try:
            h225.decode_user_information(good[:cut])
        except H225DecodeError:
            continue


def test_uuie_in_the_wrong_q931_message_is_refused():
    info = h225.UserInformation(h225.Connect(call_id=CALL_ID, conference_id=CONF_ID))
    message = h225.build_q931(info, 1, True)
    message.message_type = q931.MSG_SETUP
    with pytest.raises(H225UnexpectedError):
        h225.parse_signalling(bytes(message))


H245_MESSAGES = [
    h245.TerminalCapabilitySetAck(1),
    h245.TerminalCapabilitySetReject(2, "unspecified"),
    h245.MasterSlaveDetermination(h245.TERMINAL_TYPE_MCU, 0xABCDEF),
    h245.MasterSlaveDeterminationAck(h245.MSD_DECISION_SLAVE),
    h245.MasterSlaveDeterminationReject(),
    h245.OpenLogicalChannel(1, caps.G722, 1, ("10.0.0.1", 5001), silence_suppression=False),
    h245.OpenLogicalChannel(2, caps.H264, 2, ("10.0.0.1", 5003), dynamic_payload_type=97),
    h245.OpenLogicalChannel(3, caps.H263, 2, ("10.0.0.1", 5003)),
    h245.OpenLogicalChannel(4, caps.H261, 2, ("10.0.0.1", 5003)),
    h245.OpenLogicalChannel(5, caps.G711A, 1, ("::1", 5001), ("::1", 5000), reverse=True),
    h245.OpenLogicalChannelAck(1, 1, ("10.0.0.2", 6000), ("10.0.0.2", 6001)),
    h245.OpenLogicalChannelReject(4),
    h245.CloseLogicalChannel(1), h245.CloseLogicalChannelAck(1),
    h245.RoundTripDelayRequest(9), h245.RoundTripDelayResponse(9),
    h245.EndSessionCommand(),
    h245.FlowControlCommand(3840, 2), h245.FlowControlCommand(None),
    h245.VideoFastUpdatePicture(2),
    h245.LogicalChannelActivity(2, True), h245.LogicalChannelActivity(2, False),
    h245.UserInputIndication(alphanumeric="5"),
    h245.UserInputIndication(signal="#", duration=120),
]


@pytest.mark.parametrize("message", H245_MESSAGES, ids=lambda m: type(m).__name__)
def test_h245_round_trip(message):
    assert h245.decode_h245(h245.encode_h245(message)) == message


def test_h245_tcs_round_trip_gives_the_capabilities_back():
    spec = caps.CapabilitySpec(
        audio=[caps.G722, caps.G711U, caps.G711A],
        video=[caps.Codec("H264", "video", max_bitrate=10240, profile=caps.H241_PROFILE_HIGH
                          | caps.H241_PROFILE_BASELINE, level=caps.H241_LEVELS["4"]),
               caps.H263, caps.H261])
    parsed = h245.decode_h245(h245.encode_h245(h245.TerminalCapabilitySet(5, spec)))
    assert isinstance(parsed, h245.TerminalCapabilitySet) and parsed.sequence_number == 5
    assert parsed.remote.audio == spec.audio
    assert parsed.remote.video == spec.video
    assert parsed.remote.user_input == {"basicString", "dtmf"}
    assert parsed.remote.unknown == 0


def test_h245_decode_errors_are_ours():
    for data in (b"", b"\xff", bytes.fromhex("0300003c0c20")):
        with pytest.raises(H245DecodeError):
            h245.decode_h245(data)
    with pytest.raises(H245DecodeError):
        h245.decode_fast_start(b"\x00")


def test_h245_unknown_message_is_named():
    from mcu.h323 import per
    from mcu.h323.errors import H245EncodeError

    data = per.encode("h245", ("command", ("sendTerminalCapabilitySet", ("genericRequest", 0))),
                      H245EncodeError)
    assert h245.decode_h245(data) == h245.UnknownH245("command", "sendTerminalCapabilitySet")


def test_master_slave_determination_standard_algorithm():
    mcu, terminal = h245.TERMINAL_TYPE_MCU, h245.TERMINAL_TYPE_TERMINAL
    assert h245.determine_master(mcu, 5, terminal, 9) is True
    assert h245.determine_master(terminal, 5, mcu, 9) is False
    # equal types: (remote - local) mod 2^24 below 2^23 makes the local terminal master
    assert h245.determine_master(50, 100, 50, 200) is True
    assert h245.determine_master(50, 200, 50, 100) is False
    assert h245.determine_master(50, 7, 50, 7) is None
    assert h245.determine_master(50, 0, 50, 1 << 23) is None
    # the capture: 310i (type 0) against Callgen (type 50): Callgen is master
    assert h245.determine_master(50, 3637982, 0, 9588693) is True


@pytest.mark.parametrize("refusal", list(Refusal))
def test_refusal_maps_to_cause_and_back(refusal):
    cause, reason = to_h323(refusal)
    assert 0 < cause < 128
    assert reason is None or reason in h225.__dict__.values()
    back = from_h323(cause, reason)
    assert back == refusal or (refusal, back) in {
        (Refusal.LOCKED, Refusal.FORBIDDEN)}  # one cause for both; the reason tells
    assert from_h323(None, reason) in Refusal


def test_refusal_examples():
    assert to_h323(Refusal.BUSY) == (q931.CAUSE_USER_BUSY, h225.REASON_IN_CONF)
    assert to_h323(Refusal.NOT_FOUND)[0] == q931.CAUSE_UNALLOCATED_NUMBER
    assert to_h323(Refusal.INCOMPATIBLE_MEDIA)[0] == q931.CAUSE_INCOMPATIBLE_DESTINATION
    assert from_h323(None, h225.REASON_NO_PERMISSION) == Refusal.LOCKED
    assert from_h323(102, None) == Refusal.UNAVAILABLE


PORTS = {"audio": MediaPorts("10.0.0.1", 20000, 20001),
         "video": MediaPorts("10.0.0.1", 20002, 20003)}


def _proposals() -> list[h245.OpenLogicalChannel]:
    caller = ("10.0.0.2", 30001)
    return [
        h245.OpenLogicalChannel(1, caps.G711U, 1, caller),
        h245.OpenLogicalChannel(2, caps.G722, 1, caller),
        h245.OpenLogicalChannel(3, caps.Codec("H264", "video", max_bitrate=3840), 2,
                                ("10.0.0.2", 30003), dynamic_payload_type=109),
        h245.OpenLogicalChannel(4, caps.G711U, 1, caller, ("10.0.0.2", 30000), reverse=True),
        h245.OpenLogicalChannel(5, caps.G722, 1, caller, ("10.0.0.2", 30000), reverse=True),
        h245.OpenLogicalChannel(6, caps.H263, 2, ("10.0.0.2", 30003), ("10.0.0.2", 30002),
                                reverse=True),
    ]


def test_fast_start_chooses_one_per_kind_and_direction():
    proposals = [h245.decode_fast_start(h245.encode_fast_start(p)) for p in _proposals()]
    choices = choose_fast_start(proposals, caps.CapabilitySpec(), {"audio", "video"})
    chosen = {(c.kind, c.direction): (c.proposal.number, c.codec.name) for c in choices}
    assert chosen == {
        ("audio", DIRECTION_CALLER_SENDS): (2, "G722"),
        ("video", DIRECTION_CALLER_SENDS): (3, "H264"),
        ("audio", DIRECTION_CALLER_RECEIVES): (5, "G722"),
        ("video", DIRECTION_CALLER_RECEIVES): (6, "H263"),
    }
    answer = fast_start_answer(choices, PORTS)
    decoded = [h245.decode_fast_start(h245.encode_fast_start(olc)) for olc in answer]
    by_number = {olc.number: olc for olc in decoded}
    assert by_number[2].media == ("10.0.0.1", 20000) and by_number[2].media_control == (
        "10.0.0.1", 20001)
    assert by_number[3].dynamic_payload_type == 109
    assert by_number[5].reverse and by_number[5].media_control == ("10.0.0.1", 20001)


def test_fast_start_refused_cleanly_when_nothing_matches():
    g729 = caps.CapabilitySpec(audio=[], video=[])
    assert choose_fast_start(_proposals(), g729, {"audio", "video"}) == []
    audio_only = choose_fast_start(_proposals(), caps.CapabilitySpec(), {"audio"})
    assert {c.kind for c in audio_only} == {"audio"}


def test_best_match_applies_the_remote_limits():
    spec = caps.CapabilitySpec()
    remote = [caps.Codec("H264", "video", max_bitrate=3840, level=caps.H241_LEVELS["2"])]
    codec = spec.best_match("video", remote)
    assert codec.name == "H264" and codec.max_bitrate == 3840
    assert codec.level == caps.H241_LEVELS["2"]
    assert spec.best_match("audio", []) is None
