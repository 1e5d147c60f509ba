"""The black-box fuzzer (tests/fuzz/fuzzer.py) against a running `mcu serve`: its mutators, then a
short bounded run (fixed seed) of SIP over UDP and TCP, RTP/RTCP into real calls and admin requests,
after which the MCU must be alive, answer OPTIONS, take a fresh call that hears a second site, and
have logged no traceback. A long run: `python -m bench.fuzz` (bench/README.md)."""

from __future__ import annotations

import random
from pathlib import Path

from tests.fuzz import mutators as mut
from tests.fuzz.fuzzer import WEIGHTS, offer_sdp, run_fuzz, sip_request

SEED = 20261207
COUNT = 4000  # inputs at most ...
SECONDS = 30.0  # ... within this many seconds of sending
TABLES = {"sip": mut.SIP_STRATEGIES, "sdp": mut.SDP_STRATEGIES, "rtp": mut.RTP_STRATEGIES,
          "rtcp": mut.RTCP_STRATEGIES, "http": mut.HTTP_STRATEGIES}


def _bases() -> dict[str, bytes]:
    sdp = offer_sdp(5004, 5006)
    invite = sip_request("INVITE", "sip:4100@127.0.0.1:5060", token="t1", local="127.0.0.1:5070", body=sdp)
    rtp = mut.RTP_HEADER.pack(0x80, 0, 1, 160, 0x1234) + b"\xff" * 160
    rtcp = bytes.fromhex("81c90007") + bytes(28)
    http = b"POST /rooms/4100/layout HTTP/1.1\r\nAuthorization: Bearer x\r\nContent-Length: 21\r\n\r\n{\"layout\": \"speaker\"}"
    return {"sip": invite, "sdp": sdp, "rtp": rtp, "rtcp": rtcp, "http": http}


def test_every_strategy_gives_bytes_and_the_same_bytes_for_the_same_seed() -> None:
    bases = _bases()
    for table_name, table in TABLES.items():
        for name, strategy in table.items():
            for seed in range(20):
                first = strategy(random.Random(f"{seed}/{name}"), bases[table_name])
                again = strategy(random.Random(f"{seed}/{name}"), bases[table_name])
                assert isinstance(first, bytes), (table_name, name)
                assert first == again, (table_name, name, seed)


def test_stacked_strategies_never_raise() -> None:
    bases = _bases()
    for table_name, table in TABLES.items():
        for seed in range(300):
            _, data = mut.mutate(random.Random(f"{table_name}/{seed}"), table, bases[table_name], max_stack=3)
            assert isinstance(data, bytes)


def test_mutated_messages_name_only_loopback_addresses() -> None:
    assert mut.loopback_only(b"c=IN IP4 8.8.8.8\r\nc=IN IP4 127.0.0.5") == b"c=IN IP4 127.0.0.1\r\nc=IN IP4 127.0.0.5"
    assert mut.loopback_only(b"c=IN IP6 2001:db8::1") == b"c=IN IP6 ::1"
    assert mut.loopback_only(b"c=IN IP4 999.1.1.1 and 0.0.0.0 and ::1") == b"c=IN IP4 999.1.1.1 and 0.0.0.0 and ::1"
    assert mut.loopback_only(b"sip:x@10.0.0.7:5060") == b"sip:x@127.0.0.1:5060"
    invite = _bases()["sip"]
    for seed in range(300):
        _, data = mut.mutate(random.Random(seed), mut.SIP_STRATEGIES, invite.replace(b"127.0.0.1", b"192.0.2.9"))
        assert b"192.0.2.9" not in data


def test_fuzz_the_running_mcu(tmp_path: Path) -> None:
    report = run_fuzz(tmp_path, SEED, COUNT, SECONDS)
    print(report.summary())
    assert set(report.sent) == set(WEIGHTS), report.summary()  # every kind of input went out
    assert sum(report.sent.values()) >= 500, report.summary()
    assert not report.failures, report.summary()
