"""H.323 as the second way in: calls of the sans-I/O H.323 cores (mcu.h323) become legs.

An H.323 room system calls a room by alias (dialedDigits or h323-ID "4100", the Called Party
Number, or "4100##mcu.example"); the same neutral call layer as SIP screens it (abuse limits,
room admission, the capacity model), its media runs on the same RTP plane, and it hears and sees
the same mix and composite. H.245's logical channels become the conference's Streams; DTMF comes
as UserInputIndication, keyframe requests as videoFastUpdatePicture, both ways.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mcu.admission import candidate_for
from mcu.calls.alias import H323_SCHEME, h323_target
from mcu.calls.control import DialError
from mcu.calls.h323_gatekeeper import H323Gatekeeper
from mcu.calls.media import CONTENT, Leg
from mcu.calls.refusal import Refusal, Rejection
from mcu.calls.streams import Codec, Stream, Streams
from mcu.h323 import h225, h239
from mcu.h323 import refusal as h323_refusal
from mcu.h323.call import H323Call, H323Config
from mcu.h323.capabilities import G711A, G711U, G722, H264, ROLE_CONTENT, ROLE_MAIN, CapabilitySpec
from mcu.h323.events import (
    H245_LISTEN,
    BitrateLimited,
    CallAnswered,
    CallEnded,
    ContentTokenMessage,
    DtmfReceived,
    Event,
    H245ChannelWanted,
    IncomingCall,
    KeyframeRequested,
    MediaActivity,
    MediaNegotiated,
    MediaPorts,
    NegotiatedStream,
    ProtocolViolation,
)
from mcu.io.h323_transport import H323Connection, H323Shell
from mcu.io.rtp_transport import PortRangeExhaustedError
from mcu.log import event
from mcu.sdp.codecs import CODECS
from mcu.sdp.h264 import VideoLimits, frame_macroblocks
from mcu.sdp.profiles import EndpointProfile

if TYPE_CHECKING:
    from mcu.calls.sip_adapter import CallHost
    from mcu.config import Config

log = logging.getLogger("mcu.h323")

KINDS = ("audio", "video")
ROOM_HOST_SEPARATOR = "##"  # "4100##mcu.example": room 4100 on that MCU
CANVASES = ((1280, 720), (640, 360), (352, 288))  # as mcu.conference.video.CANVAS_TIERS
MAX_FPS = 30.0
BITRATE_UNITS_PER_KBPS = 10  # H.245 maxBitRate counts 100 bit/s
H264_LEVEL_MAX_FS = {71: 3600, 64: 1620, 57: 1620, 50: 792, 43: 396}  # H.241 level -> max frame MBs

# The neutral refusal as H.323 says it (Q.850 cause and ReleaseCompleteReason, mcu.h323.refusal).
REFUSALS = {
    Refusal.NOT_FOUND: h323_refusal.Refusal.NOT_FOUND,
    Refusal.LOCKED: h323_refusal.Refusal.LOCKED,
    Refusal.FULL: h323_refusal.Refusal.FULL,
    Refusal.PIN_LOCKOUT: h323_refusal.Refusal.FORBIDDEN,
    Refusal.RATE_LIMITED: h323_refusal.Refusal.OVERLOAD,
    Refusal.UNCONFIRMED: h323_refusal.Refusal.OVERLOAD,
    Refusal.OVERLOAD: h323_refusal.Refusal.OVERLOAD,
    Refusal.QUOTA: h323_refusal.Refusal.BUSY,
    Refusal.OUT_OF_PORTS: h323_refusal.Refusal.UNAVAILABLE,
    Refusal.NO_COMMON_MEDIA: h323_refusal.Refusal.INCOMPATIBLE_MEDIA,
    Refusal.ENCRYPTION_REQUIRED: h323_refusal.Refusal.INCOMPATIBLE_MEDIA,
    Refusal.BAD_MEDIA_ADDRESS: h323_refusal.Refusal.PROTOCOL_ERROR,
    Refusal.TOO_LARGE: h323_refusal.Refusal.PROTOCOL_ERROR,
    Refusal.BAD_OFFER: h323_refusal.Refusal.PROTOCOL_ERROR,
    Refusal.GONE: h323_refusal.Refusal.NORMAL,
    Refusal.INTERNAL: h323_refusal.Refusal.UNAVAILABLE,
}


class H323Calls:
    """The H.323 listener and every H.323 call, as legs of the host's call layer."""

    def __init__(self, host: CallHost, config: Config, product: str, version: str) -> None:
        self.host = host
        self.settings = config.mcu.h323
        self.core_config = H323Config(
            display=config.mcu.server.name, vendor=h225.VendorInfo(product, version),
            capabilities=CapabilitySpec(audio=[G722, G711U, G711A], video=[H264], content=[H264]))
        self.shell: H323Shell | None = None
        self.address: tuple[str, int] | None = None
        self.calls: dict[str, H323Connection] = {}  # leg id -> its connection
        self.channels: dict[str, dict[tuple[str, str], NegotiatedStream]] = {}  # leg id -> open channels
        self.bitrate_caps: dict[str, int] = {}  # leg id -> flowControlCommand limit on our video, kbps
        self.tokens: dict[str, h239.TokenManager] = {}  # leg id -> its H.239 presentation token
        self.gatekeeper = H323Gatekeeper(host, config, product, version)  # RAS, if [h323.gatekeeper]

    async def start(self) -> None:
        """Listen for H.323 calls; a port that cannot be bound leaves the MCU running SIP only."""
        self.shell = H323Shell(self._new_core, self.on_event)
        self.shell.on_error = self.host.metrics.h323_violation
        self.host.content.floor_listeners.append(self._floor_changed)
        if not self.settings.enabled:
            return
        try:
            self.address = await self.shell.listen(self.settings.host, self.settings.port)
        except OSError as exc:
            event(log, "h323.cannot_listen", logging.ERROR, port=self.settings.port, error=str(exc),
                  hint="another process holds the port; the MCU runs without H.323")
            return
        event(log, "h323.listening", addr=f"{self.address[0]}:{self.address[1]}")
        await self.gatekeeper.start(self.address)

    async def close(self) -> None:
        await self.gatekeeper.close()  # URQ
        if self.shell is not None:
            await self.shell.close()

    def _new_core(self, peer: tuple[str, int]) -> H323Call:
        return H323Call(self.core_config, peer)

    def hangup(self, call_id: str) -> None:
        connection = self.calls.get(call_id)
        if connection is not None and connection.core is not None and self.shell is not None:
            self.shell.feed(connection, lambda core, now: core.hangup(now))

    # ------------------------------------------------------------------ events of the cores

    def on_event(self, connection: H323Connection, e: Event) -> None:
        host = self.host
        if isinstance(e, IncomingCall):
            connection.call_id = f"h323-{e.call_id}"
            self.calls[connection.call_id] = connection
            host.spawn(self._incoming_call(connection, e), lambda: self._refuse(connection, Rejection(
                Refusal.INTERNAL, "internal error")))
        elif isinstance(e, CallAnswered):
            self._answered(connection, e)
        elif isinstance(e, H245ChannelWanted):
            assert self.shell is not None
            host.spawn(self.shell.open_h245(connection, e.address), lambda: None)
        elif isinstance(e, MediaNegotiated):
            self._negotiated(connection, e.streams)
        elif isinstance(e, DtmfReceived):
            host.apply(host.conference.digits(connection.call_id, [e.digit], host.now()))
        elif isinstance(e, KeyframeRequested):
            leg = host.calls.get(connection.call_id)
            if leg is not None and e.role == ROLE_CONTENT:
                host.content.keyframe_requested(leg)
            elif leg is not None and leg.member is not None:
                room = host.conference.rooms[leg.member.room]
                room.keyframe_requested(leg.member.member_id, "fir", host.now())
        elif isinstance(e, BitrateLimited):
            self._limit_bitrate(connection, e)
        elif isinstance(e, ContentTokenMessage):
            self._token_message(connection, e.message)  # type: ignore[arg-type]
        elif isinstance(e, MediaActivity):
            event(log, "h323.media_activity", call_id=connection.call_id, kind=e.kind, active=e.active)
        elif isinstance(e, ProtocolViolation):
            host.metrics.h323_violation(e.reason)
            event(log, "h323.protocol_violation", logging.WARNING, call_id=connection.call_id,
                  reason=e.reason, detail=e.detail[:200])
        elif isinstance(e, CallEnded):
            self.gatekeeper.call_ended(connection.core)  # DRQ
            self.calls.pop(connection.call_id, None)
            self.channels.pop(connection.call_id, None)
            self.bitrate_caps.pop(connection.call_id, None)
            self.tokens.pop(connection.call_id, None)
            host.end_call(connection.call_id, e.detail or (e.reason or e.refusal.value))

    async def _incoming_call(self, connection: H323Connection, e: IncomingCall) -> None:
        host, call_id = self.host, connection.call_id
        remote = f"{e.remote_address[0]}:{e.remote_address[1]}"
        room = self._room_of(e)
        rejection = host.screen(call_id, room, e.remote_address[0], remote)
        name = e.display or next((a.value for a in e.source_aliases if a.kind == h225.ALIAS_H323_ID), "")
        uri = self._uri_of(e)
        if rejection is None:
            admitted = host.admit(call_id, room, remote, candidate_for(host.conference, uri, name))
            # a VideoCap (degrade this join's views) is left to the room's defaults for H.323
            rejection = admitted if isinstance(admitted, Rejection) else None
        if rejection is None and host.requires_encryption(room):
            rejection = Rejection(Refusal.ENCRYPTION_REQUIRED, "Encryption Required")  # no H.235 yet
        if rejection is None:
            rejection = await self.gatekeeper.admit_incoming(connection.core, e)  # ARQ, if registered
        if rejection is not None:
            self._refuse(connection, rejection)
            return
        leg = Leg(call_id, protocol="h323")
        product = _product(e.vendor)
        leg.profile = host.profiles.match(product)
        leg.dialled = _Incoming(room, name or uri, uri, product, e.remote_address[0])
        host.calls[call_id] = leg
        try:
            ports = await self._open_media(leg, e.remote_address[0])
        except PortRangeExhaustedError:
            host.calls.pop(call_id, None)
            host.media_plane.close(leg)
            self._refuse(connection, Rejection(Refusal.OUT_OF_PORTS, "Out Of Media Ports"))
            return
        if call_id not in host.calls or connection.closed:  # released meanwhile
            host.media_plane.close(leg)
            return
        h245_address = None
        if e.h245_mode == H245_LISTEN:
            assert self.shell is not None
            h245_address = await self.shell.listen_h245(connection, ports["audio"].address)
        assert self.shell is not None
        self.shell.feed(connection, lambda core, now: core.accept(ports, now, h245_address=h245_address))
        host.answered(call_id)
        host.confirmed(call_id)  # H.225 has no ACK: Connect confirms the call

    async def _open_media(self, leg: Leg, peer_host: str) -> dict[str, MediaPorts]:
        address = self.host.advertised_address(peer_host)
        ports = {}
        for kind in (*KINDS, CONTENT):  # CONTENT: the H.239 presentation channels, either way
            transport = await self.host.media_plane.open_rtp(leg, kind, rtcp_mux=False)
            leg.transports[kind] = transport
            ports[kind] = MediaPorts(address, transport.rtp_port, transport.rtcp_port)
        return ports

    def _negotiated(self, connection: H323Connection, negotiated: dict[tuple[str, str], NegotiatedStream]) -> None:
        """The open logical channels changed: the leg's media and the member follow."""
        host = self.host
        leg = host.calls.get(connection.call_id)
        if leg is None:
            return
        self.channels[leg.call_id] = negotiated
        cap = self.bitrate_caps.get(leg.call_id)
        streams = Streams({key: _stream(i, ns, cap if key[0] == "video" else None, leg.profile)
                           for i, (key, ns) in enumerate(negotiated.items())})
        host.media_plane.apply(leg, streams, close_missing=False)  # type: ignore[arg-type]
        leg.on_keyframe_request = lambda: self._ask_keyframe(connection)
        leg.on_content_keyframe_request = lambda: self._ask_keyframe(connection, ROLE_CONTENT)
        if leg.member is not None:
            host.conference.renegotiated(leg.member, streams)
        else:
            info: _Incoming = leg.dialled
            leg.member = host.conference.join(
                leg.call_id, info.room, streams, display_name=info.name, user_agent=info.product,
                remote=info.uri, now=host.now(), uri=info.uri, source=info.source)
        if leg.member is not None:
            host.content.set_content_stream(leg, streams.content_line())

    # ------------------------------------------------------------------ H.239 presentation

    def _token_message(self, connection: H323Connection, message: h239.H239Message) -> None:
        """A terminal's presentation token message: the room's content floor decides (its policy,
        takeover or wait), as for a BFCP site; the answer goes back on this call's H.245."""
        leg = self.host.calls.get(connection.call_id)
        if leg is None or leg.member is None:
            return
        token = self.tokens.setdefault(connection.call_id, h239.TokenManager(terminal_label=leg.member.member_id))
        answers: list[h239.H239Message] = []
        for decision in token.receive(message):
            if isinstance(decision, h239.TokenRequested):
                result = self.host.content.request_floor(leg)
                if result == "denied":
                    answers += token.deny()
                elif result == "granted" and not token.holds:
                    answers += token.grant()
                # "pending": the grant follows when the floor falls to it (_floor_changed)
            elif isinstance(decision, h239.TokenReleased):
                self.host.content.release_floor(leg)
            elif isinstance(decision, h239.BitrateRequested):
                answers += token.answer_bitrate(True, decision.channel)
        answers += token.take()
        self._send_h239(connection, answers)

    def _send_h239(self, connection: H323Connection, messages: list[h239.H239Message]) -> None:
        if messages and self.shell is not None:
            self.shell.feed(connection, lambda core, now: core.send_h239(messages, now))

    def _floor_changed(self, room: str, presenter: str | None, before: str | None) -> None:
        """The room's content floor moved: grant the token to an H.323 presenter that waited, take it
        back from one that lost it, tell every H.239 site who presents, and open our content
        channel to the others while content runs (close it after)."""
        content_running = room in self.host.content.rooms and self.host.content.rooms[room].active
        owner = self.host.calls.get(presenter or "")
        label = owner.member.member_id if owner is not None and owner.member is not None else 0
        for call_id, connection in list(self.calls.items()):
            leg = self.host.calls.get(call_id)
            if leg is None or leg.member is None or leg.member.room != room or connection.core is None:
                continue
            token = self.tokens.setdefault(call_id, h239.TokenManager(terminal_label=leg.member.member_id))
            out: list[h239.H239Message] = []
            if call_id == presenter and not token.holds:
                out += token.grant()
            elif call_id == before and token.holds and call_id != presenter:
                out += token.revoke()
            if content_running and call_id != presenter:
                out += token.announce(label)
            self._send_h239(connection, out)
            if self.shell is not None:
                if content_running and call_id != presenter:
                    self.shell.feed(connection, lambda core, now: core.open_content(now))
                elif not content_running or call_id == presenter:
                    self.shell.feed(connection, lambda core, now: core.close_content(now))

    def _answered(self, connection: H323Connection, e: CallAnswered) -> None:
        """Our dial-out was answered: the callee's product id picks its interop profile."""
        leg = self.host.calls.get(connection.call_id)
        if leg is not None and isinstance(leg.dialled, _Incoming):
            leg.dialled.product = _product(e.vendor)
            leg.profile = self.host.profiles.match(leg.dialled.product)
            event(log, "call.answered", call_id=leg.call_id, user_agent=leg.dialled.product)

    def _limit_bitrate(self, connection: H323Connection, e: BitrateLimited) -> None:
        """flowControlCommand: the terminal (or a gatekeeper's bandwidth change) caps what we send
        it; its view gets an encoder at that rate (audio is fixed-rate G.7xx and stays)."""
        if e.kind not in (None, "video"):
            return
        call_id = connection.call_id
        if e.kbps is None:
            self.bitrate_caps.pop(call_id, None)
        else:
            self.bitrate_caps[call_id] = e.kbps
        event(log, "h323.bitrate_limited", call_id=call_id, kbps=e.kbps)
        channels = self.channels.get(call_id)
        if channels is not None:
            self._negotiated(connection, channels)

    def _ask_keyframe(self, connection: H323Connection, role: str = ROLE_MAIN) -> None:
        if self.shell is not None:  # H.323 terminals take videoFastUpdatePicture, not RTCP PLI
            self.shell.feed(connection, lambda core, now: core.request_keyframe(now, "video", role))

    def _refuse(self, connection: H323Connection, rejection: Rejection) -> None:
        self.calls.pop(connection.call_id, None)
        if self.shell is not None:
            refusal = REFUSALS[rejection.refusal]
            self.shell.feed(connection, lambda core, now: core.reject(refusal, now))

    def _room_of(self, e: IncomingCall) -> str:
        """The room a Setup asks for: the first of its destination aliases, Called Party Number
        or `room##host` forms that names one of our rooms, else the first given (-> not found)."""
        wanted = [a.value for a in e.destination_aliases] + ([e.called_number] if e.called_number else [])
        wanted = [w.split(ROOM_HOST_SEPARATOR, 1)[0].split("@", 1)[0] for w in wanted if w]
        return next((w for w in wanted if w in self.host.conference.rooms), wanted[0] if wanted else "")

    @staticmethod
    def _uri_of(e: IncomingCall) -> str:
        alias = next((a.value for a in e.source_aliases if a.value), "") or (e.calling_number or "")
        return f"{H323_SCHEME}{alias}@{e.remote_address[0]}"

    # ------------------------------------------------------------------ dial-out

    async def dial(self, room_number: str, uri: str, display_name: str) -> str:
        """Call `h323:alias@host[:port]` (or `h323:host`) into a room; returns the leg id."""
        host = self.host
        if self.shell is None:
            raise DialError("H.323 is not running on this MCU ([h323] enabled = false)")
        try:
            alias, target, port = h323_target(uri)
        except ValueError as exc:
            raise DialError(str(exc)) from None
        leg = Leg(protocol="h323")
        try:
            ports = await self._open_media(leg, target)
        except PortRangeExhaustedError as exc:
            host.media_plane.close(leg)
            raise DialError(str(exc)) from None
        destination = [h225.Alias(h225.ALIAS_H323_ID, alias)] if alias else []
        core = H323Call.dial(self.core_config, (target, port), destination, ports, host.now())
        try:
            target, port = await self.gatekeeper.admit_dial(core, destination, (target, port))  # ARQ
        except DialError:
            host.media_plane.close(leg)
            raise
        try:
            connection = await self.shell.connect(target, port, core)
        except OSError as exc:
            self.gatekeeper.call_ended(core)  # DRQ
            host.media_plane.close(leg)
            raise DialError(f"cannot reach {target}:{port}: {exc.strerror or exc}") from None
        leg.call_id = connection.call_id = f"h323-{core.call_id.hex()}"
        leg.dialled = _Incoming(room_number, display_name or uri, uri, "", target)
        host.calls[leg.call_id] = leg
        self.calls[leg.call_id] = connection
        event(log, "call.dialling", room=room_number, uri=uri, call_id=leg.call_id)
        return leg.call_id


