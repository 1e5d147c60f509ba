"""The I/O shell of one output (a recording file or a live stream): a thread that encodes the
room's picture and mix with PyAV and muxes them, fed by a bounded queue.

The media loop only copies a frame into the queue; when the queue is full the frame is dropped
and counted (the meeting matters more than the recording). Any error of the encoder, the muxer
or the disk ends this writer alone: the container is closed, a fragmented MP4 is cut back to its
last complete fragment, and `failure` says why for the manager on the loop.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from mcu.media.frames import I420, planes_to_frame
from mcu.recording.mp4 import truncate_to_complete

# Fragmented MP4: playable up to the last fragment after a crash; a fragment at every keyframe, and
# each one flushed to the file as it completes (not left in avio's buffer).
MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
FLV_OPTIONS = {"flvflags": "no_duration_filesize"}  # a live stream has no trailer to seek back to
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)

# Why a writer ended early (labels of mcu_recording_failures_total{reason}).
DISK_FULL = "disk_full"
ENCODER = "encoder"
WRITE = "write"
OPEN = "open"
STALLED = "stalled"  # a live stream's server took nothing for [recording] stream_stall_timeout


@dataclass(frozen=True)
class OutputFormat:
    container: str  # "mp4", "matroska" or "flv"
    width: int = 1280
    height: int = 720
    fps: int = 30
    video_kbps: int = 2000
    audio_codec: str = "aac"  # or "libopus"
    audio_kbps: int = 96
    sample_rate: int = 48000
    preset: str = "superfast"
    keyframe_seconds: float = 2.0  # a fragment (and a point to join a live stream) this often
    threads: int = 2

    @property
    def options(self) -> dict[str, str]:
        return dict(MP4_OPTIONS if self.container == "mp4" else FLV_OPTIONS if self.container == "flv" else {})


def failure_reason(exc: BaseException, stage: str) -> str:
    if getattr(exc, "errno", None) in DISK_FULL_ERRNOS:
        return DISK_FULL
    return stage


class MediaQueue:
    """Frames from the loop to the writer thread; bounded per kind, never blocks the producer."""

    def __init__(self, max_video: int, max_audio: int):
        self._items: deque[tuple[str, Any, int]] = deque()
        self._cond = threading.Condition()
        self._limits = {"video": max_video, "audio": max_audio}
        self._pending = {"video": 0, "audio": 0}
        self._closed = False

    def put(self, kind: str, item: Any, pts: int) -> bool:
        """False (and nothing queued) when `kind` already has its limit waiting, or after close."""
        with self._cond:
            if self._closed or self._pending[kind] >= self._limits[kind]:
                return False
            self._pending[kind] += 1
            self._items.append((kind, item, pts))
            self._cond.notify()
            return True

    def close(self) -> None:
        """No more frames; the writer finishes what is queued, then ends."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def get(self) -> tuple[str, Any, int] | None:
        """The next frame, waiting for one; None once closed and drained."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            if not self._items:
                return None
            item = self._items.popleft()
            self._pending[item[0]] -= 1
            return item


class MediaWriter:
    """One output's encode-and-mux thread. `take_*` run on the loop; status is read there too."""

    def __init__(self, target: str, fmt: OutputFormat, *, name: str, max_video_queue: int | None = None,
                 max_audio_queue: int = 250):
        self.target = target
        self.format = fmt
        self.name = name
        self.queue = MediaQueue(max_video_queue or max(2, fmt.fps), max_audio_queue)
        # written by the thread, read by the loop (plain values: a stale read is harmless)
        self.opened = False
        self.done = False
        self.failure: str | None = None
        self.error = ""
        self.video_frames = 0
        self.audio_frames = 0
        self.bytes = 0
        self.encode_seconds = 0.0
        self.truncated = 0  # bytes cut off a torn last fragment
        # counted on the loop
        self.dropped = {"video": 0, "audio": 0}
        self._t0: float | None = None
        self._last_video_pts = -1
        self._audio_pts: int | None = None
        self._stop_asked = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-writer", daemon=True)

    # ------------------------------------------------------------------ on the loop

    def start(self, now: float) -> None:
        self._t0 = now
        self._thread.start()

    def take_video(self, planes: I420, now: float) -> None:
        """A picture made at `now` (already a copy the writer may keep)."""
        if self._stop_asked or self._t0 is None:
            return
        pts = round((now - self._t0) * self.format.fps)
        if pts <= self._last_video_pts:
            return  # two pictures in one frame slot: the later one would only bend time
        if self.queue.put("video", planes, pts):
            self._last_video_pts = pts
        else:
            self.dropped["video"] += 1

    def take_audio(self, pcm: np.ndarray, now: float) -> None:
        """One tick of the room's mix (int16 at the room rate), copied here."""
        if self._stop_asked or self._t0 is None:
            return
        if self._audio_pts is None:  # audio runs on its own sample clock from its first tick
            self._audio_pts = round((now - self._t0) * self.format.sample_rate)
        if self.queue.put("audio", np.array(pcm, dtype=np.int16, copy=True), self._audio_pts):
            self._audio_pts += len(pcm)
        else:
            self.dropped["audio"] += 1
            self._audio_pts += len(pcm)  # the gap stays a gap: later audio keeps its time

    def stop(self) -> None:
        """Finish: what is queued is written, then the file or connection is closed."""
        self._stop_asked = True
        self.queue.close()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def frames_dropped(self) -> int:
        return self.dropped["video"] + self.dropped["audio"]

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        self.run_from(self.queue.get)

    def run_from(self, next_item: Callable[[], tuple[str, Any, int] | None]) -> None:
        """Open, then encode and mux what `next_item` returns until it returns None; close."""
        container = None
        stage = OPEN
        try:
            container, video, audio = self._open()
            video_time_base = Fraction(1, self.format.fps)
            self.opened = True
            while (item := next_item()) is not None:
                kind, data, pts = item
                stage = ENCODER
                started = time.perf_counter()
                if kind == "video":
                    picture = planes_to_frame(data)
                    picture.pts, picture.time_base = pts, video_time_base  # not video.time_base: the
                    # muxer changes that when it writes the header
                    packets = video.encode(picture)
                    self.video_frames += 1
                else:
                    sound = av.AudioFrame.from_ndarray(data.reshape(1, -1), format="s16", layout="mono")
                    sound.sample_rate, sound.pts = self.format.sample_rate, pts
                    sound.time_base = Fraction(1, self.format.sample_rate)
                    packets = audio.encode(sound)
                    self.audio_frames += 1
                self.encode_seconds += time.perf_counter() - started
                stage = WRITE
                self._mux(container, packets)
            stage = ENCODER
            packets = [*video.encode(), *audio.encode()]
            stage = WRITE
            self._mux(container, packets)
        except Exception as exc:  # noqa: BLE001 - whatever it is, it ends this output alone
            self.failure = failure_reason(exc, stage)
            self.error = f"{type(exc).__name__}: {exc}"
            self.queue.close()
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception as exc:  # noqa: BLE001 - a full disk can refuse the trailer too
                    if self.failure is None:
                        self.failure = failure_reason(exc, WRITE)
                        self.error = f"{type(exc).__name__}: {exc}"
            if self.failure is not None and self.format.container == "mp4" and Path(self.target).is_file():
                try:
                    self.truncated = truncate_to_complete(Path(self.target))
                except OSError:
                    pass
            self.done = True

    def _open(self):  # type: ignore[no-untyped-def]
        fmt = self.format
        container = av.open(self.target, "w", format=fmt.container, options=fmt.options)
        try:
            video = container.add_stream("libx264", rate=fmt.fps)
            video.width, video.height, video.pix_fmt = fmt.width, fmt.height, "yuv420p"
            video.time_base = Fraction(1, fmt.fps)
            ctx = video.codec_context
            ctx.bit_rate = fmt.video_kbps * 1000
            ctx.gop_size = max(1, round(fmt.keyframe_seconds * fmt.fps))
            ctx.options = {"preset": fmt.preset, "tune": "zerolatency", "threads": str(fmt.threads)}
            audio = container.add_stream(fmt.audio_codec, rate=fmt.sample_rate, layout="mono")
            audio.codec_context.bit_rate = fmt.audio_kbps * 1000
            container.start_encoding()  # opens the file or connects now, so `opened` means it
        except Exception:
            container.close()
            raise
        return container, video, audio

    def _mux(self, container, packets) -> None:  # type: ignore[no-untyped-def]
        for packet in packets:
            self.bytes += packet.size
            container.mux(packet)


