"""The usage journal, the store (SQLite and a real PostgreSQL 15) and the monthly statement."""

from __future__ import annotations

import calendar
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from mcu.plan.prices import Prices, load_prices
from mcu.usage.journal import Journal, replay, set_aside
from mcu.usage.records import RESTART_REASON, CallRecord, MeetingRecord
from mcu.usage.service import UsageService
from mcu.usage.statement import month_bounds, render, statement
from mcu.usage.store import migrations, open_store

REPO = Path(__file__).resolve().parents[2]
T0 = float(calendar.timegm((2026, 12, 7, 9, 0, 0)))


def call(i: int, tenant: str = "moh", room: str = "4100", answer: float = T0, seconds: float = 600.0,
         tier: str = "hd720", reason: str = "bye") -> CallRecord:
    return CallRecord(id=f"c{i}", tenant=tenant, room=room, meeting_id="m1", site=f"site{i}", uri=f"sip:s{i}@x",
                      protocol="sip", direction="in", start=answer - 1.0, answer=answer, end=answer + seconds,
                      end_reason=reason, audio_codec="PCMU", video_codec="H264", resolution="1280x720", tier=tier,
                      bytes_in=1000 * i, bytes_out=2000 * i, packets_in=10 * i, packets_out=20 * i, loss=0.01,
                      jitter_ms=2.5, encrypted=i % 2 == 0)


def meeting(tenant: str = "moh", start: float = T0, minutes: float = 10.0, recording: float = 30.0) -> MeetingRecord:
    return MeetingRecord(f"m-{tenant}-{start}", tenant, "4100", start, start + minutes * 60, "ended", 2, 2,
                         2 * minutes, recording)


def test_migrations_are_numbered_files_applied_once(store_url: str, tmp_path: Path) -> None:
    assert [m[0] for m in migrations()] == list(range(1, len(migrations()) + 1))
    store = open_store(store_url, tmp_path, migrate=False)
    try:
        assert store.migrate() == ["0001_usage.sql"]
        assert store.migrate() == []  # applied once
        assert store.version() == 1
    finally:
        store.close()


