"""Two UserAgent cores wired together with no sockets, and transaction timers on a fake clock."""

from __future__ import annotations

import itertools

from mcu.sip import events as ev
from mcu.sip.auth import check_authorization
from mcu.sip.message import SipRequest, SipResponse, parse_message
from mcu.sip.transport import TransportInfo
from mcu.sip.ua import UaConfig, UserAgent

A = TransportInfo("udp", "127.0.0.1", 5060)
B = TransportInfo("udp", "127.0.0.1", 5070)
OFFER = b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\n"
ANSWER = b"v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\n"


def pair(**uas_config: object) -> tuple[UserAgent, UserAgent]:
    uas = UserAgent(UaConfig(**uas_config))  # type: ignore[arg-type]
    uas.add_transport(A)
    uac = UserAgent()
    uac.add_transport(B)
    return uac, uas


def pump(uac: UserAgent, uas: UserAgent, now: float, drop: set[str] | None = None,
         tap=None) -> list[bytes]:  # type: ignore[no-untyped-def]
    seen: list[bytes] = []
    moved = True
    while moved:
        moved = False
        for src, dst, dst_t in ((uac, uas, A), (uas, uac, B)):
            for data, _addr, t in src.datagrams_to_send(now):
                moved = True
                seen.append(data)
                if drop and any(data.startswith(d.encode()) for d in drop):
                    continue
                if tap is not None and tap(data, src, now):
                    continue
                dst.receive_datagram(data, (t.host, t.port), now, dst_t)
    return seen


def events(ua: UserAgent) -> list[ev.Event]:
    out = []
    while (e := ua.next_event()) is not None:
        out.append(e)
    return out


def test_unknown_call_api_raises_named_error() -> None:
    uac, _ = pair()
    try:
        uac.hangup("nope")
    except Exception as exc:  # noqa: BLE001
        assert type(exc).__name__ == "UnknownCallError"
    else:
        raise AssertionError("hangup of an unknown call must raise")


def test_basic_call_invite_180_200_ack_bye() -> None:
    uac, uas = pair()
    call = uac.dial("sip:4100@127.0.0.1:5060", OFFER, now=0.0)
    pump(uac, uas, 0.0)
    incoming = events(uas)
    assert isinstance(incoming[0], ev.IncomingCall)
    assert incoming[0].request_user == "4100" and incoming[0].body == OFFER
    uas.send_provisional(call, 180)
    uas.answer(call, 200, ANSWER)
    pump(uac, uas, 0.1)
    got = events(uac)
    assert [type(e) for e in got] == [ev.CallProgress, ev.CallAnswered]
    assert got[1].body == ANSWER  # type: ignore[union-attr]
    assert [type(e) for e in events(uas)] == [ev.CallEstablished]
    assert uas.active_dialogs == 1 and uac.active_dialogs == 1
    uac.hangup(call, now=1.0)
    pump(uac, uas, 1.0)
    assert events(uas) == [ev.CallEnded(call, "remote hangup", None)]
    assert events(uac)[0].reason == "local hangup"  # type: ignore[attr-defined]
    assert uas.active_dialogs == 0
    assert uas.stats()["responses_out"] == {100: 1, 180: 1, 200: 2}


def test_cancel_before_answer() -> None:
    uac, uas = pair()
    call = uac.dial("sip:4100@127.0.0.1:5060", OFFER, now=0.0)
    pump(uac, uas, 0.0)
    uas.send_provisional(call, 180)
    pump(uac, uas, 0.0)
    uac.cancel(call, now=0.5)
    pump(uac, uas, 0.5)
    uas_events = events(uas)
    assert ev.CallEnded(call, "cancelled", 487) in uas_events
    failed = [e for e in events(uac) if isinstance(e, ev.CallFailed)]
    assert failed and failed[0].status == 487


def test_digest_401_retry() -> None:
    uac, uas = pair()
    passwords = {"alice": "secret"}
    challenged: list[int] = []

    def tap(data: bytes, src: UserAgent, now: float) -> bool:
        if src is not uac or not data.startswith(b"INVITE"):
            return False
        request = parse_message(data)
        assert isinstance(request, SipRequest)
        auth = request.headers.get("authorization")
        if auth is not None and check_authorization(auth, "INVITE", "mcu", passwords):
            return False
        challenged.append(1)
        response = SipResponse(401)
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            response.headers.add(name, request.headers.get(name) or "")
        response.headers.set("To", (request.headers.get("to") or "") + ";tag=x1")
        response.headers.add("WWW-Authenticate", 'Digest realm="mcu", nonce="abc", qop="auth"')
        uac.receive_datagram(response.to_bytes(), ("127.0.0.1", 5060), now, B)
        return True

    call = uac.dial("sip:4100@127.0.0.1:5060", OFFER, auth=("alice", "secret"), now=0.0)
    pump(uac, uas, 0.0, tap=tap)
    assert challenged == [1]
    incoming = events(uas)
    assert isinstance(incoming[0], ev.IncomingCall)
    uas.answer(call, 200, ANSWER)
    pump(uac, uas, 0.1, tap=tap)
    assert any(isinstance(e, ev.CallAnswered) for e in events(uac))


