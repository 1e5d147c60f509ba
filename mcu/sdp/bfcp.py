"""SDP for content sharing: the BFCP m-line (RFC 8856) and the content video line (RFC 4796 and
RFC 4574), as pure functions used by the offer/answer in negotiate.py.

We are always the floor control server: ``a=floorctrl:s-only`` with the room's ``confid``, the
call's ``userid`` and ``a=floorid:<id> mstrm:<label>`` naming the content stream's ``a=label``.
Over TCP the connection roles follow RFC 4145: we answer ``passive`` to ``actpass`` or ``active``
(the peer connects to us; a port of 9 in its offer means exactly that) and ``active`` to
``passive`` (we connect to the port it offered).
"""

from __future__ import annotations

from dataclasses import dataclass

from .session import Attribute, MediaDescription

APPLICATION = "application"
UDP_BFCP = "UDP/BFCP"
TCP_BFCP = "TCP/BFCP"
TLS_BFCP = "TCP/TLS/BFCP"
BFCP_PROTOS = (UDP_BFCP, TCP_BFCP, TLS_BFCP)
SLIDES = "slides"
DISCARD_PORT = 9  # RFC 4145: "I will connect, do not expect me to listen"

REJECT_BFCP_OFF = "BFCP is not enabled ([bfcp] in mcu.toml)"
REJECT_BFCP_TRANSPORT = "no BFCP listener for this transport"
REJECT_BFCP_ROLE = "the offerer wants to be the floor control server (floorctrl s-only)"
REJECT_BFCP_DUPLICATE = "only one BFCP stream per call"


@dataclass(frozen=True)
class BfcpTerms:
    """What we put in a BFCP answer or offer: the room's conference id and floor, the call's user
    id and our listener ports (0: that transport is not served)."""

    conference_id: int
    user_id: int
    floor_id: int = 1
    udp_port: int = 0
    tcp_port: int = 0
    tls_port: int = 0

    def port_for(self, proto: str) -> int:
        return {UDP_BFCP: self.udp_port, TCP_BFCP: self.tcp_port, TLS_BFCP: self.tls_port}.get(proto.upper(), 0)


@dataclass(frozen=True)
class BfcpLine:
    """A negotiated BFCP stream: its transport, who connects, and the ids both sides use."""

    proto: str
    conference_id: int
    user_id: int
    floor_id: int
    setup: str | None  # our TCP role: "passive" (we listen) or "active" (we connect); None on UDP
    remote_floorctrl: str  # what the peer offered: c-only, c-s, s-only

    @property
    def udp(self) -> bool:
        return self.proto.upper() == UDP_BFCP

    @property
    def we_connect(self) -> bool:
        return self.setup == "active"


def is_bfcp(m: MediaDescription) -> bool:
    return m.media == APPLICATION and m.proto.upper() in BFCP_PROTOS


def is_content(m: MediaDescription) -> bool:
    return m.media == "video" and (m.first("content") or "") == SLIDES


def answer_setup(offered: str | None, remote_port: int) -> str:
    """Our TCP role (RFC 4145 section 4.1): passive unless the offerer insists on listening."""
    if (offered or "").strip().lower() == "passive" and remote_port not in (0, DISCARD_PORT):
        return "active"
    return "passive"


def floor_roles(m: MediaDescription) -> set[str]:
    value = m.first("floorctrl") or "c-s"  # RFC 8856 5.1: absent means c-s
    return {role.strip().lower() for role in value.split()}


def answer_bfcp(m: MediaDescription, terms: BfcpTerms, content_label: str | None
                ) -> tuple[MediaDescription, BfcpLine] | str:
    """Our answer to an offered BFCP line, or why it is rejected."""
    proto = m.proto.upper()
    port = terms.port_for(proto)
    if not port:
        return REJECT_BFCP_TRANSPORT
    roles = floor_roles(m)
    if not roles & {"c-only", "c-s"}:
        return REJECT_BFCP_ROLE
    setup = None if proto == UDP_BFCP else answer_setup(m.first("setup"), m.port)
    attrs = [Attribute("floorctrl", "s-only"), Attribute("confid", str(terms.conference_id)),
             Attribute("userid", str(terms.user_id))]
    floor = str(terms.floor_id) + (f" mstrm:{content_label}" if content_label else "")
    attrs.append(Attribute("floorid", floor))
    if setup is not None:
        attrs += [Attribute("setup", setup), Attribute("connection", "new")]
    local_port = DISCARD_PORT if setup == "active" else port
    answer = MediaDescription(APPLICATION, local_port, m.proto, ["*"], attributes=attrs)
    return answer, BfcpLine(m.proto, terms.conference_id, terms.user_id, terms.floor_id, setup,
                            " ".join(sorted(roles)))


def offer_bfcp(terms: BfcpTerms, content_label: str, proto: str = UDP_BFCP) -> MediaDescription:
    """Our offer of a BFCP line (dial-out, offerless INVITE): server-only, the peer connects."""
    attrs = [Attribute("floorctrl", "s-only"), Attribute("confid", str(terms.conference_id)),
             Attribute("userid", str(terms.user_id)), Attribute("floorid", f"{terms.floor_id} mstrm:{content_label}")]
    if proto != UDP_BFCP:
        attrs += [Attribute("setup", "passive"), Attribute("connection", "new")]
    return MediaDescription(APPLICATION, terms.port_for(proto), proto, ["*"], attributes=attrs)


def content_label(m: MediaDescription, index: int) -> str:
    """The label our answer gives a content line: the offer's (so that both SDPs agree), else one
    derived from its position."""
    label = (m.first("label") or "").strip()
    return label if label else str(index + 1)
