"""H.225.0 RAS: the messages round-trip, bad datagrams raise RasDecodeError, the public capture's
Tandberg RRQ/RCF decode; and the MCU's RAS core (mcu.h323.ras) against the test gatekeeper's core
(mcu.synthetic.gatekeeper), wired together with no sockets: discovery, registration with the room
aliases, keep-alives before the time to live ends, ARQ/DRQ, IRQ, the gatekeeper's URQ and DRQ,
URQ on stop, retries and timeouts, malformed datagrams."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from mcu.h323 import ras
from mcu.h323 import rasmessages as rm
from mcu.h323.errors import RasDecodeError, RasEncodeError
from mcu.h323.h225 import (
    ALIAS_DIALED_DIGITS,
    ALIAS_H323_ID,
    ENDPOINT_MCU,
    Alias,
    EndpointInfo,
    VendorInfo,
)
from mcu.synthetic.gatekeeper import GatekeeperCore

VECTORS = Path(__file__).parent / "vectors"
MCU_RAS = ("127.0.0.1", 40719)
MCU_SIGNALLING = ("127.0.0.1", 1720)
GK_RAS = ("127.0.0.2", 1719)
ROOMS = ("4100", "4200")
ALIASES = ras.mcu_aliases(ROOMS, "open-mcu")
CALL_ID = bytes(range(16))
CONF_ID = bytes(range(16, 32))
ENDPOINT = EndpointInfo(VendorInfo("open-mcu", "0.1"), ENDPOINT_MCU, mc=True)
VENDOR = VendorInfo("open-mcu", "0.1")

MESSAGES = [
    rm.GatekeeperRequest(1, MCU_RAS, ENDPOINT, "gk", list(ALIASES)),
    rm.GatekeeperConfirm(1, GK_RAS, "gk"),
    rm.GatekeeperReject(1, "terminalExcluded", "gk"),
    rm.RegistrationRequest(2, [MCU_SIGNALLING], [MCU_RAS], ENDPOINT, VENDOR, list(ALIASES), "gk", True, 60),
    rm.RegistrationRequest(3, [MCU_SIGNALLING], [MCU_RAS], ENDPOINT, VENDOR, [], "gk", True, 60, True, "ep1"),
    rm.RegistrationConfirm(2, [MCU_SIGNALLING], "ep1", "gk", list(ALIASES), 60),
    rm.RegistrationReject(2, "fullRegistrationRequired", "gk"),
    rm.UnregistrationRequest(4, [MCU_SIGNALLING], "ep1", "gk", list(ALIASES)),
    rm.UnregistrationRequest(4, [MCU_SIGNALLING], reason="maintenance"),
    rm.UnregistrationConfirm(4),
    rm.UnregistrationReject(4, "notCurrentlyRegistered"),
    rm.AdmissionRequest(5, "ep1", 77, CONF_ID, CALL_ID, True, [ALIASES[0]], 15360,
                        [Alias(ALIAS_H323_ID, "site")], MCU_SIGNALLING, ("127.0.0.3", 1720), "gk", True),
    rm.AdmissionConfirm(5, 15360, MCU_SIGNALLING),
    rm.AdmissionReject(5, "requestDenied"),
    rm.DisengageRequest(6, "ep1", CONF_ID, 77, rm.DRQ_NORMAL, CALL_ID, "gk", True),
    rm.DisengageConfirm(6),
    rm.DisengageReject(6, "notRegistered"),
    rm.InfoRequest(7, 0),
    rm.InfoRequest(7, 77, CALL_ID, GK_RAS),
    rm.InfoRequestResponse(7, ENDPOINT, "ep1", MCU_RAS, [MCU_SIGNALLING], list(ALIASES),
                           [rm.CallInfo(77, CONF_ID, CALL_ID, False, 15360)]),
    rm.RequestInProgress(5, 3000),
    rm.UnknownMessageResponse(8, b"\x01"),
]


# ---------------------------------------------------------------------------- messages


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.name)
def test_our_messages_round_trip(message):
    data = rm.encode_ras(message)
    assert rm.decode_ras(data) == message
    assert rm.encode_ras(rm.decode_ras(data)) == data


def test_empty_truncated_and_invalid_datagrams_raise_ras_decode_error():
    with pytest.raises(RasDecodeError):
        rm.decode_ras(b"")
    with pytest.raises(RasDecodeError, match="cannot decode"):
        rm.decode_ras((VECTORS / "ras_rrq_tandberg_truncated.bin").read_bytes())
    with pytest.raises(RasDecodeError, match="CHOICE"):
        rm.decode_ras((VECTORS / "ras_rrq_tandberg_invalid.bin").read_bytes())
    for cut in range(1, len(data := rm.encode_ras(MESSAGES[3])), 7):  # every cut of our RRQ
        with pytest.raises(RasDecodeError):
            rm.decode_ras(data[:cut])


def test_a_gcf_without_an_ip_ras_address_is_a_decode_error():
    data = rm.encode_ras(rm.GatekeeperConfirm(1, GK_RAS, "gk"))
    obj = rm._ras_type()
    obj.from_aper(data)
    name, value = obj.get_val()
    value["rasAddress"] = ("ipxAddress", {"node": b"\0" * 6, "netnum": b"\0" * 4, "port": b"\0\1"})
    obj.set_val((name, value))
    with pytest.raises(RasDecodeError, match="not an IP address"):
        rm.decode_ras(bytes(obj.to_aper()))


def test_an_alias_pycrate_refuses_is_an_encode_error():
    bad = rm.GatekeeperRequest(1, MCU_RAS, ENDPOINT, aliases=[Alias(ALIAS_DIALED_DIGITS, "41x0")])
    with pytest.raises(RasEncodeError):
        rm.encode_ras(bad)


def test_the_tandberg_keep_alive_rrq_of_the_public_capture():
    rrq = rm.decode_ras((VECTORS / "ras_rrq_tandberg.bin").read_bytes())
    assert isinstance(rrq, rm.RegistrationRequest)
    assert rrq.seq == 18067 and rrq.protocol_version == 6
    assert rrq.keep_alive and rrq.endpoint_id == "bd020b80-6d41-11e1-a7fb-0010f30f65a0_17"
    assert rrq.aliases == [Alias(ALIAS_H323_ID, "20203@am.sol"), Alias(ALIAS_DIALED_DIGITS, "2098")]
    assert rrq.call_signal_addresses == [("10.47.208.204", 1720)]
    assert rrq.ras_addresses == [("10.47.208.204", 1719)]
    assert rrq.vendor.product == "Tandberg" and rrq.vendor.t35_country == 130
    assert rrq.terminal.kind == "terminal" and rrq.terminal.mc


def test_the_tandberg_rcf_of_the_public_capture():
    rcf = rm.decode_ras((VECTORS / "ras_rcf_tandberg.bin").read_bytes())
    assert isinstance(rcf, rm.RegistrationConfirm)
    assert rcf.seq == 18067 and rcf.gatekeeper_id == "am-vcs-0" and rcf.time_to_live == 60
    assert rcf.endpoint_id == "bd020b80-6d41-11e1-a7fb-0010f30f65a0_17"
    assert rcf.call_signal_addresses == [("10.47.208.50", 1720)]


def test_the_openh323_arq_and_its_gatekeepers_drq():
    arq = rm.decode_ras((VECTORS / "ras_arq_openh323.bin").read_bytes())
    assert isinstance(arq, rm.AdmissionRequest)
    assert not arq.answer_call and arq.call_reference == 1 and arq.bandwidth == 200000
    assert arq.source_aliases == [Alias(ALIAS_DIALED_DIGITS, "5295672")]
    assert arq.dest_call_signal_address == ("17.2.0.122", 1720)
    drq = rm.decode_ras((VECTORS / "ras_drq_openh323.bin").read_bytes())
    assert isinstance(drq, rm.DisengageRequest)
    assert drq.reason == rm.DRQ_FORCED and drq.call_id == arq.call_id and drq.call_reference == 1


def test_mcu_aliases_are_e164_rooms_then_the_server_name():
    assert ras.mcu_aliases(["4200", "4100", "board"], "open-mcu") == (
        Alias(ALIAS_DIALED_DIGITS, "4100"), Alias(ALIAS_DIALED_DIGITS, "4200"),
        Alias(ALIAS_H323_ID, "board"), Alias(ALIAS_H323_ID, "open-mcu"))


# ---------------------------------------------------------------------------- two cores


class Pair:
    """The MCU's RasEndpoint and a GatekeeperCore, datagrams carried by `pump`."""

    def __init__(self, ttl: int = 60, discover: bool = True, **policy) -> None:
        self.now = 0.0
        config = ras.RasConfig(GK_RAS, MCU_SIGNALLING, MCU_RAS, ALIASES, time_to_live=ttl, discover=discover)
        self.mcu = ras.RasEndpoint(config, rng=random.Random(1))
        self.gk = GatekeeperCore(GK_RAS, **policy)
        self.events: list[ras.RasEvent] = []
        self.lost: list[bytes] = []  # datagrams the "network" dropped

    def pump(self, drop_to_gk: bool = False) -> None:
        for _ in range(20):
            moved = False
            for data, addr in self.mcu.datagrams_to_send():
                assert addr == GK_RAS
                moved = True
                if drop_to_gk:
                    self.lost.append(data)
                else:
                    self.gk.receive_datagram(data, MCU_RAS, self.now)
            for data, addr in self.gk.datagrams_to_send():
                assert addr == MCU_RAS
                moved = True
                self.mcu.receive_datagram(data, GK_RAS, self.now)
            while (e := self.mcu.next_event()) is not None:
                self.events.append(e)
            if not moved:
                return

    def advance(self, to: float, drop_to_gk: bool = False) -> None:
        """Runs the MCU's timers up to `to`, pumping after each."""
        while (deadline := self.mcu.get_timer()) is not None and deadline <= to:
            self.now = max(self.now, deadline)
            self.mcu.handle_timer(self.now)
            self.pump(drop_to_gk)
        self.now = to

    def register(self) -> None:
        self.mcu.start(self.now)
        self.pump()
        assert self.mcu.registered, self.events

    def names(self) -> list[str]:
        return [r.message.name for r in self.gk.received]


