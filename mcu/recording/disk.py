"""The free-space floor: refuse to start a recording below `[recording] min_free_mb`."""

from __future__ import annotations

import shutil
from pathlib import Path

MB = 1024 * 1024


def free_bytes(directory: Path) -> int:
    """Bytes free for us on the filesystem `directory` is (or will be, once made) on."""
    path = directory.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def too_little_space(free: int, min_free_mb: float) -> str | None:
    """Why a recording must not start with `free` bytes left, or None."""
    if free < min_free_mb * MB:
        return (f"only {free / MB:.1f} MB free, below [recording] min_free_mb = {min_free_mb:g}; "
                f"free space or lower the floor")
    return None
