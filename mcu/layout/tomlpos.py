"""Find the line of a key in TOML text.

tomllib returns values without positions. Config errors must name the line, so
this module re-reads the (already valid) text with a small tokenizer and maps
every key path to the line where it is defined. Array-of-table headers such as
``[[layouts."1+5".regions]]`` are counted so that ``("layouts", "1+5",
"regions", 2)`` is the third such header; elements of inline arrays get their
index the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

KeyPath = tuple[str | int, ...]

_DELIMS = "[]{}=,#\"'"
_NEWLINE = "\n"


@dataclass(frozen=True)
class _Tok:
    kind: str  # "nl", "aot", "[", "]", "{", "}", "=", ",", "str", "bare"
    text: str
    line: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, line, n = 0, 1, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if c == "\n":
            toks.append(_Tok("nl", c, line))
            line += 1
            i += 1
            line_start = True
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in "\"'":
            start_line = line
            triple = text.startswith(c * 3, i)
            quote = c * 3 if triple else c
            j = i + len(quote)
            buf: list[str] = []
            while j < n and not text.startswith(quote, j):
                if c == '"' and text[j] == "\\" and j + 1 < n:
                    buf.append(text[j : j + 2])
                    j += 2
                    continue
                if text[j] == "\n":
                    line += 1
                buf.append(text[j])
                j += 1
            if triple:  # a closing run may hold up to two extra quotes
                while text.startswith(c, j + 3):
                    buf.append(c)
                    j += 1
            raw = "".join(buf)
            value = _unescape(raw) if c == '"' and not triple else raw
            toks.append(_Tok("str", value, start_line))
            i = j + len(quote)
            line_start = False
            continue
        if line_start and text.startswith("[[", i):
            toks.append(_Tok("aot", "[[", line))
            i += 2
            line_start = False
            continue
        if c in "[]{}=,":
            toks.append(_Tok(c, c, line))
            i += 1
            line_start = False
            continue
        j = i
        while j < n and text[j] not in _DELIMS and text[j] not in " \t\r\n":
            j += 1
        toks.append(_Tok("bare", text[i:j], line))
        i = j
        line_start = False
    return toks


def _unescape(raw: str) -> str:
    try:
        return raw.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return raw


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.pos = 0
        self.lines: dict[KeyPath, int] = {}
        self.aot_count: dict[KeyPath, int] = {}

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def skip_newlines(self) -> None:
        while (tok := self.peek()) is not None and tok.kind == "nl":
            self.pos += 1

    def record(self, path: KeyPath, line: int) -> None:
        for k in range(1, len(path) + 1):
            self.lines.setdefault(path[:k], line)

    def key_parts(self, stop: set[str]) -> list[str]:
        parts: list[str] = []
        while (tok := self.peek()) is not None and tok.kind not in stop:
            self.take()
            if tok.kind == "str":
                parts.append(tok.text)
            elif tok.kind == "bare":
                parts.extend(p for p in tok.text.split(".") if p)
        return parts

    def resolve(self, parts: list[str]) -> KeyPath:
        """Insert the current index after every array-of-tables prefix."""
        path: list[str | int] = []
        for part in parts:
            path.append(part)
            count = self.aot_count.get(tuple(path))
            if count:
                path.append(count - 1)
        return tuple(path)

    def document(self) -> None:
        current: KeyPath = ()
        while (tok := self.peek()) is not None:
            if tok.kind == "nl":
                self.take()
            elif tok.kind == "aot":
                self.take()
                parts = self.key_parts({"]"})
                self.take_n("]", 2)
                parent = self.resolve(parts[:-1])
                base = parent + (parts[-1],)
                index = self.aot_count.get(base, 0)
                self.aot_count[base] = index + 1
                current = base + (index,)
                self.record(current, tok.line)
            elif tok.kind == "[":
                self.take()
                parts = self.key_parts({"]"})
                self.take_n("]", 1)
                current = self.resolve(parts)
                self.record(current, tok.line)
            else:
                parts = self.key_parts({"=", "nl"})
                if self.peek() is None or self.take().kind != "=":
                    continue
                path = current + tuple(parts)
                self.record(path, tok.line)
                self.value(path)

    def take_n(self, kind: str, count: int) -> None:
        for _ in range(count):
            if (tok := self.peek()) is not None and tok.kind == kind:
                self.take()

    def value(self, path: KeyPath) -> None:
        tok = self.peek()
        if tok is None:
            return
        if tok.kind == "[":
            self.take()
            index = 0
            while True:
                self.skip_newlines()
                tok = self.peek()
                if tok is None:
                    return
                if tok.kind == "]":
                    self.take()
                    return
                if tok.kind == ",":
                    self.take()
                    index += 1
                    continue
                self.record(path + (index,), tok.line)
                self.value(path + (index,))
        elif tok.kind == "{":
            self.take()
            while (tok := self.peek()) is not None:
                if tok.kind == "}":
                    self.take()
                    return
                if tok.kind in (",", "nl"):
                    self.take()
                    continue
                parts = self.key_parts({"=", "}", "nl"})
                if self.peek() is None or self.peek().kind != "=":  # type: ignore[union-attr]
                    continue
                self.take()
                sub = path + tuple(parts)
                self.record(sub, tok.line)
                self.value(sub)
        else:
            self.take()


class KeyLines:
    """Map of key path -> 1-based line, with fallback to the nearest defined parent."""

    def __init__(self, text: str) -> None:
        parser = _Parser(_tokenize(text))
        try:
            parser.document()
        except IndexError:  # defensive: a tokenizer gap must not hide the real error
            pass
        self._lines = parser.lines

    def line(self, path: KeyPath) -> int:
        for k in range(len(path), 0, -1):
            found = self._lines.get(tuple(path[:k]))
            if found is not None:
                return found
        return 1

    def __contains__(self, path: KeyPath) -> bool:
        return tuple(path) in self._lines


def format_key(path: KeyPath) -> str:
    """``("layouts", "1+5", "regions", 2, "w")`` -> ``layouts."1+5".regions[2].w``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        bare = part.replace("_", "").replace("-", "").isalnum() and part.isascii()
        name = part if bare else f'"{part}"'
        out += f".{name}" if out else name
    return out
