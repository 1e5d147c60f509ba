"""The side file: who was there when (UTC and local time), the floor changes; written atomically.
The free-space floor refuses a start below [recording] min_free_mb."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mcu.recording.disk import MB, too_little_space
from mcu.recording.sidefile import SideFile, write_atomically

T0 = datetime(2026, 12, 7, 16, 15, 0, tzinfo=UTC)


def side() -> SideFile:
    return SideFile("4100", "Giao ban", "20261207T161500Z-4100.mp4", "mp4", "listeners' view", T0,
                    ZoneInfo("Asia/Ho_Chi_Minh"))


def test_joins_leaves_and_floor_are_recorded_with_both_times() -> None:
    s = side()
    assert s.observe({1: "Hà Nội", 2: "Huế"}, "1", T0 + timedelta(seconds=1))
    assert not s.observe({1: "Hà Nội", 2: "Huế"}, "1", T0 + timedelta(seconds=2)), "nothing changed"
    assert s.observe({1: "Hà Nội"}, "1", T0 + timedelta(seconds=5))  # Huế left
    assert s.observe({1: "Hà Nội", 3: "Huế"}, "3", T0 + timedelta(seconds=6))  # Huế again, new member
    s.end(T0 + timedelta(seconds=10), "stopped by operator")
    doc = s.to_json()
    assert doc["started"] == {"utc": "2026-12-07T16:15:00.000Z", "local": "2026-12-07T23:15:00.000+07:00"}
    assert doc["ended"]["utc"] == "2026-12-07T16:15:10.000Z"
    sites = [(v["member"], v["name"], v["joined"]["utc"][-10:], v["left"]["utc"][-10:]) for v in doc["sites"]]
    assert sites == [(1, "Hà Nội", "15:01.000Z", "15:10.000Z"), (2, "Huế", "15:01.000Z", "15:05.000Z"),
                     (3, "Huế", "15:06.000Z", "15:10.000Z")]
    assert [(f["member"], f["name"]) for f in doc["floor"]] == [(1, "Hà Nội"), (3, "Huế")]
    assert doc["stop_reason"] == "stopped by operator" and doc["timezone"] == "Asia/Ho_Chi_Minh"


def test_write_atomically_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_atomically(path, {"a": 1})
    write_atomically(path, {"a": 2, "tên": "Hà Nội"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 2, "tên": "Hà Nội"}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_failed_write_keeps_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_atomically(path, {"a": 1})
    with pytest.raises(TypeError):
        write_atomically(path, {"a": object()})  # not JSON: nothing is written at all
    assert json.loads(path.read_text()) == {"a": 1}


def test_free_space_floor() -> None:
    assert too_little_space(600 * MB, 500) is None
    why = too_little_space(100 * MB, 500)
    assert why is not None and "100.0 MB free" in why and "min_free_mb = 500" in why
    assert too_little_space(0, 0) is None, "a floor of 0 never refuses"
