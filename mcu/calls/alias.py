"""One way to tell whether two addresses name the same site, whatever the protocol.

Roster entries, callers and dial targets are written `sip:user@host[:port]`, `sips:...`,
`h323:alias@host`, `tel:+84...` or a bare `user@host`; `site_key` reduces each to what identifies
a site (user and host, lower-case, without parameters), so a caller is matched to its roster
entry the same way for SIP and H.323.
"""

from __future__ import annotations

from typing import NamedTuple

SCHEMES = ("sips:", "sip:", "h323:", "tel:")
H323_SCHEME = "h323:"
H323_PORT = 1720  # H.225.0 call signalling


class H323Target(NamedTuple):
    alias: str  # "" when the host alone is dialled
    host: str  # IPv6 literals without brackets
    port: int


class SiteKey(NamedTuple):
    user: str
    host: str  # IPv6 literals keep their brackets
    port: str  # "" when not given


def site_key(alias: str) -> SiteKey:
    """(user, host, port) of an alias, lower-case, without scheme, parameters or headers."""
    text = alias.strip().strip("<>").lower()
    for scheme in SCHEMES:
        if text.startswith(scheme):
            text = text[len(scheme):]
            break
    text = text.split(";", 1)[0].split("?", 1)[0]
    user, _, hostport = text.rpartition("@")
    if hostport.startswith("["):
        host, _, rest = hostport.partition("]")
        return SiteKey(user, host + "]", rest.removeprefix(":"))
    host, _, port = hostport.partition(":")
    return SiteKey(user, host, port)


def same_site(a: str, b: str) -> bool:
    """Two aliases name the same site: same user and host, and same port when both give one."""
    ka, kb = site_key(a), site_key(b)
    return bool(ka.host) and (ka.user, ka.host) == (kb.user, kb.host) and (
        not ka.port or not kb.port or ka.port == kb.port)


def h323_target(uri: str) -> H323Target:
    """The parts of a dial target `h323:alias@host[:port]` or `h323:host[:port]`; ValueError says
    what is wrong, in the words an operator can act on."""
    text = uri.strip()
    if not text.lower().startswith(H323_SCHEME):
        raise ValueError(f"{uri!r} is not an H.323 target; write h323:alias@host[:port]")
    alias, _, hostport = text[len(H323_SCHEME):].rpartition("@")
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    if not host or any(c.isspace() for c in text):
        raise ValueError(f"{uri!r} has no host; write h323:alias@host[:port]")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{uri!r}: the port must be a number from 1 to 65535")
    return H323Target(alias, host, int(port) if port else H323_PORT)
