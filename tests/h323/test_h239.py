"""H.239 over H.245: every presentation-token and flow-control message encodes to aligned PER
and back, tshark's H.245 dissector names each one (and our TCS's H.239 capabilities) without a
malformed field, bad H.239 messages are protocol violations that change nothing, and the MCU's
TokenManager follows H.239 clause 7 for one call (grant, deny, release, take back)."""

from __future__ import annotations

import subprocess

import pytest
from harness import MCU_H245_PORT, MCU_IP, TERMINAL_H245_PORT, TERMINAL_IP
from pcaplib import PcapWriter
from test_h323_tshark import _tshark

from mcu.h323 import h239
from mcu.h323.capabilities import H264, CapabilitySpec, remote_capabilities
from mcu.h323.errors import H245DecodeError
from mcu.h323.events import ContentTokenMessage, ProtocolViolation
from mcu.h323.h245 import (
    OpenLogicalChannel,
    TerminalCapabilitySet,
    UnknownH245,
    decode_h245,
    encode_h245,
)
from mcu.h323.h245session import H245Session
from mcu.h323.tpkt import encode_tpkt

EVERY_MESSAGE = [
    h239.token_request(channel=3, terminal_label=5, symmetry_breaking=42),
    h239.token_response(True, channel=3, terminal_label=5),
    h239.token_response(False, channel=3, terminal_label=5),
    h239.token_release(channel=3, terminal_label=5),
    h239.indicate_owner(channel=3, terminal_label=5),
    h239.flow_control_release_request(channel=3, bitrate=10000),
    h239.flow_control_release_response(True, channel=3),
]


@pytest.mark.parametrize("message", EVERY_MESSAGE, ids=lambda m: f"{m.name}-{m.accepted}")
def test_every_h239_message_round_trips(message: h239.H239Message) -> None:
    decoded = decode_h245(encode_h245(message))
    assert decoded == message
    category, (choice, value) = message.to_asn()
    assert value["messageIdentifier"] == ("standard", (0, 0, 8, 239, 2))
    assert choice == {"request": "genericRequest", "response": "genericResponse",
                      "command": "genericCommand", "indication": "genericIndication"}[category]


def _generic(choice: str, sub: int, content: list, oid: tuple = h239.H239_MESSAGE_OID) -> bytes:
    category = {"genericRequest": "request", "genericResponse": "response",
                "genericCommand": "command", "genericIndication": "indication"}[choice]
    value = {"messageIdentifier": ("standard", oid), "subMessageIdentifier": sub,
             "messageContent": content}
    return encode_h245(type("Raw", (), {"to_asn": lambda self: (category, (choice, value))})())


def events_of(session: H245Session) -> list[object]:
    out = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


@pytest.mark.parametrize("data, reason", [
    (_generic("genericRequest", 9, []), "Table 7"),  # no such sub-message
    (_generic("genericRequest", h239.PRESENTATION_TOKEN_RELEASE, []), "genericCommand"),
    (_generic("genericResponse", h239.PRESENTATION_TOKEN_RESPONSE,
              [{"parameterIdentifier": ("standard", 42), "parameterValue": ("unsignedMin", 1)}]),
     "neither acknowledge nor reject"),
])
def test_a_bad_h239_message_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(H245DecodeError, match=reason):
        decode_h245(data)
    session = H245Session(CapabilitySpec(), terminal_type=190)
    session.receive_pdu(data, 0.0)
    events = events_of(session)
    assert len(events) == 1 and isinstance(events[0], ProtocolViolation), events


def test_another_standards_generic_message_is_not_taken_for_h239() -> None:
    data = _generic("genericIndication", 1, [], oid=(0, 0, 8, 241, 0, 0, 1))
    assert isinstance(decode_h245(data), UnknownH245)


