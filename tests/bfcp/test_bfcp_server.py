"""The floor control server core with no sockets: every primitive, both versions, UDP
retransmission and duplicate detection, errors, policies and vendor variants."""

from __future__ import annotations

import pytest

from mcu.bfcp.constants import AttributeType as A
from mcu.bfcp.constants import ErrorCode, Primitive, RequestStatus
from mcu.bfcp.message import Attribute, Message, decode, encode, statuses_of
from mcu.bfcp.registry import FloorRegistry
from mcu.bfcp.server import OPERATOR, FloorChanged, FloorPolicy, FloorServer, RequestOutcome
from mcu.bfcp.transaction import MAX_RETRANSMISSIONS, T1

P, S = Primitive, RequestStatus
CONF = 4100
UDP1, UDP2, UDP3 = ("udp", ("10.0.0.1", 5000)), ("udp", ("10.0.0.2", 5000)), ("udp", ("10.0.0.3", 5000))
TCP1 = ("tcp", 1)


def server(policy=None, users=(1, 2, 3), chair=()):
    s = FloorServer(CONF, floor_id=1, policy=policy or FloorPolicy())
    for u in users:
        s.add_user(u, f"site {u}", chair=u in chair)
    return s


class Client:
    """A BFCP user of the server under test."""

    def __init__(self, s, user, peer, version=2):
        self.s, self.user, self.peer, self.version, self.tid = s, user, peer, version, 0

    def send(self, primitive, attrs=(), now=0.0, tid=None, wire=None, conference=CONF):
        if tid is None:
            self.tid += 1
            tid = self.tid
        data = encode(Message(primitive, conference, tid, self.user, list(attrs), version=self.version),
                      primitive_number=wire)
        self.s.receive(data, self.peer, now)
        return tid

    def request(self, now=0.0):
        return self.send(P.FLOOR_REQUEST, [Attribute(A.FLOOR_ID, 1, True)], now)


def outputs(s):
    return [(peer, decode(data)) for peer, data in s.datagrams_to_send()]


def to(out, peer):
    return [m for p, m in out if p == peer]


def events(s):
    out = []
    while (e := s.next_event()) is not None:
        out.append(e)
    return out


def test_hello_ack_lists_what_we_support_and_floor_status_follows():
    s = server()
    c = Client(s, 1, UDP1)
    tid = c.send(P.HELLO)
    ack, status = to(outputs(s), UDP1)
    assert (ack.primitive, ack.transaction_id, ack.responder, ack.version) == (P.HELLO_ACK, tid, True, 2)
    assert set(ack.first(A.SUPPORTED_PRIMITIVES).value) >= {1, 2, 3, 4, 7, 8, 11, 12, 13, 14, 15, 16, 17}
    assert set(ack.first(A.SUPPORTED_ATTRIBUTES).value) == set(range(1, 19))
    assert status.primitive == P.FLOOR_STATUS and status.transaction_id >= 0x8000 and not status.responder
    assert status.first(A.FLOOR_ID).value == 1


def test_version_1_over_tcp_uses_transaction_0_for_our_messages():
    s = server()
    c = Client(s, 1, TCP1, version=1)
    c.send(P.HELLO)
    ack, status = to(outputs(s), TCP1)
    assert (ack.version, ack.responder, ack.primitive) == (1, False, P.HELLO_ACK)
    assert status.transaction_id == 0 and status.version == 1
    s.handle_timer(10.0)
    assert outputs(s) == []  # nothing to retransmit over TCP


def test_request_granted_when_free_and_everyone_told():
    s = server()
    a, b = Client(s, 1, UDP1), Client(s, 2, UDP2)
    b.send(P.HELLO)
    outputs(s)
    tid = a.request()
    out = outputs(s)
    reply = to(out, UDP1)[0]
    assert (reply.primitive, reply.transaction_id, reply.responder) == (P.FLOOR_REQUEST_STATUS, tid, True)
    assert statuses_of(reply)[0][1] == S.GRANTED
    floor_status = [m for m in to(out, UDP2) if m.primitive == P.FLOOR_STATUS][-1]
    assert statuses_of(floor_status)[0][1] == S.GRANTED
    assert FloorChanged(1, None, "granted") in events(s)
    assert s.holder_user == 1


def test_release_frees_the_floor():
    s = server()
    a = Client(s, 1, UDP1)
    a.request()
    request_id = statuses_of(to(outputs(s), UDP1)[0])[0][0]
    a.send(P.FLOOR_RELEASE, [Attribute(A.FLOOR_REQUEST_ID, request_id, True)])
    reply = to(outputs(s), UDP1)[0]
    assert statuses_of(reply) == [(request_id, S.RELEASED)]
    assert s.holder_user is None
    assert FloorChanged(None, 1, "released") in events(s)


