"""Mutated BFCP messages into the registry: every outcome is an answer or a counted drop, never an
exception, and the floor keeps working for a well-behaved user afterwards."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mcu.bfcp.constants import AttributeType as A
from mcu.bfcp.constants import Primitive as P
from mcu.bfcp.constants import RequestStatus
from mcu.bfcp.message import Attribute, Message, decode, encode, statuses_of
from mcu.bfcp.registry import FloorRegistry
from mcu.bfcp.server import FloorServer

SEEDS = [encode(Message(p, 7, 1, 1, attrs, version=v)) for v in (1, 2) for p, attrs in (
    (P.HELLO, []), (P.FLOOR_REQUEST, [Attribute(A.FLOOR_ID, 1, True)]),
    (P.FLOOR_RELEASE, [Attribute(A.FLOOR_REQUEST_ID, 1)]), (P.FLOOR_QUERY, [Attribute(A.FLOOR_ID, 1)]),
    (P.USER_QUERY, [Attribute(A.BENEFICIARY_ID, 1)]), (P.GOODBYE, []))]


@settings(max_examples=400, deadline=None)
@given(seed=st.sampled_from(SEEDS), edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, 200), tail=st.binary(max_size=40), udp=st.booleans())
def test_mutated_messages_never_raise(seed, edits, cut, tail, udp):
    registry = FloorRegistry()
    server = FloorServer(7)
    server.add_user(1)
    server.add_user(2)
    registry.add(server)
    data = bytearray(seed)
    for pos, value in edits:
        if data:
            data[pos % len(data)] = value
    data = bytes(data[: cut or None]) + tail
    peer = ("udp", ("10.0.0.9", 9)) if udp else ("tcp", 9)
    registry.receive(data, peer, 0.0)
    registry.handle_timer(5.0)
    registry.datagrams_to_send()
    good = ("udp", ("10.0.0.2", 2))
    registry.receive(encode(Message(P.FLOOR_REQUEST, 7, 77, 2, [Attribute(A.FLOOR_ID, 1)], version=2)), good, 6.0)
    replies = [decode(d) for p, d in registry.datagrams_to_send() if p == good]
    statuses = [s for m in replies for _, s in statuses_of(m)]
    assert statuses and statuses[0] in (RequestStatus.GRANTED, RequestStatus.PENDING), replies