def test_discovery_then_registration_as_an_mcu_with_the_room_aliases():
    pair = Pair()
    pair.register()
    assert pair.names() == [rm.GRQ, rm.RRQ]
    grq, rrq = (r.message for r in pair.gk.received)
    assert isinstance(rrq, rm.RegistrationRequest) and isinstance(grq, rm.GatekeeperRequest)
    assert rrq.aliases == [Alias(ALIAS_DIALED_DIGITS, "4100"), Alias(ALIAS_DIALED_DIGITS, "4200"),
                           Alias(ALIAS_H323_ID, "open-mcu")]
    assert rrq.terminal.kind == ENDPOINT_MCU and rrq.terminal.mc and not rrq.keep_alive
    assert rrq.call_signal_addresses == [MCU_SIGNALLING] and rrq.ras_addresses == [MCU_RAS]
    assert rrq.discovery_complete and rrq.gatekeeper_id == "test-gk" and rrq.seq == grq.seq + 1
    assert pair.events == [ras.Registered("ep1", "test-gk", 60)]


def test_without_discovery_the_first_message_is_the_rrq():
    pair = Pair(discover=False)
    pair.register()
    assert pair.names() == [rm.RRQ]
    assert not pair.gk.received[0].message.discovery_complete  # type: ignore[union-attr]


