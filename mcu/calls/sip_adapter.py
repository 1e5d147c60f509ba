"""SIP as one way in: the user agent's events become legs of the protocol-neutral call layer.

Everything SIP and SDP stays here: INVITE with and without offer, re-INVITE and UPDATE, dial-out,
INFO DTMF, registrations, the SDP limits and the resolution of host names in SDP. What is
decided for every protocol alike (abuse limits, room admission, the capacity model, joining the
conference, the media plane) is asked of the `CallHost` (the server).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from mcu.admission import candidate_for
from mcu.calls.control import DialError
from mcu.calls.media import CONTENT, Leg, MediaPlane
from mcu.calls.refusal import Refusal, Rejection
from mcu.calls.streams import Streams
from mcu.conference.pin import parse_dtmf_info
from mcu.conference.video import VideoCap
from mcu.io.rtp_transport import PortRangeExhaustedError
from mcu.io.sip_transport import SipTransportShell, start_sip
from mcu.log import event
from mcu.sdp.address import check_addresses, with_addresses
from mcu.sdp.bfcp import is_content
from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import (
    NegotiationError,
    NegotiationResult,
    create_offer,
    negotiate,
    process_answer,
)
from mcu.sdp.session import SdpParseError, SessionDescription, parse, serialize
from mcu.sip import events as ev
from mcu.sip.errors import SipError
from mcu.sip.ua import UaConfig, UserAgent
from mcu.sip.uri import SipUri

if TYPE_CHECKING:
    from mcu.admission import Candidate
    from mcu.calls.content import ContentManager
    from mcu.cluster.node import Placement
    from mcu.conference.engine import Conference, Hangup
    from mcu.config import Config
    from mcu.metrics import AnyMetrics
    from mcu.sdp.profiles import Profiles

log = logging.getLogger("mcu.server")

MEDIA_KINDS = ("audio", "video")
RESOLVE_TIMEOUT = 2.0  # s to resolve a host name in SDP; past it the stream waits for latching
SDP = "application/sdp"


class CallHost(Protocol):
    """What a signalling adapter needs of the server: the neutral call layer."""

    config: Config
    conference: Conference
    media_plane: MediaPlane
    content: ContentManager
    profiles: Profiles
    calls: dict[str, Leg]
    metrics: AnyMetrics

    def now(self) -> float: ...
    def spawn(self, coro: Awaitable[None], on_failure: Callable[[], None]) -> None: ...
    def screen(self, call_id: str, room: str, source: str, remote: str) -> Rejection | None: ...
    def admit(self, call_id: str, room: str, remote: str, candidate: Candidate) -> Rejection | VideoCap | None: ...
    def confirmed(self, call_id: str) -> None: ...
    def answered(self, call_id: str) -> None: ...
    def end_call(self, call_id: str, reason: str) -> None: ...
    def hangup(self, call_id: str, reason: str) -> bool: ...
    def apply(self, hangups: list[Hangup]) -> None: ...
    def requires_encryption(self, room_number: str | None) -> bool: ...
    def advertised_address(self, peer_host: str) -> str: ...
    def count_refusal(self, reason: str) -> None: ...
    async def place(self, room: str, owner_failed: str = "") -> Placement | None: ...


@dataclass(frozen=True)
class DialOut:
    """A call the MCU placed into a room (operator action or roster dial)."""

    room: str
    uri: str
    display_name: str
    offer: SessionDescription
    user_agent: str = ""
    inbound: bool = False  # an incoming INVITE without offer: we offered in the 200
    cascade: bool = False  # a cascade link up to the room's main node (our Contact has isfocus)


class SipCalls:
    """The SIP user agent and its transports, producing and ending legs."""

    def __init__(self, host: CallHost, config: Config, user_agent: str) -> None:
        self.host = host
        limits = config.mcu.limits
        self.ua = UserAgent(UaConfig(user_agent=user_agent, session_expires=config.mcu.sip.session_expires,
                                     max_message_bytes=limits.sip_message_bytes, max_headers=limits.sip_headers))
        self.capabilities = Capabilities(content_fps=config.mcu.bfcp.content_fps)
        self.shell: SipTransportShell | None = None
        self.registrations: dict[str, str] = {}  # registration id -> AOR
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, config: Config) -> SipTransportShell:
        self._loop = asyncio.get_running_loop()
        self.ua.clock = self._loop.time
        sip = config.mcu.sip
        listen = [(x.transport, x.host, x.port) for x in sip.listen]
        self.shell = await start_sip(self.ua, listen, sip.tls_cert or None, sip.tls_key or None,
                                     on_event=self.on_event, advertise_host=sip.advertise or None,
                                     tcp_connections_per_address=config.mcu.limits.tcp_connections_per_address)
        for x in sip.listen:
            info = self.shell.transport_info(x.transport)
            event(log, "sip.listening", transport=x.transport, addr=f"{info.host}:{info.port}")
        self._register_rooms(config)
        return self.shell

    async def close(self) -> None:
        if self.shell is not None:
            self.shell.transmit()
            await asyncio.sleep(0.05)  # let the BYEs leave
            await self.shell.close()

    def transmit(self) -> None:
        if self.shell is not None:
            self.shell.transmit()

    def hangup(self, call_id: str) -> None:
        """BYE an established call; decline an unanswered incoming one; cancel a dial-out."""
        with contextlib.suppress(SipError):
            self.ua.hangup(call_id)

    # ------------------------------------------------------------------ events

    def on_event(self, e: ev.Event) -> None:
        host = self.host
        if isinstance(e, ev.IncomingCall):
            if e.front_door_source and host.config.mcu.cluster.enabled:
                e = _behind_front_door(e)
            host.spawn(self._incoming_call(e), lambda: self._fail_call(e.call_id))
        elif isinstance(e, ev.CallAnswered):
            self._answered(e)
        elif isinstance(e, ev.CallFailed):
            leg = host.calls.get(e.call_id)
            if leg is not None and leg.dialled is not None:
                event(log, "call.dial_failed", logging.WARNING, uri=leg.dialled.uri, status=e.status,
                      reason=e.reason)
            host.end_call(e.call_id, e.reason)
        elif isinstance(e, ev.CallEnded):
            host.end_call(e.call_id, e.reason)
        elif isinstance(e, ev.InfoReceived):
            digit = parse_dtmf_info(e.content_type or "", e.body)
            if digit is not None:
                host.apply(host.conference.digits(e.call_id, [digit], host.now()))
        elif isinstance(e, ev.ReInvite):
            host.spawn(self._reinvite(e), lambda: self.ua.reject(e.call_id, 500, "Server Internal Error"))
        elif isinstance(e, ev.UpdateReceived):
            host.spawn(self._update(e), lambda: self.ua.answer_update(e.call_id, 500, None, None))
        elif isinstance(e, ev.CallEstablished):
            self._established(e)
        elif isinstance(e, ev.RegistrationSucceeded):
            event(log, "sip.registered", aor=self.registrations.get(e.registration_id), expires=e.expires)
        elif isinstance(e, ev.RegistrationFailed):
            event(log, "sip.register_failed", logging.ERROR, aor=self.registrations.get(e.registration_id),
                  status=e.status, reason=e.reason)

    def _fail_call(self, call_id: str) -> None:
        try:
            self.ua.reject(call_id, 500, "Server Internal Error")
        finally:
            self.host.end_call(call_id, "internal error")

    async def _incoming_call(self, e: ev.IncomingCall) -> None:
        host, remote = self.host, _addr(e.remote_addr)
        room = e.request_user or ""
        if room in host.config.rooms and await self._placed_elsewhere(e, room):
            return
        rejection = host.screen(e.call_id, room, e.remote_addr[0], remote)
        if rejection is not None:
            self._refuse(e.call_id, rejection)
            return
        if e.body is None:
            await self._offer_in_answer(e)
            return
        leg = Leg(e.call_id)
        host.calls[e.call_id] = leg  # from here a CANCEL or BYE ends it (see the checks below)
        offer = await self._read_offer(e.body, f"call from {remote}")
        if e.call_id not in host.calls:
            return
        if isinstance(offer, Rejection):
            self._refuse_leg(leg, e, offer)
            return
        terms = host.content.terms_for(e.call_id, room)
        try:
            ports = []
            for m in offer.media:
                if is_content(m) and terms is not None and CONTENT not in leg.transports and m.port:
                    transport = await host.media_plane.open_rtp(leg, CONTENT, m.has("rtcp-mux"))
                    leg.transports[CONTENT] = transport
                    ports.append(transport.rtp_port)
                elif m.media in MEDIA_KINDS and m.media not in leg.transports and m.port and not is_content(m):
                    transport = await host.media_plane.open_rtp(leg, m.media, m.has("rtcp-mux"))
                    leg.transports[m.media] = transport
                    ports.append(transport.rtp_port)
                else:
                    ports.append(0)
        except PortRangeExhaustedError as exc:
            event(log, "rtp.ports_exhausted", logging.ERROR, error=str(exc))
            self._refuse_leg(leg, e, Rejection(Refusal.OUT_OF_PORTS, "Out Of Media Ports"))
            return
        if e.call_id not in host.calls:  # the caller gave up (CANCEL) while we opened sockets
            host.media_plane.close(leg)
            return
        leg.profile = profile = host.profiles.match(e.user_agent or "")
        result = negotiate(offer, self.capabilities, host.advertised_address(e.remote_addr[0]), ports, profile,
                           bfcp=terms)
        if result.all_rejected:
            self._refuse_leg(leg, e, Rejection(Refusal.NO_COMMON_MEDIA, "No Common Media"))
            return
        if host.requires_encryption(room) and not result.encrypted:  # SRTP (SDES keys) only
            self._refuse_leg(leg, e, Rejection(Refusal.ENCRYPTION_REQUIRED, "Encryption Required"))
            return
        video = host.config.mcu.video
        streams = Streams.of_sdp(result)
        # a cascade link (another MCU, isfocus) carries many sites: admitted like the chair and the roster
        decision = host.admit(e.call_id, room, remote, candidate_for(
            host.conference, e.from_uri, e.from_display or "", streams, fps=video.fps, preset=video.preset,
            dialled=e.is_focus))
        if isinstance(decision, Rejection):
            host.media_plane.close(leg)
            host.calls.pop(e.call_id, None)
            host.content.left(e.call_id)
            self._refuse(e.call_id, decision)
            return
        host.media_plane.apply(leg, result)
        leg.member = host.conference.join(
            e.call_id, room, streams, display_name=e.from_display or e.from_uri, user_agent=e.user_agent or "",
            remote=remote, now=host.now(), uri=e.from_uri, source=e.remote_addr[0], video_cap=decision)
        if e.is_focus:  # another MCU bringing its part of the meeting
            leg.member.cascade = "down"
            event(log, "cascade.down", room=room, remote=remote, call_id=e.call_id)
        host.content.joined(leg, result)
        self.ua.answer(e.call_id, 200, result.local_sdp.encode(), SDP)
        host.answered(e.call_id)
        self.transmit()

    async def _placed_elsewhere(self, e: ev.IncomingCall, room: str) -> bool:
        """In a cluster: the room is hosted by another node (302 to it), or this node is full and
        the room new here (503: the front door tries the next node). False: go on here."""
        placement = await self.host.place(room, e.owner_failed or "")
        if placement is None or placement.here:
            if placement is not None and placement.note:
                event(log, "cluster.placed_here", logging.WARNING, room=room, note=placement.note)
            return False
        if placement.sip:
            try:
                contact = f"<{replace(SipUri.parse(placement.sip), user=room)}>"
            except (SipError, ValueError):
                event(log, "cluster.bad_owner_address", logging.WARNING, room=room, owner=placement.owner,
                      sip=placement.sip[:100], note="the registry holds garbage for it: placed here")
                return False
            event(log, "call.redirected", room=room, owner=placement.owner, contact=contact,
                  remote=_addr(e.remote_addr))
            status, reason, headers = 302, "Moved Temporarily", [("Contact", contact)]
        else:
            event(log, "call.rejected", room=room, status=503, reason="no new rooms on this node",
                  remote=_addr(e.remote_addr))
            status, reason, headers = 503, "No New Rooms Here", [("Retry-After", "30")]
        with contextlib.suppress(SipError):  # the caller may have cancelled while we asked
            self.ua.reject(e.call_id, status, reason, headers=headers)
        self.transmit()
        return True

    def _refuse_leg(self, leg: Leg, e: ev.IncomingCall, rejection: Rejection) -> None:
        event(log, "call.rejected", room=e.request_user, status=rejection.status, reason=rejection.reason,
              remote=_addr(e.remote_addr))
        self.host.media_plane.close(leg)
        self.host.calls.pop(e.call_id, None)
        self.host.content.left(e.call_id)
        self._refuse(e.call_id, rejection)

    def _refuse(self, call_id: str, rejection: Rejection) -> None:
        retry = rejection.retry_after
        self.ua.reject(call_id, rejection.status, rejection.reason,
                       headers=[("Retry-After", str(retry))] if retry is not None else None)
        self.transmit()

    async def _read_offer(self, body: bytes, what: str) -> SessionDescription | Rejection:
        """The SDP of an offer, within the size limits and with every host name resolved
        (asynchronously: the loop never waits); or why it is refused."""
        try:
            offer = parse(body)
        except SdpParseError as exc:
            event(log, "call.bad_sdp", logging.WARNING, call=what, error=str(exc))
            return Rejection(Refusal.BAD_OFFER, "Bad SDP")
        limits = self.host.config.mcu.limits
        if len(offer.media) > limits.sdp_media:
            self.host.count_refusal("sdp size")
            return Rejection(Refusal.TOO_LARGE, f"More Than {limits.sdp_media} Media Sections")
        if len(offer.attributes) + sum(len(m.attributes) for m in offer.media) > limits.sdp_attributes:
            self.host.count_refusal("sdp size")
            return Rejection(Refusal.TOO_LARGE, f"More Than {limits.sdp_attributes} SDP Attributes")
        check = check_addresses(offer)
        if check.fault is not None:
            event(log, "call.bad_media_address", logging.WARNING, call=what, reason=check.fault.reason)
            return Rejection(Refusal.BAD_MEDIA_ADDRESS, check.fault.reason)
        resolved = {}
        for name, version in check.names.items():
            address = await self._resolve(name, version)
            if address is None:
                event(log, "call.media_address_unresolved", logging.WARNING, call=what, host=name,
                      note="media goes to the address the site's packets come from")
            else:
                resolved[name] = address
        return with_addresses(offer, resolved)

    async def _resolve(self, name: str, version: int) -> str | None:
        """An address of host `name` (IPv4 or IPv6), or None when it does not resolve in time."""
        assert self._loop is not None
        family = socket.AF_INET6 if version == 6 else socket.AF_INET
        try:
            infos = await asyncio.wait_for(
                self._loop.getaddrinfo(name, None, family=family, type=socket.SOCK_DGRAM), RESOLVE_TIMEOUT)
        except (OSError, TimeoutError, UnicodeError):
            return None
        return str(infos[0][4][0]) if infos else None

    def _register_rooms(self, config: Config) -> None:
        for reg in config.mcu.sip.register:
            password = ""
            if reg.password_file:
                password = (config.path.parent / reg.password_file).read_text(encoding="utf-8").strip()
            reg_id = self.ua.register(reg.aor, reg.registrar, reg.user or reg.aor, password, reg.expires)
            self.registrations[reg_id] = reg.aor
            event(log, "sip.registering", aor=reg.aor, registrar=reg.registrar)
        self.transmit()

    # ------------------------------------------------------------------ dial-out

    async def dial(self, room_number: str, uri: str, display_name: str, cascade: bool = False) -> str:
        """INVITE `uri` into a room (admission already checked by the host); returns the call id."""
        host = self.host
        if host.requires_encryption(room_number):
            raise DialError(f"room {room_number} requires encryption, and dial-out offers plain RTP")
        leg = Leg()
        site = host.conference.roster_site(uri, display_name)  # its profile shapes our offer
        leg.profile = (host.profiles.named(site.profile) if site else None) or host.profiles.default
        provisional = f"dial-{random.getrandbits(48):012x}"  # the BFCP user, until the call id is known
        terms = host.content.terms_for(provisional, room_number) if leg.profile.offer_content else None
        try:
            media = await self._offer_media(leg, terms is not None)
        except PortRangeExhaustedError as exc:
            host.media_plane.close(leg)
            host.content.left(provisional)
            raise DialError(str(exc)) from None
        local = host.advertised_address(_host_of(uri))
        offer = create_offer(self.capabilities, local, media, session_id=random.getrandbits(31), profile=leg.profile,
                             bfcp=terms)
        room = host.conference.rooms[room_number]
        try:
            call_id = self.ua.dial(uri, serialize(offer).encode(), SDP, from_user=room_number,
                                   display_name=room.spec.name or None, focus=cascade)
        except SipError as exc:
            host.media_plane.close(leg)
            host.content.left(provisional)
            raise DialError(f"cannot dial {uri}: {exc}") from None
        host.content.rebind(provisional, call_id)
        leg.call_id = call_id
        leg.dialled = DialOut(room_number, uri, display_name or uri, offer, cascade=cascade)
        host.calls[call_id] = leg
        self.transmit()
        event(log, "call.dialling", room=room_number, uri=uri, call_id=call_id)
        return call_id

    async def _offer_media(self, leg: Leg, content: bool) -> list[tuple[str, int]]:
        """Our offer's m-lines (kind, port) with their sockets open: audio, video, and with `content`
        a content line and BFCP (whose port the offer takes from the floor control terms)."""
        for kind in MEDIA_KINDS:
            leg.transports[kind] = await self.host.media_plane.open_rtp(leg, kind, rtcp_mux=False)
        media = [(kind, leg.transports[kind].rtp_port) for kind in MEDIA_KINDS]
        if content:
            leg.transports[CONTENT] = await self.host.media_plane.open_rtp(leg, CONTENT, rtcp_mux=False)
            media += [("content", leg.transports[CONTENT].rtp_port), ("bfcp", 0)]
        return media

    def _answered(self, e: ev.CallAnswered) -> None:
        host = self.host
        leg = host.calls.get(e.call_id)
        if leg is None or leg.dialled is None:
            return
        dialled = leg.dialled
        try:
            result = process_answer(dialled.offer, parse(e.body or b""), self.capabilities)
        except (SdpParseError, NegotiationError) as exc:
            event(log, "call.bad_answer", logging.WARNING, uri=dialled.uri, error=str(exc))
            host.hangup(e.call_id, "unusable SDP answer")
            return
        host.media_plane.apply(leg, result)
        leg.member = host.conference.join(
            e.call_id, dialled.room, Streams.of_sdp(result), display_name=dialled.display_name, user_agent=dialled.user_agent,
            remote=dialled.uri, now=host.now(), uri=dialled.uri)
        if dialled.cascade:
            leg.member.cascade = "up"
            event(log, "cascade.up", room=dialled.room, uri=dialled.uri, call_id=e.call_id)
        host.content.joined(leg, result)

    async def _offer_in_answer(self, e: ev.IncomingCall) -> None:
        """An INVITE without an offer: our offer goes in the 200, the answer comes in the ACK."""
        host, room = self.host, e.request_user or ""
        if host.requires_encryption(room):  # our offers are plain RTP
            self._refuse(e.call_id, Rejection(Refusal.ENCRYPTION_REQUIRED, "Encryption Required"))
            return
        decision = host.admit(e.call_id, room, _addr(e.remote_addr),
                              candidate_for(host.conference, e.from_uri, e.from_display or ""))
        if isinstance(decision, Rejection):
            self._refuse(e.call_id, decision)
            return
        leg = Leg(e.call_id)
        host.calls[e.call_id] = leg
        leg.profile = host.profiles.match(e.user_agent or "")
        terms = host.content.terms_for(e.call_id, room) if leg.profile.offer_content else None
        try:
            media = await self._offer_media(leg, terms is not None)
        except PortRangeExhaustedError:
            host.media_plane.close(leg)
            host.calls.pop(e.call_id, None)
            host.content.left(e.call_id)
            self._refuse(e.call_id, Rejection(Refusal.OUT_OF_PORTS, "Out Of Media Ports"))
            return
        if e.call_id not in host.calls:  # cancelled meanwhile
            host.media_plane.close(leg)
            host.content.left(e.call_id)
            return
        offer = create_offer(self.capabilities, host.advertised_address(e.remote_addr[0]), media,
                             session_id=random.getrandbits(31), profile=leg.profile, bfcp=terms)
        leg.dialled = DialOut(room, e.from_uri, e.from_display or e.from_uri, offer,
                              user_agent=e.user_agent or "", inbound=True)
        self.ua.answer(e.call_id, 200, serialize(offer).encode(), SDP)
        host.answered(e.call_id)
        self.transmit()

    def _established(self, e: ev.CallEstablished) -> None:
        host = self.host
        host.confirmed(e.call_id)
        leg = host.calls.get(e.call_id)
        if leg is not None and leg.dialled is not None and leg.dialled.inbound and leg.member is None:
            if not e.body:
                host.hangup(e.call_id, "no SDP answer in the ACK")
                return
            self._answered(ev.CallAnswered(e.call_id, 200, e.body, e.content_type))

    # ------------------------------------------------------------------ re-offers

    async def _update(self, e: ev.UpdateReceived) -> None:
        """An UPDATE with a new offer (session refresh, codec or port change): answered like a re-INVITE."""
        result = await self._renegotiate(e.call_id, e.body)
        if e.call_id not in self.host.calls:
            return  # the call ended while we resolved
        if isinstance(result, Rejection):
            self.ua.answer_update(e.call_id, result.status, None, None)
        else:
            self.ua.answer_update(e.call_id, 200, result.local_sdp.encode(), SDP)
        self.transmit()

    async def _reinvite(self, e: ev.ReInvite) -> None:
        leg = self.host.calls.get(e.call_id)
        if e.body is None and leg is not None and leg.negotiation is not None:
            # A re-INVITE without an offer: offer the session as it is (our last SDP).
            self.ua.answer(e.call_id, 200, leg.negotiation.local_sdp.encode(), SDP)
            self.transmit()
            return
        result = await self._renegotiate(e.call_id, e.body)
        if e.call_id not in self.host.calls:
            return
        if isinstance(result, Rejection):
            self.ua.reject(e.call_id, result.status, result.reason)
        else:
            self.ua.answer(e.call_id, 200, result.local_sdp.encode(), SDP)
        self.transmit()

    async def _renegotiate(self, call_id: str, body: bytes | None) -> NegotiationResult | Rejection:
        """A new offer in an existing call (hold, resume, codec or port change): the answer, or why not.
        A new codec, payload type or clock rate rebuilds the member's pipelines for that media."""
        host = self.host
        leg = host.calls.get(call_id)
        if leg is None or leg.negotiation is None or not body:
            return Rejection(Refusal.NO_COMMON_MEDIA, "Not Acceptable Here")
        offer = await self._read_offer(body, f"re-offer in {call_id}")
        leg = host.calls.get(call_id)
        if isinstance(offer, Rejection) or leg is None or leg.negotiation is None:
            return offer if isinstance(offer, Rejection) else Rejection(Refusal.GONE, "Call Gone")
        kinds = [CONTENT if is_content(m) else m.media for m in offer.media]
        ports = [leg.transports[kind].rtp_port if kind in leg.transports and m.port else 0
                 for kind, m in zip(kinds, offer.media)]
        previous = leg.negotiation.local
        local = previous.connection.host if previous.connection else "127.0.0.1"
        member = leg.member
        terms = host.content.terms_for(call_id, member.room) if member is not None and CONTENT in leg.transports \
            else None
        result = negotiate(offer, self.capabilities, local, ports, leg.profile or host.profiles.default,
                           previous=previous, bfcp=terms)
        if result.all_rejected:
            return Rejection(Refusal.NO_COMMON_MEDIA, "No Common Media")
        if member is not None and host.requires_encryption(member.room) and not result.encrypted:
            return Rejection(Refusal.ENCRYPTION_REQUIRED, "Encryption Required")  # no downgrade to plain RTP
        host.media_plane.apply(leg, result)
        if member is not None:
            host.conference.renegotiated(member, Streams.of_sdp(result))
            host.content.renegotiated(leg, result)
        return result


def _behind_front_door(e: ev.IncomingCall) -> ev.IncomingCall:
    """The caller's own address, as the cluster's front door saw it (X-MCU-Source), in place of the
    front door's: the abuse limits and PIN lockouts count per caller, not one address for all."""
    text = e.front_door_source or ""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        number = int(port)
    except (OSError, ValueError):
        return e  # garbage: keep the address the INVITE came from
    if not sep or not 0 < number < 65536:
        return e
    return replace(e, remote_addr=(host, number))


def _host_of(uri: str) -> str:
    try:
        return SipUri.parse(uri).host_port()[0]
    except (SipError, ValueError):
        return "127.0.0.1"


def _addr(addr: tuple[str, int]) -> str:
    return f"{addr[0]}:{addr[1]}"
