"""Abuse limits (call rate, unconfirmed calls, PIN guessing) and member faults, sans-I/O:
addresses are strings and time is a parameter."""

from __future__ import annotations

from dataclasses import replace

from mcu.calls.ratelimit import RateLimit
from mcu.calls.refusal import Refusal
from mcu.conference.abuse import REFUSE_RATE, CallGuard, PinGuard
from mcu.conference.faults import Faults
from mcu.config import LimitsSection

LIMITS = LimitsSection()


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    bucket = RateLimit(rate=2.0, burst=3)
    assert [bucket.take("a", 0.0) == 0.0 for _ in range(4)] == [True, True, True, False]
    assert bucket.take("b", 0.0) == 0.0, "another key has its own bucket"
    assert bucket.take("a", 0.2) > 0.0
    assert bucket.take("a", 0.5) == 0.0, "half a second at 2/s gives a token back"


def test_call_rate_per_address_gets_503_with_retry_after() -> None:
    guard = CallGuard(replace(LIMITS, calls_per_second=1.0, call_burst=2, unconfirmed_calls=100))
    assert guard.new_call("c1", "10.0.0.9", 0.0) is None
    assert guard.new_call("c2", "10.0.0.9", 0.0) is None
    refusal = guard.new_call("c3", "10.0.0.9", 0.0)
    assert refusal is not None and refusal.status == 503 and refusal.refusal is Refusal.RATE_LIMITED
    assert refusal.retry_after == LIMITS.retry_after
    assert guard.new_call("c4", "10.0.0.10", 0.0) is None, "other addresses are not limited"
    assert guard.refusals[REFUSE_RATE] == 1


def test_unconfirmed_calls_are_capped_until_acked_or_ended() -> None:
    guard = CallGuard(replace(LIMITS, unconfirmed_calls=2, call_burst=100))
    assert guard.new_call("c1", "a", 0.0) is None and guard.new_call("c2", "a", 0.0) is None
    refusal = guard.new_call("c3", "a", 0.0)
    assert refusal is not None and refusal.status == 503 and refusal.refusal is Refusal.UNCONFIRMED
    guard.confirmed("c1")  # ACK arrived
    assert guard.new_call("c4", "a", 0.1) is None
    guard.ended("c2")  # CANCEL / BYE
    assert guard.new_call("c5", "a", 0.2) is None
    assert guard.unconfirmed == 2


def test_answered_calls_without_ack_are_handed_back_after_the_answer_timeout() -> None:
    guard = CallGuard(replace(LIMITS, answer_timeout=5.0))
    guard.new_call("c1", "a", 0.0)
    guard.new_call("c2", "a", 0.0)
    guard.answered("c1", 1.0)
    guard.answered("c2", 1.0)
    guard.confirmed("c2")
    assert guard.unacknowledged(5.9) == []
    assert guard.unacknowledged(6.1) == ["c1"]
    assert guard.unacknowledged(7.0) == [], "handed back once"
    assert guard.unconfirmed == 0


def test_wrong_pins_lock_an_address_out_across_calls_and_only_that_address() -> None:
    pins = PinGuard(replace(LIMITS, pin_failures=3, pin_window=60.0, pin_lockout=100.0, room_pin_alarm=4))
    outcomes = [pins.wrong_pin("1.2.3.4", "4200", t) for t in (0.0, 1.0, 2.0)]
    assert [o.locked_out for o in outcomes] == [False, False, True]
    refusal = pins.admission("1.2.3.4", 3.0)
    assert refusal is not None and refusal.status == 403 and refusal.refusal is Refusal.PIN_LOCKOUT
    assert refusal.retry_after == 99
    assert pins.admission("5.6.7.8", 3.0) is None, "a real site elsewhere still gets in"
    assert pins.wrong_pin("5.6.7.8", "4200", 4.0).room_alarm, "the fourth wrong PIN in the room"
    assert pins.room_failures(4.0) == {"4200": 4}
    assert pins.locked_addresses(50.0) == 1
    assert pins.admission("1.2.3.4", 102.0) is None, "after the cool-down"
    assert not pins.wrong_pin("1.2.3.4", "4200", 103.0).locked_out, "with a fresh budget"
    assert pins.lockouts == 1


def test_wrong_pins_outside_the_window_are_forgotten() -> None:
    pins = PinGuard(replace(LIMITS, pin_failures=3, pin_window=10.0))
    pins.wrong_pin("a", "r", 0.0)
    pins.wrong_pin("a", "r", 1.0)
    assert not pins.wrong_pin("a", "r", 20.0).locked_out
    assert pins.room_failures(20.0) == {"r": 1}


def test_faults_are_counted_logged_once_and_a_lasting_one_hangs_up(caplog) -> None:  # type: ignore[no-untyped-def]
    faults = Faults(persist_seconds=3.0)
    for i in range(200):  # 4 s of 20 ms ticks
        faults.record("call-1", "audio decode", i * 0.02, RuntimeError("bad payload"))
    faults.record("call-2", "audio encode", 0.0)
    assert faults.totals == {"audio decode": 200, "audio encode": 1}
    assert sum("member.fault" in r.getMessage() for r in caplog.records) == 2
    hangups = faults.take_hangups(4.0)
    assert [(h.call_id, h.reason) for h in hangups] == [("call-1", "media fault: audio decode")]
    assert faults.hangups == {"audio decode": 1}
    assert faults.take_hangups(4.0) == []


def test_a_fault_with_breaks_never_builds_a_streak_and_non_fatal_ones_never_hang_up() -> None:
    faults = Faults(persist_seconds=3.0)
    for t in (0.0, 3.0, 6.0, 9.0):  # one fault every 3 s: more than the quiet time apart
        faults.record("c", "send EACCES", t)
    faults.record("d", "audio frame size", 0.0, fatal=False)
    faults.record("d", "audio frame size", 9.0, fatal=False)
    assert faults.take_hangups(9.0) == []
    faults.forget("c")
    assert faults.take_hangups(20.0) == []
