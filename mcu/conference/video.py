"""Continuous-presence video: decode only who is shown, compose, encode once per distinct view.

- `VideoIn` (per member): RTP -> jitter buffer (frames by timestamp and marker, loss ->
  NACK or keyframe request) -> decoder, but only while the member is on screen; when it
  becomes visible it is asked for a keyframe (PLI, or FIR for terminals that want FIR).
- `ViewEncoder` (per distinct picture and encoder settings): compose on an I420 canvas with
  the `_mix` kernels and encode; its output payloads are shared by every viewer, each of
  which rewrites them into its own RTP stream (own SSRC, sequence, timestamp).
- `RoomVideo` (per room): asks the layout engine who sees what, keeps the encoders, and
  rate-limits keyframes: periodic, on a receiver's PLI/FIR at most once per interval, and
  for a member joining an existing encoder.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from mcu.calls.streams import Stream
from mcu.layout.compose import Planes, TileKey, compose
from mcu.layout.engine import (
    Assignment,
    RoomState,
    new_room,
    observe,
    plan_views,
    set_mode,
    set_self_view,
    shared_picture,
    with_config,
)
from mcu.layout.engine import Member as LayoutMember
from mcu.layout.model import CONTENT_SITE, ROLE_CHAIR, ROLE_PARTICIPANT, Fit, LayoutConfig, RoomMode
from mcu.media.base import VideoEncoder, VideoEncoderConfig
from mcu.media.errors import CorruptVideoError
from mcu.media.frames import I420, alloc_i420
from mcu.media.registry import create_video_encoder, get_video_decoder
from mcu.rtp.h263 import (
    H263Rfc2190Depacketizer,
    H263Rfc2190Payloader,
    H263Rfc4629Depacketizer,
    H263Rfc4629Payloader,
)
from mcu.rtp.h264 import H264Depacketizer, H264Payloader
from mcu.rtp.jitterbuffer import FrameReady, KeyframeRequest, NackRequest, VideoJitterBuffer
from mcu.rtp.packet import RtpPacket
from mcu.rtp.rtcp import Fir, Nack, Pli, RtcpPacket
from mcu.rtp.session import OutboundStream
from mcu.rtp.vp8 import Vp8Depacketizer, Vp8Payloader

VIDEO_CLOCK = 90000
MTU_PAYLOAD = 1200
DEFAULT_VIDEO_KBPS = 1500  # when the peer states no limit
MIN_VIDEO_KBPS = 64  # below this the encoder cannot hold a picture; a tighter cap is not honoured
MAX_VIDEO_KBPS = 4000
STALL_SECONDS = 2.0  # a member whose picture is older than this gets a name card
KEYFRAME_ASK_INTERVAL = 0.5  # seconds between our PLI/FIR to one sender
KEYFRAME_RETRY = 1.0  # s without a decoded picture from a shown sender before we ask again
RETRANSMIT_HISTORY = 512  # video packets kept per viewer for NACKs: 2-3 s of 720p at 1.5 Mbit/s

# Canvas sizes by what a member can receive, best first.
CANVAS_TIERS = ((1280, 720), (640, 360), (352, 288))
# Content (slides) goes up to 1080p: sharp text matters more than motion, at 5-15 fps.
CONTENT_TIERS = ((1920, 1080), *CANVAS_TIERS)


def _depacketizer(codec: str):  # type: ignore[no-untyped-def]
    return {"H264": H264Depacketizer, "VP8": Vp8Depacketizer, "H263-1998": H263Rfc4629Depacketizer,
            "H263-2000": H263Rfc4629Depacketizer, "H263": H263Rfc2190Depacketizer}[codec.upper()]()


def _payloader(config: VideoEncoderConfig):  # type: ignore[no-untyped-def]
    codec = config.codec.upper()
    if codec == "H264":
        return H264Payloader(config.packetization_mode)
    if codec == "VP8":
        return Vp8Payloader()
    if codec == "H263":
        return H263Rfc2190Payloader()
    return H263Rfc4629Payloader()


class VideoIn:
    """One member's incoming video: assembled always, decoded only while shown."""

    def __init__(self, media: Stream, sender_ssrc: int):
        codec = media.codecs[0]
        self.payload_type = codec.payload_type
        self.codec = codec.name
        self.jitter = VideoJitterBuffer(_depacketizer(codec.name), nack="nack" in media.rtcp_fb)
        self.decoder = get_video_decoder(codec.name)
        self.use_fir = "fir" in media.keyframe_methods and "pli" not in media.keyframe_methods
        self.sender_ssrc = sender_ssrc  # our SSRC as the sender of feedback
        self.remote_ssrc: int | None = None
        self.picture: Planes | None = None
        self.picture_time = -1e9
        self.visible = False
        self.feedback: list[RtcpPacket] = []
        self.frames_decoded = 0
        self.decode_seconds = 0.0  # inside the decoder, all frames (calibration splits receive costs)
        self.decode_errors = 0
        self.keyframe_requests = 0
        self.nacks_sent = 0
        self.dropped: Counter[str] = Counter()
        self._last_ask = -1e9
        self._fir_seq = 0

    def receive(self, packet: RtpPacket, now: float) -> None:
        if packet.payload_type != self.payload_type:
            self.dropped["unexpected payload type"] += 1
            return
        self.remote_ssrc = packet.ssrc
        for ev in self.jitter.push(packet, now):
            if isinstance(ev, FrameReady):
                if self.visible:
                    self._decode(ev, now)
            elif isinstance(ev, KeyframeRequest):
                self.ask_keyframe(now)
            elif isinstance(ev, NackRequest):
                self._nack(ev)

    def _nack(self, request: NackRequest) -> None:
        self.nacks_sent += 1
        self.feedback.append(Nack(self.sender_ssrc, request.ssrc, list(request.sequence_numbers)))

    def handle_timer(self, now: float) -> None:
        for ev in self.jitter.handle_timer(now):
            if isinstance(ev, KeyframeRequest):
                self.ask_keyframe(now)
            elif isinstance(ev, NackRequest):
                self._nack(ev)
        # shown, but no picture comes: our PLI/FIR was lost (UDP, or it reached the sender before
        # its media was up) or ignored; ask again rather than wait for its next periodic keyframe
        if self.visible and now - self.picture_time > KEYFRAME_RETRY and now - self._last_ask >= KEYFRAME_RETRY:
            self.ask_keyframe(now)

    def set_visible(self, visible: bool, now: float) -> None:
        if visible and not self.visible:
            self.ask_keyframe(now, force=True)
        self.visible = visible

    def ask_keyframe(self, now: float, force: bool = False) -> None:
        if self.remote_ssrc is None or (not force and now - self._last_ask < KEYFRAME_ASK_INTERVAL):
            return
        self._last_ask = now
        self.keyframe_requests += 1
        if self.use_fir:
            self._fir_seq = (self._fir_seq + 1) & 0xFF
            self.feedback.append(Fir(self.sender_ssrc, [(self.remote_ssrc, self._fir_seq)]))
        else:
            self.feedback.append(Pli(self.sender_ssrc, self.remote_ssrc))

    def current_picture(self, now: float) -> Planes | None:
        if now - self.picture_time > STALL_SECONDS:
            return None
        return self.picture

    def _decode(self, ready: FrameReady, now: float) -> None:
        started = time.perf_counter()
        try:
            frames = self.decoder.decode(ready.frame, ready.keyframe)
        except CorruptVideoError:
            self.decode_errors += 1
            self.ask_keyframe(now)
            return
        finally:
            self.decode_seconds += time.perf_counter() - started
        for frame in frames:
            self.picture = frame
            self.picture_time = now
            self.frames_decoded += 1


