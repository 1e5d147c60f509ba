"""SIP URIs (RFC 3261 section 19.1); other schemes are kept as opaque text."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcu.sip.errors import SipParseError

SIP_SCHEMES = ("sip", "sips")
DEFAULT_PORT = 5060
DEFAULT_TLS_PORT = 5061
_URI_FORBIDDEN = (" ", "\t", "\r", "\n", "<", ">")


@dataclass
class SipUri:
    """A sip:/sips: URI; for any other scheme only `scheme` and `opaque` are set."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str | None = None
    opaque: str | None = None

    @property
    def is_sip(self) -> bool:
        return self.scheme.lower() in SIP_SCHEMES

    @property
    def transport(self) -> str:
        """Transport named by the URI: `transport=` param, else tls for sips:, else udp."""
        value = self.params.get("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"

    def host_port(self) -> tuple[str, int]:
        """Address to send to (host without IPv6 brackets, port with scheme default)."""
        host = self.params.get("maddr") or self.host
        host = host.strip("[]")
        default = DEFAULT_TLS_PORT if self.transport == "tls" else DEFAULT_PORT
        return host, self.port if self.port is not None else default

    def __str__(self) -> str:
        if not self.is_sip:
            return f"{self.scheme}:{self.opaque or ''}"
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        for name, value in self.params.items():
            out.append(f";{name}" if value is None else f";{name}={value}")
        if self.headers is not None:
            out.append("?" + self.headers)
        return "".join(out)

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a URI; raise SipParseError naming the fault."""
        if not text:
            raise SipParseError("Empty URI")
        if any(ch in text for ch in _URI_FORBIDDEN):
            raise SipParseError(f"Illegal character in URI {text!r}")
        scheme, sep, rest = text.partition(":")
        if not sep or not scheme or not (scheme[0].isalpha()) or not all(
            ch.isalnum() or ch in "+-." for ch in scheme
        ):
            raise SipParseError(f"URI without a scheme: {text!r}")
        if scheme.lower() not in SIP_SCHEMES:
            return cls(scheme=scheme, opaque=rest)  # kept as written
        scheme = scheme.lower()
        uri = cls(scheme=scheme)
        at = rest.rfind("@")
        if at >= 0:
            userinfo, rest = rest[:at], rest[at + 1 :]
            user, colon, password = userinfo.partition(":")
            if not user:
                raise SipParseError(f"Empty user part in URI {text!r}")
            uri.user = user
            uri.password = password if colon else None
        rest, qmark, headers = rest.partition("?")
        if qmark:
            uri.headers = headers
        hostport, *params = rest.split(";")
        uri.host, uri.port = _parse_hostport(hostport, text)
        for param in params:
            name, eq, value = param.partition("=")
            if not name:
                raise SipParseError(f"Empty URI parameter in {text!r}")
            uri.params[name.lower()] = value if eq else None
        return uri


def _parse_hostport(hostport: str, text: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise SipParseError(f"Unterminated IPv6 reference in URI {text!r}")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
    else:
        host, colon, port_text = hostport.partition(":")
        rest = ":" + port_text if colon else ""
    if not host:
        raise SipParseError(f"URI without a host: {text!r}")
    if not rest:
        return host, None
    port_text = rest[1:]
    if not rest.startswith(":") or not port_text.isdigit() or int(port_text) > 65535:
        raise SipParseError(f"Bad port in URI {text!r}")
    return host, int(port_text)


def format_host(host: str) -> str:
    """Host for a Via or URI: IPv6 literals in brackets."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host