def test_keep_alive_rrqs_are_lightweight_and_go_before_the_time_to_live_ends():
    pair = Pair(ttl=4)
    pair.register()
    pair.advance(10.0)
    keepalives = [r for r in pair.gk.received[2:]]
    assert len(keepalives) >= 4  # every 2 s: half of a 4 s time to live
    for r in keepalives:
        assert isinstance(r.message, rm.RegistrationRequest)
        assert r.message.keep_alive and r.message.endpoint_id == "ep1" and not r.message.aliases
    times = [0.0] + [r.at for r in keepalives]
    assert all(b - a < 4 for a, b in itertools.pairwise(times)), times
    assert pair.mcu.registered and pair.events == [ras.Registered("ep1", "test-gk", 4)]


def test_a_gatekeeper_that_forgot_us_gets_a_full_registration():
    pair = Pair(ttl=30)
    pair.register()
    pair.gk.forget("ep1")
    pair.advance(21.0)  # keep-alive at 30 - 10 s
    assert pair.names() == [rm.GRQ, rm.RRQ, rm.RRQ, rm.RRQ]
    full = pair.gk.received[3].message
    assert isinstance(full, rm.RegistrationRequest) and not full.keep_alive and full.aliases
    assert pair.mcu.registered and pair.mcu.endpoint_id == "ep2"


