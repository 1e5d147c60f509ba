"""The Recorder with a real Room and no network: a recording takes the room's mix and picture
through the room's own tick code, its side file follows joins and leaves, `record = "auto"`
starts at the first join and stops when the room empties, a disk below the floor refuses."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mcu.calls.streams import Streams
from mcu.conference.member import Member, MemberState
from mcu.conference.room import Room
from mcu.conference.spec import RecordingSection
from mcu.config import Room as RoomSpec
from mcu.layout import load_config_dir
from mcu.layout.compose import render_tile
from mcu.recording.manager import Recorder, RecordingError
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import negotiate

CONF = Path(__file__).resolve().parents[2] / "conf"
T0 = datetime(2026, 12, 7, 16, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.now)


def settings(tmp_path: Path, **kw: object) -> RecordingSection:
    return replace(RecordingSection(dir=str(tmp_path / "rec"), width=320, height=180, preset="ultrafast",
                                    min_free_mb=0, keyframe_interval=1.0,
                                    queue_seconds=10.0), **kw)  # type: ignore[arg-type]


HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
AV = ("m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nm=video 4002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
      "a=fmtp:97 profile-level-id=42e01f;packetization-mode=1\r\n")


def member(room: Room, n: int, name: str) -> Member:
    streams = Streams.of_sdp(negotiate(HEAD + AV, Capabilities(), "127.0.0.1", [30000, 30002]))
    m = Member(n, f"call-{n}", room.number, name, "", "", streams.first("audio"), streams.first("video"))
    room.add(m)
    m.state = MemberState.JOINED
    return m


def run(room: Room, recorder: Recorder, clock: Clock, seconds: float, fps: int = 10) -> None:
    """The server's ticks, in process: audio every 20 ms, a frame every 1/fps, housekeeping."""
    for i in range(round(seconds * 50)):
        clock.now += 0.02
        room.audio_tick(clock.now)
        if i % (50 // fps) == 0:
            frame = room.frame_jobs(clock.now)
            tiles, to_draw = room.tile_jobs(frame.views, frame.outputs)
            tiles.update((t.key, render_tile(t)) for t in to_draw)
            for job in frame.outputs:
                room.deliver_picture(job, job.render(room.video.fit_mode, tiles), clock.now)
        if i % 5 == 0:
            recorder.housekeeping({room.number: room}, clock.now)


def finish(recorder: Recorder, room: Room, clock: Clock) -> None:
    deadline = time.monotonic() + 20
    while recorder.flushing and time.monotonic() < deadline:
        time.sleep(0.05)
        recorder.housekeeping({room.number: room}, clock.now)
    assert not recorder.flushing, "the writer did not finish"


def test_recording_writes_file_and_side_file_with_visits(tmp_path: Path) -> None:
    clock = Clock()
    room = Room(RoomSpec(number="4100", name="Giao ban"), load_config_dir(CONF))
    recorder = Recorder(settings(tmp_path), 10, room.rate, lambda: clock.now, clock.wall)
    member(room, 1, "Hà Nội")
    recording = recorder.start_recording(room, who="test")
    assert room.outputs["record"] is recording
    assert recording.path.name == "20261207T161500Z-4100.mp4"
    run(room, recorder, clock, 2.0)
    member(room, 2, "Huế")
    run(room, recorder, clock, 1.0)
    room.remove(1)
    run(room, recorder, clock, 1.0)
    recorder.stop_recording(room, "4100", "stopped by operator")
    assert "record" not in room.outputs
    finish(recorder, room, clock)
    doc = json.loads(recording.side_path.read_text(encoding="utf-8"))
    assert doc["stop_reason"] == "stopped by operator" and doc["ended"] is not None
    assert [(s["name"], s["left"] is not None) for s in doc["sites"]] == [("Hà Nội", True), ("Huế", True)]
    assert doc["sites"][0]["left"]["utc"] == "2026-12-07T16:15:03.020Z"
    assert doc["started"]["local"].startswith("2026-12-07T23:15:00")
    assert doc["video_frames"] >= 38 and doc["frames_dropped"] == 0
    assert subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", str(recording.path), "-f", "null", "-"],
                          check=False, capture_output=True).returncode == 0
    listed = recorder.list_recordings("4100")
    assert [r["file"] for r in listed] == [recording.path.name] and listed[0]["state"] == "done"
    assert recorder.list_recordings("9999") == []


def test_auto_recording_follows_the_room(tmp_path: Path) -> None:
    clock = Clock()
    room = Room(RoomSpec(number="4100", record="auto"), load_config_dir(CONF))
    recorder = Recorder(settings(tmp_path), 10, room.rate, lambda: clock.now, clock.wall)
    recorder.housekeeping({"4100": room}, clock.now)
    assert recorder.recordings == {}, "an empty room is not recorded"
    member(room, 1, "Hà Nội")
    recorder.housekeeping({"4100": room}, clock.now)
    assert recorder.recordings["4100"].origin == "auto"
    run(room, recorder, clock, 1.0)
    room.remove(1)
    recorder.housekeeping({"4100": room}, clock.now)
    assert recorder.recordings == {} and "record" not in room.outputs
    finish(recorder, room, clock)
    assert recorder.finished[0]["state"] == "stopped"
    side = json.loads(next((tmp_path / "rec").glob("*.json")).read_text())
    assert side["stop_reason"] == "room empty"


