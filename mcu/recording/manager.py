"""The rooms' recordings and live streams, driven from the server's event loop.

A recording or a stream is a room output (mcu.conference.room.RoomOutput): the room hands it the
full mix every audio tick and its picture every video frame; a `MediaWriter` thread encodes and
muxes. Everything here runs on the loop between ticks; nothing here waits on the writer threads
except `close()` at shutdown. A writer's failure stops its output alone, logged and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from mcu.conference.spec import RecordingSection
from mcu.log import event
from mcu.media.frames import I420
from mcu.metrics import RecordingsSnapshot
from mcu.recording.disk import free_bytes, too_little_space
from mcu.recording.link import LinkState, StreamLink, check_stream_url, redact_text, redact_url
from mcu.recording.naming import parse_name, recording_name
from mcu.recording.retention import apply_retention
from mcu.recording.sidefile import SideFile, reserve_space, write_atomically
from mcu.recording.writer import MediaWriter, OutputFormat, ProcessWriter

if TYPE_CHECKING:
    from mcu.conference.room import Room

log = logging.getLogger("mcu.recording")

SIDE_FILE_INTERVAL = 1.0  # s: the side file is rewritten at most this often while recording
AUTO_RETRY = 60.0  # s between two tries of an auto recording that was refused or failed
RETENTION_INTERVAL = 3600.0
CLOSE_TIMEOUT = 10.0  # s a writer may take to flush at shutdown
STOPPED_KEPT = 20  # finished recordings remembered for `mcu ctl recordings`
REFUSED_DISK_LOW = "refused_disk_low"


class RecordingError(Exception):
    """A recording or stream cannot start or stop as asked; the message says what to do."""


class Recording:
    """One room's recording: a room output writing one file and its side file."""

    def __init__(self, room: Room, path: Path, fmt: OutputFormat, layout: str | None, side: SideFile,
                 origin: str, queue_frames: int):
        self.room_number = room.number
        self.path = path
        self.side_path = path.with_suffix(".json")
        self.reserve_path = path.with_name(f".{path.stem}.reserve")  # room for the side file's end
        self._layout = layout
        self.side = side
        self.origin = origin  # "operator" or "auto"
        self.writer = MediaWriter(str(path), fmt, name=f"rec-{room.number}", max_video_queue=queue_frames)
        self._size = (fmt.width, fmt.height)
        self.dirty = True
        self.side_written = -1e9
        self.final_write: Future[None] | None = None
        self.started_clock = 0.0

    @property
    def layout(self) -> str | None:
        return self._layout

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def take_audio(self, pcm: np.ndarray, now: float) -> None:
        self.writer.take_audio(pcm, now)

    def take_video(self, picture: I420, now: float) -> None:
        self.writer.take_video(picture, now)

    def info(self) -> dict[str, Any]:
        w = self.writer
        return {"room": self.room_number, "file": self.path.name, "path": str(self.path),
                "state": "recording" if not w.done else "failed" if w.failure else "stopped",
                "origin": self.origin, "layout": self._layout or "listeners' view",
                "started": self.side.to_json()["started"], "bytes": w.bytes, "video_frames": w.video_frames,
                "audio_frames": w.audio_frames, "frames_dropped": w.frames_dropped,
                "failure": w.failure}


class LiveStream:
    """One room's live stream: a room output pushing FLV to an ingest server, reconnecting with
    backoff; the URL's stream key is never logged or shown."""

    def __init__(self, room: Room, url: str, fmt: OutputFormat, layout: str | None, link: StreamLink):
        self.room_number = room.number
        self.url = url
        self.redacted = redact_url(url)
        self.format = fmt
        self._layout = layout
        self.link = link
        self.writer: ProcessWriter | None = None
        self.bytes_before = 0  # by writers of earlier connections
        self.dropped_before = 0

    @property
    def layout(self) -> str | None:
        return self._layout

    @property
    def size(self) -> tuple[int, int]:
        return (self.format.width, self.format.height)

    def take_audio(self, pcm: np.ndarray, now: float) -> None:
        if self.writer is not None and self.writer.opened and not self.writer.done:
            self.writer.take_audio(pcm, now)

    def take_video(self, picture: I420, now: float) -> None:
        if self.writer is not None and self.writer.opened and not self.writer.done:
            self.writer.take_video(picture, now)

    def connect(self, now: float) -> None:
        # in a child process: PyAV's connect holds the GIL, which would stop the meeting's media
        self.writer = ProcessWriter(self.url, self.format, name=f"stream-{self.room_number}")
        self.writer.start(now)

    @property
    def bytes(self) -> int:
        return self.bytes_before + (self.writer.bytes if self.writer else 0)

    @property
    def frames_dropped(self) -> int:
        return self.dropped_before + (self.writer.frames_dropped if self.writer else 0)

    def info(self) -> dict[str, Any]:
        link = self.link
        return {"room": self.room_number, "url": self.redacted, "state": link.state.value,
                "layout": self._layout or "listeners' view", "attempts": link.attempts,
                "reconnects": link.reconnects, "last_error": link.last_error or None,
                "bytes": self.bytes, "frames_dropped": self.frames_dropped}


