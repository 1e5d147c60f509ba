"""The two usage records: one per call, one per meeting (a room from first join to last leave).

Times are UTC seconds since the epoch (float); `to_row`/`from_row` give the store's columns in
the order of migrations/0001_usage.sql.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

RESTART_REASON = "mcu_restart"  # a call (or meeting) still open when the MCU died


@dataclass(frozen=True)
class CallRecord:
    id: str
    tenant: str  # "" : the provider's own rooms
    room: str
    meeting_id: str
    site: str  # roster site id, else the display name
    uri: str
    protocol: str  # sip | h323
    direction: str  # in | out
    start: float  # INVITE/Setup received, or dial-out placed
    answer: float | None  # joined the room (None: never did)
    end: float
    end_reason: str
    audio_codec: str = ""
    video_codec: str = ""
    resolution: str = ""  # what the MCU sent it, WxH ("" : audio only)
    tier: str = "audio"  # audio | sd360 | hd720 | fhd1080 (mcu.plan.tiers)
    bytes_in: int = 0  # RTP bytes (headers included) received from the site, every stream
    bytes_out: int = 0  # ... sent to it
    packets_in: int = 0
    packets_out: int = 0
    loss: float = 0.0  # fraction of its audio packets lost
    jitter_ms: float = 0.0  # mean interarrival jitter of its audio, sampled once a second
    encrypted: bool = False

    @property
    def seconds(self) -> float:
        """Time in the meeting (answer to end)."""
        return max(0.0, self.end - self.answer) if self.answer is not None else 0.0


@dataclass(frozen=True)
class MeetingRecord:
    id: str
    tenant: str
    room: str
    start: float  # first join
    end: float  # last leave
    end_reason: str  # "ended" or mcu_restart
    calls: int
    peak_sites: int
    site_minutes: float
    recording_minutes: float


CALL_COLUMNS = tuple(f.name for f in dataclasses.fields(CallRecord))
MEETING_COLUMNS = tuple(f.name for f in dataclasses.fields(MeetingRecord))


def to_row(record: CallRecord | MeetingRecord) -> tuple[Any, ...]:
    return tuple(int(v) if isinstance(v, bool) else v for v in dataclasses.astuple(record))


def call_from_row(row: tuple[Any, ...] | list[Any]) -> CallRecord:
    values = dict(zip(CALL_COLUMNS, row))
    values["encrypted"] = bool(values["encrypted"])
    return CallRecord(**values)


def meeting_from_row(row: tuple[Any, ...] | list[Any]) -> MeetingRecord:
    return MeetingRecord(**dict(zip(MEETING_COLUMNS, row)))


def call_from_dict(doc: dict[str, Any]) -> CallRecord:
    return CallRecord(**{k: doc[k] for k in CALL_COLUMNS if k in doc})


def meeting_from_dict(doc: dict[str, Any]) -> MeetingRecord:
    return MeetingRecord(**{k: doc[k] for k in MEETING_COLUMNS if k in doc})
