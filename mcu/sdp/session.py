"""Lossless SDP model (RFC 8866, formerly RFC 4566): parse and serialize.

The model keeps every line it understands in typed fields and every attribute (known
or not) verbatim and in order, so ``serialize(parse(x)) == x`` for canonical input
(CRLF line ends, RFC field order). Input may use LF or CRLF; output always uses CRLF.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

CRLF = "\r\n"
MAX_NUMBER_DIGITS = 32  # a 64-bit NTP sess-id has 20; Python refuses int() past 4300 digits
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
DEFAULT_DIRECTION = "sendrecv"


class SdpParseError(ValueError):
    """An SDP body could not be parsed; ``line`` is 1-based (0 when not tied to a line)."""

    def __init__(self, line: int, fault: str) -> None:
        self.line = line
        self.fault = fault
        where = f"line {line}: " if line else ""
        super().__init__(f"SDP parse error: {where}{fault}")


@dataclass
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>``."""

    username: str
    session_id: int
    version: int
    nettype: str
    addrtype: str
    address: str

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.version} "
                f"{self.nettype} {self.addrtype} {self.address}")


@dataclass
class Connection:
    """``c=<nettype> <addrtype> <address>`` (address may carry ``/ttl``)."""

    nettype: str
    addrtype: str
    address: str

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"

    @property
    def host(self) -> str:
        """The address without a multicast ``/ttl/count`` suffix."""
        return self.address.split("/", 1)[0]

    @property
    def is_hold_address(self) -> bool:
        """RFC 2543-style hold: ``c=IN IP4 0.0.0.0`` (or ``::`` for IPv6)."""
        return self.host in ("0.0.0.0", "::")


@dataclass
class Bandwidth:
    """``b=<bwtype>:<bandwidth>``; AS is kbit/s, TIAS is bit/s (RFC 3890)."""

    bwtype: str
    value: int

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.value}"


@dataclass
class Timing:
    """``t=<start> <stop>`` with its ``r=`` repeat lines kept verbatim."""

    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)


@dataclass
class Attribute:
    """``a=<name>`` or ``a=<name>:<value>``; unknown attributes are kept like known ones."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass
class RtpMap:
    """``a=rtpmap:<pt> <encoding>/<clock>[/<channels>]``."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1