def test_inserts_are_idempotent_and_windows_read_back(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    try:
        records = [call(1), call(2, tenant="mof"), call(3, answer=T0 - 40 * 86400)]
        assert store.insert(records, [meeting()]) == 4
        assert store.insert(records, [meeting()]) == 0  # a replayed journal stores nothing twice
        start, end, _ = month_bounds("2026-12", 0)
        assert [c.id for c in store.calls(start, end)] == ["c1", "c2"]
        assert store.calls(start, end, "moh") == [call(1)]  # every field back as written
        assert store.calls(start, end, "moh")[0].encrypted is False and store.calls(start, end, "mof")[0].encrypted
        assert store.meetings(start, end, "moh") == [meeting()]
        assert store.meetings(start, end, "mof") == []
    finally:
        store.close()


def test_journal_replay_closes_open_calls_and_skips_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "usage.journal"
    journal = Journal(path)
    journal.write("call", "open", call(1))
    journal.write("call", "open", call(2))
    journal.write("call", "close", call(1))
    journal.write("call", "open", call(1, seconds=1.0))  # a late progress line cannot reopen a closed call
    journal.write("meeting", "open", meeting())
    journal.fsync()
    with path.open("a") as out:
        out.write('{"t": "call", "state": "op')  # the crash cut the last line
    files = set_aside(path)
    assert not path.exists() and len(files) == 1
    done = replay(files)
    by_id = {c.id: c for c in done.calls}
    assert by_id["c1"] == call(1) and by_id["c2"].end_reason == RESTART_REASON
    assert done.restarted_calls == 1 and done.restarted_meetings == 1 and done.bad_lines == 1
    assert done.meetings[0].end_reason == RESTART_REASON


def member(call_id: str, room: str, name: str) -> SimpleNamespace:
    return SimpleNamespace(call_id=call_id, room=room, site_id=None, display_name=name, uri=f"sip:{name}@x",
                           remote="127.0.0.1:5062", audio_out=None, video_out=None, audio_format=None,
                           audio_in=None, video_in=None, encrypted=False)


def leg(bytes_in: int) -> SimpleNamespace:
    counters = SimpleNamespace(rtp_bytes=bytes_in, rtp_packets=bytes_in // 100)
    return SimpleNamespace(transports={"audio": SimpleNamespace(counters=counters)}, protocol="sip", dialled=None)


def service(tmp_path: Path, url: str, clock: list[float]) -> UsageService:
    return UsageService(tmp_path / "usage.journal", lambda: open_store(url, tmp_path),
                        lambda room: "moh" if room.startswith("41") else "", wall=lambda: clock[0])


def test_a_crash_loses_no_closed_record_and_closes_open_ones_on_restart(store_url: str, tmp_path: Path) -> None:
    clock = [T0]
    first = service(tmp_path, store_url, clock)
    first.start()
    first.arriving("a")
    first.joined(member("a", "4100", "hanoi"), leg(0))  # type: ignore[arg-type]
    first.joined(member("b", "4100", "hue"), leg(0))  # type: ignore[arg-type]
    first.sample({}, {}, {"4100"})  # recording from here
    clock[0] += 30.0
    first.sample({}, {}, {"4100"})
    closed = first.ended("a", leg(5000), None, "bye")  # type: ignore[arg-type]
    assert closed is not None and closed.seconds == pytest.approx(30.0) and closed.bytes_in == 5000
    clock[0] += 15.0
    first.sample({}, {}, {"4100"})  # the 10 s progress line: b seen at T0+45
    # SIGKILL here: no stop(), the writer may or may not have stored "a"; the journal has it all
    assert first.writer is not None
    first.writer.stop()
    clock[0] += 100.0
    second = service(tmp_path, store_url, clock)
    second.start()
    assert second.replayed == 2 and second.restarted == 1
    second.stop()
    store = open_store(store_url, tmp_path)
    try:
        start, end, _ = month_bounds("2026-12", 0)
        calls = {c.site: c for c in store.calls(start, end)}
        meetings = store.meetings(start, end)
    finally:
        store.close()
    assert calls["hanoi"].end_reason == "bye" and calls["hanoi"].bytes_in == 5000
    assert calls["hue"].end_reason == RESTART_REASON and calls["hue"].end == pytest.approx(T0 + 45.0)
    assert len(meetings) == 1 and meetings[0].end_reason == RESTART_REASON
    assert meetings[0].recording_minutes == pytest.approx(0.75)
    assert not list(tmp_path.glob("usage.journal.*.replay"))  # stored, then set-aside files deleted


def test_statement_counts_site_hours_by_tier_recording_and_peak_with_prices(tmp_path: Path) -> None:
    start, end, label = month_bounds("2026-12", 0)
    calls = [call(1, seconds=3600), call(2, seconds=1800, tier="sd360"), call(3, answer=T0 + 7200, seconds=3600),
             call(4, tenant="mof", seconds=360, tier="audio"),
             call(5, answer=end - 1800, seconds=3600)]  # half of it in next month
    meetings = [meeting(recording=90.0), meeting("mof", recording=0.0), meeting(start=start - 60)]
    prices_file = tmp_path / "prices.toml"
    prices_file.write_text('[prices]\ncurrency = "VND"\nport_per_hour = 100\nrecording_per_hour = 50\n'
                           'service_per_month = 1000\n[prices.port_per_hour_by_tier]\naudio = 10\n')
    prices = load_prices(prices_file)
    s = statement(calls, meetings, start, end, label, prices=prices)
    moh, mof = {u.tenant: u for u in s.tenants}["moh"], {u.tenant: u for u in s.tenants}["mof"]
    assert moh.site_hours["hd720"] == pytest.approx(2.5) and moh.site_hours["sd360"] == pytest.approx(0.5)
    assert moh.calls == 4 and moh.meetings == 1 and moh.recording_hours == pytest.approx(1.5)
    assert moh.peak_sites == 2  # calls 1 and 2 overlap; 3 starts after both
    assert moh.amounts == {"site_hours_audio": 0.0, "site_hours_sd360": 50.0, "site_hours_hd720": 250.0,
                           "site_hours_fhd1080": 0.0, "recording": 75.0, "service": 1000.0, "total": 1375.0}
    assert mof.site_hours["audio"] == pytest.approx(0.1) and mof.amounts["site_hours_audio"] == 1.0
    csv_text = render(s, "csv")
    assert csv_text.splitlines()[0].startswith("month,tenant,meetings,calls,site-h audio")
    assert "2026-12,moh,1,4,0.00,0.50,2.50,0.00,3.00,1.50,2,1375.00,VND" in csv_text
    markdown = render(s, "markdown")
    assert "| moh | 1 | 4 |" in markdown and "- total: 1375.00" in markdown
    table = render(s, "table").splitlines()
    assert table[1].split()[:3] == ["tenant", "meetings", "calls"] and table[3].startswith("moh ")


def test_the_planner_input_is_a_price_file_too() -> None:
    prices = load_prices(REPO / "conf" / "plan.example.toml")
    assert prices.port_per_hour == 2.5 and prices.site_hour("hd720") == 2.5
    assert Prices(port_per_hour=1.0, port_per_hour_by_tier={"audio": 0.2}).site_hour("audio") == 0.2


def test_mcu_usage_prints_the_statement_from_the_configs_store(tmp_path: Path) -> None:
    for name in ("mcu.toml", "endpoints.toml", "layouts.toml", "sites.toml", "rooms.toml", "calibration.toml"):
        shutil.copy(REPO / "conf" / name, tmp_path / name)
    store = open_store("sqlite:usage.sqlite", tmp_path)
    store.insert([call(1, tenant="", seconds=7200)], [meeting("")])
    store.close()
    mcu = [sys.executable, "-m", "mcu", "usage", "-c", str(tmp_path / "mcu.toml"), "--month", "2026-12"]
    out = subprocess.run([*mcu, "--format", "csv"], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert "2026-12,provider,1,1,0.00,0.00,2.00,0.00,2.00,0.50,1" in out.stdout
    priced = subprocess.run([*mcu, "--prices", str(REPO / "conf" / "plan.example.toml"), "--format", "markdown"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert priced.returncode == 0 and "- total: 5.00" in priced.stdout, priced.stdout + priced.stderr
    bad = subprocess.run([*mcu[:-1], "2026-13"], capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1 and "YYYY-MM" in bad.stderr
    unknown = subprocess.run([*mcu, "--tenant", "nobody"], capture_output=True, text=True, timeout=60, check=False)
    assert unknown.returncode == 1 and "no tenant 'nobody'" in unknown.stderr
    assert json.loads(json.dumps({"ok": True}))


def test_a_long_journal_rotates_and_a_crash_after_it_still_loses_nothing(store_url: str, tmp_path: Path) -> None:
    clock = [T0]
    first = service(tmp_path, store_url, clock)
    first.start()
    first.joined(member("a", "4100", "hanoi"), leg(0))  # type: ignore[arg-type]
    first.joined(member("b", "4100", "hue"), leg(0))  # type: ignore[arg-type]
    clock[0] += 20.0
    first.ended("a", leg(700), None, "bye")  # type: ignore[arg-type]
    first._maybe_rotate({}, {}, clock[0], limit=1)  # the size at which it rotates, made tiny
    assert first.writer is not None and first.writer.wait_idle(10)
    assert not list(tmp_path.glob("usage.journal.*.replay"))  # "a" stored: the old file is gone
    lines = (tmp_path / "usage.journal").read_text().splitlines()
    assert [json.loads(line)["state"] for line in lines] == ["open", "open"]  # b and its meeting, again
    first.writer.stop()  # SIGKILL: no stop()
    clock[0] += 5.0
    second = service(tmp_path, store_url, clock)
    second.start()
    second.stop()
    store = open_store(store_url, tmp_path)
    try:
        calls = {c.site: c for c in store.calls(0, 4e9)}
    finally:
        store.close()
    assert calls["hanoi"].end_reason == "bye" and calls["hanoi"].bytes_in == 700
    assert calls["hue"].end_reason == RESTART_REASON and calls["hue"].end == pytest.approx(T0 + 20.0)


def test_a_store_that_is_down_keeps_the_records_until_it_is_back(tmp_path: Path) -> None:
    from mcu.usage.store import StoreError

    attempts = [0]

    def flaky() -> object:
        attempts[0] += 1
        if attempts[0] <= 2:
            raise StoreError("connection refused (the store is restarting)")
        return open_store(f"sqlite:{tmp_path / 'usage.sqlite'}", tmp_path)

    clock = [T0]
    usage = UsageService(tmp_path / "usage.journal", flaky, lambda room: "", wall=lambda: clock[0])  # type: ignore[arg-type]
    usage.start()
    usage.joined(member("a", "4100", "hanoi"), leg(0))  # type: ignore[arg-type]
    clock[0] += 5.0
    assert usage.ended("a", leg(100), None, "bye") is not None  # nothing waits for the store
    assert usage.writer is not None
    from tests.helpers import wait_for

    wait_for(lambda: usage.writer.status.stored_calls == 1, 15, "the record stored once the store is back")
    assert usage.writer.status.failures >= 2 and usage.writer.status.error == ""
    usage.stop()
