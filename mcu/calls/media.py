"""The RTP side of every call ("leg"): its sockets, latching, SRTP, RTCP routing and sending.

Whatever signalling set a call up (SIP today, H.323 next), its media ends here: the adapter
opens the leg's transports, hands over what was negotiated (`apply`), and the room ticks send
through `send`. One member's socket trouble is counted and charged to that member (faults);
nothing here raises into a room's tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mcu.io.rtp_transport import PortAllocator, RtpTransport, SharedPorts, TickReads
from mcu.log import event
from mcu.rtp.packet import RtpPacket
from mcu.rtp.rtcp import Fir, Pli, RtcpPacket, serialize_compound

if TYPE_CHECKING:
    from mcu.conference.engine import Conference
    from mcu.conference.member import Member
    from mcu.config import RtpSection
    from mcu.sdp.negotiate import NegotiationResult
    from mcu.sdp.profiles import EndpointProfile

log = logging.getLogger("mcu.calls")
HOLD_ADDRESSES = ("0.0.0.0", "::")
CONTENT = "content"  # a leg's transport for its content (a=content:slides) video line


class ContentSink(Protocol):
    """Where a leg's content stream goes (mcu.calls.content.ContentManager)."""

    def receive_rtp(self, leg: Leg, packet: RtpPacket, now: float) -> None: ...
    def receive_rtcp(self, leg: Leg, packets: list[RtcpPacket], now: float) -> None: ...


@dataclass
class Leg:
    """One call's media: its sockets by media kind, what was negotiated, its member."""

    call_id: str = ""  # known once the call is placed (dial-out) or received
    transports: dict[str, RtpTransport] = field(default_factory=dict)  # by media kind
    negotiation: NegotiationResult | None = None
    member: Member | None = None
    dialled: Any = None  # the adapter's record of a call the MCU placed (None: an incoming call)
    profile: EndpointProfile | None = None  # the interop profile its offers and answers follow
    send_errors: int = 0  # the transports' send errors seen at the last housekeeping
    protocol: str = "sip"  # the signalling adapter that owns the call
    on_keyframe_request: Callable[[], None] | None = None  # asks in signalling too (H.245)
    on_content_keyframe_request: Callable[[], None] | None = None  # the same for its content (H.239)