def test_vendor_parameters_are_skipped_and_the_standard_ones_kept() -> None:
    data = _generic("genericRequest", h239.PRESENTATION_TOKEN_REQUEST, [
        {"parameterIdentifier": ("uuid", b"vendor-private-1"), "parameterValue": ("unsignedMin", 9)},
        {"parameterIdentifier": ("standard", h239.PARAM_CHANNEL_ID), "parameterValue": ("unsignedMin", 7)},
        {"parameterIdentifier": ("standard", h239.PARAM_TERMINAL_LABEL), "parameterValue": ("unsignedMin", 2)},
    ])
    message = decode_h245(data)
    assert isinstance(message, h239.H239Message)
    assert (message.name, message.channel, message.terminal_label) == ("presentationTokenRequest", 7, 2)


def test_a_tcs_with_content_says_h239_and_the_presentation_codecs() -> None:
    with_content = TerminalCapabilitySet(1, CapabilitySpec(content=[H264]))
    parsed = decode_h245(encode_h245(with_content))
    assert isinstance(parsed, TerminalCapabilitySet) and parsed.remote is not None
    assert parsed.remote.h239 and [c.name for c in parsed.remote.content] == ["H264"]
    assert [c.name for c in parsed.remote.video] == ["H264", "H263", "H261"]  # people video unchanged
    assert parsed.remote.unknown == 0
    plain = decode_h245(encode_h245(TerminalCapabilitySet(1, CapabilitySpec())))
    assert isinstance(plain, TerminalCapabilitySet) and plain.remote is not None
    assert not plain.remote.h239 and not plain.remote.content


def test_live_role_extended_video_is_not_taken_as_presentation() -> None:
    table = [{"capabilityTableEntryNumber": 1,
              "capability": ("receiveVideoCapability", h239.extended_video([H264], role=h239.ROLE_LIVE))}]
    remote = remote_capabilities(table)
    assert not remote.content and not remote.video


def test_the_session_hands_h239_messages_to_the_conference_and_sends_its_answers() -> None:
    session = H245Session(CapabilitySpec(content=[H264]), terminal_type=190)
    session.receive_pdu(encode_h245(h239.token_request(3, 5, 10)), 0.0)
    (event,) = events_of(session)
    assert isinstance(event, ContentTokenMessage) and event.message.name == "presentationTokenRequest"
    token = h239.TokenManager(terminal_label=5)
    assert token.receive(event.message) == [h239.TokenRequested(3, 5)]
    session.send_h239(token.grant())
    sent = [decode_h245(pdu) for pdu in session.pdus_to_send()]
    assert h239.token_response(True, 3, 5) in sent


def test_token_manager_grants_denies_releases_and_takes_back() -> None:
    token = h239.TokenManager(terminal_label=4)
    assert token.receive(h239.token_request(2, 4, 1)) == [h239.TokenRequested(2, 4)]
    assert token.deny() == [h239.token_response(False, 2, 4)] and not token.holds
    token.receive(h239.token_request(2, 4, 1))
    assert token.grant() == [h239.token_response(True, 2, 4)] and token.holds
    # asked again while holding it: yes again, no new decision for the conference
    assert token.receive(h239.token_request(2, 4, 1)) == []
    assert token.take() == [h239.token_response(True, 2, 4)]
    assert token.receive(h239.token_release(2, 4)) == [h239.TokenReleased()] and not token.holds
    # a release without the token, a response to nothing: counted, nothing changes
    assert token.receive(h239.token_release(2, 4)) == []
    assert token.receive(h239.token_response(True, 2, 4)) == []
    assert token.ignored == 2
    # the MCU takes it back: the owner is asked, and its acknowledge ends its hold
    token.receive(h239.token_request(2, 4, 1))
    token.grant()
    assert token.revoke() == [h239.token_request(2, 0, 127)] and token.revoking
    assert not token.holds  # the floor moved: asked again, it is a new request for the conference
    assert token.receive(h239.token_response(True, 2, 4)) == [] and not token.revoking
    assert token.receive(h239.token_response(True, 2, 4)) == []  # a second answer: out of turn
    assert token.revoke() == []
    assert token.receive(h239.token_request(2, 4, 1)) == [h239.TokenRequested(2, 4)]
    token.grant()
    assert token.receive(h239.indicate_owner(2, 4)) == []  # the owner announcing itself is fine
    ignored = token.ignored
    assert token.receive(h239.flow_control_release_request(2, 5000)) == [h239.BitrateRequested(2, 5000)]
    assert token.answer_bitrate(True, 2) == [h239.flow_control_release_response(True, 2)]
    assert token.receive(h239.flow_control_release_response(True, 2)) == [] and token.ignored == ignored + 1