def test_takeover_revokes_the_old_presenter():
    s = server(FloorPolicy(takeover=True))
    a, b = Client(s, 1, UDP1), Client(s, 2, UDP2)
    a.request()
    outputs(s)
    b.request()
    out = outputs(s)
    revoked = [m for m in to(out, UDP1) if m.primitive == P.FLOOR_REQUEST_STATUS]
    assert statuses_of(revoked[0])[0][1] == S.REVOKED and not revoked[0].responder
    assert statuses_of(to(out, UDP2)[0])[0][1] == S.GRANTED
    assert s.holder_user == 2


def test_wait_queues_and_grants_on_release():
    s = server(FloorPolicy(takeover=False))
    a, b = Client(s, 1, UDP1), Client(s, 2, UDP2)
    a.request()
    first = statuses_of(to(outputs(s), UDP1)[0])[0][0]
    b.request()
    reply = to(outputs(s), UDP2)[0]
    assert statuses_of(reply)[0][1] == S.PENDING
    overall = reply.first(A.FLOOR_REQUEST_INFORMATION).value.first(A.OVERALL_REQUEST_STATUS).value
    assert overall.first(A.REQUEST_STATUS).value == (S.PENDING, 1)  # first in the queue
    a.send(P.FLOOR_RELEASE, [Attribute(A.FLOOR_REQUEST_ID, first)])
    out = outputs(s)
    granted = [m for m in to(out, UDP2) if m.primitive == P.FLOOR_REQUEST_STATUS]
    assert statuses_of(granted[0])[0][1] == S.GRANTED
    assert s.holder_user == 2


def test_chair_policy_denies_others():
    s = server(FloorPolicy("chair"), chair=(1,))
    b = Client(s, 2, UDP2)
    b.request()
    assert statuses_of(to(outputs(s), UDP2)[0])[0][1] == S.DENIED
    assert RequestOutcome(2, "denied") in events(s)
    Client(s, 1, UDP1).request()
    assert statuses_of(to(outputs(s), UDP1)[0])[0][1] == S.GRANTED


def test_operator_policy_waits_for_the_operator():
    s = server(FloorPolicy("operator"))
    a = Client(s, 1, UDP1)
    a.request()
    assert statuses_of(to(outputs(s), UDP1)[0])[0][1] == S.PENDING
    assert s.pending_users() == [1]
    s.grant(1, 1.0)
    granted = [m for m in to(outputs(s), UDP1) if m.primitive == P.FLOOR_REQUEST_STATUS]
    assert statuses_of(granted[0])[0][1] == S.GRANTED
    assert s.revoke(2.0) == 1
    revoked = [m for m in to(outputs(s), UDP1) if m.primitive == P.FLOOR_REQUEST_STATUS]
    assert statuses_of(revoked[0])[0][1] == S.REVOKED


def test_operator_deny_and_operator_content():
    s = server(FloorPolicy("operator"))
    a = Client(s, 1, UDP1)
    a.request()
    outputs(s)
    assert s.deny(1, 1.0)
    assert statuses_of(next(m for m in to(outputs(s), UDP1) if m.primitive == P.FLOOR_REQUEST_STATUS))[0][1] \
        == S.DENIED
    s2 = server()
    Client(s2, 1, UDP1).request()
    outputs(s2)
    s2.operator_start(1.0)
    assert s2.holder_user == OPERATOR
    assert statuses_of(next(m for m in to(outputs(s2), UDP1) if m.primitive == P.FLOOR_REQUEST_STATUS))[0][1] \
        == S.REVOKED
    s2.operator_stop(2.0)
    assert s2.holder_user is None


def test_request_query_floor_query_user_query():
    s = server()
    a = Client(s, 1, UDP1)
    a.request()
    rid = statuses_of(to(outputs(s), UDP1)[0])[0][0]
    a.send(P.FLOOR_REQUEST_QUERY, [Attribute(A.FLOOR_REQUEST_ID, rid)])
    assert statuses_of(to(outputs(s), UDP1)[0]) == [(rid, S.GRANTED)]
    a.send(P.FLOOR_QUERY, [Attribute(A.FLOOR_ID, 1)])
    reply = to(outputs(s), UDP1)[0]
    assert reply.primitive == P.FLOOR_STATUS and reply.responder and statuses_of(reply) == [(rid, S.GRANTED)]
    a.send(P.USER_QUERY)
    reply = to(outputs(s), UDP1)[0]
    assert reply.primitive == P.USER_STATUS and reply.first(A.BENEFICIARY_INFORMATION).value.id == 1