@dataclass(frozen=True)
class VideoCap:
    """A lower frame rate or canvas for a member's views, when admission degrades a join."""

    fps: int | None = None
    max_width: int | None = None
    max_height: int | None = None


def encoder_config_for(media: Stream, fps: int, preset: str, keyframe_interval: float,
                       cap: VideoCap | None = None,
                       tiers: tuple[tuple[int, int], ...] = CANVAS_TIERS) -> VideoEncoderConfig:
    """The encoder settings a member needs: codec, canvas size within its limits (and the cap
    admission set for it), mode, bitrate."""
    codec = media.codecs[0]
    limits = media.video_limits
    width, height = tiers[-1]
    for w, h in tiers:
        fits = limits is None or (w <= limits.max_width and h <= limits.max_height)
        capped = cap is not None and cap.max_width is not None and cap.max_height is not None and (
            w > cap.max_width or h > cap.max_height)
        if fits and not capped:
            width, height = w, h
            break
    if cap is not None and cap.fps is not None:
        fps = min(fps, cap.fps)
    if codec.name.upper() == "H263":
        width, height = 352, 288  # H.263 baseline: CIF
    max_fps = int(limits.max_fps) if limits and limits.max_fps else fps
    out_fps = max(1, min(fps, max_fps))
    kbps = media.max_send_kbps or DEFAULT_VIDEO_KBPS
    bitrate = max(MIN_VIDEO_KBPS, min(kbps, MAX_VIDEO_KBPS)) * 1000
    return VideoEncoderConfig(
        codec=codec.name.upper() if codec.name.upper() != "H263-2000" else "H263-1998",
        width=width, height=height, fps=out_fps, bitrate=bitrate,
        keyint=max(1, round(keyframe_interval * out_fps)), preset=preset,
        profile="constrained-baseline" if codec.name.upper() == "H264" else None,
        packetization_mode=codec.packetization_mode or 0 if codec.name.upper() == "H264" else 1,
        max_payload_size=MTU_PAYLOAD,
    )