class Recorder:
    """Every room's recording and live stream; `housekeeping` runs from the server's loop."""

    def __init__(self, settings: RecordingSection, fps: int, sample_rate: int, clock: Callable[[], float],
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC), base: Path | None = None):
        self.settings = settings
        self.fps = fps
        self.sample_rate = sample_rate
        self.clock = clock
        self.wall = wall
        self.base = base or Path.cwd()
        self.recordings: dict[str, Recording] = {}
        self.streams: dict[str, LiveStream] = {}
        self.finished: list[dict[str, Any]] = []
        self.failures: Counter[str] = Counter()
        self.bytes_by_room: Counter[str] = Counter()  # of finished outputs; running ones added live
        self.dropped_by_room: Counter[str] = Counter()
        self._auto_blocked: dict[str, float] = {}  # room -> clock time before which auto does not retry
        # why a room may not record now beyond disk and state (its tenant's quota), or None: the
        # server's recording_quota; an operator's start asks the same in the admin command
        self.auto_allowed: Callable[[str], str | None] | None = None
        self._last_retention = -1e9
        self._fps_seen: dict[str, tuple[float, int]] = {}
        self.encoder_fps: dict[str, float] = {}
        self.disk_free: int | None = None
        self._closing: list[Recording] = []  # stopped, their writers still flushing
        self._side_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="side-file")  # in order

    @property
    def flushing(self) -> list[Recording]:
        """Recordings stopped whose writers are still finishing their files."""
        return list(self._closing)

    def reconfigure(self, settings: RecordingSection, fps: int) -> None:
        """New settings take effect for the next recording or stream."""
        self.settings, self.fps = settings, fps

    @property
    def directory(self) -> Path:
        path = Path(self.settings.dir)
        return path if path.is_absolute() else self.base / path

    def _format(self, container: str, video_kbps: int) -> OutputFormat:
        s = self.settings
        audio = "libopus" if container == "matroska" else "aac"
        return OutputFormat(container, width=s.width, height=s.height, fps=self.fps, video_kbps=video_kbps,
                            audio_codec=audio, audio_kbps=s.audio_kbps, sample_rate=self.sample_rate,
                            preset=s.preset, keyframe_seconds=s.keyframe_interval)

    def _layout(self, room: Room, layout: str | None) -> str | None:
        name = layout or self.settings.layout or None
        if name is not None and not room.layouts.has(name):
            raise RecordingError(f"no layout or group named {name!r} in layouts.toml; known layouts: "
                                 f"{', '.join(sorted(room.layouts.layouts))}")
        return name

    # ------------------------------------------------------------------ recordings

    def start_recording(self, room: Room, layout: str | None = None, origin: str = "operator",
                        who: str = "") -> Recording:
        if room.number in self.recordings:
            raise RecordingError(f"room {room.number} is already being recorded "
                                 f"({self.recordings[room.number].path.name}); stop it first")
        layout_name = self._layout(room, layout)
        directory = self.directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            free = self.disk_free = free_bytes(directory)
        except OSError as exc:
            self.failures["open"] += 1
            raise RecordingError(f"cannot use [recording] dir {directory}: {exc.strerror}") from None
        why = too_little_space(free, self.settings.min_free_mb)
        if why is not None:
            self.failures[REFUSED_DISK_LOW] += 1
            event(log, "recording.refused", logging.WARNING, room=room.number, dir=str(directory), reason=why)
            raise RecordingError(f"not recording room {room.number}: {why}")
        self._retention()
        started = self.wall()
        container = self.settings.format
        taken = {p.name for p in directory.iterdir()}
        name = recording_name(room.number, started, container, taken)
        path = directory / name.file
        side = SideFile(room.number, room.spec.name, name.file, container, layout_name or "listeners' view",
                        started, ZoneInfo(self.settings.timezone))
        queue_frames = max(2, round(self.settings.queue_seconds * self.fps))
        recording = Recording(room, path, self._format(container, self.settings.video_kbps), layout_name, side,
                              origin, queue_frames)
        now = self.clock()
        self._observe(recording, room)
        try:
            write_atomically(recording.side_path, side.to_json())
            reserve_space(recording.reserve_path)
        except OSError as exc:
            self.failures["open"] += 1
            recording.reserve_path.unlink(missing_ok=True)
            raise RecordingError(f"cannot write {recording.side_path}: {exc.strerror}") from None
        recording.side_written, recording.dirty = now, False
        recording.started_clock = now
        recording.writer.start(now)
        self.recordings[room.number] = recording
        room.outputs["record"] = recording
        event(log, "recording.started", room=room.number, file=str(path), origin=origin, who=who,
              layout=layout_name or "listeners' view", format=container, free_mb=round(free / 2**20))
        return recording

    def stop_recording(self, room: Room | None, number: str, reason: str, who: str = "") -> Recording:
        recording = self.recordings.get(number)
        if recording is None:
            raise RecordingError(f"room {number} is not being recorded; see `mcu ctl recordings`")
        self._finish(recording, room, reason, who)
        return recording

    def _finish(self, recording: Recording, room: Room | None, reason: str, who: str = "") -> None:
        """Stop taking media and let the writer finish on its thread; `_reap` writes the side
        file's end once the file is closed."""
        if room is not None and room.outputs.get("record") is recording:
            del room.outputs["record"]
        recording.writer.stop()
        recording.side.stop_reason = recording.side.stop_reason or reason
        self.recordings.pop(recording.room_number, None)
        self._closing.append(recording)
        event(log, "recording.stopping", room=recording.room_number, file=recording.path.name, reason=reason,
              who=who)

    def _reap(self, recording: Recording, room: Room | None, force: bool = False) -> bool:
        """Once its writer is done: the side file's last version, the log line, the counters."""
        w = recording.writer
        if not w.done and not force:
            return False
        if recording.final_write is not None:  # reaped; its side file's last version on its way
            if force:
                wait([recording.final_write], CLOSE_TIMEOUT)
            return recording.final_write.done()
        recording.side.end(self.wall(), recording.side.stop_reason or (w.failure or "stopped"))
        self._side_counts(recording)
        recording.final_write = self._write_side(recording, final=True)
        if force:
            wait([recording.final_write], CLOSE_TIMEOUT)
        self.bytes_by_room[recording.room_number] += w.bytes
        self.dropped_by_room[recording.room_number] += w.frames_dropped
        self._fps_seen.pop(recording.room_number, None)
        self.encoder_fps.pop(recording.room_number, None)
        info = recording.info()
        self.finished = [info, *self.finished][:STOPPED_KEPT]
        fields: dict[str, Any] = {"room": recording.room_number, "file": recording.path.name, "bytes": w.bytes,
                      "video_frames": w.video_frames, "audio_frames": w.audio_frames, "frames_dropped": w.frames_dropped,
                      "reason": recording.side.stop_reason}
        if w.failure is not None:
            self.failures[w.failure] += 1
            event(log, "recording.failed", logging.ERROR, **fields, failure=w.failure, error=w.error,
                  truncated_bytes=w.truncated, note="the meeting goes on; the file plays up to the failure")
        else:
            event(log, "recording.stopped", **fields)
        return recording.final_write.done()

    def _write_side(self, recording: Recording, final: bool = False) -> Future[None]:
        """Rewrite the side file on the side-file thread (an fsync can take tens of ms on a busy
        disk: not on the media loop). The document is taken now, so the thread writes this state."""
        doc, path, room = recording.side.to_json(), recording.side_path, recording.room_number
        reserve = recording.reserve_path if final else None

        def write() -> None:
            try:
                if reserve is not None:  # a full disk has room for this one write
                    reserve.unlink(missing_ok=True)
                write_atomically(path, doc)
            except OSError as exc:
                event(log, "recording.side_file_failed", logging.ERROR if final else logging.WARNING, room=room,
                      file=path.name, error=exc.strerror, note="the previous version of the side file stays")

        return self._side_writer.submit(write)

    def _side_counts(self, recording: Recording) -> None:
        w, side = recording.writer, recording.side
        side.video_frames, side.audio_frames = w.video_frames, w.audio_frames
        side.frames_dropped, side.bytes = w.frames_dropped, w.bytes

    def _observe(self, recording: Recording, room: Room) -> None:
        present = {m.member_id: m.display_name for m in room.joined}
        floor = room.mixer.selector.floor
        if recording.side.observe(present, str(floor) if floor is not None else None, self.wall()):
            recording.dirty = True

    # ------------------------------------------------------------------ streams

    def start_stream(self, room: Room, url: str, layout: str | None = None, who: str = "") -> LiveStream:
        problem = check_stream_url(url)
        if problem is not None:
            raise RecordingError(f"stream URL {redact_url(url)} {problem}")
        if room.number in self.streams:
            raise RecordingError(f"room {room.number} is already streaming to {self.streams[room.number].redacted}; "
                                 f"stop it first")
        s = self.settings
        link = StreamLink(retry_initial=s.stream_retry_initial, retry_max=s.stream_retry_max)
        stream = LiveStream(room, url, self._format("flv", s.stream_video_kbps), self._layout(room, layout), link)
        now = self.clock()
        link.started(now)
        stream.connect(now)
        self.streams[room.number] = stream
        room.outputs["stream"] = stream
        event(log, "stream.started", room=room.number, url=stream.redacted, who=who)
        return stream

    def stop_stream(self, room: Room | None, number: str, who: str = "") -> LiveStream:
        stream = self.streams.pop(number, None)
        if stream is None:
            raise RecordingError(f"room {number} is not streaming")
        if room is not None and room.outputs.get("stream") is stream:
            del room.outputs["stream"]
        stream.link.stop(self.clock())
        if stream.writer is not None:
            stream.writer.stop()
        event(log, "stream.stopped", room=number, url=stream.redacted, who=who, bytes=stream.bytes)
        return stream

    def _poll_stream(self, stream: LiveStream, now: float) -> None:
        w, link = stream.writer, stream.link
        timeout = self.settings.stream_stall_timeout
        if w is not None and w.stalled(timeout):  # the server accepts nothing: drop it and retry
            w.abort(f"{'no connection' if not w.opened else 'nothing sent'} for {timeout:g} s")
        if w is not None and w.opened and link.state is LinkState.CONNECTING and not w.done:
            link.connected(now)
            event(log, "stream.live", room=stream.room_number, url=stream.redacted, attempt=link.attempts)
        if w is not None and w.done:
            error = redact_text(w.error or "connection closed", stream.url)
            stream.bytes_before += w.bytes
            stream.dropped_before += w.frames_dropped
            stream.writer = None
            delay = link.failed(now, error)
            event(log, "stream.dropped", logging.WARNING, room=stream.room_number, url=stream.redacted,
                  error=error, retry_in_s=round(delay, 1), failures=link.failures)
        if link.attempt_due(now):
            stream.connect(now)

    # ------------------------------------------------------------------ the loop's side

    def housekeeping(self, rooms: Mapping[str, Room], now: float) -> None:
        """Auto recordings, join/leave times, finished writers, stream reconnects, retention."""
        for number, room in rooms.items():
            joined = any(True for _ in room.joined)
            recording = self.recordings.get(number)
            if room.spec.record == "auto":
                if recording is None and joined and now >= self._auto_blocked.get(number, -1e9):
                    try:
                        refusal = self.auto_allowed(number) if self.auto_allowed is not None else None
                        if refusal is not None:
                            raise RecordingError(refusal)
                        self.start_recording(room, origin="auto")
                    except RecordingError as exc:
                        self._auto_blocked[number] = now + AUTO_RETRY
                        event(log, "recording.auto_refused", logging.WARNING, room=number, reason=str(exc),
                              retry_in_s=AUTO_RETRY)
                elif recording is not None and recording.origin == "auto" and not joined:
                    self._finish(recording, room, "room empty")
        for number, recording in list(self.recordings.items()):
            recorded = rooms.get(number)
            if recording.writer.done:  # failed on its own: disk full, encoder, write error
                self._finish(recording, recorded, recording.writer.failure or "writer ended")
                self._auto_blocked[number] = now + AUTO_RETRY
                continue
            if recorded is not None:
                self._observe(recording, recorded)
            if recording.dirty and now - recording.side_written >= SIDE_FILE_INTERVAL:
                self._side_counts(recording)
                self._write_side(recording)
                recording.dirty, recording.side_written = False, now
            self._measure_fps(number, recording.writer, now)
        self._closing = [r for r in self._closing if not self._reap(r, rooms.get(r.room_number))]
        for stream in list(self.streams.values()):
            self._poll_stream(stream, now)
        if now - self._last_retention >= RETENTION_INTERVAL:
            self._retention()

    def _measure_fps(self, number: str, writer: MediaWriter, now: float) -> None:
        seen = self._fps_seen.get(number)
        if seen is None:
            self._fps_seen[number] = (now, writer.video_frames)
        elif now - seen[0] >= 5.0:
            self.encoder_fps[number] = (writer.video_frames - seen[1]) / (now - seen[0])
            self._fps_seen[number] = (now, writer.video_frames)

    def _retention(self) -> None:
        self._last_retention = self.clock()
        running = {r.reserve_path for r in self.recordings.values()}
        for stale in self.directory.glob(".*.reserve"):  # left by a crash: the space goes back
            if stale not in running:
                stale.unlink(missing_ok=True)
        if self.settings.keep_days <= 0:
            return
        running = {r.path.name for r in self.recordings.values()} | {r.side_path.name for r in self.recordings.values()}
        deleted = apply_retention(self.directory, self.wall(), self.settings.keep_days, running)
        if deleted:
            event(log, "recording.retention_deleted", dir=str(self.directory), keep_days=self.settings.keep_days,
                  files=",".join(deleted), count=len(deleted))

    def close(self, rooms: Mapping[str, Room]) -> None:
        """At shutdown: stop everything, wait (bounded) for the files to close."""
        for number in list(self.streams):
            self.stop_stream(rooms.get(number), number)
        for number, recording in list(self.recordings.items()):
            self._finish(recording, rooms.get(number), "mcu stopping")
        for recording in self._closing:
            recording.writer.join(CLOSE_TIMEOUT)
            self._reap(recording, rooms.get(recording.room_number), force=True)
        self._closing = []
        self._side_writer.shutdown(wait=True)

    # ------------------------------------------------------------------ views

    def room_info(self, number: str) -> dict[str, Any]:
        recording, stream = self.recordings.get(number), self.streams.get(number)
        return {"recording": recording.info() if recording else None, "stream": stream.info() if stream else None}

    def list_recordings(self, room: str | None = None) -> list[dict[str, Any]]:
        """The recordings on disk (newest first), the running ones marked."""
        running = {r.path.name: r for r in self.recordings.values()}
        out = []
        try:
            files = sorted((p for p in self.directory.iterdir() if parse_name(p.name)), reverse=True)
        except OSError:
            files = []
        for path in files:
            name = parse_name(path.name)
            assert name is not None
            if room is not None and name.room != room:
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue
            entry: dict[str, Any] = {"room": name.room, "file": path.name, "started": name.started.isoformat()
                                     .replace("+00:00", "Z"), "bytes": size,
                                     "side_file": path.with_suffix(".json").name
                                     if path.with_suffix(".json").exists() else None,
                                     "state": "recording" if path.name in running else "done"}
            out.append(entry)
        return out

    def snapshot(self, rooms: Iterable[str] = ()) -> RecordingsSnapshot:
        """`rooms`: every room has its byte and drop series from the start (at 0)."""
        bytes_by_room = Counter(self.bytes_by_room)
        dropped = Counter(self.dropped_by_room)
        for number in rooms:
            bytes_by_room[number] += 0
            dropped[number] += 0
        for r in [*self.recordings.values(), *self._closing]:
            bytes_by_room[r.room_number] += r.writer.bytes
            dropped[r.room_number] += r.writer.frames_dropped
        return RecordingsSnapshot(
            active=len(self.recordings), streams_active=sum(1 for s in self.streams.values()
                                                            if s.link.state is LinkState.LIVE),
            bytes_by_room=dict(bytes_by_room), dropped_by_room=dict(dropped), failures=dict(self.failures),
            encoder_fps=dict(self.encoder_fps),
            stream_states={n: s.link.state.value for n, s in self.streams.items()},
            stream_reconnects={n: s.link.reconnects for n, s in self.streams.items()},
            disk_free_bytes=self.disk_free, disk_min_free_bytes=self.settings.min_free_mb * 2**20)

    def measure_disk(self) -> None:
        """Free space of the recordings' filesystem, for the disk-low alert (once a publish)."""
        try:
            self.disk_free = free_bytes(self.directory)
        except OSError:
            self.disk_free = None

