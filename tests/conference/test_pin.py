"""PIN entry: admit on the right PIN, chair on the chair PIN, hang up after three wrong ones."""

from __future__ import annotations

from mcu.conference.pin import Admitted, PinGate, Refused, WrongPin, parse_dtmf_info


def key(gate: PinGate, digits: str, now: float = 1.0):
    outcomes = [gate.digit(d, now) for d in digits]
    return [o for o in outcomes if o is not None]


def test_dtmf_info_bodies() -> None:
    assert parse_dtmf_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n") == "5"
    assert parse_dtmf_info("application/dtmf-relay", b"Signal= #\nDuration=100") == "#"
    assert parse_dtmf_info("application/dtmf-relay", b"Signal=11\r\n") == "#"
    assert parse_dtmf_info("application/dtmf", b"7") == "7"
    assert parse_dtmf_info("application/dtmf-relay", b"Duration=160") is None
    assert parse_dtmf_info("application/dtmf-relay", b"Signal=Z") is None
    assert parse_dtmf_info("text/plain", b"5") is None


def test_right_pin_admits() -> None:
    assert key(PinGate("2468"), "2468#") == [Admitted(chair=False)]


def test_chair_pin_admits_as_chair() -> None:
    assert key(PinGate("2468", chair_pin="1357"), "1357#") == [Admitted(chair=True)]


def test_three_wrong_pins_refuse() -> None:
    gate = PinGate("2468")
    assert key(gate, "1111#2222#3333#") == [WrongPin(2), WrongPin(1), Refused("too many wrong PINs")]
    assert gate.done and key(gate, "2468#") == []


def test_star_restarts_and_empty_submit_is_ignored() -> None:
    assert key(PinGate("2468"), "#99*2468#") == [Admitted(chair=False)]


def test_pause_submits_and_silence_refuses() -> None:
    gate = PinGate("2468", started=0.0)
    key(gate, "2468", now=1.0)
    assert gate.handle_timer(5.9) is None
    assert gate.handle_timer(6.0) == Admitted(chair=False)
    silent = PinGate("2468", started=0.0)
    assert silent.next_timer() == 60.0
    assert silent.handle_timer(60.0) == Refused("no PIN entered")


def test_pin_is_not_in_any_outcome() -> None:
    gate = PinGate("2468")
    for outcome in key(gate, "1111#2468#"):
        assert "2468" not in repr(outcome) and "1111" not in repr(outcome)