def test_tshark_decodes_our_h239_messages_and_capabilities(tmp_path) -> None:
    tshark = _tshark()
    terminal, mcu = (TERMINAL_IP, TERMINAL_H245_PORT), (MCU_IP, MCU_H245_PORT)
    writer = PcapWriter()
    writer.connect(terminal, mcu)
    writer.send(mcu, terminal, encode_tpkt(encode_h245(TerminalCapabilitySet(1, CapabilitySpec(content=[H264])))))
    for message in EVERY_MESSAGE:
        writer.send(terminal, mcu, encode_tpkt(encode_h245(message)))
    content_channel = OpenLogicalChannel(1, H264, 32, media_control=(TERMINAL_IP, 40011),
                                         dynamic_payload_type=96, role="content")
    assert decode_h245(encode_h245(content_channel)) == content_channel
    writer.send(terminal, mcu, encode_tpkt(encode_h245(content_channel)))
    pcap = tmp_path / "h239.pcap"
    writer.write(pcap)
    decode = ["-d", f"tcp.port=={MCU_H245_PORT},h245"]
    verbose = subprocess.run([tshark, "-n", "-r", str(pcap), "-V", *decode],
                             capture_output=True, text=True, timeout=120, check=True).stdout
    assert "Malformed" not in verbose and "[Expert Info (Error" not in verbose, verbose
    for name in ("presentationTokenRequest", "presentationTokenResponse", "presentationTokenRelease",
                 "presentationTokenIndicateOwner", "flowControlReleaseRequest",
                 "flowControlReleaseResponse"):
        assert name in verbose, f"tshark did not name {name}"
    fields = subprocess.run([tshark, "-n", "-r", str(pcap), "-T", "pdml", *decode],
                            capture_output=True, text=True, timeout=120, check=True).stdout
    for name in ("h245.genericRequest_element", "h245.genericResponse_element",
                 "h245.genericCommand_element", "h245.genericIndication_element",
                 "h245.extendedVideoCapability_element", "h245.genericControlCapability_element",
                 "h245.openLogicalChannel_element"):
        assert f'name="{name}"' in fields, f"tshark found no {name}"


def _content_pair() -> tuple[H245Session, H245Session]:
    """An MCU and a terminal session that both speak H.239, capabilities and MSD exchanged."""
    from mcu.h323.events import MediaPorts

    mcu = H245Session(CapabilitySpec(content=[H264]), terminal_type=190)
    terminal = H245Session(CapabilitySpec(content=[H264]), terminal_type=50)
    mcu.content_ports = MediaPorts(MCU_IP, 30010, 30011)
    terminal.content_ports = MediaPorts(TERMINAL_IP, 40010, 40011)
    mcu.start(0.0)
    terminal.start(0.0)
    pump(mcu, terminal)
    assert mcu.remote is not None and mcu.remote.h239 and mcu.is_master
    return mcu, terminal


def pump(a: H245Session, b: H245Session) -> None:
    for _ in range(10):
        moved = False
        for src, dst in ((a, b), (b, a)):
            for pdu in src.pdus_to_send():
                dst.receive_pdu(pdu, 0.0)
                moved = True
        if not moved:
            return


