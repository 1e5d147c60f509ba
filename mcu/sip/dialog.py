"""Dialog state (RFC 3261 section 12): tags, CSeq, route set, remote target, flow."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcu.sip.headers import NameAddr
from mcu.sip.message import Headers, SipRequest, SipResponse
from mcu.sip.transport import Address, TransportInfo
from mcu.sip.uri import SipUri

EARLY = "early"
CONFIRMED = "confirmed"
TERMINATED = "terminated"


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str | None
    local_party: str  # From/To value of our side, without tag
    remote_party: str  # From/To value of the peer, without tag
    remote_target: SipUri
    transport: TransportInfo
    peer_addr: Address  # where the peer's requests came from (the flow, for TCP/TLS)
    route_set: list[str] = field(default_factory=list)
    local_seq: int = 0
    remote_seq: int | None = None
    state: str = EARLY

    @classmethod
    def for_uas(
        cls, request: SipRequest, local_tag: str, transport: TransportInfo, addr: Address
    ) -> Dialog:
        """Dialog of the UAS side from an incoming INVITE (12.1.1)."""
        contacts = request.contacts
        target = contacts[0].uri if contacts else request.from_.uri
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_.tag,
            local_party=_without_tag(request.headers.get("to") or ""),
            remote_party=_without_tag(request.headers.get("from") or ""),
            remote_target=target,
            transport=transport,
            peer_addr=addr,
            route_set=request.headers.get_list("record-route"),
            local_seq=0,
            remote_seq=request.cseq.seq,
        )

    @classmethod
    def for_uac(
        cls, request: SipRequest, response: SipResponse, transport: TransportInfo, addr: Address
    ) -> Dialog:
        """Dialog of the UAC side from our INVITE and its 2xx/1xx with a To tag (12.1.2)."""
        contacts = response.contacts
        target = contacts[0].uri if contacts else request.uri
        return cls(
            call_id=request.call_id,
            local_tag=request.from_.tag or "",
            remote_tag=response.to.tag,
            local_party=_without_tag(request.headers.get("from") or ""),
            remote_party=_without_tag(response.headers.get("to") or ""),
            remote_target=target,
            transport=transport,
            peer_addr=addr,
            route_set=list(reversed(response.headers.get_list("record-route"))),
            local_seq=request.cseq.seq,
            remote_seq=None,
        )

    def update_target(self, request_or_response: SipRequest | SipResponse) -> None:
        contacts = request_or_response.contacts
        if contacts:
            self.remote_target = contacts[0].uri

    def destination(self) -> Address:
        """Where in-dialog requests go: the same flow on TCP/TLS, else route set or target."""
        if self.transport.reliable:
            return self.peer_addr
        if self.route_set:
            return NameAddr.parse(self.route_set[0], "Route header").uri.host_port()
        return self.remote_target.host_port()

    def new_request(
        self, method: str, via: str, extra: list[tuple[str, str]] | None = None,
        body: bytes = b"", content_type: str | None = None, cseq: int | None = None,
    ) -> SipRequest:
        """Build an in-dialog request; CSeq increments except for ACK/CANCEL (given `cseq`)."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        uri = self.remote_target
        routes = list(self.route_set)
        if routes:
            first = NameAddr.parse(routes[0], "Route header")
            if "lr" not in first.uri.params:  # strict router (12.2.1.1)
                uri = first.uri
                routes = routes[1:] + [f"<{self.remote_target}>"]
        headers = Headers()
        headers.add("Via", via)
        headers.add("Max-Forwards", "70")
        for route in routes:
            headers.add("Route", route)
        headers.add("From", f"{self.local_party};tag={self.local_tag}")
        remote_tag = f";tag={self.remote_tag}" if self.remote_tag else ""
        headers.add("To", f"{self.remote_party}{remote_tag}")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        for name, value in extra or ():
            headers.add(name, value)
        if body:
            headers.add("Content-Type", content_type or "application/sdp")
        return SipRequest(method, uri, headers, body)


def _without_tag(value: str) -> str:
    """Header value of From/To with the tag parameter removed (kept verbatim otherwise)."""
    addr = NameAddr.parse(value)
    addr.params.pop("tag", None)
    return str(addr)
