"""Error values and exceptions of the layout package."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigError:
    """One problem in one config file, located for the operator.

    `line` is 1-based; 0 means the file itself (missing, unreadable).
    `key` is the dotted TOML path, with array-of-table indices in brackets,
    e.g. ``layouts."1+5".regions[2].w``.
    """

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigInvalid(ValueError):
    """Raised by the loaders when a config directory has errors; carries all of them."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = list(errors)
        lines = "\n".join(str(e) for e in self.errors)
        super().__init__(f"{len(self.errors)} config error(s):\n{lines}")


class LayoutNotFound(KeyError):
    """A layout or group name that the loaded config does not define."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no layout or group named {name!r} in layouts.toml")


class GeometryError(ValueError):
    """A canvas or rectangle that cannot be placed (odd size, empty source)."""
