"""Connection addresses of an offer or answer (``c=IN IP4 ...``): checked before anything uses them.

SDP allows a host name where an address goes (RFC 8866 5.7), and some terminals behind NAT
helpers send one. A socket must never see it: it would resolve while the loop waits, or refuse.
So every ``c=`` line is sorted here into an IP literal of the right family, a host name to resolve
(asynchronously, by the shell, with a timeout), or a fault to refuse with 488. Sans-I/O: the
resolver's answers come back in through `with_addresses`.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass

from mcu.sdp.session import Connection, SessionDescription

ADDRESS_TYPES = {"IP4": 4, "IP6": 6}
# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                        r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


@dataclass(frozen=True)
class AddressFault:
    """Why the SDP's addresses cannot be used; `reason` goes in the 488."""

    reason: str


@dataclass(frozen=True)
class AddressCheck:
    """The host names an SDP names (to resolve, by address family), or its first fault."""

    names: dict[str, int]  # host name -> IP version wanted (4 or 6)
    fault: AddressFault | None = None


def check_connection(connection: Connection) -> tuple[str, int] | AddressFault | None:
    """None for a usable IP literal (hold addresses included), (name, version) for a host name
    to resolve, or the fault."""
    if connection.nettype.upper() != "IN":
        return AddressFault(f"Unsupported Network Type {connection.nettype}")
    version = ADDRESS_TYPES.get(connection.addrtype.upper())
    if version is None:
        return AddressFault(f"Unsupported Address Type {connection.addrtype}")
    host = connection.host
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if version == 4 and re.fullmatch(r"[0-9.]+", host):
            return AddressFault("Invalid IPv4 Address")  # e.g. 999.1.1.1: not a name either
        if _HOST_NAME.match(host):
            return (host.rstrip(".").lower(), version)
        return AddressFault("Invalid Connection Address")
    if ip.version != version:
        return AddressFault(f"IPv{ip.version} Address In IN IP{version}")
    if ip.is_multicast:
        return AddressFault("Multicast Media Not Supported")
    if ip.version == 4 and ip == ipaddress.IPv4Address("255.255.255.255"):
        return AddressFault("Broadcast Media Address")
    return None


def check_addresses(sdp: SessionDescription, served_version: int | None = None) -> AddressCheck:
    """Every connection line of `sdp` (session level and per media) that an active stream uses;
    with `served_version`, an address type our media sockets do not speak is a fault too."""
    names: dict[str, int] = {}
    for connection in _connections(sdp):
        verdict = check_connection(connection)
        if verdict is None or not isinstance(verdict, AddressFault):
            version = ADDRESS_TYPES[connection.addrtype.upper()]
            if served_version is not None and version != served_version:
                verdict = AddressFault(f"IPv{version} Media Not Served Here (use IPv{served_version})")
        if isinstance(verdict, AddressFault):
            return AddressCheck(names, verdict)
        if verdict is not None:
            names[verdict[0]] = verdict[1]
    return AddressCheck(names)


def with_addresses(sdp: SessionDescription, resolved: dict[str, str]) -> SessionDescription:
    """A copy of `sdp` with each resolved host name replaced by its address; names that did not
    resolve stay (the transport ignores them and waits for the member's first packet)."""
    if not resolved:
        return sdp
    out = copy.deepcopy(sdp)
    for connection in _connections(out):
        literal = resolved.get(connection.host.rstrip(".").lower())
        if literal is not None:
            connection.address = literal
    return out


def _connections(sdp: SessionDescription) -> list[Connection]:
    lines = [sdp.connection] if sdp.connection is not None else []
    for m in sdp.media:
        if m.port:
            lines.extend(m.connections)
    return lines
