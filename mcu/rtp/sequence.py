"""Extend 16-bit sequence numbers and 32-bit timestamps across wrap-around."""

from __future__ import annotations


class Unwrapper:
    """Maps a wrapping counter of `bits` bits onto an unbounded int, nearest to the last."""

    __slots__ = ("_half", "_last", "_mod")

    def __init__(self, bits: int = 16) -> None:
        self._mod = 1 << bits
        self._half = 1 << (bits - 1)
        self._last: int | None = None

    def unwrap(self, value: int) -> int:
        last = self._last
        if last is None:
            self._last = value
            return value
        delta = (value - last) % self._mod
        if delta >= self._half:
            delta -= self._mod
        ext = last + delta
        if delta > 0:
            self._last = ext
        return ext

    def reset(self) -> None:
        self._last = None