def test_silent_gatekeeper_retries_then_failed_then_tries_again():
    pair = Pair(silent=True)
    pair.mcu.start(0.0)
    pair.pump()
    pair.advance(14.9)
    assert [r.at for r in pair.gk.received] == [0.0, 5.0, 10.0]  # GRQ: 5 s, 2 retries
    assert len({r.message.seq for r in pair.gk.received}) == 1  # retransmissions keep the seq
    assert not pair.events
    pair.advance(15.0)
    assert pair.events == [ras.RegistrationFailed("timeout", ras.RETRY_AFTER_FAILURE)]
    assert not pair.mcu.registered
    assert not pair.mcu.admit(CALL_ID, CONF_ID, 1, answer_call=True, source_aliases=[],
                              destination_aliases=[], now=pair.now)  # no ARQ while unregistered
    pair.advance(15.0 + ras.RETRY_AFTER_FAILURE)
    assert pair.names()[-1] == rm.GRQ and len(pair.gk.received) == 4


def test_rejected_registration_is_reported_and_retried_later():
    pair = Pair(reject_registration="securityDenial")
    pair.mcu.start(0.0)
    pair.pump()
    assert pair.events == [ras.RegistrationFailed("securityDenial", ras.RETRY_AFTER_FAILURE)]
    assert pair.mcu.get_timer() == ras.RETRY_AFTER_FAILURE
    pair.gk.reject_registration = None
    pair.advance(ras.RETRY_AFTER_FAILURE)
    assert pair.mcu.registered


def test_keep_alive_unanswered_loses_the_registration():
    pair = Pair(ttl=20)
    pair.register()
    pair.gk.silent = True
    pair.advance(40.0)
    assert ras.Unregistered("keep-alive unanswered", False) in pair.events
    assert not pair.mcu.registered


def test_admission_of_an_incoming_call_then_disengage():
    pair = Pair()
    pair.register()
    assert pair.mcu.admit(CALL_ID, CONF_ID, 77, answer_call=True, source_aliases=[Alias(ALIAS_H323_ID, "site")],
                          destination_aliases=[ALIASES[0]], now=0.0,
                          src_call_signal_address=("127.0.0.3", 40000))
    pair.pump()
    arq = pair.gk.received[-1].message
    assert isinstance(arq, rm.AdmissionRequest)
    assert arq.answer_call and arq.call_id == CALL_ID and arq.conference_id == CONF_ID
    assert arq.endpoint_id == "ep1" and arq.call_reference == 77 and arq.active_mc
    assert pair.events[-1] == ras.AdmissionConfirmed(CALL_ID, MCU_SIGNALLING, ras.CALL_BANDWIDTH)
    assert pair.mcu.disengage(CALL_ID, 1.0)
    pair.pump()
    drq = pair.gk.received[-1].message
    assert isinstance(drq, rm.DisengageRequest)
    assert drq.call_id == CALL_ID and drq.answered_call and drq.reason == rm.DRQ_NORMAL
    assert not pair.mcu.disengage(CALL_ID, 2.0)  # once only
    assert pair.mcu.get_timer() == 60 - ras.KEEPALIVE_MARGIN  # the DCF ended the DRQ's retries


