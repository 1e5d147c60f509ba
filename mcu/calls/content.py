"""Content sharing ("presentation"): one floor per room, the presenter's second video stream, and
the operator's slides.

Signalling: every room gets a BFCP floor control server (mcu.bfcp) behind the shared listeners
(mcu.io.bfcp_transport) when its first site with BFCP joins; a call's SDP gets the room's
conference id and its own user id (mcu.sdp.bfcp). Who holds the floor decides whose content
stream is decoded (once) and re-encoded once per distinct (codec, size, fps) among the sites
with a content stream; the operator's slides take the presenter's place.

Fault isolation: a receiver that cannot be sent to, or a presenter whose stream does not
decode, is counted at that call; the other sites keep their content.
"""

from __future__ import annotations

import logging
import ssl
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcu import mix
from mcu.bfcp.registry import FloorRegistry
from mcu.bfcp.server import OPERATOR, FloorChanged, FloorPolicy, FloorServer, RequestOutcome
from mcu.conference.video import (
    CONTENT_TIERS,
    VideoIn,
    VideoViewer,
    _payloader,
    encoder_config_for,
    new_viewer,
)
from mcu.io.bfcp_transport import BfcpShell
from mcu.layout.compose import CanvasPlanes
from mcu.layout.engine import set_mode
from mcu.layout.geometry import Rect, fit
from mcu.layout.model import Fit
from mcu.log import event
from mcu.media.base import VideoEncoder, VideoEncoderConfig
from mcu.media.frames import I420, alloc_i420
from mcu.media.registry import create_video_encoder
from mcu.media.slides import Slides
from mcu.rtp.rtcp import Fir, Pli, RtcpPacket, serialize_compound
from mcu.rtp.session import RtpSession
from mcu.sdp.bfcp import BfcpTerms

if TYPE_CHECKING:
    from mcu.calls.media import Leg
    from mcu.conference.engine import Conference
    from mcu.config import Config
    from mcu.rtp.packet import RtpPacket
    from mcu.sdp.negotiate import MediaResult, NegotiationResult

log = logging.getLogger("mcu.content")

CONTENT = "content"  # the key of a leg's content transport
KEYFRAME_MIN_INTERVAL = 1.0  # s between two keyframes of one content encoding (PLI storms)
CONTENT_KEYFRAME_INTERVAL = 10.0  # s: periodic keyframes of the content encodings
RESULTS = ("granted", "pending", "denied")


def conference_id_of(room_number: str) -> int:
    """The BFCP conference id of a room: its number when it is one that fits, else a hash."""
    if room_number.isdigit() and 0 < int(room_number) < 2**32:
        return int(room_number)
    return zlib.crc32(room_number.encode()) or 1


@dataclass
class ContentEncoding:
    """One distinct content encode, shared by every receiver with the same settings."""

    config: VideoEncoderConfig
    encoder: VideoEncoder
    payloader: Any
    canvas: I420
    receivers: set[str] = field(default_factory=set)  # call ids
    keyframe_wanted: bool = True
    last_keyframe: float = -1e9
    frames: int = 0
    bytes_out: int = 0
    fps: float = 0.0  # measured, for metrics
    bitrate: float = 0.0
    _window: list[tuple[float, int]] = field(default_factory=list)

    @property
    def label(self) -> str:
        c = self.config
        return f"{c.codec.lower()}-{c.width}x{c.height}-{c.fps}"

    def note_frame(self, now: float, size: int) -> None:
        self.frames += 1
        self.bytes_out += size
        self._window = [(t, n) for t, n in self._window if now - t < 5.0] + [(now, size)]
        span = max(1.0, now - self._window[0][0]) if len(self._window) > 1 else 1.0
        self.fps = (len(self._window) - 1) / span if len(self._window) > 1 else 0.0
        self.bitrate = 8 * sum(n for _, n in self._window[1:]) / span if len(self._window) > 1 else 0.0


@dataclass
class ContentReceiver:
    call_id: str
    line: MediaResult
    viewer: VideoViewer
    key: VideoEncoderConfig
    rtcp: RtpSession | None = None  # sender reports of our content stream to it


