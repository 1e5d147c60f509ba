"""Error values and exceptions of the layout package."""

from __future__ import annotations

from mcu.tomlfile import ConfigIssue

# One problem in one config file: file, 1-based line (0: the file itself), dotted key, message.
# The layout package shares the located-issue type of every other config file.
ConfigError = ConfigIssue


class ConfigInvalid(ValueError):
    """Raised by the loaders when a config directory has errors; carries all of them."""

    def __init__(self, errors: list[ConfigIssue]) -> None:
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