def test_admission_rejected_and_timed_out():
    pair = Pair(reject_admission="requestDenied")
    pair.register()
    pair.mcu.admit(CALL_ID, CONF_ID, 1, answer_call=False, source_aliases=[], destination_aliases=[],
                   now=0.0, dest_call_signal_address=("127.0.0.3", 1720))
    pair.pump()
    assert pair.events[-1] == ras.AdmissionRejected(CALL_ID, "requestDenied")
    assert not pair.mcu.disengage(CALL_ID, 0.0)  # a refused call has nothing to disengage
    pair.gk.silent = True
    pair.mcu.admit(CONF_ID, CALL_ID, 2, answer_call=True, source_aliases=[], destination_aliases=[], now=0.0)
    pair.pump()
    pair.advance(15.0)
    assert pair.events[-1] == ras.AdmissionTimedOut(CONF_ID)
    arqs = [r for r in pair.gk.received if r.message.name == rm.ARQ]
    assert [r.at for r in arqs[1:]] == [0.0, 5.0, 10.0]  # ARQ: 5 s, 2 retries


def test_an_arj_saying_we_are_not_registered_makes_a_new_registration():
    pair = Pair()
    pair.register()
    pair.gk.forget("ep1")
    pair.mcu.admit(CALL_ID, CONF_ID, 1, answer_call=True, source_aliases=[], destination_aliases=[], now=0.0)
    pair.pump()
    assert ras.AdmissionRejected(CALL_ID, "callerNotRegistered") in pair.events
    assert pair.names()[-1] == rm.RRQ and pair.mcu.registered and pair.mcu.endpoint_id == "ep2"


def test_request_in_progress_holds_the_retransmission():
    pair = Pair(silent=True)
    pair.mcu.start(0.0)
    pair.pump()
    seq = pair.gk.received[0].message.seq
    pair.mcu.receive_datagram(rm.encode_ras(rm.RequestInProgress(seq, 8000)), GK_RAS, 1.0)
    assert pair.mcu.get_timer() == 9.0


def test_irq_is_answered_with_the_admitted_calls():
    pair = Pair()
    pair.register()
    pair.mcu.admit(CALL_ID, CONF_ID, 77, answer_call=True, source_aliases=[], destination_aliases=[], now=0.0)
    pair.pump()
    seq = pair.gk.info_request(MCU_RAS)
    pair.pump()
    (irr,) = pair.gk.of_kind(rm.IRR)
    assert isinstance(irr, rm.InfoRequestResponse) and irr.seq == seq and irr.endpoint_id == "ep1"
    assert irr.calls == [rm.CallInfo(77, CONF_ID, CALL_ID, False, ras.CALL_BANDWIDTH)]
    assert irr.endpoint.kind == ENDPOINT_MCU and irr.ras_address == MCU_RAS


def test_gatekeeper_urq_is_confirmed_and_we_register_again():
    pair = Pair()
    pair.register()
    pair.gk.unregister("ep1", MCU_RAS)
    pair.pump()
    assert pair.names()[-2:] == [rm.UCF, rm.RRQ]
    assert ras.Unregistered("gatekeeper URQ: maintenance", True) in pair.events
    assert pair.mcu.registered and pair.mcu.endpoint_id == "ep2"