class MediaPlane:
    """Every leg's RTP, by call id. `on_timeout(call_id)` is told once when a leg's media stops."""

    def __init__(self, rtp: RtpSection, conference: Conference, clock: Callable[[], float],
                 on_timeout: Callable[[str], None]) -> None:
        self.rtp = rtp
        self.conference = conference
        self.clock = clock
        self.on_timeout = on_timeout
        self.ports = PortAllocator(rtp.port_min, rtp.port_max)
        self.tick_reads = TickReads()  # per-call sockets read by the audio tick (see TickReads)
        self.shared: SharedPorts | None = None  # [rtp] shared_port: one port for every call
        self.legs: dict[str, Leg] = {}
        self.unmatched_reported = 0
        self.content: ContentSink | None = None

    def start(self) -> None:
        """Bind the shared port if one is configured; if it is taken, calls get a port pair each."""
        if not self.rtp.shared_port:
            return
        try:
            self.shared = SharedPorts.open(self.rtp.host, self.rtp.shared_port)
        except OSError as exc:
            event(log, "rtp.shared_port_unavailable", logging.ERROR, port=self.rtp.shared_port, error=str(exc),
                  hint="another process holds it; calls get their own ports from the range meanwhile")
            return
        event(log, "rtp.shared_port", host=self.rtp.host, port=self.shared.rtp.port,
              rtcp_port=self.shared.rtcp.port)

    def stop(self) -> None:
        if self.shared is not None:
            self.shared.close()
            self.shared = None

    def take_unmatched(self) -> int:
        """Datagrams on the shared port that no call expected, since the last call."""
        total = self.shared.unmatched if self.shared is not None else 0
        new, self.unmatched_reported = total - self.unmatched_reported, total
        return new

    async def open_rtp(self, leg: Leg, kind: str, rtcp_mux: bool) -> RtpTransport:
        """A media socket of one leg; its packets go straight to the leg's member (its audio
        codec's packets, once latched, from the socket to the member's C receiver)."""
        def on_rtp(packet: RtpPacket, addr: tuple[str, int], now: float) -> None:
            member = leg.member
            if member is None:
                return
            if kind == CONTENT:
                if self.content is not None:
                    self.content.receive_rtp(leg, packet, now)
            elif kind == "audio":
                member.receive_audio(packet, now)
                transport = leg.transports.get("audio")
                if transport is not None:
                    transport.offload(member.audio_inbound)
            else:
                member.receive_video(packet, now)

        def on_rtcp(packets: list[RtcpPacket], addr: tuple[str, int], now: float) -> None:
            member = leg.member
            if member is None:
                return
            if kind == CONTENT:
                if self.content is not None:
                    self.content.receive_rtcp(leg, packets, now)
                return
            for reason in member.receive_rtcp(kind, packets, now):
                if kind == "video":
                    self.conference.rooms[member.room].keyframe_requested(member.member_id, reason, now)
            retransmits, transport = member.take_retransmits(), leg.transports.get(kind)
            for packet in retransmits if transport is not None else ():
                transport.send_rtp(packet)

        def on_timeout(transport: RtpTransport) -> None:
            event(log, "call.media_timeout", logging.WARNING, call_id=leg.call_id, kind=kind,
                  seconds=self.rtp.inactivity_timeout)
            self.on_timeout(leg.call_id)

        def on_error(what: str, exc: BaseException) -> None:  # the member's packet made us fail
            member = leg.member
            self.conference.faults.record(leg.call_id, f"{kind} {what}", self.clock(), exc,
                                          room=member.room if member else None,
                                          member=member.member_id if member else None)

        if self.shared is not None:
            return RtpTransport.on_shared_port(self.shared, on_rtp, on_rtcp, on_timeout, rtcp_mux=rtcp_mux,
                                               inactivity_timeout=self.rtp.inactivity_timeout,
                                               clock=self.clock, on_error=on_error)
        return await RtpTransport.open(self.ports, on_rtp, on_rtcp, on_timeout, host=self.rtp.host,
                                       rtcp_mux=rtcp_mux, inactivity_timeout=self.rtp.inactivity_timeout,
                                       clock=self.clock, on_error=on_error, tick_reads=self.tick_reads)

    def apply(self, leg: Leg, result: NegotiationResult, close_missing: bool = True) -> None:
        """Point each kept socket at the negotiated address until latching sees the real source;
        when a re-offer moves the endpoint (its address or port changed), latch again.
        `close_missing`: a kind the result lacks is closed (SDP answers every line at once; H.245
        opens its channels one by one, so its adapter keeps the others' sockets waiting)."""
        before = leg.negotiation
        leg.negotiation = result
        for kind, transport in list(leg.transports.items()):
            line = result.content_line() if kind == CONTENT else result.first(kind)
            if line is None and not close_missing:
                continue
            if line is None or not line.accepted:
                transport.close()
                del leg.transports[kind]
                continue
            remote = (line.remote_address, line.remote_port)
            if not line.remote_port or line.remote_address in HOLD_ADDRESSES:
                pass  # on hold (RFC 2543 style): keep what we had
            else:
                old = (before.content_line() if kind == CONTENT else before.first(kind)) if before is not None else None
                moved = old is not None and (old.remote_address, old.remote_port) != remote
                if moved or not transport.latched_rtp:
                    rtcp_port = line.remote_port if line.rtcp_mux else (line.remote_rtcp_port or line.remote_port + 1)
                    transport.relatch(remote, (line.remote_address, rtcp_port))  # type: ignore[arg-type]
            transport.set_srtp(line.srtp)  # SDES keys of an RTP/SAVP line (a re-offer may rekey)
            # On hold the far end may send nothing: do not time it out for that.
            transport.set_inactivity_timeout(None if line.on_hold else self.rtp.inactivity_timeout)

    def close(self, leg: Leg) -> None:
        for transport in leg.transports.values():
            transport.close()
        leg.transports.clear()

    def send(self, member: Member, kind: str, packet: bytes) -> None:
        leg = self.legs.get(member.call_id)
        transport = leg.transports.get(kind) if leg else None
        if transport is not None:
            transport.send_rtp(packet)

    def send_many(self, member: Member, kind: str, packets: list[bytes]) -> None:
        """Several packets of one member (a video frame) in one system call."""
        leg = self.legs.get(member.call_id)
        transport = leg.transports.get(kind) if leg else None
        if transport is not None:
            transport.send_rtp_many(packets)

    def housekeeping(self, leg: Leg, now: float, publish: bool) -> None:
        """One member's periodic work: sender reports, video feedback, and its send errors
        charged to it (a socket that keeps failing is that member's fault, nobody else's)."""
        member = leg.member
        if member is None:
            return
        if publish:
            for kind, report in member.sender_reports(now).items():
                transport = leg.transports.get(kind)
                if transport is not None:
                    transport.send_rtcp(report)
            errors = sum(sum(t.counters.send_errors.values()) for t in leg.transports.values())
            if errors > leg.send_errors:
                leg.send_errors = errors
                names = sorted({name for t in leg.transports.values() for name in t.counters.send_errors})
                self.conference.faults.record(leg.call_id, f"send {','.join(names)}", now,
                                              room=member.room, member=member.member_id)
        transport = leg.transports.get("video")
        if member.video_in is not None and transport is not None:
            member.video_in.handle_timer(now)
            if member.video_in.feedback:
                if leg.on_keyframe_request is not None and any(
                        isinstance(f, (Pli, Fir)) for f in member.video_in.feedback):
                    leg.on_keyframe_request()
                transport.send_rtcp(serialize_compound(member.video_in.feedback))
                member.video_in.feedback.clear()
