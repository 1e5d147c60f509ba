"""Header names and the structured header values: name-addr, Via, CSeq, parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mcu.sip.errors import SipParseError
from mcu.sip.uri import SipUri, format_host

MAX_UINT32 = 2**32 - 1
BRANCH_MAGIC = "z9hG4bK"
TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)

# RFC 3261 7.3.3 and the IANA registry of compact forms.
COMPACT_FORMS = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
}

# Headers that may appear once only (RFC 3261 7.3.1 / table 2).
SINGLE_VALUED = frozenset(
    {"call-id", "from", "to", "cseq", "max-forwards", "content-type", "expires", "min-se"}
)

# Headers whose value may be a comma-separated list (only these are split).
LIST_HEADERS = frozenset(
    {
        "via", "contact", "route", "record-route", "allow", "supported", "require",
        "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language",
    }
)


def header_key(name: str) -> str:
    """Lower-case lookup key of a header name, compact forms expanded."""
    key = name.lower()
    return COMPACT_FORMS.get(key, key)


def is_token(text: str) -> bool:
    return bool(text) and all(ch in TOKEN_CHARS for ch in text)


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quoted strings and <...>."""
    parts: list[str] = []
    depth_angle = False
    in_quote = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if in_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            depth_angle = True
        elif ch == ">":
            depth_angle = False
        elif ch == "," and not depth_angle:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    parts.append(value[start:].strip())
    return parts


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted string starting at text[start] == '"'; return (unescaped, index after)."""
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 >= n:
                break
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise SipParseError("Unterminated quoted string")


def parse_params(text: str, what: str) -> dict[str, str | None]:
    """Parse `;name=value;flag` (LWS allowed around ; and =); quoted values kept quoted."""
    params: dict[str, str | None] = {}
    text = text.strip()
    if not text:
        return params
    if text[0] != ";":
        raise SipParseError(f"Malformed {what}: unexpected {text[:20]!r}")
    i = 1
    n = len(text)
    while True:
        # one parameter: name [= value]
        j = i
        while j < n and text[j] not in ';="':
            j += 1
        name = text[i:j].strip()
        if not is_token(name):
            raise SipParseError(f"Malformed {what}: empty or invalid parameter")
        value: str | None = None
        if j < n and text[j] == "=":
            k = j + 1
            while k < n and text[k] in " \t":
                k += 1
            if k < n and text[k] == '"':
                _, end = _read_quoted(text, k)
                value = text[k:end]
                j = end
            else:
                end = k
                while end < n and text[end] != ";":
                    end += 1
                value = text[k:end].strip()
                if not value:
                    raise SipParseError(f"Malformed {what}: parameter {name} without a value")
                j = end
            while j < n and text[j] in " \t":
                j += 1
        elif j < n and text[j] == '"':
            raise SipParseError(f"Malformed {what}: stray quote")
        params[name.lower()] = value
        if j >= n:
            return params
        if text[j] != ";":
            raise SipParseError(f"Malformed {what}: unexpected {text[j:j + 20]!r}")
        i = j + 1


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class NameAddr:
    """From, To, Contact, Route values: optional display name, URI, header parameters."""

    uri: SipUri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        display = quote(self.display) + " " if self.display else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"

    @classmethod
    def parse(cls, text: str, what: str = "name-addr") -> NameAddr:
        text = text.strip()
        if not text:
            raise SipParseError(f"Empty {what}")
        display: str | None = None
        rest = text
        if text[0] == '"':
            try:
                display, end = _read_quoted(text, 0)
            except SipParseError:
                raise SipParseError(f"Unterminated quoted string in {what}") from None
            rest = text[end:].lstrip()
            if not rest.startswith("<"):
                raise SipParseError(f"Malformed {what}: display name not followed by <URI>")
        elif "<" in text:
            lt = text.index("<")
            words = text[:lt].split()
            if not all(is_token(w) for w in words):
                raise SipParseError(f"Malformed {what}: display name is not a token or quoted")
            display = " ".join(words) or None
            rest = text[lt:]
        if rest.startswith("<"):
            gt = rest.find(">")
            if gt < 0:
                raise SipParseError(f"Malformed {what}: missing '>'")
            uri_text = rest[1:gt]
            if uri_text != uri_text.strip() or not uri_text:
                raise SipParseError(f"Malformed {what}: whitespace inside <URI>")
            try:
                uri = SipUri.parse(uri_text)
            except SipParseError as exc:
                raise SipParseError(f"Malformed {what}: {exc.reason}") from None
            params = parse_params(rest[gt + 1 :], what)
            return cls(uri=uri, display=display, params=params)
        # addr-spec: header parameters follow the first ';'
        uri_text, semi, param_text = rest.partition(";")
        uri_text = uri_text.strip()
        if "?" in uri_text or "," in uri_text:
            raise SipParseError(f"Malformed {what}: URI with '?' or ',' must be in <>")
        try:
            uri = SipUri.parse(uri_text)
        except SipParseError as exc:
            raise SipParseError(f"Malformed {what}: {exc.reason}") from None
        params = parse_params(semi + param_text, what) if semi else {}
        return cls(uri=uri, params=params)


_VIA_RE = re.compile(
    r"^\s*SIP\s*/\s*([0-9.]+)\s*/\s*([A-Za-z0-9!%*_+`'~.-]+)\s+(\[[0-9A-Fa-f:.]+\]|[^\s:;]+)"
    r"(?:\s*:\s*(\d+))?\s*(;.*)?$",
    re.DOTALL,
)


@dataclass
class Via:
    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    version: str = "2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def rfc3261_branch(self) -> bool:
        """True when the branch carries the magic cookie plus an identifier."""
        b = self.branch
        return b is not None and b.startswith(BRANCH_MAGIC) and len(b) > len(BRANCH_MAGIC)

    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return (
            f"SIP/{self.version}/{self.transport} {format_host(self.host)}"
            f"{'' if self.port is None else ':' + str(self.port)}{format_params(self.params)}"
        )

    @classmethod
    def parse(cls, text: str) -> Via:
        m = _VIA_RE.match(text)
        if m is None:
            raise SipParseError("Malformed Via header")
        version, transport, host, port, params = m.groups()
        port_value = int(port) if port else None
        if port_value is not None and port_value > 65535:
            raise SipParseError("Malformed Via header: port out of range")
        parsed = parse_params(params or "", "Via header")
        return cls(
            transport=transport.upper(),
            host=host.strip("[]"),
            port=port_value,
            params=parsed,
            version=version,
        )


_CSEQ_RE = re.compile(r"^\s*(\d+)\s+(\S+)\s*$")


@dataclass
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"

    @classmethod
    def parse(cls, text: str) -> CSeq:
        m = _CSEQ_RE.match(text)
        if m is None or not is_token(m.group(2)):
            raise SipParseError("Malformed CSeq header")
        seq = int(m.group(1))
        if seq > MAX_UINT32:
            raise SipParseError("CSeq number out of range")
        return cls(seq, m.group(2))


def parse_uint(text: str, what: str, maximum: int = MAX_UINT32) -> int:
    text = text.strip()
    if not text.isdigit():
        raise SipParseError(f"Malformed {what} header")
    value = int(text)
    if value > maximum:
        raise SipParseError(f"{what} value out of range")
    return value
