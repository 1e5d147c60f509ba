"""A live stream's link through the Recorder with real child processes and no media server: a
refused connection is retried with backoff; a server that accepts and never answers (a hung
ingest) is dropped after stream_stall_timeout and retried; neither stops the caller."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from mcu.conference.room import Room
from mcu.conference.spec import RecordingSection
from mcu.config import Room as RoomSpec
from mcu.layout import load_config_dir
from mcu.recording.link import LinkState
from mcu.recording.manager import Recorder, RecordingError
from mcu.recording.writer import STALLED

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never reads or answers (the RTMP handshake never ends)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    sock.close()


def recorder_for(tmp_path: Path, **kw: object) -> tuple[Recorder, Room]:
    settings = replace(RecordingSection(dir=str(tmp_path), width=320, height=180, preset="ultrafast",
                                        stream_retry_initial=0.5, stream_retry_max=4.0), **kw)  # type: ignore[arg-type]
    return Recorder(settings, 10, 48000, time.monotonic), Room(RoomSpec(number="4100"), load_config_dir(CONF))


def poll_until(recorder: Recorder, room: Room, condition, timeout: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        recorder.housekeeping({"4100": room}, time.monotonic())
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s")


def test_refused_connection_is_retried_with_backoff(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens here once closed
    recorder, room = recorder_for(tmp_path)
    stream = recorder.start_stream(room, f"rtmp://127.0.0.1:{port}/live/key-123")
    poll_until(recorder, room, lambda: stream.link.failures >= 2, 15)
    assert stream.link.state in (LinkState.RETRYING, LinkState.CONNECTING)
    assert "refused" in stream.link.last_error.lower() and "key-123" not in stream.link.last_error
    assert stream.link.attempts >= 2
    recorder.close({"4100": room})
    assert stream.link.state is LinkState.STOPPED


def test_hung_ingest_is_dropped_after_the_stall_timeout(tmp_path: Path, silent_server: int) -> None:
    recorder, room = recorder_for(tmp_path, stream_stall_timeout=1.5)
    stream = recorder.start_stream(room, f"rtmp://127.0.0.1:{silent_server}/live/key")
    writer = stream.writer
    took = poll_until(recorder, room, lambda: stream.link.failures >= 1, 10)
    assert 1.5 <= took < 6, f"dropped after {took:.1f} s"
    assert writer is not None and writer.failure == STALLED
    assert stream.link.last_error == "no connection for 1.5 s"
    recorder.close({"4100": room})


def test_bad_urls_are_refused_without_a_connection(tmp_path: Path) -> None:
    recorder, room = recorder_for(tmp_path)
    with pytest.raises(RecordingError, match="needs an application and a stream key"):
        recorder.start_stream(room, "rtmp://host/live")
    assert recorder.streams == {} and "stream" not in room.outputs
    with pytest.raises(RecordingError, match="must start with"):
        recorder.start_stream(room, "http://host/app/key")
