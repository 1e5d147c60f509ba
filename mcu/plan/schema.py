"""Typed reading of a TOML table that collects every problem instead of stopping at the first.

The planner's inputs and the calibration file are read through a `Reader`: each accessor
returns the value (or the default) and, when the value is wrong, records a ConfigIssue that
names the key and, through the `locate` callback, the file and line. The caller raises one
ConfigError with all of them at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcu.tomlfile import ConfigError, ConfigIssue

Locate = Callable[[tuple, str], ConfigIssue]

_MISSING = object()


class Reader:
    """Reads values out of nested dicts; `issues` collects what was wrong."""

    def __init__(self, locate: Locate):
        self.locate = locate
        self.issues: list[ConfigIssue] = []

    def fail(self, path: tuple, message: str) -> None:
        self.issues.append(self.locate(path, message))

    def raise_if_any(self) -> None:
        if self.issues:
            raise ConfigError(list(self.issues))

    def table(self, data: dict, path: tuple, allowed: set[str] | None = None) -> dict:
        """The sub-table at `path` relative to `data` (empty if absent); reports unknown keys."""
        value = data.get(path[-1], {}) if path else data
        if not isinstance(value, dict):
            self.fail(path, f"must be a table, not {_kind(value)}")
            return {}
        if allowed is not None:
            self.unknown_keys(value, path, allowed)
        return value

    def unknown_keys(self, table: dict, path: tuple, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                self.fail((*path, key), f"unknown key (known here: {known})")

    def number(self, table: dict, path: tuple, default: Any = _MISSING, *, low: float | None = None,
               high: float | None = None, low_open: bool = False) -> float:
        value = table.get(path[-1], _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.fail(path, "is required")
                return 0.0
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(path, f"must be a number, not {_kind(value)}")
            return 0.0 if default is _MISSING or default is None else default
        if low is not None and (value <= low if low_open else value < low):
            bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
            self.fail(path, f"must be {bound}, got {value:g}")
        if high is not None and value > high:
            self.fail(path, f"must be at most {high:g}, got {value:g}")
        return float(value)

    def integer(self, table: dict, path: tuple, default: Any = _MISSING, *, low: int | None = None,
                high: int | None = None) -> int:
        value = table.get(path[-1], _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.fail(path, "is required")
                return 0
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be a whole number, not {_kind(value)}")
            return 0 if default is _MISSING or default is None else default
        if low is not None and value < low:
            self.fail(path, f"must be at least {low}, got {value}")
        if high is not None and value > high:
            self.fail(path, f"must be at most {high}, got {value}")
        return value

    def choice(self, table: dict, path: tuple, choices: tuple[str, ...], default: Any = _MISSING,
               what: str = "value") -> str:
        value = table.get(path[-1], _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.fail(path, "is required")
                return choices[0]
            return default
        if value not in choices:
            self.fail(path, f"unknown {what} {value!r} (use one of: {', '.join(choices)})")
            return choices[0] if default is _MISSING else default
        return str(value)

    def string(self, table: dict, path: tuple, default: str = "") -> str:
        value = table.get(path[-1], default)
        if not isinstance(value, str):
            self.fail(path, f"must be a string, not {_kind(value)}")
            return default
        return value

    def boolean(self, table: dict, path: tuple, default: bool = False) -> bool:
        value = table.get(path[-1], default)
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, not {_kind(value)}")
            return default
        return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return f"string {value!r}"
    return f"{type(value).__name__} {value!r}"