@dataclass
class EncodedPicture:
    payloads: list[bytes]
    media_timestamp: int
    keyframe: bool


class ViewEncoder:
    """One distinct picture with one set of encoder settings, shared by its viewers."""

    def __init__(self, assignment: Assignment, config: VideoEncoderConfig, view_id: str = "v0"):
        self.view_id = view_id
        self.assignment = assignment
        self.config = config
        self.encoder: VideoEncoder = create_video_encoder(config)
        self.canvas = alloc_i420(config.width, config.height)
        self.payloader = _payloader(config)
        self.viewers: set[int] = set()
        self.keyframe_wanted: str | None = "join"
        self.last_keyframe = -1e9
        self.frames = 0
        self.keyframes: Counter[str] = Counter()
        self.last_used = 0.0
        self.bytes_out = 0
        self._layout: object = None  # the layout the canvas was last drawn with
        self.compose_seconds = 0.0  # of the latest frame, for the metrics histograms
        self.encode_seconds = 0.0

    def render(self, layout, pictures: dict[str, Planes | None], names: dict[str, str],  # type: ignore[no-untyped-def]
               floor: str | None, fit_mode: Fit | None, pts: int, force_keyframe: bool,
               tiles: Mapping[TileKey, Planes] | None = None) -> EncodedPicture | None:
        """Compose (from tiles scaled once for all views) and encode one frame, on a worker thread."""
        started = time.perf_counter()
        # The canvas keeps the layout's background from frame to frame; a reload may redefine it.
        background_drawn = self.frames > 0 and layout is self._layout
        self._layout = layout
        compose(self.canvas, layout, self.assignment.slots, pictures, names, floor, fit_mode, tiles,
                background_drawn=background_drawn)
        composed = time.perf_counter()
        out = self.encoder.encode(self.canvas, pts, force_keyframe)
        self.compose_seconds, self.encode_seconds = composed - started, time.perf_counter() - composed
        if not out:
            return None
        encoded = out[0]
        if encoded.nals:
            payloads = self.payloader.payload_nals(MTU_PAYLOAD, list(encoded.nals))
        else:
            payloads = self.payloader.payload(MTU_PAYLOAD, encoded.data)
        self.bytes_out += sum(len(p) for p in payloads)
        return EncodedPicture(payloads, pts, encoded.keyframe)


class OutputView:
    """The room picture for outputs with no signalling (a recording, a live stream): composed from
    the frame's shared tiles like a view, then copied for the outputs' own encoder threads (which
    may still hold the previous copy while this canvas is drawn again)."""

    def __init__(self, width: int, height: int):
        self.canvas = alloc_i420(width, height)
        self.width, self.height = width, height
        self.frames = 0
        self.last_used = 0.0
        self._layout: object = None

    def render(self, layout, slots: tuple[str | None, ...], pictures: dict[str, Planes | None],  # type: ignore[no-untyped-def]
               names: dict[str, str], floor: str | None, fit_mode: Fit | None,
               tiles: Mapping[TileKey, Planes] | None = None) -> I420:
        background_drawn = self.frames > 0 and layout is self._layout
        self._layout = layout
        compose(self.canvas, layout, slots, pictures, names, floor, fit_mode, tiles,
                background_drawn=background_drawn)
        self.frames += 1
        return copy_i420(self.canvas)


def copy_i420(planes: I420) -> I420:
    """A copy in one contiguous buffer (as alloc_i420 lays it out), which PyAV takes without a copy."""
    y, u, v = planes
    buf = np.empty(y.size + u.size + v.size, np.uint8)
    out = I420(buf[: y.size].reshape(y.shape), buf[y.size: y.size + u.size].reshape(u.shape),
               buf[y.size + u.size:].reshape(v.shape))
    out.y[...], out.u[...], out.v[...] = y, u, v
    return out


@dataclass
class VideoViewer:
    """A member's outgoing video stream and the encoder it currently watches."""

    out: OutboundStream
    config: VideoEncoderConfig
    encoder_key: tuple | None = None


