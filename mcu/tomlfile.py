"""Reading TOML files with errors that name the file, the line and the key.

tomllib gives values without positions, so the line of a key is found again in the file's
text (already known to be valid TOML) by a small tokenizer that follows the TOML grammar far
enough to map every key path to its line: table headers (`[a.b]`, `[[a.b]]`, quoted parts
such as `[layouts."1+5"]`), dotted keys, inline tables and the elements of arrays. Arrays of
tables are told apart by their occurrence index, so ("a", 1, "b") is key b of the second [[a]].
Multi-line strings and comments are skipped whole, so a `[x]` or `k =` inside them is not seen.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_DECODE_LINE = re.compile(r"line (\d+)")
_BARE_STOP = frozenset(" \t\r\n[]{}=,#\"'")
_PUNCTUATION = frozenset("[]{}=,")
_LINE_KEY_END = frozenset({"=", "nl"})  # a key of a table line ends at = (or the line, if none)
_INLINE_KEY_END = frozenset({"=", "}", ",", "nl"})


@dataclass(frozen=True)
class ConfigIssue:
    """One thing wrong in a config file, located for the operator.

    `line` is 1-based; 0 means the file as a whole (missing, unreadable) or a key not found.
    `key` is the dotted TOML path with array indices in brackets, e.g. ``layouts."1+5".regions[2].w``.
    """

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


def read_text(path: str | Path) -> str:
    """The UTF-8 text of a config file; raises ConfigError naming the file if it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(str(path), 0, "", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue(str(path), 0, "", f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), 0, "", f"cannot read: {exc.strerror or exc}")]) from None


