"""Recording names sort by start time and carry the room; retention deletes by the start time in
the name and never touches other files or a recording still being written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from mcu.recording.naming import parse_name, recording_name
from mcu.recording.retention import apply_retention, expired

T0 = datetime(2026, 12, 7, 16, 15, 0, 123000, tzinfo=UTC)


def test_name_is_utc_stamp_then_room_and_parses_back() -> None:
    local = T0.astimezone(timezone(timedelta(hours=7)))  # 23:15 in Hanoi is 16:15Z
    name = recording_name("4100", local, "mp4")
    assert name.file == "20261207T161500Z-4100.mp4"
    assert name.side_file == "20261207T161500Z-4100.json"
    back = parse_name(name.file)
    assert back is not None and back.room == "4100" and back.started == T0.replace(microsecond=0)
    assert recording_name("4100", T0, "matroska").file.endswith(".mkv")


def test_names_sort_by_time_across_rooms() -> None:
    names = [recording_name(room, T0 + timedelta(minutes=m), "mp4").file
             for m, room in ((30, "1"), (0, "9999"), (90, "4100"), (61, "2"))]
    assert [parse_name(n).started for n in sorted(names)] == sorted(parse_name(n).started for n in names)  # type: ignore[union-attr]


def test_second_recording_in_the_same_second_gets_a_sequence() -> None:
    first = recording_name("4100", T0, "mp4")
    second = recording_name("4100", T0, "mp4", {first.file})
    assert second.file == "20261207T161500Z-4100-1.mp4" and parse_name(second.file).sequence == 1  # type: ignore[union-attr]


def test_other_files_do_not_parse() -> None:
    for file in ("notes.txt", "20261207T161500Z-4100.mov", "2026-12-07-4100.mp4", ".20261207T161500Z-4100.json.tmp"):
        assert parse_name(file) is None, file


def test_expired_takes_old_recordings_and_side_files_only() -> None:
    now = T0 + timedelta(days=10)
    old = recording_name("4100", T0, "mp4")
    young = recording_name("4100", T0 + timedelta(days=8), "mp4")
    files = [old.file, old.side_file, young.file, young.side_file, "README.txt"]
    assert expired(files, now, keep_days=7) == sorted([old.file, old.side_file])
    assert expired(files, now, keep_days=11) == []
    assert expired(files, now, keep_days=0) == [], "0 keeps everything"
    assert expired(files, now, keep_days=7, keep={old.file}) == [], "a running recording stays"


def test_apply_retention_deletes_on_disk(tmp_path: Path) -> None:
    old = recording_name("4100", T0, "mp4")
    for file in (old.file, old.side_file, "keep.txt"):
        (tmp_path / file).write_bytes(b"x")
    deleted = apply_retention(tmp_path, T0 + timedelta(days=3), 2, set())
    assert sorted(deleted) == sorted([old.file, old.side_file])
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