def test_goodbye_ends_the_users_requests():
    s = server()
    a = Client(s, 1, UDP1)
    a.request()
    outputs(s)
    a.send(P.GOODBYE)
    out = to(outputs(s), UDP1)
    assert out[0].primitive == P.GOODBYE_ACK and out[0].responder
    assert s.holder_user is None


@pytest.mark.parametrize("primitive, attrs, code", [
    (P.FLOOR_REQUEST, [], ErrorCode.PARSE_ERROR),
    (P.FLOOR_REQUEST, [Attribute(A.FLOOR_ID, 9)], ErrorCode.INVALID_FLOOR_ID),
    (P.FLOOR_REQUEST, [Attribute(A.FLOOR_ID, 1), Attribute(A.BENEFICIARY_ID, 2)], ErrorCode.UNAUTHORIZED_OPERATION),
    (P.FLOOR_RELEASE, [Attribute(A.FLOOR_REQUEST_ID, 77)], ErrorCode.FLOOR_REQUEST_ID_DOES_NOT_EXIST),
    (P.FLOOR_REQUEST_QUERY, [Attribute(A.FLOOR_REQUEST_ID, 77)], ErrorCode.FLOOR_REQUEST_ID_DOES_NOT_EXIST),
    (P.FLOOR_QUERY, [Attribute(A.FLOOR_ID, 9)], ErrorCode.INVALID_FLOOR_ID),
    (P.CHAIR_ACTION, [], ErrorCode.UNAUTHORIZED_OPERATION),
    (P.FLOOR_STATUS, [], ErrorCode.UNKNOWN_PRIMITIVE),
    (40, [], ErrorCode.UNKNOWN_PRIMITIVE),
    (P.FLOOR_REQUEST, [Attribute(A.FLOOR_ID, 1), Attribute(99, b"\0\0", True)], ErrorCode.UNKNOWN_MANDATORY_ATTRIBUTE),
])
@pytest.mark.parametrize("version, peer", [(1, TCP1), (2, UDP1)])
def test_errors(primitive, attrs, code, version, peer):
    s = server()
    c = Client(s, 1, peer, version)
    tid = c.send(primitive, attrs)
    reply = to(outputs(s), peer)[0]
    assert (reply.primitive, reply.transaction_id, reply.version) == (P.ERROR, tid, version)
    assert reply.responder == (version == 2)
    assert reply.first(A.ERROR_CODE).value[0] == code
    if code is ErrorCode.UNKNOWN_MANDATORY_ATTRIBUTE:
        assert reply.first(A.ERROR_CODE).value[1] == bytes([99 << 1])


def test_release_of_another_users_request_is_unauthorized():
    s = server()
    Client(s, 1, UDP1).request()
    rid = statuses_of(to(outputs(s), UDP1)[0])[0][0]
    Client(s, 2, UDP2).send(P.FLOOR_RELEASE, [Attribute(A.FLOOR_REQUEST_ID, rid)])
    assert to(outputs(s), UDP2)[0].first(A.ERROR_CODE).value[0] == ErrorCode.UNAUTHORIZED_OPERATION
    assert s.holder_user == 1


def test_unknown_user_and_unknown_conference():
    registry = FloorRegistry()
    s = server()
    registry.add(s)
    data = encode(Message(P.HELLO, CONF, 5, 42, version=2))
    registry.receive(data, UDP1, 0.0)
    reply = decode(registry.datagrams_to_send()[0][1])
    assert reply.first(A.ERROR_CODE).value[0] == ErrorCode.USER_DOES_NOT_EXIST
    registry.receive(encode(Message(P.HELLO, 999, 5, 1, version=2)), UDP1, 0.0)
    reply = decode(registry.datagrams_to_send()[0][1])
    assert reply.first(A.ERROR_CODE).value[0] == ErrorCode.CONFERENCE_DOES_NOT_EXIST
    assert registry.dropped["unknown conference"] == 1


def test_garbage_is_counted_and_never_answered():
    registry = FloorRegistry()
    registry.add(server())
    for junk in (b"", b"\xff" * 40, b"GET / HTTP/1.1\r\n\r\n", b"\x20\x01"):
        registry.receive(junk, UDP1, 0.0)
    assert registry.datagrams_to_send() == []
    assert sum(registry.dropped.values()) == 4


def test_malformed_message_of_our_conference_gets_an_error():
    registry = FloorRegistry()
    registry.add(server())
    data = encode(Message(P.FLOOR_REQUEST, CONF, 5, 1, [Attribute(A.FLOOR_ID, 1)], version=2))
    registry.receive(data[:-2], UDP1, 0.0)
    reply = decode(registry.datagrams_to_send()[0][1])
    assert reply.first(A.ERROR_CODE).value[0] == ErrorCode.INCORRECT_MESSAGE_LENGTH
    assert registry.dropped["incorrect_message_length"] == 1


