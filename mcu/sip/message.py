"""SIP message model, parser and serialiser (RFC 3261 sections 7, 18.3, 20, 25)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mcu.sip.errors import (
    REFUSAL_TOO_LARGE,
    REFUSAL_TOO_MANY_HEADERS,
    STATUS_BAD_REQUEST,
    STATUS_TOO_LARGE,
    SipFramingError,
    SipLimitError,
    SipParseError,
    SipStreamLimitError,
)
from mcu.sip.headers import (
    MAX_UINT32,
    SINGLE_VALUED,
    CSeq,
    NameAddr,
    Via,
    header_key,
    is_token,
    parse_uint,
    split_commas,
)
from mcu.sip.uri import SipUri

SIP_VERSION = "SIP/2.0"
MAX_FORWARDS_LIMIT = 255
CRLF = "\r\n"
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"  # keeps any raw octet of a header through a round trip
_LINE_SPLIT = re.compile(r"\r?\n")
_VERSION_RE = re.compile(r"^SIP/\d+\.\d+$")
_STATUS_RE = re.compile(r"^SIP/(\d+\.\d+) (\d{3}) (.*)$", re.DOTALL)
# Defaults of [limits] sip_message_bytes and sip_headers in the config
DEFAULT_MAX_MESSAGE_BYTES = 65535
DEFAULT_MAX_HEADERS = 100
TOO_LARGE = "Request Entity Too Large"
TOO_MANY_HEADERS = "Too Many Headers"

REASON_PHRASES = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
    413: "Request Entity Too Large", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    422: "Session Interval Too Small", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    491: "Request Pending", 500: "Server Internal Error", 501: "Not Implemented",
    503: "Service Unavailable", 505: "Version Not Supported", 600: "Busy Everywhere",
    603: "Decline",
}


class Headers:
    """Ordered, repeatable header fields; names and values kept as received."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str, str]] = []
        for name, value in items or ():
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((header_key(name), name, value))

    def get(self, name: str) -> str | None:
        key = header_key(name)
        for k, _, value in self._items:
            if k == key:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        key = header_key(name)
        return [value for k, _, value in self._items if k == key]

    def get_list(self, name: str) -> list[str]:
        """Values of a list header, comma-split across all its lines, empty items dropped."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(v for v in split_commas(value) if v)
        return out

    def set(self, name: str, value: str) -> None:
        key = header_key(name)
        for i, (k, _, _) in enumerate(self._items):
            if k == key:
                self._items[i] = (key, name, value)
                self._items = [it for j, it in enumerate(self._items) if j <= i or it[0] != key]
                return
        self._items.append((key, name, value))

    def remove(self, name: str) -> None:
        key = header_key(name)
        self._items = [it for it in self._items if it[0] != key]

    def insert_first(self, name: str, value: str) -> None:
        self._items.insert(0, (header_key(name), name, value))

    def count(self, name: str) -> int:
        key = header_key(name)
        return sum(1 for k, _, _ in self._items if k == key)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((name, value) for _, name, value in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        new = Headers()
        new._items = list(self._items)
        return new


class SipMessage:
    """Common part of requests and responses."""

    def __init__(self, headers: Headers | None = None, body: bytes = b"") -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body

    # -- structured views (parsed on demand) --
    @property
    def call_id(self) -> str:
        return (self.headers.get("call-id") or "").strip()

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(self.headers.get("cseq") or "")

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.headers.get_list("via")]

    @property
    def top_via(self) -> Via:
        first = self.headers.get_list("via")
        if not first:
            raise SipParseError("Missing Via header")
        return Via.parse(first[0])

    @property
    def from_(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("from") or "", "From header")

    @property
    def to(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("to") or "", "To header")

    @property
    def contacts(self) -> list[NameAddr]:
        return [
            NameAddr.parse(v, "Contact header")
            for v in self.headers.get_list("contact")
            if v != "*"
        ]

    @property
    def content_type(self) -> str | None:
        """Media type in lower case without parameters, or None."""
        value = self.headers.get("content-type")
        if not value:
            return None
        return value.split(";", 1)[0].strip().lower()

    def option_tags(self, name: str) -> list[str]:
        return [v.lower() for v in self.headers.get_list(name)]

    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Serialise; Content-Length is always (re)written to the body's length."""
        lines = [self.start_line()]
        for name, value in self.headers:
            if header_key(name) != "content-length":
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        head = (CRLF.join(lines) + CRLF + CRLF).encode(_ENCODING, _ERRORS)
        return head + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