class _Incoming:
    """Who the call is with, kept until its media is negotiated and it joins."""

    __slots__ = ("name", "product", "room", "source", "uri")

    def __init__(self, room: str, name: str, uri: str, product: str, source: str) -> None:
        self.room, self.name, self.uri, self.product, self.source = room, name, uri, product, source


# H.225 VendorIdentifier T.35 codes (country, manufacturer) -> the maker's name, for endpoints.toml
# patterns; only codes seen in real captures (tests/h323/vectors: a TANDBERG 310i and RRQ).
H221_MANUFACTURERS = {(130, 256): "TANDBERG"}


def _product(vendor: h225.VendorInfo | None) -> str:
    """What interop profiles match on (conf/endpoints.toml), like a SIP User-Agent: the maker
    when its T.35 code is known, then productId and versionId ("TANDBERG 310i ...")."""
    if vendor is None:
        return "H.323"
    maker = H221_MANUFACTURERS.get((vendor.t35_country, vendor.manufacturer), "")
    parts = [vendor.product, vendor.version]
    if maker and maker.lower() not in vendor.product.lower():
        parts.insert(0, maker)
    return " ".join(p for p in parts if p) or "H.323"


def _stream(index: int, negotiated: NegotiatedStream, cap_kbps: int | None = None,
            profile: EndpointProfile | None = None) -> Stream:
    """One H.245 stream (a send and/or a receive logical channel) as the conference's Stream;
    what we send stays within the channel's maxBitRate, the terminal's flowControlCommand and
    its interop profile (conf/endpoints.toml, matched on the H.225 product id)."""
    channel = negotiated.send or negotiated.receive
    assert channel is not None
    codec = channel.codec
    spec = CODECS[codec.name]
    chosen = Codec(channel.payload_type, codec.name, spec.clock_rate, 1, spec.real_sample_rate,
                   packetization_mode=0 if codec.name == "H264" else None)
    send, receive = negotiated.send, negotiated.receive
    direction = "sendrecv" if send and receive else "sendonly" if send else "recvonly"
    remote = send.remote_rtp if send is not None else None
    rtcp = (send.remote_rtcp if send is not None else None) or (receive.remote_rtcp if receive else None)
    limits = [k for k in (send.codec.max_bitrate // BITRATE_UNITS_PER_KBPS if send else 0, cap_kbps) if k]
    return Stream(
        index=index, kind=negotiated.kind, proto="RTP/AVP", accepted=True,
        local_port=negotiated.local.rtp_port, remote_port=remote[1] if remote else 0,
        remote_address=remote[0] if remote else None, remote_rtcp_port=rtcp[1] if rtcp else None,
        codecs=(chosen,), direction=direction,
        remote_direction={"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly"}[direction],
        dtmf="info", max_send_kbps=min(limits) if limits else None,
        keyframe_min_interval=profile.keyframe_min_interval if profile else None,
        video_limits=_video_limits(codec, profile) if negotiated.kind == "video" else None)


def _video_limits(codec: object, profile: EndpointProfile | None = None) -> VideoLimits | None:
    """The largest canvas the terminal takes: its H.264 level (H.241 level -> H.264 max frame
    size), within its profile's max_resolution and max_fps."""
    level = getattr(codec, "level", None)
    max_fs = H264_LEVEL_MAX_FS.get(level or 0) if getattr(codec, "name", "") == "H264" else None
    cap_w, cap_h = profile.max_resolution if profile and profile.max_resolution else CANVASES[0]
    max_fps = profile.max_fps if profile and profile.max_fps else MAX_FPS
    if max_fs is None and (cap_w, cap_h, max_fps) == (*CANVASES[0], MAX_FPS):
        return None
    fits = [(w, h) for w, h in CANVASES if w <= cap_w and h <= cap_h
            and (max_fs is None or frame_macroblocks(w, h) <= max_fs)]
    width, height = fits[0] if fits else CANVASES[-1]
    return VideoLimits(max_width=width, max_height=height, max_fps=max_fps, max_fs=max_fs)
