"""The C OutboundStream (mcu._rtp) against its specification, mcu.rtp.session.OutboundStream:
both get the same random schedule of packetize (markers, shared encoders' media timestamps,
16-bit sequence and 32-bit timestamp wrap, header extensions), switch_source, NACK retransmits
(repeats, unknown and evicted sequence numbers, resend interval, floods) and sender reports, and
must return the same bytes and reports and keep the same counters; seeded with the same rng they
draw the same starting sequence number and timestamp. The scenarios of test_rtp_stats_session.py
about outbound streams run on the C class too."""

from __future__ import annotations

import random
from typing import Any

import pytest
import test_rtp_stats_session as spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcu._rtp import OutboundStream as COut
from mcu.rtp.packet import HeaderExtension
from mcu.rtp.session import OutboundStream as PyOut

MANY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COUNTERS = ("ssrc", "payload_type", "clock_rate", "sequence", "last_timestamp", "last_send_time",
            "packet_count", "octet_count", "retransmitted")


def counters(out: Any) -> tuple[Any, ...]:
    return tuple(getattr(out, name) for name in COUNTERS)


@st.composite
def schedules(draw: Any) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    args = {
        "ssrc": draw(st.integers(0, 0xFFFFFFFF)),
        "payload_type": draw(st.sampled_from([0, 8, 96, 111, 127])),
        "clock_rate": draw(st.sampled_from([8000, 48000, 90000])),
        "sequence_start": draw(st.none() | st.sampled_from([0, 65534, 65535]) | st.integers(0, 1 << 20)),
        "timestamp_start": draw(st.none() | st.sampled_from([0, 0xFFFFFF00]) | st.integers(0, 0xFFFFFFFF)),
        "history": draw(st.sampled_from([0, 1, 4, 512])),
        "seed": draw(st.integers(0, 1000)),
    }
    media, now, ops = draw(st.integers(0, 1 << 40)), 1.7e9, []
    for _ in range(draw(st.integers(1, 60))):
        kind = draw(st.sampled_from(["packet"] * 6 + ["extension", "switch", "nack", "report"]))
        now += draw(st.sampled_from([0.0, 0.02, 0.033, 0.05, 0.15]))
        if kind in ("packet", "extension"):
            media += draw(st.sampled_from([0, 160, 960, 3000]) | st.integers(-100000, 100000))
            ext = [HeaderExtension(1, b"\x30")] if kind == "extension" else None
            ops.append(("packet", draw(st.binary(max_size=64)), media, now, draw(st.booleans()), ext))
        elif kind == "switch":
            media = draw(st.integers(0, 1 << 40))
            ops.append(("switch", now))
        elif kind == "nack":
            ops.append(("nack", draw(st.lists(st.integers(0, 0xFFFF) | st.integers(0, 70), max_size=80)), now))
        else:
            ops.append(("report", now))
    return args, ops


def build(cls: type, args: dict[str, Any]) -> Any:
    kw = dict(args)
    rng = random.Random(kw.pop("seed"))
    return cls(kw.pop("ssrc"), kw.pop("payload_type"), kw.pop("clock_rate"), rng=rng, **kw)


@MANY
@given(schedule=schedules())
def test_outbound_stream_matches_the_specification(schedule: tuple[dict[str, Any], list[tuple[Any, ...]]]) -> None:
    args, ops = schedule
    py, c = build(PyOut, args), build(COut, args)
    assert counters(c) == counters(py)
    sent: list[int] = []
    for op in ops:
        if op[0] == "packet":
            _, payload, media, now, marker, ext = op
            assert c.packetize(payload, media, now, marker, ext) == py.packetize(payload, media, now, marker, ext)
            sent.append(py.sequence - 1)
        elif op[0] == "switch":
            c.switch_source(op[1])
            py.switch_source(op[1])
        elif op[0] == "nack":
            wanted = op[1] + [s & 0xFFFF for s in sent[-5:]]
            assert c.retransmit(wanted, op[2]) == py.retransmit(wanted, op[2])
        else:
            assert c.sender_report(op[1]) == py.sender_report(op[1])
        assert counters(c) == counters(py), op


def test_payloads_that_are_not_bytes_are_sent_as_bytes() -> None:
    c, py = COut(1, 96, 90000, 0, 0, history=4), PyOut(1, 96, 90000, 0, 0, history=4)
    assert c.packetize(bytearray(b"ab"), 0, 1.0) == py.packetize(bytearray(b"ab"), 0, 1.0)
    assert c.retransmit([0], 2.0) == py.retransmit([0], 2.0) == [c.retransmit([0], 3.0)[0]]


@pytest.mark.parametrize("name", [n for n in dir(spec) if n.startswith("test_") and any(
    word in n for word in ("outbound", "nack", "flood", "switch_source"))])
def test_the_outbound_scenarios_hold_for_the_c_class(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec, "OutboundStream", COut)
    getattr(spec, name)()
