from mcu.conference.ticker import Ticker


def test_not_due_before_deadline() -> None:
    ticker = Ticker(period=0.02, start=100.0)
    assert not ticker.due(100.019) and ticker.ticks == 0


def test_on_time_ticks_stay_on_the_grid() -> None:
    ticker = Ticker(period=0.02, start=0.0)
    for n in range(1, 501):
        assert ticker.due(n * 0.02 + 0.001)
    assert (ticker.ticks, ticker.late, ticker.skipped) == (500, 0, 0)
    assert abs(ticker.next_deadline - 501 * 0.02) < 1e-9, "no drift after 500 ticks"


def test_late_tick_is_counted_and_not_accumulated() -> None:
    ticker = Ticker(period=0.02, start=0.0)
    assert ticker.due(0.031)  # 11 ms late
    assert ticker.late == 1
    assert abs(ticker.next_deadline - 0.04) < 1e-9, "the next deadline stays on the grid"


def test_missed_periods_are_skipped_not_burst() -> None:
    ticker = Ticker(period=0.02, start=0.0)
    assert ticker.due(0.105)  # deadlines 0.02, 0.04, 0.06, 0.08, 0.10 all passed
    assert ticker.skipped == 4 and ticker.ticks == 1
    assert not ticker.due(0.106)
    assert abs(ticker.next_deadline - 0.12) < 1e-9
