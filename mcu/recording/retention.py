"""Retention: which recordings are older than `[recording] keep_days` (by the start time in their
names, which survives copies and touches that change mtimes)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from mcu.recording.naming import SIDE_SUFFIX, parse_name


def expired(files: Iterable[str], now: datetime, keep_days: int, keep: frozenset[str] | set[str] = frozenset()
            ) -> list[str]:
    """The recordings (and their side files) among `files` started more than `keep_days` before
    `now`; `keep`: files still being written. keep_days 0 keeps everything."""
    if keep_days <= 0:
        return []
    cutoff = now - timedelta(days=keep_days)
    out = []
    for file in sorted(files):
        stem = file[: -len(SIDE_SUFFIX)] if file.endswith(SIDE_SUFFIX) else None
        candidates = [stem + ext for ext in (".mp4", ".mkv")] if stem else [file]
        name = next((n for n in map(parse_name, candidates) if n is not None), None)
        if name is None or file in keep or any(c in keep for c in candidates):
            continue
        if name.started < cutoff:
            out.append(file)
    return out


def apply_retention(directory: Path, now: datetime, keep_days: int, keep: set[str]) -> list[str]:
    """Delete what `expired` names in `directory`; returns the files deleted."""
    try:
        files = [p.name for p in directory.iterdir() if p.is_file()]
    except OSError:
        return []
    deleted = []
    for file in expired(files, now, keep_days, keep):
        try:
            (directory / file).unlink()
        except OSError:
            continue
        deleted.append(file)
    return deleted