@dataclass
class RoomContent:
    room: str
    server: FloorServer
    users: dict[str, int] = field(default_factory=dict)  # call id -> BFCP user id
    calls: dict[int, str] = field(default_factory=dict)  # user id -> call id
    next_user: int = 1
    presenter: str | None = None  # call id of the presenting site; None: nobody, or the operator
    operator: bool = False
    source: VideoIn | None = None
    slides: Slides | None = None
    encodings: dict[VideoEncoderConfig, ContentEncoding] = field(default_factory=dict)
    receivers: dict[str, ContentReceiver] = field(default_factory=dict)
    previous_layout: str | None = None
    streams: dict[str, MediaResult] = field(default_factory=dict)  # call id -> its content stream
    started_at: float | None = None
    pts_base: float | None = None

    @property
    def active(self) -> bool:
        return self.presenter is not None or self.operator


class ContentManager:
    def __init__(self, config: Config, conference: Conference, legs: dict[str, Leg], clock: Callable[[], float]):
        self.config = config
        self.conference = conference
        self.legs = legs
        self.clock = clock
        self.registry = FloorRegistry()
        self.shell: BfcpShell | None = None
        self.rooms: dict[str, RoomContent] = {}
        self.requests: Counter[str] = Counter({r: 0 for r in RESULTS})
        self.errors: Counter[str] = Counter()
        self._tasks: set[Any] = set()  # TCP connections we open to sites that listen
        # told (room, presenter call id, previous presenter call id) when a room's floor moves, for
        # protocols that signal it themselves (H.239: release the token of a revoked presenter)
        self.floor_listeners: list[Callable[[str, str | None, str | None], None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        section = self.config.mcu.bfcp
        if not section.enabled:
            return
        self.shell = BfcpShell(self.registry, self.clock, after_receive=self.process_events)
        tls_context = None
        if "tls" in section.transports:
            sip = self.config.mcu.sip
            if not (sip.tls_cert and sip.tls_key):
                event(log, "bfcp.tls_unavailable", logging.ERROR,
                      hint="[bfcp] transports has tls: set [sip] tls_cert and tls_key; BFCP goes on over udp/tcp")
            else:
                tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                tls_context.load_cert_chain(sip.tls_cert, sip.tls_key)  # as the SIP TLS listener loads them
        try:
            await self.shell.start(section.host, section.udp_port, section.tcp_port, list(section.transports),
                                   section.tls_port, tls_context)
        except OSError as exc:  # a port another process holds: meetings go on, BFCP lines get port 0
            await self.shell.close()
            self.shell = None
            event(log, "bfcp.unavailable", logging.ERROR, error=str(exc),
                  hint="free the [bfcp] ports (or set them to 0); calls are answered without floor control")

    async def close(self) -> None:
        if self.shell is not None:
            await self.shell.close()

    def reconfigure(self, config: Config) -> None:
        """A reloaded rooms.toml: each floor's policy for its next request (the holder keeps it)."""
        self.config = config
        for number, rc in self.rooms.items():
            spec = config.rooms.get(number)
            if spec is not None:
                rc.server.policy = FloorPolicy(spec.content_policy, spec.content_takeover)

    @property
    def dropped(self) -> Counter[str]:
        return self.registry.dropped

    # ------------------------------------------------------------------ calls

    def _room(self, number: str) -> RoomContent:
        rc = self.rooms.get(number)
        if rc is None:
            spec = self.conference.rooms[number].spec
            server = FloorServer(conference_id_of(number), 1,
                                 FloorPolicy(spec.content_policy, spec.content_takeover))
            rc = self.rooms[number] = RoomContent(number, server)
            self.registry.add(server)
        return rc

    def terms_for(self, call_id: str, room_number: str) -> BfcpTerms | None:
        """Our floor control terms for a call about to be answered (None: no BFCP here)."""
        if self.shell is None or room_number not in self.conference.rooms:
            return None
        rc = self._room(room_number)
        user_id = rc.users.get(call_id)
        if user_id is None:
            user_id = rc.next_user
            rc.next_user = rc.next_user % 0xFFFF + 1
            rc.users[call_id], rc.calls[user_id] = user_id, call_id
        return BfcpTerms(rc.server.conference_id, user_id, rc.server.floor_id,
                         udp_port=self.shell.udp_port, tcp_port=self.shell.tcp_port, tls_port=self.shell.tls_port)

    def rebind(self, provisional: str, call_id: str) -> None:
        """A dial-out's BFCP user, allocated before the call had its id."""
        for rc in self.rooms.values():
            user_id = rc.users.pop(provisional, None)
            if user_id is not None:
                rc.users[call_id], rc.calls[user_id] = user_id, call_id

    def joined(self, leg: Leg, result: NegotiationResult) -> None:
        """A call is in its room with what it negotiated: its BFCP user and its content stream."""
        member = leg.member
        if member is None:
            return
        rc = self._room(member.room)
        bfcp = result.bfcp_line()
        user_id = rc.users.get(leg.call_id)
        if bfcp is not None and bfcp.bfcp is not None and user_id is not None:
            peer = None
            if bfcp.bfcp.udp and bfcp.remote_address and bfcp.remote_port:
                peer = ("udp", (bfcp.remote_address, bfcp.remote_port))
            if user_id not in rc.server.users:
                flat = leg.profile is not None and leg.profile.bfcp_flat
                rc.server.add_user(user_id, member.display_name, chair=member.chair, peer=peer, nested=not flat)
                if bfcp.bfcp.we_connect and bfcp.remote_address and bfcp.remote_port and self.shell is not None:
                    self._connect(rc, user_id, bfcp.remote_address, bfcp.remote_port)
            rc.server.users[user_id].chair = member.chair
        elif user_id is not None and user_id not in rc.server.users:
            rc.users.pop(leg.call_id, None)
            rc.calls.pop(user_id, None)
        self.set_content_stream(leg, result.content_line())

    def _connect(self, rc: RoomContent, user_id: int, host: str, port: int) -> None:
        """The site listens (it offered setup:passive): we open the TCP connection (RFC 4145)."""
        import asyncio

        async def connect() -> None:
            assert self.shell is not None
            try:
                peer = await asyncio.wait_for(self.shell.connect(host, port), 5.0)
            except (OSError, TimeoutError) as exc:
                self.errors["bfcp connect"] += 1
                event(log, "bfcp.connect_failed", logging.WARNING, room=rc.room, user=user_id, addr=f"{host}:{port}",
                      error=str(exc) or type(exc).__name__)
                return
            user = rc.server.users.get(user_id)
            if user is not None and user.peer is None:
                user.peer = peer  # our FloorStatus reaches it before it speaks

        self._tasks.add(task := asyncio.ensure_future(connect()))
        task.add_done_callback(self._tasks.discard)

    def renegotiated(self, leg: Leg, result: NegotiationResult) -> None:
        self.joined(leg, result)

    def left(self, call_id: str) -> None:
        for rc in self.rooms.values():
            user_id = rc.users.pop(call_id, None)
            rc.receivers.pop(call_id, None)
            rc.streams.pop(call_id, None)
            for encoding in rc.encodings.values():
                encoding.receivers.discard(call_id)
            if user_id is not None:
                rc.calls.pop(user_id, None)
                if user_id in rc.server.users:
                    rc.server.remove_user(user_id, self.clock())
            self._sync_viewers(rc)
        self.process_events()

    def set_content_stream(self, leg: Leg, line: MediaResult | None) -> None:
        """A call's negotiated content stream (SDP content line, H.239 extended-video channel), or
        None: what it presents from and receives content on (its transport is leg.transports["content"])."""
        member = leg.member
        if member is None:
            return
        rc = self._room(member.room)
        before = rc.streams.get(leg.call_id)
        if line is None or not line.accepted:
            rc.streams.pop(leg.call_id, None)
        else:
            rc.streams[leg.call_id] = line
        if rc.presenter == leg.call_id and (rc.source is None or before != line):
            self._take_source(rc, self.clock())
        self._set_receiver(rc, leg, line)
        self._sync_viewers(rc)

    # -- floor requests by other protocols than BFCP (H.239 presentation token)

    def request_floor(self, leg: Leg) -> str:
        """A call asks for the room's content floor without BFCP: "granted", "pending" or "denied"
        by the room's policy (a site that held it is revoked, or the call waits)."""
        member = leg.member
        if member is None:
            return "denied"
        rc = self._room(member.room)
        user_id = rc.users.get(leg.call_id)
        if user_id is None:
            user_id = rc.next_user
            rc.next_user = rc.next_user % 0xFFFF + 1
            rc.users[leg.call_id], rc.calls[user_id] = user_id, leg.call_id
        if user_id not in rc.server.users:
            rc.server.add_user(user_id, member.display_name, chair=member.chair)  # no BFCP peer
        status = rc.server.request_floor(user_id, self.clock())
        self.process_events()
        return {3: "granted", 1: "pending"}.get(int(status), "denied")

    def release_floor(self, leg: Leg) -> None:
        member = leg.member
        rc = self.rooms.get(member.room) if member is not None else None
        user_id = rc.users.get(leg.call_id) if rc is not None else None
        if rc is not None and user_id is not None and user_id in rc.server.users:
            rc.server.release_floor(user_id, self.clock())
            self.process_events()

    def presenter_of(self, room_number: str) -> str | None:
        """The call id presenting in a room (None: nobody, or the operator's slides)."""
        rc = self.rooms.get(room_number)
        return rc.presenter if rc is not None else None

    def _set_receiver(self, rc: RoomContent, leg: Leg, line: MediaResult | None) -> None:
        if line is None or not line.accepted or not line.codecs or CONTENT not in leg.transports:
            rc.receivers.pop(leg.call_id, None)
            return
        section = self.config.mcu.bfcp
        config = encoder_config_for(line, section.content_fps, self.config.mcu.video.preset,
                                    CONTENT_KEYFRAME_INTERVAL, tiers=CONTENT_TIERS)
        config = VideoEncoderConfig(**{**config.__dict__, "bitrate": min(config.bitrate, section.content_kbps * 1000)})
        old = rc.receivers.get(leg.call_id)
        if old is not None and old.key == config and old.line.codecs[0] == line.codecs[0]:
            return
        viewer = new_viewer(config, line.codecs[0].payload_type)
        rc.receivers[leg.call_id] = ContentReceiver(leg.call_id, line, viewer, config,
                                                    RtpSession(viewer.out, f"mcu-{rc.room}-content"))
        encoding = rc.encodings.get(config)
        if encoding is not None:
            encoding.keyframe_wanted = True  # a site that joins while content runs gets a keyframe

    # ------------------------------------------------------------------ floor events

    def process_events(self) -> None:
        now = self.clock()
        for rc in list(self.rooms.values()):
            while (e := rc.server.next_event()) is not None:
                try:
                    self._on_event(rc, e, now)
                except Exception:
                    self.errors["event"] += 1
                    log.exception("content.event_error")
        if self.shell is not None:
            self.shell.transmit()

    def _on_event(self, rc: RoomContent, e: FloorChanged | RequestOutcome, now: float) -> None:
        if isinstance(e, RequestOutcome):
            self.requests[e.result] += 1
            call_id = rc.calls.get(e.user_id)
            event(log, "content.floor_request", room=rc.room, call_id=call_id, result=e.result)
            return
        before = rc.presenter
        if e.previous is not None:
            self._stopped(rc, e.previous, e.reason, now)
        if e.holder is not None:
            self._started(rc, e.holder, now)
        for listener in self.floor_listeners:
            try:
                listener(rc.room, rc.presenter, before)
            except Exception:  # noqa: BLE001 - a listener's bug is its own
                self.errors["floor listener"] += 1

    def _member_of(self, call_id: str | None) -> Any:
        leg = self.legs.get(call_id or "")
        return leg.member if leg is not None else None

    def _started(self, rc: RoomContent, holder: int, now: float) -> None:
        if holder == OPERATOR:
            rc.operator = True
            event(log, "member.content_started", room=rc.room, source="operator",
                  file=rc.slides.path.name if rc.slides else None)
        else:
            call_id = rc.calls.get(holder)
            rc.presenter = call_id
            member = self._member_of(call_id)
            line = rc.streams.get(call_id or "")
            self._take_source(rc, now)
            event(log, "member.content_started", room=rc.room, call_id=call_id,
                  member=member.member_id if member else None, name=member.display_name if member else None,
                  stream=line is not None)
        rc.started_at = now
        for encoding in rc.encodings.values():
            encoding.keyframe_wanted = True
        self._content_layout(rc, True)

    def _take_source(self, rc: RoomContent, now: float) -> None:
        """Decode the presenter's content stream from now on, if it has one (an H.323 presenter
        opens its H.239 channel only once granted: then set_content_stream calls this again)."""
        member = self._member_of(rc.presenter)
        line = rc.streams.get(rc.presenter or "")
        rc.source = None
        if line is not None and line.we_receive and line.codecs and member is not None:
            rc.source = VideoIn(line, member.rtcp["video"].outbound.ssrc if "video" in member.rtcp else 1)
            rc.source.set_visible(True, now)

    def _stopped(self, rc: RoomContent, previous: int, reason: str, now: float) -> None:
        if previous == OPERATOR:
            rc.operator = False
            event(log, "member.content_stopped", room=rc.room, source="operator", reason=reason)
        else:
            call_id = rc.calls.get(previous) or rc.presenter
            member = self._member_of(call_id)
            event(log, "member.content_stopped", room=rc.room, call_id=call_id,
                  member=member.member_id if member else None, reason=reason)
            if rc.presenter == call_id:
                rc.presenter, rc.source = None, None
        if not rc.active:
            rc.started_at = None
            self._content_layout(rc, False)

    def _content_layout(self, rc: RoomContent, on: bool) -> None:
        """'Content in people': while content runs its picture is a tile of people video (a region
        with reserved = "content", else a plain tile) and the room's content_layout, if set, replaces
        its layout; the layout before comes back after."""
        room = self.conference.rooms.get(rc.room)
        if room is None:
            return
        room.content_source = (lambda now: self.picture(rc, now)) if on else None
        self._sync_viewers(rc)
        if on:
            presenter = self._member_of(rc.presenter)
            room.content_name = f"Content: {presenter.display_name}" if presenter else "Content"
        if not room.spec.content_layout:
            return
        state = room.video.state
        if on and rc.previous_layout is None:
            rc.previous_layout = state.layout
            room.video.state = set_mode(state, state.mode, room.spec.content_layout)
        elif not on and rc.previous_layout is not None:
            room.video.state = set_mode(state, state.mode, rc.previous_layout)
            rc.previous_layout = None
        room.content_people_layout = rc.previous_layout

    def _sync_viewers(self, rc: RoomContent) -> None:
        """The room's members that have a content stream: they keep people video as it was."""
        room = self.conference.rooms.get(rc.room)
        if room is None:
            return
        members = (self._member_of(call_id) for call_id in rc.receivers)
        room.content_viewers = {m.member_id for m in members if m is not None}

    # ------------------------------------------------------------------ media in

    def receive_rtp(self, leg: Leg, packet: RtpPacket, now: float) -> None:
        """A packet on a call's content stream: decoded only while that call presents."""
        member = leg.member
        if member is None:
            return
        rc = self.rooms.get(member.room)
        if rc is None or rc.presenter != leg.call_id or rc.source is None:
            return  # content sent without the floor is dropped (RFC 8856: the floor gates the stream)
        try:
            rc.source.receive(packet, now)
        except Exception:  # noqa: BLE001 - a presenter's broken stream is its own problem
            self.errors["content decode"] += 1

    def receive_rtcp(self, leg: Leg, packets: list[RtcpPacket], now: float) -> None:
        """A receiver's RTCP on its content stream: PLI/FIR asks its encoding for a keyframe."""
        if any(isinstance(p, (Pli, Fir)) for p in packets):
            self.keyframe_requested(leg)

    def keyframe_requested(self, leg: Leg) -> None:
        """A receiver asks for a keyframe of its content (RTCP PLI/FIR, or H.245
        videoFastUpdatePicture on its H.239 channel): its encoding sends one (rate-limited)."""
        member = leg.member
        rc = self.rooms.get(member.room) if member is not None else None
        receiver = rc.receivers.get(leg.call_id) if rc is not None else None
        encoding = rc.encodings.get(receiver.key) if rc is not None and receiver is not None else None
        if encoding is not None:
            encoding.keyframe_wanted = True

    def housekeeping(self, now: float, publish: bool = False) -> None:
        """The presenter's stream: keyframe requests (rate-limited in VideoIn) and NACKs out; with
        `publish` (once a second) a sender report on every content stream we send."""
        for rc in self.rooms.values():
            for receiver in list(rc.receivers.values()) if publish else ():
                leg = self.legs.get(receiver.call_id)
                transport = leg.transports.get(CONTENT) if leg is not None else None
                if transport is not None and receiver.rtcp is not None and receiver.viewer.out.packet_count:
                    try:
                        transport.send_rtcp(receiver.rtcp.build_report(now))
                    except Exception:  # noqa: BLE001 - that receiver's report alone is missed
                        self.errors["content rtcp"] += 1
            source = rc.source
            if source is None or rc.presenter is None:
                continue
            source.handle_timer(now)
            if source.feedback:
                leg = self.legs.get(rc.presenter)
                transport = leg.transports.get(CONTENT) if leg is not None else None
                if transport is not None:
                    transport.send_rtcp(serialize_compound(source.feedback))
                if leg is not None and leg.on_content_keyframe_request is not None and any(
                        isinstance(f, (Pli, Fir)) for f in source.feedback):
                    leg.on_content_keyframe_request()  # an H.323 presenter: videoFastUpdatePicture
                source.feedback.clear()

    # ------------------------------------------------------------------ media out

    def picture(self, rc: RoomContent, now: float) -> I420 | None:
        if rc.operator:
            return rc.slides.picture if rc.slides is not None else None
        if rc.source is not None:
            # the last decoded slide, however old: presenters send static slides at 1 fps or less
            return rc.source.picture  # type: ignore[return-value]
        return None

    def frame_jobs(self, now: float) -> list[tuple[RoomContent, ContentEncoding, I420, int, bool]]:
        """The content encodes due this content tick: one per distinct receiver setting."""
        jobs = []
        for rc in self.rooms.values():
            if not rc.active or not rc.receivers:
                continue
            picture = self.picture(rc, now)
            if picture is None:
                continue
            wanted: dict[VideoEncoderConfig, set[str]] = {}
            for receiver in rc.receivers.values():
                if receiver.call_id == rc.presenter or not receiver.line.we_send:
                    continue
                wanted.setdefault(receiver.key, set()).add(receiver.call_id)
            for config in [c for c in rc.encodings if c not in wanted]:
                del rc.encodings[config]
            for config, calls in wanted.items():
                encoding = rc.encodings.get(config)
                if encoding is None:
                    try:
                        encoding = ContentEncoding(config, create_video_encoder(config), _payloader(config),
                                                   alloc_i420(config.width, config.height))
                    except Exception:  # noqa: BLE001 - those receivers get no content, the rest do
                        self.errors["content encoder"] += 1
                        continue
                    rc.encodings[config] = encoding
                new = calls - encoding.receivers
                encoding.receivers = calls
                if new:
                    encoding.keyframe_wanted = True
                force = encoding.keyframe_wanted and now - encoding.last_keyframe >= KEYFRAME_MIN_INTERVAL
                if rc.pts_base is None:
                    rc.pts_base = now
                pts = int((now - rc.pts_base) * 90000) & 0xFFFFFFFF
                jobs.append((rc, encoding, picture, pts, force))
        return jobs

    @staticmethod
    def encode(encoding: ContentEncoding, picture: I420, pts: int, force: bool) -> tuple[list[bytes], bool]:
        """Scale (letterboxed) and encode one content frame; on a worker thread."""
        canvas = encoding.canvas
        height, width = picture.y.shape
        dst_rect = Rect(0, 0, encoding.config.width, encoding.config.height)
        crop, dst = fit(width, height, dst_rect, Fit.LETTERBOX)
        source = CanvasPlanes(picture.y[crop.y: crop.bottom, crop.x: crop.right],
                              picture.u[crop.y // 2: crop.bottom // 2, crop.x // 2: crop.right // 2],
                              picture.v[crop.y // 2: crop.bottom // 2, crop.x // 2: crop.right // 2])
        if dst != dst_rect:
            mix.fill_rect_i420(canvas, (0, 0, dst_rect.w, dst_rect.h), (16, 128, 128))
        shrink = crop.w >= 2 * dst.w or crop.h >= 2 * dst.h
        mix.scale_i420(source, canvas, (dst.x, dst.y, dst.w, dst.h),
                       mix.ScaleMethod.AREA if shrink else mix.ScaleMethod.BILINEAR)
        out = encoding.encoder.encode(canvas, pts, force)
        if not out:
            return [], False
        frame = out[0]
        payloads = (encoding.payloader.payload_nals(1200, list(frame.nals)) if frame.nals
                    else encoding.payloader.payload(1200, frame.data))
        return payloads, frame.keyframe

    def deliver(self, rc: RoomContent, encoding: ContentEncoding, payloads: list[bytes], keyframe: bool,
                pts: int, now: float) -> None:
        if not payloads:
            return
        if keyframe:
            encoding.keyframe_wanted = False
            encoding.last_keyframe = now
        encoding.note_frame(now, sum(len(p) for p in payloads))
        last = len(payloads) - 1
        for call_id in list(encoding.receivers):
            receiver = rc.receivers.get(call_id)
            leg = self.legs.get(call_id)
            transport = leg.transports.get(CONTENT) if leg is not None else None
            if receiver is None or transport is None:
                continue
            try:
                packets = [receiver.viewer.out.packetize(p, pts, now, marker=i == last)
                           for i, p in enumerate(payloads)]
                transport.send_rtp_many(packets)
            except Exception:  # noqa: BLE001 - this receiver alone misses the frame
                self.errors["content send"] += 1

    # ------------------------------------------------------------------ operator

    def _rc(self, room_number: str) -> RoomContent:
        if room_number not in self.conference.rooms:
            raise KeyError(room_number)
        return self._room(room_number)

    def status(self, room_number: str) -> dict[str, Any]:
        rc = self._rc(room_number)
        holder = rc.server.holder_user
        presenter = self._member_of(rc.presenter)
        return {
            "room": room_number, "conference_id": rc.server.conference_id, "floor_id": rc.server.floor_id,
            "policy": rc.server.policy.mode, "takeover": rc.server.policy.takeover,
            "holder": "operator" if holder == OPERATOR else (presenter.member_id if presenter else None),
            "holder_name": presenter.display_name if presenter else None,
            "pending": [m.member_id for m in (self._member_of(rc.calls.get(u)) for u in rc.server.pending_users())
                        if m is not None],
            "bfcp_users": len(rc.server.users), "receivers": len(rc.receivers),
            "slides": {"file": rc.slides.path.name, "page": rc.slides.page, "pages": rc.slides.pages}
            if rc.slides else None,
            "encodings": [{"encoding": e.label, "receivers": len(e.receivers), "frames": e.frames,
                           "fps": round(e.fps, 2), "bitrate": round(e.bitrate)} for e in rc.encodings.values()],
        }

    def user_of_member(self, room_number: str, member_id: int) -> int:
        rc = self._rc(room_number)
        for call_id, user_id in rc.users.items():
            member = self._member_of(call_id)
            if member is not None and member.member_id == member_id and user_id in rc.server.users:
                return user_id
        raise LookupError(f"member {member_id} of room {room_number} has no BFCP floor control "
                          f"(its terminal did not offer BFCP)")

    def grant(self, room_number: str, member_id: int) -> None:
        user_id = self.user_of_member(room_number, member_id)
        self._rc(room_number).server.grant(user_id, self.clock())
        self.process_events()

    def revoke(self, room_number: str) -> bool:
        rc = self._rc(room_number)
        holder = rc.server.revoke(self.clock())
        self.process_events()
        return holder is not None

    def start_slides(self, room_number: str, path: Path) -> Slides:
        rc = self._rc(room_number)
        slides = Slides(path)  # raises SlidesError before anything changes
        rc.slides = slides
        rc.server.operator_start(self.clock())
        self.process_events()
        return slides

    def page(self, room_number: str, page: int) -> Slides:
        rc = self._rc(room_number)
        if rc.slides is None or not rc.operator:
            raise LookupError(f"room {room_number} shows no operator slides; start them first "
                              f"(`mcu ctl content start {room_number} FILE`)")
        rc.slides.show(page)
        for encoding in rc.encodings.values():
            encoding.keyframe_wanted = True  # a new page is a new picture: no waiting for the next IDR
        return rc.slides

    def stop_slides(self, room_number: str) -> bool:
        rc = self._rc(room_number)
        if not rc.operator:
            return False
        rc.server.operator_stop(self.clock())
        rc.slides = None
        self.process_events()
        return True

    # ------------------------------------------------------------------ metrics

    def snapshot(self) -> dict[str, Any]:
        return {
            "held": {number: 1 if rc.active else 0 for number, rc in self.rooms.items()},
            "requests": dict(self.requests),
            "dropped": dict(self.registry.dropped),
            "encodings": {(number, e.label): (e.fps, e.bitrate) for number, rc in self.rooms.items()
                          for e in rc.encodings.values()},
        }

