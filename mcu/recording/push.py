"""A live stream's encoder and RTMP connection, in a child process of its own.

PyAV holds the GIL while it opens an output (the TCP connect and the RTMP handshake), so a slow or
unreachable ingest server would stop the MCU's media loop for as long as the connect takes. Here
it stops only this process. The MCU sends a JSON header line, then frames (`FRAME` header +
payload) on stdin; this process answers with JSON status lines on stdout: progress while it runs,
and one line with `done` when it ends (with `failure` and `error` when it failed).

Run by mcu.recording.writer.ProcessWriter as `python -m mcu.recording.push`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, BinaryIO

import numpy as np

from mcu.media.frames import I420, chroma_size
from mcu.recording.writer import MediaWriter, OutputFormat, ProcessWriter

FRAME = ProcessWriter.FRAME_HEADER  # kind (b"v" or b"a"), pts, payload length
PROGRESS_INTERVAL = 0.25


def read_frame(stream: BinaryIO, fmt: OutputFormat) -> tuple[str, Any, int] | None:
    """The next frame from the MCU, or None at the end of its input (or a torn frame)."""
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    kind, pts, length = FRAME.unpack(head)
    payload = stream.read(length)
    if len(payload) < length:
        return None
    if kind == b"a":
        return "audio", np.frombuffer(payload, np.int16), pts
    w, h = fmt.width, fmt.height
    cw, ch = chroma_size(w, h)
    buf = np.frombuffer(payload, np.uint8)
    y, c = w * h, cw * ch
    return "video", I420(buf[:y].reshape(h, w), buf[y:y + c].reshape(ch, cw), buf[y + c:].reshape(ch, cw)), pts


def status(writer: MediaWriter, **extra: Any) -> str:
    return json.dumps({"opened": writer.opened, "bytes": writer.bytes, "video_frames": writer.video_frames,
                       "audio_frames": writer.audio_frames, **extra})


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout
    header = json.loads(stdin.readline())
    fmt = OutputFormat(**header["format"])
    writer = MediaWriter(header["target"], fmt, name="push")

    def progress() -> None:
        while not writer.done:
            print(status(writer), file=stdout, flush=True)
            time.sleep(PROGRESS_INTERVAL)

    threading.Thread(target=progress, daemon=True).start()
    writer.run_from(lambda: read_frame(stdin, fmt))
    print(status(writer, done=True, failure=writer.failure, error=writer.error), file=stdout, flush=True)
    return 0 if writer.failure is None else 1


if __name__ == "__main__":
    sys.exit(main())