class SipRequest(SipMessage):
    def __init__(
        self,
        method: str,
        uri: SipUri,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        super().__init__(headers, body)
        self.method = method
        self.uri = uri
        self.version = version

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def __repr__(self) -> str:
        return f"SipRequest({self.method} {self.uri}, call_id={self.call_id!r})"


class SipResponse(SipMessage):
    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = reason if reason is not None else REASON_PHRASES.get(status, "Unknown")
        self.version = version

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"SipResponse({self.status} {self.reason}, call_id={self.call_id!r})"


def _split_head_body(data: bytes) -> tuple[bytes, bytes]:
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return data[:end], data[end + 4 :]
    end = data.find(b"\n\n")
    if end >= 0:
        return data[:end], data[end + 2 :]
    return data.rstrip(b"\r\n"), b""


def _parse_header_lines(lines: list[str]) -> Headers:
    items: list[list[str]] = []
    for line in lines:
        if not line:
            continue
        if line[0] in " \t":
            if not items:
                raise SipParseError("Folded line before the first header")
            items[-1][1] = (items[-1][1] + " " + line.strip()).strip()
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not is_token(name):
            raise SipParseError(f"Malformed header line {line[:40]!r}")
        items.append([name, value.strip()])
    headers = Headers()
    for name, value in items:
        headers.add(name, value)
    return headers


def parse_message(data: bytes, stream: bool = False,
                  max_headers: int | None = None) -> SipRequest | SipResponse:
    """Parse one message. On a malformed request, SipParseError.message is the partial request.

    `stream` means the message was framed by Content-Length already (TCP/TLS): a body longer
    than Content-Length cannot happen and a missing Content-Length means an empty body.
    More than `max_headers` header fields (folded lines count once) raise SipLimitError
    (400 Too Many Headers), with the partial request to answer.
    """
    data = data.lstrip(b"\r\n")
    if not data:
        raise SipParseError("Empty message")
    head, rest = _split_head_body(data)
    text = head.decode(_ENCODING, _ERRORS)
    lines = _LINE_SPLIT.split(text)
    start = lines[0]
    is_response = start.startswith("SIP/")
    try:
        headers = _parse_header_lines(lines[1:])
    except SipParseError as exc:
        if is_response:
            raise
        raise SipParseError(exc.reason, 400, _partial(start, Headers(), b"")) from None
    if max_headers is not None and len(headers) > max_headers:
        raise SipLimitError(TOO_MANY_HEADERS, STATUS_BAD_REQUEST,
                            None if is_response else _partial(start, headers, b""),
                            REFUSAL_TOO_MANY_HEADERS)
    if is_response:
        response = _parse_status_line(start, headers)
        response.body = _frame_body(headers, rest, stream, None)
        _validate_common(response)
        return response
    partial = _partial(start, headers, b"")
    partial.body = _frame_body(headers, rest, stream, partial)
    request = _parse_request_line(start, headers, partial)
    request.body = partial.body
    _validate_request(request)
    return request


def request_head(data: bytes, max_bytes: int) -> SipRequest | None:
    """The start line and the complete header lines within the first `max_bytes` of a message
    too large to parse, as a partial request to answer 413 to (None: a response, or no head).

    Never parses more than `max_bytes`: a header line cut at the limit is left out.
    """
    data = bytes(data[:max_bytes + 2]).lstrip(b"\r\n")[:max_bytes]
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        data = data[:end]
    else:
        data = data[: data.rfind(b"\n") + 1].rstrip(b"\r\n")
    lines = _LINE_SPLIT.split(data.decode(_ENCODING, _ERRORS))
    if not lines[0] or lines[0].startswith("SIP/"):
        return None
    try:
        headers = _parse_header_lines(lines[1:])
    except SipParseError:
        return None
    return _partial(lines[0], headers, b"")


def _partial(start: str, headers: Headers, body: bytes) -> SipRequest:
    method = start.split(" ", 1)[0]
    if not is_token(method):
        method = "UNKNOWN"
    return SipRequest(method, SipUri(scheme="invalid", opaque=""), headers, body)


def _parse_status_line(start: str, headers: Headers) -> SipResponse:
    m = _STATUS_RE.match(start)
    if m is None:
        raise SipParseError("Malformed Status-Line")
    status = int(m.group(2))
    if not 100 <= status <= 699:
        raise SipParseError("Status code out of range")
    return SipResponse(status, m.group(3), headers, version=f"SIP/{m.group(1)}")


def _parse_request_line(start: str, headers: Headers, partial: SipRequest) -> SipRequest:
    parts = start.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError("Malformed Request-Line", 400, partial)
    method, uri_text, version = parts
    if not is_token(method):
        raise SipParseError("Malformed method in Request-Line", 400, partial)
    if version != SIP_VERSION:
        if _VERSION_RE.match(version):
            raise SipParseError("Version Not Supported", 505, partial)
        raise SipParseError("Malformed SIP-Version in Request-Line", 400, partial)
    if uri_text.startswith("<"):
        raise SipParseError("Request-URI enclosed in angle brackets", 400, partial)
    try:
        uri = SipUri.parse(uri_text)
    except SipParseError as exc:
        raise SipParseError(f"Malformed Request-URI: {exc.reason}", 400, partial) from None
    if uri.headers is not None:
        raise SipParseError("Request-URI carries escaped headers", 400, partial)
    return SipRequest(method, uri, headers, version=version)


def content_length_of(headers: Headers) -> int | None:
    values = {v.strip() for v in headers.get_all("content-length")}
    if not values:
        return None
    if len(values) > 1:
        raise SipParseError("Conflicting Content-Length headers")
    value = values.pop()
    if not value.isdigit():
        raise SipParseError("Malformed Content-Length header")
    return int(value)


def _frame_body(headers: Headers, rest: bytes, stream: bool, partial: SipRequest | None) -> bytes:
    try:
        length = content_length_of(headers)
    except SipParseError as exc:
        raise SipParseError(exc.reason, 400, partial) from None
    if length is None:
        return b"" if stream else rest
    if length > len(rest):
        raise SipParseError("Content-Length larger than message body", 400, partial)
    return rest[:length]  # octets after the body (dblreq) are ignored


def _validate_common(message: SipMessage) -> None:
    headers = message.headers
    for name, label in (
        ("via", "Via"), ("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq"),
    ):
        if not headers.get(name):
            raise SipParseError(f"Missing {label} header")
    seen: set[str] = set()
    for name, _ in headers:
        key = header_key(name)
        if key in SINGLE_VALUED:
            if key in seen:
                raise SipParseError(f"Multiple {name} headers")
            seen.add(key)
    message.vias  # noqa: B018 - parse to validate
    message.from_  # noqa: B018
    message.to  # noqa: B018
    message.cseq  # noqa: B018


def _validate_request(request: SipRequest) -> None:
    headers = request.headers
    try:
        _validate_common(request)
        if request.cseq.method != request.method:
            raise SipParseError("CSeq method does not match Request-Line method")
        max_forwards = headers.get("max-forwards")
        if max_forwards is not None:
            parse_uint(max_forwards, "Max-Forwards", MAX_FORWARDS_LIMIT)
        expires = headers.get("expires")
        if expires is not None:
            parse_uint(expires, "Expires")
        for contact in request.contacts:
            value = contact.params.get("expires")
            if value is not None:
                parse_uint(value, "Contact expires")
        date = headers.get("date")
        if date is not None and not date.rstrip().endswith("GMT"):
            raise SipParseError("Date header not in GMT")
    except SipParseError as exc:
        raise SipParseError(exc.reason, 400, request) from None


class StreamFramer:
    """Splits a TCP/TLS byte stream into messages using Content-Length.

    A message may take at most `max_message_bytes` (head and body): a longer header section,
    or a Content-Length that would make the message longer, raises SipStreamLimitError at once,
    so a connection never holds more than that plus one read.
    """

    _CL_RE = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self.max_message_bytes = max_message_bytes

    def feed(self, data: bytes) -> list[bytes]:
        """Return the complete messages now buffered; SipFramingError if the stream is lost."""
        self._buffer += data
        messages: list[bytes] = []
        buf = self._buffer
        limit = self.max_message_bytes
        while True:
            skip = 0
            while skip < len(buf) and buf[skip] in (13, 10):
                skip += 1  # CRLF keep-alives between messages
            if skip:
                del buf[:skip]
            end = buf.find(b"\r\n\r\n", 0, limit + 4)
            if end < 0 or end + 4 > limit:
                if len(buf) > limit:
                    raise SipStreamLimitError(TOO_LARGE, STATUS_TOO_LARGE, bytes(buf[:limit]),
                                              REFUSAL_TOO_LARGE)
                return messages
            head = bytes(buf[: end + 2])
            values = {v for v in self._CL_RE.findall(head)}
            if len(values) > 1:
                raise SipFramingError("Conflicting Content-Length headers", 400, head)
            length = 0
            if values:
                value = values.pop()
                if not value.isdigit():
                    raise SipFramingError("Malformed Content-Length header", 400, head)
                length = int(value)
            total = end + 4 + length
            if total > limit:
                raise SipStreamLimitError(TOO_LARGE, STATUS_TOO_LARGE, head, REFUSAL_TOO_LARGE)
            if len(buf) < total:
                return messages
            messages.append(bytes(buf[:total]))
            del buf[:total]

    @property
    def buffered(self) -> int:
        return len(self._buffer)


__all__ = [
    "MAX_UINT32",
    "REASON_PHRASES",
    "Headers",
    "SipMessage",
    "SipRequest",
    "SipResponse",
    "StreamFramer",
    "parse_message",
    "request_head",
]
