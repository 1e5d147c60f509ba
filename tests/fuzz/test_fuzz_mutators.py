"""The fuzzer's own mutators never fail on what earlier mutations leave behind (an "m=" line cut
short gave sdp_bad_port and sdp_proto an IndexError, which ended a fuzz run early)."""

from __future__ import annotations

import random

import pytest

from tests.fuzz import mutators as M

DEGENERATE = [b"", b"a", b"m=", b"m=audio", b"m=video 0", b"\r\n\r\n", b"v=0\r\nm=\r\n",
              b"INVITE sip:x SIP/2.0\r\n\r\nm=\r\na=rtpmap:\r\nc=\r\n"]
TABLES = {name: getattr(M, name) for name in dir(M) if name.endswith("_STRATEGIES")}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_mutator_takes_degenerate_input(table: str) -> None:
    rng = random.Random(17)
    for name, mutator in TABLES[table].items():
        for data in DEGENERATE:
            for _ in range(100):
                out = mutator(rng, data)
                assert isinstance(out, bytes), (table, name)
