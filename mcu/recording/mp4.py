"""Where a fragmented MP4 stops being whole: after a full disk or a crash the last fragment may be
cut, and a cut fragment can make a strict decoder stop; the prefix of complete boxes plays."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

HEADER = 8
# Boxes after which the file is playable: the init segment (moov) and each fragment's data (mdat).
ENDS_A_PIECE = {b"moov", b"mdat", b"mfra"}


def complete_length(f: BinaryIO, size: int) -> int:
    """Bytes at the start of the file that hold only whole top-level boxes ending with an init
    segment or a fragment; 0 when not even the init segment is whole."""
    good = 0
    offset = 0
    while offset + HEADER <= size:
        f.seek(offset)
        header = f.read(HEADER)
        box_size, kind = struct.unpack(">I4s", header)
        if box_size == 1:
            large = f.read(8)
            if len(large) < 8:
                break
            (box_size,) = struct.unpack(">Q", large)
        if box_size < HEADER or offset + box_size > size:
            break  # size 0 ("to the end"), nonsense, or cut short
        offset += box_size
        if kind in ENDS_A_PIECE:
            good = offset
    return good


def truncate_to_complete(path: Path) -> int:
    """Cut `path` after its last complete fragment; returns the bytes removed (0: already whole)."""
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        good = complete_length(f, size)
        if 0 < good < size:
            f.truncate(good)
            return size - good
    return 0
