"""The append-only journal that makes usage records survive a crash.

Every call and meeting is written here when it opens, once in a while while it runs (its counters
so far), and when it closes: one JSON object per line, flushed to the OS at once (a SIGKILL loses
nothing written) and fsync'd by the store's writer thread (off the media loop; power loss). On
start the journal is set aside (`set_aside`) and replayed: closed records as they were, open ones
closed at the last time they were seen with end reason `mcu_restart`. The writer puts them in the
store (inserts are idempotent: a record id is written once) and only then deletes the set-aside
file, so a crash during replay replays it again with the same result. A journal past ROTATE_BYTES
is rotated while the MCU runs the same way (the open records are written again at the top of the
fresh file, the old one is deleted once the store has what closed in it), so it stays small
however long the MCU runs.

    {"t": "call", "state": "open" | "close", "rec": {...CallRecord fields...}}
    {"t": "meeting", "state": "open" | "close", "rec": {...MeetingRecord fields...}}
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO

from mcu.usage.records import (
    RESTART_REASON,
    CallRecord,
    MeetingRecord,
    call_from_dict,
    meeting_from_dict,
)

SET_ASIDE_SUFFIX = ".replay"
ROTATE_BYTES = 4 * 1024 * 1024


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        self.lines = 0

    def write(self, kind: str, state: str, record: CallRecord | MeetingRecord) -> None:
        """One line, flushed to the OS before returning (it then outlives this process)."""
        if self._file is None:
            return
        self._file.write(json.dumps({"t": kind, "state": state, "rec": asdict(record)},
                                    separators=(",", ":")) + "\n")
        self._file.flush()
        self.lines += 1

    @property
    def size(self) -> int:
        return self._file.tell() if self._file is not None else 0

    def rotate(self) -> Path:
        """Start a fresh file; the old one is set aside (renamed `*.replay`) and returned, to be
        deleted once every record closed in it is in the store. The caller writes the records still
        open into the fresh file first thing."""
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        old = self.path.with_name(f"{self.path.name}.{time.time_ns()}{SET_ASIDE_SUFFIX}")
        self.path.rename(old)
        self._file = self.path.open("a", encoding="utf-8")
        return old

    def fsync(self) -> None:
        """To the disk (the writer thread calls it after each open and close)."""
        file = self._file
        if file is not None:
            os.fsync(file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


@dataclass
class Replay:
    calls: list[CallRecord] = field(default_factory=list)  # closed, and open ones closed now
    meetings: list[MeetingRecord] = field(default_factory=list)
    restarted_calls: int = 0  # of them, how many were still open
    restarted_meetings: int = 0
    bad_lines: int = 0  # a torn last line (the crash cut it): skipped
    files: list[Path] = field(default_factory=list)


def set_aside(path: Path) -> list[Path]:
    """Move the journal out of the way for replay; returns every set-aside file not yet replayed
    into the store (older first), this one included."""
    if path.exists() and path.stat().st_size > 0:
        path.rename(path.with_name(f"{path.name}.{time.time_ns()}{SET_ASIDE_SUFFIX}"))
    elif path.exists():
        path.unlink()
    return sorted(path.parent.glob(f"{path.name}.*{SET_ASIDE_SUFFIX}"))


def replay(files: list[Path]) -> Replay:
    out = Replay(files=list(files))
    calls: dict[str, tuple[str, dict]] = {}
    meetings: dict[str, tuple[str, dict]] = {}
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                    kind, state, rec = entry["t"], entry["state"], entry["rec"]
                    target = calls if kind == "call" else meetings if kind == "meeting" else None
                    if target is None or not isinstance(rec, dict):
                        raise ValueError(kind)
                    if target.get(rec["id"], ("",))[0] != "close":  # a closed record stays closed
                        target[rec["id"]] = (state, rec)
                except (ValueError, KeyError, TypeError):
                    out.bad_lines += 1
    for state, rec in calls.values():
        record = call_from_dict(rec)
        if state != "close":
            record = replace(record, end_reason=RESTART_REASON)
            out.restarted_calls += 1
        out.calls.append(record)
    for state, rec in meetings.values():
        meeting = meeting_from_dict(rec)
        if state != "close":
            meeting = replace(meeting, end_reason=RESTART_REASON)
            out.restarted_meetings += 1
        out.meetings.append(meeting)
    return out
