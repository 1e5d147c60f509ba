"""Names of the transports a user agent listens on, as the sans-I/O core sees them."""

from __future__ import annotations

from dataclasses import dataclass

from mcu.sip.uri import format_host

UDP = "udp"
TCP = "tcp"
TLS = "tls"
PROTOCOLS = (UDP, TCP, TLS)

Address = tuple[str, int]


@dataclass(frozen=True)
class TransportInfo:
    """One listening transport: protocol and the host/port advertised in Via and Contact."""

    proto: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if self.proto not in PROTOCOLS:
            raise ValueError(f"unknown SIP transport {self.proto!r}: use one of {PROTOCOLS}")

    @property
    def reliable(self) -> bool:
        return self.proto != UDP

    @property
    def via_name(self) -> str:
        return self.proto.upper()

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    def sent_by(self) -> str:
        return f"{format_host(self.host)}:{self.port}"

    def contact_uri(self, user: str | None) -> str:
        scheme = "sips" if self.proto == TLS else "sip"
        userpart = f"{user}@" if user else ""
        param = "" if self.proto == UDP else f";transport={self.proto}"
        return f"{scheme}:{userpart}{self.sent_by()}{param}"