@dataclass
class RoomVideo:
    layouts: LayoutConfig
    layout: str
    mode: str
    fps: int = 30
    keyframe_min_interval: float = 1.0
    fit_mode: Fit | None = None
    self_view: bool = False
    state: RoomState = field(init=False)
    encoders: dict[tuple, ViewEncoder] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = set_self_view(new_room(self.layouts, 0.0, RoomMode(self.mode), self.layout),
                                   self.self_view)
        self._epoch: float | None = None
        self._views_made = 0
        self.closed_views: list[str] = []  # view ids whose encoder was dropped (metrics forget them)

    def reconfigure(self, layouts: LayoutConfig, layout: str | None, mode: str | None,
                    self_view: bool = False) -> None:
        self.layouts = layouts
        self.state = set_self_view(with_config(self.state, layouts), self_view)
        if layout is not None or mode is not None:
            self.state = set_mode(self.state, RoomMode(mode or self.state.mode), layout)

    def plan(self, members: list[LayoutMember], now: float, people_only: frozenset[str] = frozenset(),
             people_layout: str | None = None) -> dict[Assignment, list[str]]:
        """Who sees which picture. `people_only`: viewers that have a content stream of their own see
        the room as it is without content (no content tile, `people_layout` if given)."""
        self.state = observe(self.state, members, now)
        views = {key: list(view.viewers) for key, view in plan_views(self.state, now).items()}
        if not people_only:
            return views
        layout = people_layout if people_layout and self.state.config.has(people_layout) else self.state.layout
        plain = replace(self.state, layout=layout,
                        members=tuple(m for m in self.state.members if m.id != CONTENT_SITE))
        out = {key: [v for v in viewers if v not in people_only] for key, viewers in views.items()}
        for key, view in plan_views(plain, now).items():
            kept = [v for v in view.viewers if v in people_only]
            if kept:
                out.setdefault(key, []).extend(kept)
        return {key: viewers for key, viewers in out.items() if viewers}

    def output_assignment(self, layout: str | None, now: float) -> Assignment:
        """The picture of an output: the listeners' view (nobody left out), or that of `layout`."""
        state = self.state
        if layout is not None and layout != state.layout and state.config.has(layout):
            state = set_mode(state, state.mode, layout)
        return shared_picture(state, now)

    def encoder_for(self, assignment: Assignment, viewer_id: int, viewer: VideoViewer, now: float) -> ViewEncoder:
        key = (assignment, viewer.config)
        encoder = self.encoders.get(key)
        if encoder is None:
            self._views_made += 1
            encoder = self.encoders[key] = ViewEncoder(assignment, viewer.config, f"v{self._views_made}")
        if viewer.encoder_key != key:
            if viewer.encoder_key in self.encoders:
                self.encoders[viewer.encoder_key].viewers.discard(viewer_id)
            viewer.encoder_key = key
            viewer.out.switch_source(now)
            encoder.viewers.add(viewer_id)
            self.request_keyframe(encoder, "join", now)
        encoder.last_used = now
        return encoder

    def request_keyframe(self, encoder: ViewEncoder, reason: str, now: float) -> None:
        """A keyframe for this encoder's viewers, at most once per keyframe_min_interval."""
        if encoder.keyframe_wanted is None:
            encoder.keyframe_wanted = reason

    def keyframe_due(self, encoder: ViewEncoder, now: float) -> str | None:
        if encoder.keyframe_wanted and now - encoder.last_keyframe >= self.keyframe_min_interval:
            reason, encoder.keyframe_wanted = encoder.keyframe_wanted, None
            return reason
        return None

    def forget_idle(self, now: float) -> None:
        for key in [k for k, e in self.encoders.items() if not e.viewers or now - e.last_used > 2.0]:
            self.closed_views.append(self.encoders.pop(key).view_id)

    def pts_at(self, now: float) -> int:
        """90 kHz media time of a frame made at `now`: from the clock, so a frame the room could not
        make in time shows as a gap in RTP timestamps instead of slowing the picture down."""
        if self._epoch is None:
            self._epoch = now
        return round((now - self._epoch) * VIDEO_CLOCK)


def layout_member(member_id: int, site_id: str | None, chair: bool, has_video: bool, speaking: bool,
                  level: float) -> LayoutMember:
    return LayoutMember(id=str(member_id), site_id=site_id, role=ROLE_CHAIR if chair else ROLE_PARTICIPANT,
                        has_video=has_video, speaking=speaking, level=level)


def new_viewer(config: VideoEncoderConfig, payload_type: int) -> VideoViewer:
    return VideoViewer(OutboundStream(random.getrandbits(32), payload_type, VIDEO_CLOCK,
                                      history=RETRANSMIT_HISTORY), config)