class TomlFile:
    """A parsed TOML file that can tell the line of any key path.

    A key path is a tuple such as ("sip", "listen", 0, "port"): strings are keys, integers
    index arrays of tables (`[[sip.listen]]`) or inline arrays.
    """

    def __init__(self, path: str | Path, text: str, data: dict):
        self.path = str(path)
        self.text = text
        self.data = data

    @classmethod
    def load(cls, path: str | Path) -> TomlFile:
        return cls.parse(read_text(path), path)

    @classmethod
    def parse(cls, text: str, path: str | Path = "<string>") -> TomlFile:
        """Parse TOML text read from `path`; raises ConfigError with the line of a syntax error."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = _line_of_decode_error(exc, text)
            raise ConfigError([ConfigIssue(str(path), line, "", f"not valid TOML syntax: {exc}")]) from None
        return cls(path, text, data)

    def issue(self, key_path: KeyPath, message: str) -> ConfigIssue:
        return ConfigIssue(self.path, self.line_of(key_path), dotted(key_path), message)

    def line_of(self, key_path: KeyPath) -> int:
        """1-based line where `key_path` is defined, else where its nearest parent is, else 0."""
        explicit, implicit = self._positions
        path = tuple(key_path)
        for end in range(len(path), 0, -1):
            line = explicit.get(path[:end]) or implicit.get(path[:end])
            if line:
                return line
        return 0

    @cached_property
    def _positions(self) -> tuple[dict[KeyPath, int], dict[KeyPath, int]]:
        scanner = _Scanner(_tokenize(self.text))
        try:
            scanner.document()
        except IndexError:  # defensive: a gap in the scanner must not hide the real error
            pass
        return scanner.explicit, scanner.implicit


def dotted(key_path: KeyPath) -> str:
    """("layouts", "1+5", "regions", 2, "w") -> ``layouts."1+5".regions[2].w`` (quoted only where TOML must)."""
    out = ""
    for part in key_path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = str(part)
        if not _BARE_KEY.fullmatch(name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out += f".{name}" if out else name
    return out


def _line_of_decode_error(exc: tomllib.TOMLDecodeError, text: str) -> int:
    """tomllib says "at line N", or "at end of document": then the last line."""
    lineno = getattr(exc, "lineno", None)  # Python 3.14+
    if isinstance(lineno, int) and lineno > 0:
        return lineno
    match = _DECODE_LINE.search(str(exc))
    return int(match.group(1)) if match else max(1, len(text.splitlines()))


# ----- the scanner behind line_of ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "nl", "[", "]", "{", "}", "=", ",", "str" (a quoted string), "bare"
    text: str  # a string token holds the decoded value of single-line strings
    line: int
    offset: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            tokens.append(_Token("nl", c, line, i))
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "\"'":
            end, value = _string(text, i)
            tokens.append(_Token("str", value, line, i))
            line += text.count("\n", i, end)
            i = end
        elif c in _PUNCTUATION:
            tokens.append(_Token(c, c, line, i))
            i += 1
        else:
            j = i
            while j < n and text[j] not in _BARE_STOP:
                j += 1
            tokens.append(_Token("bare", text[i:j], line, i))
            i = j
    return tokens


def _string(text: str, start: int) -> tuple[int, str]:
    """End offset and value of the string starting at `start` (multi-line strings: raw text)."""
    c = text[start]
    quote = c * 3 if text.startswith(c * 3, start) else c
    j, n = start + len(quote), len(text)
    while j < n and not text.startswith(quote, j):
        j += 2 if c == '"' and text[j] == "\\" else 1
    if len(quote) == 3:  # a closing run may hold up to two quotes of the content
        extra = 0
        while extra < 2 and text.startswith(c, j + 3):
            j += 1
            extra += 1
        return min(n, j + 3), text[start + 3 : j]
    end = min(n, j + 1)
    try:  # a quoted key: let tomllib decode its escapes
        return end, str(tomllib.loads(f"k = {text[start:end]}")["k"])
    except tomllib.TOMLDecodeError:
        return end, text[start + 1 : j]


class _Scanner:
    """Walks the tokens of valid TOML, recording the line of every key path.

    `explicit` holds paths written out (a header, a key, an array element); `implicit` the
    parents they create on the way (`[a.b.c]` creates a and a.b). Both keep the first line.
    """

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.explicit: dict[KeyPath, int] = {}
        self.implicit: dict[KeyPath, int] = {}
        self.array_counts: dict[KeyPath, int] = {}

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def next_is(self, kind: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == kind

    def record(self, path: KeyPath, line: int) -> None:
        self.explicit.setdefault(path, line)
        for end in range(1, len(path)):
            self.implicit.setdefault(path[:end], line)

    def key_parts(self, stop: frozenset[str]) -> list[str]:
        parts: list[str] = []
        while (token := self.peek()) is not None and token.kind not in stop:
            self.take()
            if token.kind == "str":
                parts.append(token.text)
            elif token.kind == "bare":
                parts.extend(p for p in token.text.split(".") if p)
        return parts

    def resolve(self, parts: list[str]) -> KeyPath:
        """A header path whose prefix names an array of tables refers to that array's latest element."""
        path: list[str | int] = []
        for part in parts:
            path.append(part)
            count = self.array_counts.get(tuple(path))
            if count:
                path.append(count - 1)
        return tuple(path)

    def document(self) -> None:
        table: KeyPath = ()
        while (token := self.peek()) is not None:
            if token.kind == "nl":
                self.take()
            elif token.kind == "[":
                table = self.header()
                self.record(table, token.line)
            else:
                self.key_value(table, _LINE_KEY_END)

    def key_value(self, table: KeyPath, stop: frozenset[str]) -> None:
        """`key = value` under `table`; tokens up to a `stop` that are no such pair are passed over."""
        first = self.tokens[self.pos]
        parts = self.key_parts(stop)
        if not self.next_is("="):
            return
        self.take()
        path = table + tuple(parts)
        self.record(path, first.line)
        self.value(path)

    def header(self) -> KeyPath:
        opening = self.take()
        following = self.peek()
        is_array = following is not None and following.kind == "[" and following.offset == opening.offset + 1
        if is_array:
            self.take()
        parts = self.key_parts(frozenset({"]", "nl"}))
        for _ in range(2 if is_array else 1):
            if self.next_is("]"):
                self.take()
        if not is_array:
            return self.resolve(parts)
        base = (*self.resolve(parts[:-1]), parts[-1])
        index = self.array_counts.get(base, 0)
        self.array_counts[base] = index + 1
        return (*base, index)

    def value(self, path: KeyPath) -> None:
        token = self.peek()
        if token is None:
            return
        if token.kind == "[":
            self.array(path)
        elif token.kind == "{":
            self.inline_table(path)
        else:
            self.take()
            # a local date-time may be written with a space: 1979-05-27 07:32:00
            while (more := self.peek()) is not None and more.kind == "bare" and more.line == token.line:
                self.take()

    def array(self, path: KeyPath) -> None:
        self.take()
        index = 0
        while (token := self.peek()) is not None:
            if token.kind == "nl":
                self.take()
            elif token.kind == "]":
                self.take()
                return
            elif token.kind == ",":
                self.take()
                index += 1
            else:
                self.record((*path, index), token.line)
                self.value((*path, index))

    def inline_table(self, path: KeyPath) -> None:
        self.take()
        while (token := self.peek()) is not None:
            if token.kind == "}":
                self.take()
                return
            if token.kind in (",", "nl"):
                self.take()
            else:
                self.key_value(path, _INLINE_KEY_END)