def test_gatekeeper_drq_drops_the_call():
    pair = Pair()
    pair.register()
    pair.mcu.admit(CALL_ID, CONF_ID, 77, answer_call=True, source_aliases=[], destination_aliases=[], now=0.0)
    pair.pump()
    (arq,) = pair.gk.of_kind(rm.ARQ)
    pair.gk.drop_call(arq, MCU_RAS)  # type: ignore[arg-type]
    pair.pump()
    assert pair.events[-1] == ras.DisengageRequested(CALL_ID, rm.DRQ_FORCED)
    assert pair.gk.of_kind(rm.DCF)
    assert not pair.mcu.disengage(CALL_ID, 1.0)  # already gone: no DRQ of ours


def test_new_rooms_mean_a_full_registration_with_the_new_aliases():
    pair = Pair()
    pair.register()
    aliases = ras.mcu_aliases(("4100", "4200", "4300"), "open-mcu")
    pair.mcu.set_aliases(aliases, 1.0)
    pair.mcu.set_aliases(aliases, 1.0)  # the same again: nothing sent
    pair.pump()
    assert pair.names() == [rm.GRQ, rm.RRQ, rm.RRQ]
    rrq = pair.gk.received[-1].message
    assert isinstance(rrq, rm.RegistrationRequest) and not rrq.keep_alive
    assert Alias(ALIAS_DIALED_DIGITS, "4300") in rrq.aliases and pair.mcu.registered


def test_stop_sends_urq_and_is_stopped_once_confirmed():
    pair = Pair()
    pair.register()
    pair.mcu.stop(1.0)
    assert not pair.mcu.stopped
    pair.pump()
    urq = pair.gk.received[-1].message
    assert isinstance(urq, rm.UnregistrationRequest) and urq.endpoint_id == "ep1"
    assert urq.call_signal_addresses == [MCU_SIGNALLING]
    assert pair.mcu.stopped and pair.events[-1] == ras.Unregistered("stopped", False)
    assert pair.mcu.get_timer() is None  # no keep-alive after stop


def test_stop_before_registration_sends_nothing():
    pair = Pair(silent=True)
    pair.mcu.start(0.0)
    pair.pump()
    pair.mcu.stop(1.0)
    pair.pump()
    assert pair.mcu.stopped and pair.names() == [rm.GRQ] and pair.mcu.get_timer() is None


def test_malformed_stray_and_foreign_datagrams_are_counted_and_dropped():
    pair = Pair()
    pair.register()
    pair.mcu.receive_datagram(b"\xff\x00garbage", GK_RAS, 1.0)
    pair.mcu.receive_datagram((VECTORS / "ras_rrq_tandberg_truncated.bin").read_bytes(), GK_RAS, 1.0)
    pair.mcu.receive_datagram(rm.encode_ras(rm.AdmissionConfirm(4242, 1, MCU_SIGNALLING)), GK_RAS, 1.0)
    pair.mcu.receive_datagram(rm.encode_ras(rm.UnregistrationRequest(9, [])), ("10.9.9.9", 1719), 1.0)
    assert pair.mcu.dropped == {"ras decode failed": 2, "no such request": 1, "unknown sender": 1}
    assert pair.mcu.registered and not pair.mcu.datagrams_to_send()


def test_a_request_we_do_not_implement_is_answered_with_xrs():
    obj = rm._ras_type()
    obj.set_val(("bandwidthRequest", {"requestSeqNum": 31, "endpointIdentifier": "ep1",
                                      "conferenceID": CONF_ID, "callType": ("pointToPoint", 0),
                                      "bandWidth": 100, "callReferenceValue": 1,
                                      "callIdentifier": {"guid": CALL_ID}}))
    brq = bytes(obj.to_aper())
    pair = Pair()
    pair.register()
    pair.mcu.receive_datagram(brq, GK_RAS, 1.0)
    pair.pump()
    assert pair.gk.received[-1].message == rm.UnknownMessageResponse(31)


def test_sequence_numbers_wrap_within_1_to_65535():
    endpoint = ras.RasEndpoint(ras.RasConfig(GK_RAS, MCU_SIGNALLING, MCU_RAS))
    endpoint._seq = rm.SEQ_MAX
    assert endpoint._next_seq() == rm.SEQ_MIN
