"""The JSON side file of a recording: room, start and end (UTC and local time), the sites with
their join and leave times, the floor changes; rewritten whole (atomically) on every change."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

SCHEMA = 1
MAX_FLOOR_CHANGES = 1000  # hours of voice switching (~150 kB); past it the side file stops listing them
RESERVE_BYTES = 256 * 1024  # kept free beside a recording, so its side file's last version fits a full disk


@dataclass
class Visit:
    member: int
    name: str
    joined: datetime
    left: datetime | None = None


@dataclass
class SideFile:
    """What the side file says; `observe` takes who is in the room now and says what changed."""

    room: str
    room_name: str
    file: str
    container: str
    layout: str
    started: datetime
    timezone: tzinfo
    ended: datetime | None = None
    stop_reason: str = ""
    visits: list[Visit] = field(default_factory=list)
    floor_changes: list[tuple[datetime, str]] = field(default_factory=list)
    video_frames: int = 0
    audio_frames: int = 0
    frames_dropped: int = 0
    bytes: int = 0
    _present: dict[int, Visit] = field(default_factory=dict, repr=False)
    _floor: str | None = field(default=None, repr=False)

    def observe(self, present: dict[int, str], floor: str | None, at: datetime) -> bool:
        """`present`: member id -> site name of the joined members; True if anything changed."""
        changed = False
        for member, visit in list(self._present.items()):
            if member not in present:
                visit.left = at
                del self._present[member]
                changed = True
        for member, name in present.items():
            if member not in self._present:
                self._present[member] = visit = Visit(member, name, at)
                self.visits.append(visit)
                changed = True
        if floor != self._floor:
            self._floor = floor
            if floor is not None and len(self.floor_changes) < MAX_FLOOR_CHANGES:
                self.floor_changes.append((at, floor))
                changed = True
        return changed

    def end(self, at: datetime, reason: str) -> None:
        self.ended, self.stop_reason = at, reason
        for visit in self._present.values():
            visit.left = at
        self._present.clear()

    def _when(self, at: datetime | None) -> dict[str, str] | None:
        if at is None:
            return None
        return {"utc": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "local": at.astimezone(self.timezone).isoformat(timespec="milliseconds")}

    def to_json(self) -> dict[str, Any]:
        names = {v.member: v.name for v in self.visits}
        return {
            "schema": SCHEMA,
            "room": self.room,
            "room_name": self.room_name,
            "file": self.file,
            "container": self.container,
            "layout": self.layout,
            "timezone": str(self.timezone),
            "started": self._when(self.started),
            "ended": self._when(self.ended),
            "stop_reason": self.stop_reason or None,
            "sites": [{"member": v.member, "name": v.name, "joined": self._when(v.joined), "left": self._when(v.left)}
                      for v in self.visits],
            "floor": [{"at": self._when(at), "member": int(m) if m.isdigit() else m,
                       "name": names.get(int(m)) if m.isdigit() else None} for at, m in self.floor_changes],
            "video_frames": self.video_frames,
            "audio_frames": self.audio_frames,
            "frames_dropped": self.frames_dropped,
            "bytes": self.bytes,
        }


def reserve_space(path: Path, size: int = RESERVE_BYTES) -> None:
    """Take `size` bytes of disk (real blocks, not a sparse file) for the side file's last version."""
    with open(path, "wb") as f:
        f.write(bytes(size))
        f.flush()
        os.fsync(f.fileno())


def write_atomically(path: Path, doc: dict[str, Any]) -> None:
    """Write `doc` beside `path` and rename it over: a reader (or a crash) sees the old file or the
    new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    data = json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise

