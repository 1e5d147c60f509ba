"""Recording file names: `20261207T161500Z-4100.mp4` sorts by start time and names the room."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

EXTENSIONS = {"mp4": ".mp4", "matroska": ".mkv"}
SIDE_SUFFIX = ".json"
_STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<room>[A-Za-z0-9_.\-]{1,32}?)(?:-(?P<n>\d+))?"
                   r"(?P<ext>\.mp4|\.mkv)$")


@dataclass(frozen=True)
class RecordingName:
    started: datetime  # UTC
    room: str
    extension: str
    sequence: int = 0  # a second recording of the room in the same second

    @property
    def file(self) -> str:
        extra = f"-{self.sequence}" if self.sequence else ""
        return f"{self.started.strftime(_STAMP)}-{self.room}{extra}{self.extension}"

    @property
    def side_file(self) -> str:
        return self.file.rsplit(".", 1)[0] + SIDE_SUFFIX


def recording_name(room: str, started: datetime, container: str, taken: set[str] | frozenset[str] = frozenset()
                   ) -> RecordingName:
    """The name of a recording of `room` started at `started` (any timezone), not one of `taken`."""
    utc = started.astimezone(UTC).replace(microsecond=0)
    name = RecordingName(utc, room, EXTENSIONS[container])
    while name.file in taken:
        name = RecordingName(utc, room, name.extension, name.sequence + 1)
    return name


def parse_name(file: str) -> RecordingName | None:
    """The recording a file name stands for; None for any other file (left alone by retention)."""
    match = _NAME.match(file)
    if match is None:
        return None
    started = datetime.strptime(match["stamp"], _STAMP).replace(tzinfo=UTC)
    return RecordingName(started, match["room"], match["ext"], int(match["n"] or 0))