class _AttributeList:
    """Helpers shared by session and media descriptions."""

    attributes: list[Attribute]

    def values(self, name: str) -> list[str]:
        """Values of every ``a=name:value`` line, in order (flag attributes give '')."""
        return [a.value or "" for a in self.attributes if a.name == name]

    def first(self, name: str) -> str | None:
        for a in self.attributes:
            if a.name == name:
                return a.value or ""
        return None

    def has(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    def direction_attribute(self) -> str | None:
        """The explicit direction attribute, or None when absent."""
        for a in self.attributes:
            if a.name in DIRECTIONS:
                return a.name
        return None


@dataclass
class MediaDescription(_AttributeList):
    """One ``m=`` section with its ``i c b k a`` lines."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    info: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    # Lines with a type letter RFC 8866 does not define, kept verbatim ("y=..." etc.).
    extra_lines: list[str] = field(default_factory=list)

    @property
    def payload_types(self) -> list[int]:
        """Formats as RTP payload types (non-numeric formats, e.g. BFCP's '*', skipped)."""
        return [int(f) for f in self.formats if is_number(f)]

    def rtpmaps(self) -> dict[int, RtpMap]:
        """Parsed ``a=rtpmap`` lines by payload type; malformed ones are ignored."""
        out: dict[int, RtpMap] = {}
        for value in self.values("rtpmap"):
            parsed = parse_rtpmap(value)
            if parsed is not None:
                out[parsed.payload_type] = parsed
        return out

    def fmtp(self, payload_type: int) -> str | None:
        prefix = f"{payload_type} "
        for value in self.values("fmtp"):
            if value.startswith(prefix):
                return value[len(prefix):].strip()
        return None

    def bandwidth(self, bwtype: str) -> int | None:
        for b in self.bandwidths:
            if b.bwtype.upper() == bwtype.upper():
                return b.value
        return None


@dataclass
class SessionDescription(_AttributeList):
    """A whole SDP body."""

    origin: Origin
    name: str = "-"
    version: int = 0
    info: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=lambda: [Timing()])
    zone: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    extra_lines: list[str] = field(default_factory=list)

    def bandwidth(self, bwtype: str) -> int | None:
        for b in self.bandwidths:
            if b.bwtype.upper() == bwtype.upper():
                return b.value
        return None

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """The media-level ``c=`` if any, else the session-level one."""
        return media.connections[0] if media.connections else self.connection

    def __str__(self) -> str:
        return serialize(self)


def is_number(text: str, max_digits: int = MAX_NUMBER_DIGITS) -> bool:
    """ASCII digits only, and not too many: ``str.isdigit`` also accepts '²' and other digits
    that ``int()`` refuses, and ``int()`` refuses more than 4300 digits."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def parse_rtpmap(value: str) -> RtpMap | None:
    """Parse the value of an ``a=rtpmap`` attribute; None when malformed."""
    pt_text, _, rest = value.partition(" ")
    parts = rest.strip().split("/")
    if not is_number(pt_text) or len(parts) < 2 or not is_number(parts[1]):
        return None
    channels = int(parts[2]) if len(parts) > 2 and is_number(parts[2]) else 1
    return RtpMap(int(pt_text), parts[0], int(parts[1]), channels)


def parse_fmtp_params(text: str | None) -> dict[str, str]:
    """``a=b;c=d`` into a dict (keys lower-cased). A bare token (``0-15``) maps to ''."""
    params: dict[str, str] = {}
    if not text:
        return params
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        k, sep, v = item.partition("=")
        params[k.strip().lower() if sep else k.strip()] = v.strip()
    return params


def format_fmtp_params(params: dict[str, str]) -> str:
    return ";".join(k if v == "" else f"{k}={v}" for k, v in params.items())


# --- parsing -------------------------------------------------------------------------


def _int(text: str, line: int, what: str) -> int:
    if not is_number(text):
        shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"
        raise SdpParseError(line, f"{what} {shown!r} is not a non-negative integer of at most "
                                  f"{MAX_NUMBER_DIGITS} ASCII digits")
    return int(text)


def _parse_connection(value: str, line: int) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpParseError(line, f"c= needs 3 fields (nettype addrtype address), got {value!r}")
    return Connection(*parts)


def _parse_bandwidth(value: str, line: int) -> Bandwidth:
    bwtype, sep, amount = value.partition(":")
    if not sep or not bwtype:
        raise SdpParseError(line, f"b= must be <type>:<value>, got {value!r}")
    return Bandwidth(bwtype, _int(amount.strip(), line, "bandwidth"))


def _parse_attribute(value: str) -> Attribute:
    name, sep, rest = value.partition(":")
    return Attribute(name, rest if sep else None)


def _parse_media(value: str, line: int) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise SdpParseError(line, f"m= needs <media> <port> <proto> <fmt>..., got {value!r}")
    media, port_text, proto, *formats = parts
    port_text, slash, count_text = port_text.partition("/")
    port = _int(port_text, line, "m= port")
    if port > 65535:
        raise SdpParseError(line, f"m= port {port} is above 65535")
    count = _int(count_text, line, "m= port count") if slash else None
    if not formats:
        raise SdpParseError(line, "m= line lists no formats")
    return MediaDescription(media, port, proto, formats, port_count=count)


def _parse_origin(value: str, line: int) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise SdpParseError(line, f"o= needs 6 fields, got {len(parts)}: {value!r}")
    user, sid, ver, nettype, addrtype, address = parts
    return Origin(user, _int(sid, line, "o= sess-id"), _int(ver, line, "o= sess-version"),
                  nettype, addrtype, address)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(text.split("\n"), start=1):
        yield number, raw.removesuffix("\r")


def parse(data: str | bytes) -> SessionDescription:
    """Parse an SDP body. Raises SdpParseError naming the line and the fault."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpParseError(0, f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not data.strip():
        raise SdpParseError(0, "empty SDP body")
    session: SessionDescription | None = None
    current: MediaDescription | None = None
    seen_v = False
    timing_open = False
    for number, text in _lines(data):
        if text == "":
            continue  # trailing newline or blank line: tolerated
        if len(text) < 2 or text[1] != "=" or not text[0].isalpha():
            raise SdpParseError(number, f"expected '<letter>=<value>', got {text[:40]!r}")
        kind, value = text[0], text[2:]
        if not seen_v:
            if kind != "v":
                raise SdpParseError(number, f"first line must be v=, got {kind}=")
            if value.strip() != "0":
                raise SdpParseError(number, f"unsupported SDP version {value!r}")
            seen_v = True
            continue
        if session is None:
            if kind != "o":
                raise SdpParseError(number, f"o= must follow v=, got {kind}=")
            session = SessionDescription(origin=_parse_origin(value, number), timings=[])
            continue
        if kind == "m":
            current = _parse_media(value, number)
            session.media.append(current)
            continue
        if current is not None:
            _media_line(current, kind, value, number)
        else:
            timing_open = _session_line(session, kind, value, number, timing_open)
    if session is None:
        raise SdpParseError(0, "truncated SDP: no o= line")
    return session


def _session_line(s: SessionDescription, kind: str, value: str, line: int,
                  timing_open: bool) -> bool:
    if kind == "v":
        raise SdpParseError(line, "duplicate v= line")
    if kind == "o":
        raise SdpParseError(line, "duplicate o= line")
    if kind == "s":
        s.name = value
    elif kind == "i":
        s.info = value
    elif kind == "u":
        s.uri = value
    elif kind == "e":
        s.emails.append(value)
    elif kind == "p":
        s.phones.append(value)
    elif kind == "c":
        s.connection = _parse_connection(value, line)
    elif kind == "b":
        s.bandwidths.append(_parse_bandwidth(value, line))
    elif kind == "t":
        parts = value.split()
        if len(parts) != 2:
            raise SdpParseError(line, f"t= needs <start> <stop>, got {value!r}")
        s.timings.append(Timing(_int(parts[0], line, "t= start"), _int(parts[1], line, "t= stop")))
        return True
    elif kind == "r":
        if not timing_open:
            raise SdpParseError(line, "r= without a preceding t=")
        s.timings[-1].repeats.append(value)
        return True
    elif kind == "z":
        s.zone = value
    elif kind == "k":
        s.key = value
    elif kind == "a":
        s.attributes.append(_parse_attribute(value))
    else:
        s.extra_lines.append(f"{kind}={value}")
    return False


def _media_line(m: MediaDescription, kind: str, value: str, line: int) -> None:
    if kind == "i":
        m.info = value
    elif kind == "c":
        m.connections.append(_parse_connection(value, line))
    elif kind == "b":
        m.bandwidths.append(_parse_bandwidth(value, line))
    elif kind == "k":
        m.key = value
    elif kind == "a":
        m.attributes.append(_parse_attribute(value))
    elif kind in "vostrzuep":
        raise SdpParseError(line, f"session-level line {kind}= inside media section {m.media}")
    else:
        m.extra_lines.append(f"{kind}={value}")


# --- serializing ---------------------------------------------------------------------


def _session_lines(s: SessionDescription) -> Iterable[str]:
    yield f"v={s.version}"
    yield f"o={s.origin}"
    yield f"s={s.name}"
    if s.info is not None:
        yield f"i={s.info}"
    if s.uri is not None:
        yield f"u={s.uri}"
    yield from (f"e={e}" for e in s.emails)
    yield from (f"p={p}" for p in s.phones)
    if s.connection is not None:
        yield f"c={s.connection}"
    yield from (f"b={b}" for b in s.bandwidths)
    for t in s.timings or [Timing()]:
        yield f"t={t.start} {t.stop}"
        yield from (f"r={r}" for r in t.repeats)
    if s.zone is not None:
        yield f"z={s.zone}"
    if s.key is not None:
        yield f"k={s.key}"
    yield from (f"a={a}" for a in s.attributes)
    yield from s.extra_lines
    for m in s.media:
        port = f"{m.port}/{m.port_count}" if m.port_count is not None else str(m.port)
        yield f"m={m.media} {port} {m.proto} {' '.join(m.formats)}"
        if m.info is not None:
            yield f"i={m.info}"
        yield from (f"c={c}" for c in m.connections)
        yield from (f"b={b}" for b in m.bandwidths)
        if m.key is not None:
            yield f"k={m.key}"
        yield from (f"a={a}" for a in m.attributes)
        yield from m.extra_lines


def serialize(session: SessionDescription) -> str:
    """SDP text with CRLF line ends, in RFC 8866 field order."""
    return "".join(line + CRLF for line in _session_lines(session))
