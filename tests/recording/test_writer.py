"""The writer thread: a fragmented MP4 that ffmpeg decodes in full; a full queue drops (and counts)
instead of blocking the loop; a disk that refuses writes ends the writer with `disk_full`; a torn
last fragment is cut back to the last whole one."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from mcu.conference.video import copy_i420
from mcu.media.frames import alloc_i420
from mcu.recording.mp4 import complete_length, truncate_to_complete
from mcu.recording.writer import DISK_FULL, OPEN, MediaQueue, MediaWriter, OutputFormat

SMALL = OutputFormat("mp4", width=320, height=180, fps=10, video_kbps=300, preset="ultrafast", sample_rate=48000,
                     keyframe_seconds=1.0, threads=1)


def ffprobe_counts(path: Path) -> dict[str, int]:
    tool = shutil.which("ffprobe")
    assert tool, "ffprobe not found: apt-get install ffmpeg"
    out = subprocess.run([tool, "-v", "error", "-count_packets", "-show_entries", "stream=codec_name,nb_read_packets",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return {s["codec_name"]: int(s["nb_read_packets"]) for s in json.loads(out)["streams"]}


def decodes_cleanly(path: Path) -> bool:
    return subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"],
                          check=False, capture_output=True).returncode == 0


def feed(writer: MediaWriter, seconds: float, fps: int = 10, pace: float = 0.0) -> None:
    for i in range(round(seconds * fps)):
        picture = alloc_i420(320, 180, (16 + (i * 7) % 200, 128, 128))
        writer.take_video(copy_i420(picture), i / fps)
        for k in range(5):  # 20 ms ticks of a 440 Hz tone at 48 kHz
            t = (np.arange(960) + (i * 5 + k) * 960) / 48000
            writer.take_audio((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), i / fps + k * 0.02)
        if pace:
            time.sleep(pace)


def test_fragmented_mp4_decodes_in_full(tmp_path: Path) -> None:
    path = tmp_path / "r.mp4"
    writer = MediaWriter(str(path), SMALL, name="t", max_video_queue=100, max_audio_queue=1000)
    writer.start(0.0)
    feed(writer, 3.0)
    writer.stop()
    assert writer.join(20) and writer.failure is None, writer.error
    assert writer.video_frames == 30 and writer.frames_dropped == 0
    assert decodes_cleanly(path)
    counts = ffprobe_counts(path)
    assert counts["h264"] == 30
    assert abs(counts["aac"] - 150 * 960 / 1024) <= 3, counts  # 3 s of 1024-sample AAC frames


def test_queue_is_bounded_per_kind_and_never_waits() -> None:
    queue = MediaQueue(max_video=2, max_audio=3)
    assert [queue.put("video", i, i) for i in range(4)] == [True, True, False, False]
    assert [queue.put("audio", i, i) for i in range(4)] == [True, True, True, False]
    assert queue.get() == ("video", 0, 0)
    assert queue.put("video", 9, 9), "room again once the writer took one"
    queue.close()
    assert not queue.put("audio", 1, 1), "nothing after close"
    assert [item[1] for item in iter(queue.get, None)] == [1, 0, 1, 2, 9]


def test_encoder_behind_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    """Frames come faster than the encoder takes them (noise at 720p, no pacing): the loop's calls
    return at once and what did not fit in the queue is counted, never waited for."""
    fmt = replace(SMALL, width=1280, height=720, video_kbps=4000)
    writer = MediaWriter(str(tmp_path / "r.mp4"), fmt, name="t", max_video_queue=2, max_audio_queue=1000)
    writer.start(0.0)
    rng = np.random.default_rng(1)
    noise = [alloc_i420(1280, 720) for _ in range(4)]
    for picture in noise:
        picture.y[...] = rng.integers(0, 255, picture.y.shape, dtype=np.uint8)
    started = time.perf_counter()
    for i in range(60):
        writer.take_video(copy_i420(noise[i % 4]), i / 10)
    elapsed = time.perf_counter() - started
    writer.stop()
    assert writer.join(30) and writer.failure is None, writer.error
    assert writer.dropped["video"] > 10, writer.dropped
    assert writer.video_frames + writer.dropped["video"] == 60
    assert elapsed < 0.5, f"taking frames must not wait for the encoder ({elapsed:.2f} s)"


def test_disk_that_refuses_writes_ends_the_writer_as_disk_full() -> None:
    writer = MediaWriter("/dev/full", SMALL, name="t", max_video_queue=100, max_audio_queue=1000)
    writer.start(0.0)
    feed(writer, 3.0)
    writer.stop()
    assert writer.join(20)
    assert writer.failure == DISK_FULL, writer.error
    assert writer.done


def test_unwritable_target_fails_at_open(tmp_path: Path) -> None:
    writer = MediaWriter(str(tmp_path / "missing" / "r.mp4"), SMALL, name="t")
    writer.start(0.0)
    assert writer.join(10)
    assert writer.failure == OPEN and not writer.opened


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_complete_length_stops_before_a_torn_fragment() -> None:
    init = box(b"ftyp", b"isom") + box(b"moov", b"x" * 20)
    fragment = box(b"moof", b"m" * 16) + box(b"mdat", b"d" * 100)
    whole = init + fragment + fragment
    assert complete_length(io.BytesIO(whole), len(whole)) == len(whole)
    torn = whole + fragment[:-30]
    assert complete_length(io.BytesIO(torn), len(torn)) == len(whole)
    moof_only = whole + box(b"moof", b"m" * 16)
    assert complete_length(io.BytesIO(moof_only), len(moof_only)) == len(whole), "a moof without its mdat"
    assert complete_length(io.BytesIO(init[:10]), 10) == 0
    assert complete_length(io.BytesIO(b""), 0) == 0


def test_truncate_makes_a_torn_recording_decode(tmp_path: Path) -> None:
    path = tmp_path / "r.mp4"
    writer = MediaWriter(str(path), SMALL, name="t", max_video_queue=100, max_audio_queue=1000)
    writer.start(0.0)
    feed(writer, 3.0)
    writer.stop()
    assert writer.join(20)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 700])  # the power went off mid-fragment
    removed = truncate_to_complete(path)
    assert removed > 0
    assert decodes_cleanly(path)
    assert 0 < ffprobe_counts(path)["h264"] < 30


def test_matroska_with_opus_decodes_in_full(tmp_path: Path) -> None:
    path = tmp_path / "r.mkv"
    fmt = replace(SMALL, container="matroska", audio_codec="libopus")
    writer = MediaWriter(str(path), fmt, name="t", max_video_queue=100, max_audio_queue=1000)
    writer.start(0.0)
    feed(writer, 2.0)
    writer.stop()
    assert writer.join(20) and writer.failure is None, writer.error
    assert decodes_cleanly(path)
    counts = ffprobe_counts(path)
    assert counts["h264"] == 20 and abs(counts["opus"] - 100) <= 2, counts  # 20 ms Opus frames