def test_auto_recording_waits_while_the_tenant_is_at_its_quota(tmp_path: Path) -> None:
    clock = Clock()
    room = Room(RoomSpec(number="4100", record="auto"), load_config_dir(CONF))
    recorder = Recorder(settings(tmp_path), 10, room.rate, lambda: clock.now, clock.wall)
    at_quota = {"4100": "tenant 'moh' is at its recording_hours quota"}
    recorder.auto_allowed = at_quota.get
    member(room, 1, "Hà Nội")
    recorder.housekeeping({"4100": room}, clock.now)
    assert recorder.recordings == {} and "record" not in room.outputs
    at_quota.clear()  # a new month, or the operator raised the quota
    recorder.housekeeping({"4100": room}, clock.now + 1)
    assert recorder.recordings == {}, "a refused auto recording waits AUTO_RETRY before it tries again"
    clock.now += 61
    recorder.housekeeping({"4100": room}, clock.now)
    assert recorder.recordings["4100"].origin == "auto"
    room.remove(1)
    recorder.housekeeping({"4100": room}, clock.now)
    finish(recorder, room, clock)


def test_refused_below_the_free_space_floor(tmp_path: Path) -> None:
    clock = Clock()
    room = Room(RoomSpec(number="4100"), load_config_dir(CONF))
    recorder = Recorder(settings(tmp_path, min_free_mb=10_000_000), 10, room.rate, lambda: clock.now, clock.wall)
    with pytest.raises(RecordingError, match="min_free_mb"):
        recorder.start_recording(room)
    assert recorder.failures["refused_disk_low"] == 1 and "record" not in room.outputs
    assert recorder.snapshot().failures == {"refused_disk_low": 1}


def test_unknown_layout_and_double_start_are_refused(tmp_path: Path) -> None:
    clock = Clock()
    room = Room(RoomSpec(number="4100"), load_config_dir(CONF))
    recorder = Recorder(settings(tmp_path), 10, room.rate, lambda: clock.now, clock.wall)
    with pytest.raises(RecordingError, match="no layout"):
        recorder.start_recording(room, "no-such-layout")
    recorder.start_recording(room, "1x1")
    with pytest.raises(RecordingError, match="already being recorded"):
        recorder.start_recording(room)
    recorder.close({"4100": room})
    assert recorder.recordings == {}


def test_recording_with_its_own_layout_gets_its_own_picture(tmp_path: Path) -> None:
    clock = Clock()
    room = Room(RoomSpec(number="4100", layout="speaker"), load_config_dir(CONF))
    recorder = Recorder(settings(tmp_path), 10, room.rate, lambda: clock.now, clock.wall)
    for n in (1, 2, 3):
        member(room, n, f"Site {n}")
    recorder.start_recording(room, "2x2")
    frame = room.frame_jobs(0.1)
    assert [job.layout.name for job in frame.outputs] == ["2x2"]
    assert sorted(s for s in frame.outputs[0].slots if s) == ["1", "2", "3"], "everyone, nobody left out"
    recorder.close({"4100": room})


def test_retention_deletes_old_recordings_at_start_and_logs_them(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    directory = tmp_path / "rec"
    directory.mkdir()
    old = ["20261101T080000Z-4100.mp4", "20261101T080000Z-4100.json"]
    young = ["20261206T080000Z-4100.mp4", "notes.txt"]
    for name in old + young:
        (directory / name).write_bytes(b"x")
    room = Room(RoomSpec(number="4100"), load_config_dir(CONF))
    recorder = Recorder(settings(tmp_path, keep_days=30), 10, room.rate, lambda: clock.now, clock.wall)
    with caplog.at_level("INFO", logger="mcu.recording"):
        recording = recorder.start_recording(room)
    recorder.close({"4100": room})
    left = sorted(p.name for p in directory.iterdir())
    assert left == sorted([*young, recording.path.name, recording.side_path.name])
    deleted = [r for r in caplog.records if r.getMessage() == "recording.retention_deleted"]
    assert deleted and deleted[0].fields["files"] == ",".join(sorted(old))  # type: ignore[attr-defined]


def test_space_is_kept_for_the_side_file_and_given_back(tmp_path: Path) -> None:
    clock = Clock()
    directory = tmp_path / "rec"
    directory.mkdir()
    (directory / ".20261101T080000Z-4100.reserve").write_bytes(b"x")  # a crash's leftover
    room = Room(RoomSpec(number="4100"), load_config_dir(CONF))
    recorder = Recorder(settings(tmp_path), 10, room.rate, lambda: clock.now, clock.wall)
    recording = recorder.start_recording(room)
    assert [p.name for p in directory.glob(".*.reserve")] == [recording.reserve_path.name]
    assert recording.reserve_path.stat().st_size == 256 * 1024
    recorder.close({"4100": room})
    assert not list(directory.glob(".*.reserve")), "the final side file write gives the space back"