def test_the_presenters_extended_video_channel_is_taken_as_content_and_ours_goes_out() -> None:
    from mcu.h323.capabilities import ROLE_CONTENT
    from mcu.h323.events import KeyframeRequested

    mcu, terminal = _content_pair()
    assert terminal.open_content(0.0)  # the presenter, once granted, opens its content channel
    pump(mcu, terminal)
    stream = mcu.streams()[("video", ROLE_CONTENT)]
    assert stream.receive is not None and stream.receive.codec.name == "H264"
    assert stream.local.rtp_port == 30010
    assert ("video", "main") not in mcu.streams()  # people video untouched (no ports given)
    # the MCU sends content to a receiving site on a channel of its own, and closes it after
    assert mcu.open_content(0.0) and not mcu.open_content(0.0)  # one at a time
    pump(mcu, terminal)
    sent = mcu.streams()[("video", ROLE_CONTENT)].send
    assert sent is not None and sent.remote_rtp == (TERMINAL_IP, 40010)
    assert terminal.request_keyframe("video", ROLE_CONTENT)  # videoFastUpdate on our content channel
    pump(mcu, terminal)
    assert KeyframeRequested("video", ROLE_CONTENT) in events_of(mcu)
    mcu.close_content()
    pump(mcu, terminal)
    assert mcu.streams()[("video", ROLE_CONTENT)].send is None


def test_content_is_refused_without_content_ports_or_h239() -> None:
    mcu, terminal = _content_pair()
    mcu.content_ports = None  # the conference gave this call no content
    assert terminal.open_content(0.0)
    pump(mcu, terminal)
    assert mcu.streams() == {} and not any(c.role == "content" for c in terminal.sending.values())
    plain = H245Session(CapabilitySpec(), terminal_type=50)  # a terminal without H.239
    other = H245Session(CapabilitySpec(content=[H264]), terminal_type=190)
    from mcu.h323.events import MediaPorts
    other.content_ports = MediaPorts(MCU_IP, 30010, 30011)
    plain.start(0.0)
    other.start(0.0)
    pump(plain, other)
    assert other.remote is not None and not other.remote.h239
    assert not other.open_content(0.0)


def test_a_call_carries_h239_content_beside_people_video() -> None:
    """Through two H.323 call cores (tunnelled H.245): the MCU's ports include "content", the
    terminal presents on its extended-video channel, the MCU sends its own, and the token
    messages travel as the call's events."""
    from harness import MCU_PORTS, call_pair

    from mcu.h323.capabilities import ROLE_CONTENT
    from mcu.h323.events import MediaNegotiated, MediaPorts

    pair = call_pair(fast_start=False, tunnelling=True,
                     terminal_spec=CapabilitySpec(content=[H264]))
    pair.mcu.session.spec = CapabilitySpec(content=[H264])
    pair.terminal.session.content_ports = MediaPorts(TERMINAL_IP, 30010, 30011)
    pair.mcu.accept({**MCU_PORTS, "content": MediaPorts(MCU_IP, 20010, 20011)}, 0.0)
    pair.pump()
    assert pair.mcu.session.content_ports == MediaPorts(MCU_IP, 20010, 20011)
    assert "content" not in pair.mcu.ports  # not a fast-connect or people kind
    assert pair.mcu.session.remote is not None and pair.mcu.session.remote.h239
    pair.terminal.send_h239([h239.token_request(0, 1, 9)], pair.now)
    pair.pump()
    tokens = pair.of("mcu", ContentTokenMessage)
    assert [t.message.name for t in tokens] == ["presentationTokenRequest"]
    pair.mcu.send_h239(h239.TokenManager(terminal_label=1).grant(), pair.now)
    pair.pump()
    assert [t.message.accepted for t in pair.of("terminal", ContentTokenMessage)] == [True]
    assert pair.terminal.open_content(pair.now)
    pair.pump()
    streams = pair.of("mcu", MediaNegotiated)[-1].streams
    assert streams[("video", ROLE_CONTENT)].receive is not None
    assert streams[("video", "main")].receive is not None  # people video goes on
    assert pair.mcu.open_content(pair.now)
    pair.pump()
    assert pair.mcu.request_keyframe(pair.now, "video", ROLE_CONTENT)
    pair.mcu.close_content(pair.now)
    pair.pump()
    assert ("video", ROLE_CONTENT) in pair.of("mcu", MediaNegotiated)[-1].streams  # its channel stays
