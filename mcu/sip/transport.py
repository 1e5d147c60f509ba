"""Names of the transports a user agent listens on, as the sans-I/O core sees them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from mcu.sip.uri import format_host

UDP = "udp"
TCP = "tcp"
TLS = "tls"
PROTOCOLS = (UDP, TCP, TLS)

Address = tuple[str, int]
DEFAULT_TCP_CONNECTIONS_PER_ADDRESS = 16  # [limits] tcp_connections_per_address


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


class ConnectionLimit:
    """Open inbound TCP/TLS connections per source address (TCP and TLS together).

    `admit(host)` when a peer connects: False when `per_address` are already open from that
    host (the shell then closes the new one at once); `release(host)` when an admitted one ends.
    """

    def __init__(self, per_address: int = DEFAULT_TCP_CONNECTIONS_PER_ADDRESS) -> None:
        if per_address < 1:
            raise ValueError(f"per_address must be at least 1, not {per_address}")
        self.per_address = per_address
        self._open: Counter[str] = Counter()

    def admit(self, host: str) -> bool:
        if self._open[host] >= self.per_address:
            return False
        self._open[host] += 1
        return True

    def release(self, host: str) -> None:
        left = self._open[host] - 1
        if left > 0:
            self._open[host] = left
        else:
            del self._open[host]

    def open_from(self, host: str) -> int:
        return self._open.get(host, 0)

    @property
    def addresses(self) -> int:
        return len(self._open)
