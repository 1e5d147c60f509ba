"""Reading TOML files with errors that name the file, the line and the key.

tomllib gives values without positions, so the line of a key is found again in the file's
text: table headers (`[a.b]`, `[[a.b]]`) are tracked and the key line is matched under the
right table. Arrays of tables are told apart by their occurrence index.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=""")


@dataclass(frozen=True)
class ConfigIssue:
    """One thing wrong in a config file, located for the operator."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """A config file was rejected; `issues` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        return name[1:-1]
    return name


def _split_dotted(path: str) -> list[str]:
    return [_unquote(p) for p in re.findall(r'"[^"]*"|\'[^\']*\'|[^.\s]+', path)]


class TomlFile:
    """A parsed TOML file that can tell the line of any key path.

    A key path is a tuple such as ("sip", "listen", 0, "port"): strings are keys, integers
    index arrays of tables (`[[sip.listen]]`) or inline arrays.
    """

    def __init__(self, path: str | Path, text: str, data: dict):
        self.path = str(path)
        self.text = text
        self.data = data
        self._lines = text.splitlines()

    @classmethod
    def load(cls, path: str | Path) -> TomlFile:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError([ConfigIssue(str(path), 0, "", "file not found")]) from None
        except UnicodeDecodeError as exc:
            raise ConfigError([ConfigIssue(str(path), 0, "", f"not UTF-8 text ({exc.reason})")]) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = _line_of_decode_error(exc)
            raise ConfigError([ConfigIssue(str(path), line, "", f"not valid TOML: {exc}")]) from None
        return cls(path, text, data)

    def issue(self, key_path: tuple, message: str) -> ConfigIssue:
        return ConfigIssue(self.path, self.line_of(key_path), dotted(key_path), message)

    def line_of(self, key_path: tuple) -> int:
        """1-based line where `key_path` is defined, else of its nearest enclosing table, else 0."""
        target = tuple(key_path)
        table: tuple = ()
        array_counts: dict[tuple, int] = {}
        best, best_depth = 0, 0
        for number, line in enumerate(self._lines, start=1):
            header = _HEADER.match(line)
            if header:
                names = _split_dotted(header.group(2))
                if header.group(1) == "[[":
                    base = (*_resolve(names[:-1], array_counts), names[-1])
                    index = array_counts.get(base, -1) + 1
                    array_counts[base] = index
                    table = (*base, index)
                else:
                    table = _resolve(names, array_counts)
                if table == target:
                    return number
                if target[: len(table)] == table and len(table) > best_depth:
                    best, best_depth = number, len(table)
                continue
            key = _KEY.match(line)
            if key:
                full = (*table, *_split_dotted(key.group(1)))
                if full == target[: len(full)]:
                    return number
        return best


def _resolve(names: list[str], array_counts: dict[tuple, int]) -> tuple:
    """A header path whose prefix names an array of tables refers to that array's latest element."""
    out: list = []
    for name in names:
        out.append(name)
        if tuple(out) in array_counts:
            out.append(array_counts[tuple(out)])
    return tuple(out)


def dotted(key_path: tuple) -> str:
    out = ""
    for part in key_path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _line_of_decode_error(exc: tomllib.TOMLDecodeError) -> int:
    match = re.search(r"line (\d+)", str(exc))
    return int(match.group(1)) if match else 0