class ProcessWriter(MediaWriter):
    """A MediaWriter whose encoding and connection run in a child process (mcu.recording.push):
    for network outputs, whose connect PyAV makes while holding the GIL. This thread only moves
    the queued frames into the child's stdin (a blocking write releases the GIL); when the child
    stalls, the pipe and then the queue fill and frames drop, as for a slow encoder, and
    `stalled()` tells the manager to `abort()` it."""

    CHILD_EXIT_TIMEOUT = 10.0
    FRAME_HEADER = struct.Struct(">cqI")

    def __init__(self, target: str, fmt: OutputFormat, *, name: str, max_video_queue: int | None = None,
                 max_audio_queue: int = 250):
        super().__init__(target, fmt, name=name, max_video_queue=max_video_queue, max_audio_queue=max_audio_queue)
        self.started_at = time.monotonic()
        self.last_progress = self.started_at  # the child last reported more bytes sent (or opening)
        self.last_fed = 0.0  # a frame was last offered
        self._child: subprocess.Popen[bytes] | None = None
        self._aborted = ""

    def take_video(self, planes: I420, now: float) -> None:
        self.last_fed = time.monotonic()
        super().take_video(planes, now)

    def take_audio(self, pcm: np.ndarray, now: float) -> None:
        self.last_fed = time.monotonic()
        super().take_audio(pcm, now)

    def stalled(self, timeout: float) -> bool:
        """Not connected after `timeout` s, or fed frames for `timeout` s that none left (a room
        with nobody in it feeds none, which is not a stall)."""
        now = time.monotonic()
        if self.done:
            return False
        if not self.opened:
            return now - self.started_at > timeout
        return now - self.last_progress > timeout and self.last_fed - self.last_progress > timeout

    def abort(self, why: str) -> None:
        """End the child now (its server stalled); the writer then ends with `stalled`."""
        self._aborted = why
        self.queue.close()
        if self._child is not None and self._child.poll() is None:
            self._child.kill()

    def _run(self) -> None:
        try:
            child = self._child = subprocess.Popen([sys.executable, "-m", "mcu.recording.push"],
                                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                   stderr=subprocess.DEVNULL)
        except OSError as exc:
            self.failure, self.error, self.done = OPEN, f"cannot start the stream process: {exc}", True
            self.queue.close()
            return
        assert child.stdin is not None and child.stdout is not None
        final: dict[str, Any] = {}

        def read_status(out) -> None:  # type: ignore[no-untyped-def]
            for line in out:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                sent = msg.get("bytes", 0)
                if sent > self.bytes or (msg.get("opened") and not self.opened):
                    self.last_progress = time.monotonic()
                self.opened = self.opened or bool(msg.get("opened"))
                self.bytes, self.video_frames = sent, msg.get("video_frames", 0)
                self.audio_frames = msg.get("audio_frames", 0)
                if msg.get("done"):
                    final.update(msg)
            self.queue.close()  # the child ended: stop waiting for frames it will not take

        reader = threading.Thread(target=read_status, args=(child.stdout,), name=f"{self.name}-status", daemon=True)
        reader.start()
        try:
            header = {"target": self.target, "format": dataclasses.asdict(self.format)}
            child.stdin.write(json.dumps(header).encode() + b"\n")
            child.stdin.flush()
            while (item := self.queue.get()) is not None:
                kind, data, pts = item
                parts: list[np.ndarray] = [np.ascontiguousarray(p) for p in data] if kind == "video" else [data]
                child.stdin.write(self.FRAME_HEADER.pack(kind[0].encode(), pts, sum(p.nbytes for p in parts)))
                for part in parts:
                    child.stdin.write(part.reshape(-1).view(np.uint8).data)
                child.stdin.flush()
        except OSError:
            pass  # the child ended (its connection dropped): its last status line says why
        finally:
            self.queue.close()
            try:
                child.stdin.close()
            except OSError:
                pass
            try:
                child.wait(self.CHILD_EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            reader.join(5)
            if self._aborted:
                self.failure, self.error = STALLED, self._aborted
            elif final.get("failure"):
                self.failure, self.error = final["failure"], final.get("error", "")
            elif not final:
                self.failure, self.error = WRITE, f"the stream process ended with status {child.returncode}"
            self.done = True