def test_duplicate_request_gets_the_cached_response_without_acting_twice():
    s = server(FloorPolicy(takeover=False))
    a, b = Client(s, 1, UDP1), Client(s, 2, UDP2)
    tid = a.request()
    first = to(outputs(s), UDP1)[0]
    a.send(P.FLOOR_REQUEST, [Attribute(A.FLOOR_ID, 1, True)], now=0.3, tid=tid)
    again = to(outputs(s), UDP1)
    assert len(again) == 1 and encode(again[0]) == encode(first)
    b.request()
    assert len(s.requests) == 2  # one each: the retransmission made no second request


def test_our_notifications_are_retransmitted_until_acknowledged():
    s = server()
    a, b = Client(s, 1, UDP1), Client(s, 2, UDP2)
    b.send(P.HELLO)
    status = next(m for m in to(outputs(s), UDP2) if m.primitive == P.FLOOR_STATUS)
    s.handle_timer(T1 - 0.01)
    assert outputs(s) == []
    s.handle_timer(T1)
    assert [m.transaction_id for m in to(outputs(s), UDP2)] == [status.transaction_id]
    b.send(P.FLOOR_STATUS_ACK, tid=status.transaction_id)
    s.handle_timer(100.0)
    assert outputs(s) == []
    a.request(now=200.0)
    outputs(s)
    for i in range(10):
        s.handle_timer(200.0 + 60.0 * (i + 1))
    retransmitted = [m for m in to(outputs(s), UDP2)]
    assert len(retransmitted) == MAX_RETRANSMISSIONS
    assert s.reliability.gave_up >= 1


def test_a_newer_floor_status_replaces_an_unacknowledged_older_one():
    s = server()
    b = Client(s, 2, UDP2)
    b.send(P.HELLO)
    outputs(s)
    a = Client(s, 1, UDP1)
    a.request()
    outputs(s)
    assert sum(1 for k in s.reliability._outstanding if k[0] == UDP2) == 1


def test_legacy_udp_version_1_numbering():
    s = server()
    a = Client(s, 1, UDP1, version=1)
    tid = a.send(17, wire=17)  # Goodbye in the draft numbering
    reply = to(outputs(s), UDP1)[0]
    assert (reply.primitive, reply.transaction_id) == (18, tid)  # GoodbyeAck, draft numbering
    a.request()
    out = outputs(s)
    status = next(m for m in to(out, UDP1) if m.primitive == P.FLOOR_STATUS)
    a.send(16, tid=status.transaction_id)  # FloorStatusAck in the draft numbering
    assert not any(k[1] == status.transaction_id for k in s.reliability._outstanding)


def test_flat_vendor_variant_is_sent_to_users_who_need_it():
    s = FloorServer(CONF)
    s.add_user(1, nested=False)
    Client(s, 1, UDP1).request()
    _peer, data = s.datagrams_to_send()[0]
    assert data[13] == 4  # FLOOR-REQUEST-INFORMATION Length covers only its id
    assert statuses_of(decode(data))[0][1] == S.GRANTED


def test_same_user_asking_again_gets_its_request_back():
    s = server()
    a = Client(s, 1, UDP1)
    a.request()
    rid = statuses_of(to(outputs(s), UDP1)[0])[0][0]
    a.request()
    assert statuses_of(to(outputs(s), UDP1)[0]) == [(rid, S.GRANTED)]


def test_removing_the_presenter_frees_the_floor_and_tells_the_others():
    s = server()
    a, b = Client(s, 1, UDP1), Client(s, 2, UDP2)
    b.send(P.HELLO)
    a.request()
    outputs(s)
    events(s)
    s.remove_user(1, 1.0)
    assert FloorChanged(None, 1, "left") in events(s)
    statuses = [m for m in to(outputs(s), UDP2) if m.primitive == P.FLOOR_STATUS]
    assert statuses and statuses_of(statuses[-1]) == []


def test_a_client_error_is_never_answered():
    s = server()
    Client(s, 1, TCP1, version=1).send(P.ERROR, [Attribute(A.ERROR_CODE, (10, b""))])
    assert outputs(s) == []


def test_polycom_proxy_ack_number_91_acknowledges():
    s = server(FloorPolicy("operator"))
    a = Client(s, 1, UDP1)
    a.request()
    outputs(s)
    s.grant(1, 1.0)
    granted = next(m for m in to(outputs(s), UDP1) if m.primitive == P.FLOOR_REQUEST_STATUS)
    a.send(91, tid=granted.transaction_id)
    assert not any(k[1] == granted.transaction_id for k in s.reliability._outstanding)
    assert outputs(s) == []
