"""Small payload-format interfaces (Pion style) shared by the codec modules."""

from __future__ import annotations

from typing import Protocol


class Payloader(Protocol):
    def payload(self, mtu: int, frame: bytes) -> list[bytes]:
        """Split one encoded frame into RTP payloads of at most `mtu` bytes."""
        ...


class Depacketizer(Protocol):
    def is_partition_head(self, payload: bytes) -> bool:
        """True when this payload starts a frame (or may start one)."""
        ...

    def is_partition_tail(self, marker: bool, payload: bytes) -> bool:
        """True when this payload ends a frame."""
        ...

    def assemble(self, payloads: list[bytes]) -> bytes:
        """Rebuild one frame from the payloads of its packets, in sequence order."""
        ...

    def is_keyframe(self, payloads: list[bytes]) -> bool:
        """True when the frame made of these payloads can be decoded on its own."""
        ...