def test_reinvite_hold() -> None:
    uac, uas = pair()
    call = uac.dial("sip:4100@127.0.0.1:5060", OFFER, now=0.0)
    pump(uac, uas, 0.0)
    events(uas)
    uas.answer(call, 200, ANSWER)
    pump(uac, uas, 0.0)
    events(uac), events(uas)
    uac.reinvite(call, OFFER + b"a=sendonly\r\n", now=1.0)
    pump(uac, uas, 1.0)
    reinv = events(uas)
    assert isinstance(reinv[0], ev.ReInvite) and b"sendonly" in (reinv[0].body or b"")
    uas.answer(call, 200, ANSWER + b"a=recvonly\r\n", now=1.1)
    pump(uac, uas, 1.1)
    answered = events(uac)
    assert isinstance(answered[0], ev.ReInviteAnswered) and answered[0].status == 200
    assert b"recvonly" in (answered[0].body or b"")


def answered_timed_call() -> tuple[UserAgent, UserAgent]:
    """A call answered at t=0 with a 90 s session timer that the UAC asked for."""
    uac, uas = pair(min_se=90)
    uac.config.session_expires = 90
    call = uac.dial("sip:4100@127.0.0.1:5060", OFFER, now=0.0)
    pump(uac, uas, 0.0)
    events(uas)
    uas.answer(call, 200, ANSWER)
    pump(uac, uas, 0.0)
    return uac, uas


def run_clock(uac: UserAgent, uas: UserAgent, until: float, drop: set[str] | None = None) -> float:
    """Fire both agents' timers once a second up to `until`; returns the last time."""
    t = 0.0
    while t < until:
        t += 1.0
        uac.handle_timer(t)
        uas.handle_timer(t)
        pump(uac, uas, t, drop=drop)
    return t


def test_session_timer_expiry_without_refresh() -> None:
    uac, uas = answered_timed_call()
    events(uas), events(uac)
    # the UAC is the refresher; drop its refreshes so the UAS must end the call
    t = run_clock(uac, uas, 100.0, drop={"UPDATE", "INVITE"})
    ended = [e for e in events(uas) if isinstance(e, ev.CallEnded)]
    assert ended and ended[0].reason == "session timer expired"
    assert 59.0 <= 90 - 30 <= t


def test_session_refresh_keeps_call() -> None:
    uac, uas = answered_timed_call()
    run_clock(uac, uas, 300.0)
    assert not [e for e in events(uas) if isinstance(e, ev.CallEnded)]
    assert uas.counters.requests_in["UPDATE"] + uas.counters.requests_in["INVITE"] >= 6


def test_invite_timer_a_b_with_fake_clock() -> None:
    uac, _ = pair()
    call = uac.dial("sip:4100@192.0.2.1:5060", OFFER, now=0.0)
    sends = [0.0] if uac.datagrams_to_send(0.0) else []
    now = 0.0
    while (deadline := uac.get_timer()) is not None and deadline <= 40.0:
        now = deadline
        uac.handle_timer(now)
        if uac.datagrams_to_send(now):
            sends.append(now)
    # Timer A: 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5; Timer B fires at 32
    assert sends == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    failed = [e for e in events(uac) if isinstance(e, ev.CallFailed)]
    assert failed == [ev.CallFailed(call, 408, "Request Timeout")]


def test_non_invite_timer_e_caps_at_t2() -> None:
    uac, _ = pair()
    uac.register("sip:4100@example.com", "sip:192.0.2.1:5060", "u", "p", now=0.0)
    sends = [0.0] if uac.datagrams_to_send(0.0) else []
    while (deadline := uac.get_timer()) is not None and deadline <= 32.0:
        uac.handle_timer(deadline)
        if uac.datagrams_to_send(deadline):
            sends.append(deadline)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(sends)]
    assert gaps[:4] == [0.5, 1.0, 2.0, 4.0] and set(gaps[4:-1]) == {4.0}
    assert isinstance(events(uac)[0], ev.RegistrationFailed)


def test_uas_retransmits_2xx_until_ack_then_ends_call() -> None:
    uac, uas = pair()
    call = uac.dial("sip:4100@127.0.0.1:5060", OFFER, now=0.0)
    pump(uac, uas, 0.0)
    uas.answer(call, 200, ANSWER, now=0.0)
    oks = [d for d, _, _ in uas.datagrams_to_send(0.0) if d.startswith(b"SIP/2.0 200")]
    now = 0.0
    while (deadline := uas.get_timer()) is not None and deadline <= 33.0:
        now = deadline
        uas.handle_timer(now)
        oks += [d for d, _, _ in uas.datagrams_to_send(now) if d.startswith(b"SIP/2.0 200")]
    assert len(oks) >= 7
    ended = [e for e in events(uas) if isinstance(e, ev.CallEnded)]
    assert ended and ended[0].reason == "no ACK"
