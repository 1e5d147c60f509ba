"""SyntheticEndpoint: one simulated site (SIP UA + RTP) for tests and load benchmarks.

Many endpoints share one asyncio loop. Each sends a distinctive tone (or room noise when not
talking) every 20 ms and a picture (its colour and number) at a fixed frame rate, both from
pre-encoded cycles paced by absolute deadlines, and records what it receives: decoded audio
in a ring buffer with arrival times, assembled and decoded video frames, DTMF.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mcu.io.sip_transport import SipTransportShell, start_sip
from mcu.media.frames import I420
from mcu.rtp.dtmf import DtmfPacket, dtmf_packets
from mcu.rtp.errors import MediaParseError
from mcu.rtp.packet import RtpPacket
from mcu.rtp.rtcp import Fir, Nack, Pli, ReceiverReport, parse_compound, serialize_compound
from mcu.sdp.codecs import OPUS, Capabilities
from mcu.sdp.negotiate import (
    MediaResult,
    NegotiationResult,
    create_offer,
    negotiate,
    process_answer,
)
from mcu.sdp.session import MediaDescription, SessionDescription, parse, serialize
from mcu.sip import events as ev
from mcu.sip.ua import UaConfig, UserAgent
from mcu.synthetic.identity import RGB, YUV, colour_for, rgb_to_yuv, tone_for
from mcu.synthetic.media import (
    FRAME_SECONDS,
    AudioCycle,
    AudioReceiver,
    StreamCounters,
    VideoCycle,
    VideoReceiver,
    audio_cycle,
    video_cycle,
)
from mcu.synthetic.pictures import DEFAULT_TOLERANCE, find_colour
from mcu.synthetic.sound import goertzel_power
from mcu.synthetic.udp import Address, MediaSockets

AUDIO_CODECS = ("PCMU", "PCMA", "G722", "opus")
VIDEO_CODECS = ("H264", "VP8")
MAX_BURST = 5  # frames sent in one wake-up when the loop was late
MAX_LATE = 0.2  # s behind schedule: skip ahead instead of bursting
HOUSEKEEPING_INTERVAL = 0.1
FIRST_KEYFRAME_WAIT = 1.0  # s without a keyframe before we ask for one
PLI_MIN_INTERVAL = 0.5  # s between two PLIs we send
DTMF_GAP_FRAMES = 3  # 20 ms voice frames between two DTMF digits
DEFAULT_DTMF_DURATION = 0.1
DTMF_INFO_TYPE = "application/dtmf-relay"
EARLY_PACKETS_KEPT = 300  # media that arrives before we have read the SDP answer
_RTP_HEADER = struct.Struct("!BBHII")


class EndpointError(RuntimeError):
    """Base of the synthetic endpoint's errors."""


class CallSetupError(EndpointError):
    """The call could not be set up (rejected, timed out, unusable SDP)."""


class NotInCallError(EndpointError):
    """The operation needs an established call."""


@dataclass
class EndpointConfig:
    number: int
    name: str | None = None  # display name (UTF-8); default "Site <number>"
    audio_codec: str = "PCMU"  # PCMU, PCMA, G722, opus
    video_codec: str | None = None  # H264, VP8 or None for audio-only
    h264_packetization_mode: int = 1
    width: int = 640
    height: int = 360
    fps: int = 15
    video_cycle_seconds: float = 4.0  # an IDR starts every cycle
    decode_video: bool = True  # False: assemble and count frames only (cheap receivers)
    sip_transport: str = "udp"  # udp or tcp
    host: str = "127.0.0.1"
    sdp_address: str | None = None  # what our SDP's c= line says (default: host), e.g. a host name
    talking: bool = True
    send_media: bool = True  # False: a terminal that sends no RTP at all (waits for ours, or broken)
    tone_hz: int | None = None  # default tone_for(number)
    colour: RGB | None = None  # default colour_for(number)
    ring_seconds: float = 10.0
    keyframe_restart_interval: float = 0.5  # min s between two cycle restarts on PLI/FIR
    hold_sends_media: bool = False

    def __post_init__(self) -> None:
        if self.audio_codec.lower() not in {c.lower() for c in AUDIO_CODECS}:
            raise ValueError(f"audio_codec {self.audio_codec!r}: use one of {AUDIO_CODECS}")
        if self.video_codec is not None and self.video_codec.upper() not in VIDEO_CODECS:
            raise ValueError(f"video_codec {self.video_codec!r}: use one of {VIDEO_CODECS} or None")
        if self.h264_packetization_mode not in (0, 1):
            raise ValueError("h264_packetization_mode must be 0 or 1")
        if self.sip_transport not in ("udp", "tcp"):
            raise ValueError(f"sip_transport {self.sip_transport!r}: use udp or tcp")
        if not 1 <= self.fps <= 60:
            raise ValueError(f"fps {self.fps} must be within 1..60")


def endpoint_capabilities(cfg: EndpointConfig, receive_size: tuple[int, int] | None = None) -> Capabilities:
    """What a synthetic site offers: its one audio codec, its video codec at the size it sends
    (or `receive_size`, when it asks for a larger picture than it sends)."""
    audio = OPUS if cfg.audio_codec.lower() == "opus" else cfg.audio_codec.upper()
    width, height = receive_size or (cfg.width, cfg.height)
    return Capabilities(
        audio_codecs=(audio,),
        video_codecs=(cfg.video_codec.upper(),) if cfg.video_codec else ("H264",),
        h264_packetization_modes=(cfg.h264_packetization_mode,),
        video_max_width=width, video_max_height=height, video_max_fps=cfg.fps,
        session_name="synthetic", username=f"site{cfg.number}",
    )


@dataclass
class EndpointStats:
    audio: StreamCounters
    video: StreamCounters
    audio_decode_errors: int = 0
    video_frames_received: int = 0
    video_keyframes_received: int = 0
    video_frames_decoded: int = 0
    video_decode_errors: int = 0
    video_frames_dropped: int = 0
    plis_sent: int = 0
    keyframe_requests_received: int = 0
    cycle_restarts: int = 0
    late_audio_ticks: int = 0
    late_video_ticks: int = 0
    dtmf_received: list[str] = field(default_factory=list)


class _Stream:
    """Our outgoing RTP numbering for one media line."""

    __slots__ = ("marker_next", "seq", "ssrc", "ts_base")

    def __init__(self, rng: random.Random) -> None:
        self.ssrc = rng.getrandbits(32)
        self.seq = rng.getrandbits(16)
        self.ts_base = rng.getrandbits(32)
        self.marker_next = True

    def packet(self, pt: int, timestamp: int, marker: bool, payload: bytes) -> bytes:
        seq = self.seq
        self.seq = (seq + 1) & 0xFFFF
        b1 = pt | 0x80 if marker else pt
        return _RTP_HEADER.pack(0x80, b1, seq, (self.ts_base + timestamp) & 0xFFFFFFFF,
                                self.ssrc) + payload


class SyntheticEndpoint:
    """One simulated site. `await call(uri)` or `await listen()`, then inspect what it received."""

    def __init__(self, number: int, name: str | None = None, **options: object) -> None:
        self.config = EndpointConfig(number=number, name=name, **options)  # type: ignore[arg-type]
        cfg = self.config
        self.number = number
        self.name = cfg.name or f"Site {number}"
        self.tone_hz = cfg.tone_hz or tone_for(number)
        self.colour_rgb: RGB = cfg.colour or colour_for(number)
        self.colour: YUV = rgb_to_yuv(self.colour_rgb)
        self.talking = cfg.talking
        self._rng = random.Random()
        self.ua = UserAgent(UaConfig(user_agent="synthetic-endpoint/0.1",
                                     contact_user=str(number), display_name=self.name))
        self.shell: SipTransportShell | None = None
        self.call_id: str | None = None
        self.in_call = False
        self.ended_reason: str | None = None
        self.info_digits: list[str] = []
        self.negotiation: NegotiationResult | None = None
        self._local_sdp: SessionDescription | None = None
        self._sockets: dict[str, MediaSockets] = {}
        self._out: dict[str, _Stream] = {}
        self.audio_rx: AudioReceiver | None = None
        self.video_rx: VideoReceiver | None = None
        self._audio_cycle: AudioCycle | None = None
        self._video_cycle: VideoCycle | None = None
        self._audio_pt = 0
        self._dtmf_pt: int | None = None
        self._video_pt = 0
        self._send_audio = False
        self._send_video = False
        self._timers: list[asyncio.TimerHandle] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: list[tuple[type, Callable[[ev.Event], bool], asyncio.Future[ev.Event]]] = []
        self._dtmf_queue: list[DtmfPacket] = []
        self._dtmf_event_ts = 0
        self._dtmf_gap = 0
        self._dtmf_done: asyncio.Future[None] | None = None
        self._audio_counters = StreamCounters()
        self._video_counters = StreamCounters()
        self._plis_sent = 0
        self._last_pli = -1e9
        self._keyframe_requests = 0
        self._cycle_restarts = 0
        self._last_restart = -1e9
        self._late_audio = 0
        self._late_video = 0
        self._media_start = 0.0
        self._audio_frame = 0
        self._video_frame = 0
        self._video_pos = 0
        self._closed = False
        self._holding = False
        self._early: list[tuple[str, bytes]] = []
        self.video_seqs: Counter[int] | None = None  # set to a Counter: every video seq received, counted

    # ------------------------------------------------------------------ setup

    @property
    def sip_port(self) -> int:
        if self.shell is None:
            raise EndpointError("endpoint not started: call start() first")
        return self.shell.transport_info(self.config.sip_transport).port

    @property
    def sip_uri(self) -> str:
        """Where to call this endpoint (in listen mode)."""
        uri = f"sip:{self.number}@{self.config.host}:{self.sip_port}"
        return uri + (";transport=tcp" if self.config.sip_transport == "tcp" else "")

    async def start(self) -> None:
        """Bind the SIP listener and the media sockets and pre-encode the media (idempotent)."""
        if self.shell is not None:
            return
        cfg = self.config
        self._loop = asyncio.get_running_loop()
        self.shell = await start_sip(self.ua, [(cfg.sip_transport, cfg.host, 0)],
                                     on_event=self._on_event)
        kinds = ["audio"] + (["video"] if cfg.video_codec else [])
        for kind in kinds:
            self._sockets[kind] = await MediaSockets.open(
                self._audio_in if kind == "audio" else self._video_in,
                self._rtcp_in(kind), cfg.host)
            self._out[kind] = _Stream(self._rng)
        if cfg.video_codec:
            frames = max(1, round(cfg.video_cycle_seconds * cfg.fps))
            self._video_cycle = await asyncio.to_thread(
                video_cycle, cfg.video_codec.upper(), cfg.width, cfg.height, cfg.fps,
                self.colour, str(self.number), frames, cfg.h264_packetization_mode)

    def capabilities(self) -> Capabilities:
        return endpoint_capabilities(self.config)

    def _media_lines(self) -> list[tuple[str, int]]:
        return [(kind, sock.rtp_port) for kind, sock in self._sockets.items()]

    async def call(self, uri: str, timeout: float = 10.0) -> None:
        """INVITE `uri` with our offer, wait for the 200 (ACK is sent) and start media."""
        await self.start()
        if self.call_id is not None:
            raise EndpointError(f"endpoint {self.number} is already in a call")
        cfg = self.config
        if cfg.sip_transport == "tcp" and "transport=" not in uri:
            uri += ";transport=tcp"
        offer = create_offer(self.capabilities(), cfg.sdp_address or cfg.host, self._media_lines(),
                             session_id=self._rng.getrandbits(31))
        self._local_sdp = offer
        self.call_id = self.ua.dial(uri, serialize(offer).encode(), from_user=str(self.number),
                                    display_name=self.name)
        self._transmit()
        call_id = self.call_id
        try:
            answer = await self._wait((ev.CallAnswered, ev.CallFailed, ev.CallEnded),
                                      _for_call(call_id), timeout)
        except TimeoutError:
            self.call_id = None
            raise CallSetupError(f"no final answer from {uri} within {timeout} s") from None
        if not isinstance(answer, ev.CallAnswered):
            self.call_id = None
            status = getattr(answer, "status", None)
            reason = getattr(answer, "reason", "")
            raise CallSetupError(f"call to {uri} failed: {status} {reason}")
        if not answer.body:
            await self.hangup()
            raise CallSetupError(f"{uri} answered 200 without SDP")
        try:
            result = process_answer(offer, answer.body, self.capabilities())
        except ValueError as exc:
            await self.hangup()
            raise CallSetupError(f"unusable SDP answer from {uri}: {exc}") from exc
        self.in_call = True
        self._apply(result)

    async def listen(self, timeout: float = 30.0) -> None:
        """Wait for an INVITE (e.g. the MCU dialling out), answer it and start media."""
        await self.start()
        incoming = await self._wait((ev.IncomingCall,), lambda e: True, timeout)
        assert isinstance(incoming, ev.IncomingCall)
        self.call_id = incoming.call_id
        host = self.config.host
        if incoming.body is None:  # offerless INVITE: offer in the 200, answer comes in the ACK
            offer = create_offer(self.capabilities(), host, self._media_lines(),
                                 session_id=self._rng.getrandbits(31))
            self._local_sdp = offer
            self.ua.answer(self.call_id, 200, serialize(offer).encode())
            self._transmit()
            call_id = self.call_id
            ack = await self._wait((ev.CallEstablished, ev.CallEnded),
                                   _for_call(call_id), timeout)
            if not isinstance(ack, ev.CallEstablished) or not ack.body:
                raise CallSetupError("offerless INVITE: the ACK carried no SDP answer")
            self.in_call = True
            self._apply(process_answer(offer, ack.body, self.capabilities()))
            return
        ports = [self._sockets[m.media].rtp_port if m.media in self._sockets else 0
                 for m in _offer_media(incoming.body)]
        result = negotiate(incoming.body, self.capabilities(), host, ports)
        if result.all_rejected:
            self.ua.reject(self.call_id, 488)
            self._transmit()
            self.call_id = None
            raise CallSetupError("incoming offer has no media we can use (answered 488)")
        self._local_sdp = result.local
        self.ua.answer(self.call_id, 200, result.local_sdp.encode())
        self._transmit()
        self.in_call = True
        self._apply(result)

    # ------------------------------------------------------------------ negotiation -> media

    def _apply(self, result: NegotiationResult) -> None:
        self.negotiation = result
        audio = result.first("audio")
        video = result.first("video")
        self._point(audio, "audio")
        self._point(video, "video")
        if audio is not None and audio.codec is not None and self.audio_rx is None:
            codec = audio.codec
            self._audio_pt = codec.payload_type
            self._dtmf_pt = audio.telephone_event.payload_type if audio.telephone_event else None
            self._audio_cycle = audio_cycle(codec.name, codec.clock_rate, self.tone_hz,
                                            self.number)
            self.audio_rx = AudioReceiver(codec.name, codec.clock_rate, codec.payload_type,
                                          self._dtmf_pt, self.config.ring_seconds,
                                          counters=self._audio_counters)
        if video is not None and video.codec is not None and self.video_rx is None:
            self._video_pt = video.codec.payload_type
            self.video_rx = VideoReceiver(video.codec.name, video.codec.payload_type,
                                          self.config.decode_video, counters=self._video_counters)
        sending = self.config.send_media and (not self._holding or self.config.hold_sends_media)
        self._send_audio = bool(sending and audio and audio.codec and audio.we_send)
        self._send_video = bool(sending and video and video.codec and self._video_cycle
                                and video.we_send)
        early, self._early = self._early, []
        for kind, data in early:
            (self._audio_in if kind == "audio" else self._video_in)(data, ("", 0))
        if not self._timers:
            self._start_media()

    def _point(self, line: MediaResult | None, kind: str) -> None:
        sock = self._sockets.get(kind)
        if sock is None or line is None or not line.accepted or line.remote_address is None:
            return
        sock.set_remote(line.remote_address, line.remote_port, line.remote_rtcp_port,
                        line.rtcp_mux)

    def _start_media(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        self._media_start = now
        self._audio_frame = 0
        self._video_frame = 0
        self._timers = [loop.call_at(now, self._audio_tick),
                        loop.call_at(now + HOUSEKEEPING_INTERVAL, self._housekeeping)]
        if self._video_cycle is not None:
            self._timers.append(loop.call_at(now, self._video_tick))

    def _stop_media(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers = []
        self._send_audio = self._send_video = False
        if self._dtmf_done is not None and not self._dtmf_done.done():
            self._dtmf_done.set_exception(NotInCallError("call ended during DTMF"))
        self._dtmf_queue.clear()

    # ------------------------------------------------------------------ pacing

    def _audio_tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        due = self._media_start + self._audio_frame * FRAME_SECONDS
        if now - due > MAX_LATE:  # the loop stalled: skip rather than flood
            skipped = int((now - due) / FRAME_SECONDS)
            self._audio_frame += skipped
            self._late_audio += skipped
        burst = 0
        while burst < MAX_BURST and self._media_start + self._audio_frame * FRAME_SECONDS <= now:
            self._send_audio_frame(self._audio_frame)
            self._audio_frame += 1
            burst += 1
        self._timers[0] = loop.call_at(
            self._media_start + self._audio_frame * FRAME_SECONDS, self._audio_tick)

    def _send_audio_frame(self, k: int) -> None:
        cycle = self._audio_cycle
        sock = self._sockets["audio"]
        if cycle is None or not self._send_audio:
            return
        stream = self._out["audio"]
        ts = k * cycle.timestamp_step
        if self._dtmf_queue or self._dtmf_gap:
            if self._dtmf_gap and not self._dtmf_queue:
                self._dtmf_gap -= 1
                if not self._dtmf_gap and self._dtmf_done is not None \
                        and not self._dtmf_done.done():
                    self._dtmf_done.set_result(None)
            else:
                self._send_dtmf_packet(stream, sock, ts)
                return
        payloads = cycle.tone if self.talking else cycle.noise
        payload = payloads[k % len(payloads)]
        data = stream.packet(self._audio_pt, ts, stream.marker_next, payload)
        stream.marker_next = False
        if sock.send_rtp(data):
            self._audio_counters.packets_out += 1
            self._audio_counters.bytes_out += len(data)

    def _send_dtmf_packet(self, stream: _Stream, sock: MediaSockets, ts: int) -> None:
        packet = self._dtmf_queue.pop(0)
        if packet.marker:
            self._dtmf_event_ts = ts
        assert self._dtmf_pt is not None
        data = stream.packet(self._dtmf_pt, self._dtmf_event_ts, packet.marker, packet.payload)
        if sock.send_rtp(data):
            self._audio_counters.packets_out += 1
            self._audio_counters.bytes_out += len(data)
        if not self._dtmf_queue:
            self._dtmf_gap = DTMF_GAP_FRAMES

    def _video_tick(self) -> None:
        loop = self._loop
        cycle = self._video_cycle
        assert loop is not None and cycle is not None
        period = 1.0 / self.config.fps
        now = loop.time()
        due = self._media_start + self._video_frame * period
        if now - due > MAX_LATE:
            skipped = int((now - due) / period)
            self._video_frame += skipped
            self._late_video += skipped
        burst = 0
        while burst < MAX_BURST and self._media_start + self._video_frame * period <= now:
            self._send_video_frame(cycle, self._video_frame)
            self._video_frame += 1
            burst += 1
        self._timers[2] = loop.call_at(self._media_start + self._video_frame * period,
                                       self._video_tick)

    def _send_video_frame(self, cycle: VideoCycle, k: int) -> None:
        if not self._send_video:
            return
        sock = self._sockets["video"]
        stream = self._out["video"]
        payloads = cycle.frames[self._video_pos]
        self._video_pos = (self._video_pos + 1) % len(cycle.frames)
        ts = k * cycle.timestamp_step
        last = len(payloads) - 1
        counters = self._video_counters
        for i, payload in enumerate(payloads):
            data = stream.packet(self._video_pt, ts, i == last, payload)
            if sock.send_rtp(data):
                counters.packets_out += 1
                counters.bytes_out += len(data)

    def restart_video_cycle(self) -> bool:
        """Send the cycle's IDR next (what a PLI/FIR does), unless one was sent very recently."""
        assert self._loop is not None
        now = self._loop.time()
        if now - self._last_restart < self.config.keyframe_restart_interval:
            return False
        self._last_restart = now
        self._video_pos = 0
        self._cycle_restarts += 1
        return True

    def _housekeeping(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        if self.audio_rx is not None:
            self.audio_rx.handle_timer(now)
        rx = self.video_rx
        if rx is not None and rx.first_keyframe_at is None \
                and now - self._media_start >= FIRST_KEYFRAME_WAIT:
            self.request_keyframe(min_interval=FIRST_KEYFRAME_WAIT)
        self._timers[1] = loop.call_at(now + HOUSEKEEPING_INTERVAL, self._housekeeping)

    # ------------------------------------------------------------------ receiving

    def _keep_early(self, kind: str, data: bytes) -> None:
        if self.negotiation is None and len(self._early) < EARLY_PACKETS_KEPT:
            self._early.append((kind, data))

    def _loop_time(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _audio_in(self, data: bytes, addr: Address) -> None:
        rx = self.audio_rx
        if rx is None:
            self._keep_early("audio", data)
        elif (packet := _parse_rtp(data)) is not None:
            rx.receive(packet, len(data), self._loop_time())

    def _video_in(self, data: bytes, addr: Address) -> None:
        rx = self.video_rx
        if self.video_seqs is not None and len(data) >= 4:
            self.video_seqs[int.from_bytes(data[2:4], "big")] += 1
        if rx is None:
            self._keep_early("video", data)
        elif (packet := _parse_rtp(data)) is not None and rx.receive(packet, len(data), self._loop_time()):
            self.request_keyframe()  # the receiver wants a keyframe

    def _rtcp_in(self, kind: str) -> Callable[[bytes, Address], None]:
        counters = self._audio_counters if kind == "audio" else self._video_counters

        def handler(data: bytes, addr: Address) -> None:
            counters.rtcp_in += 1
            if kind != "video":
                return
            try:
                packets = parse_compound(data)
            except MediaParseError:
                return
            me = self._out["video"].ssrc
            for p in packets:
                if (isinstance(p, Pli) and p.media_ssrc == me) or \
                        (isinstance(p, Fir) and any(s == me for s, _ in p.entries)):
                    self._keyframe_requests += 1
                    self.restart_video_cycle()

        return handler

    def send_nack(self, sequence_numbers: list[int]) -> bool:
        """Report these packets of the video we receive as lost (RFC 4585 generic NACK)."""
        rx = self.video_rx
        sock = self._sockets.get("video")
        if rx is None or sock is None or rx.ssrc is None:
            return False
        me = self._out["video"].ssrc
        if not sock.send_rtcp(serialize_compound([ReceiverReport(me, []), Nack(me, rx.ssrc, sequence_numbers)])):
            return False
        self._video_counters.rtcp_out += 1
        return True

    def request_keyframe(self, min_interval: float = PLI_MIN_INTERVAL) -> bool:
        """Send a PLI for the video we receive (rate-limited); False if none was sent."""
        rx = self.video_rx
        sock = self._sockets.get("video")
        if rx is None or sock is None or rx.ssrc is None or self._loop is None:
            return False
        now = self._loop.time()
        if now - self._last_pli < min_interval:
            return False
        me = self._out["video"].ssrc
        data = serialize_compound([ReceiverReport(me, []), Pli(me, rx.ssrc)])
        if not sock.send_rtcp(data):
            return False
        self._last_pli = now
        self._plis_sent += 1
        self._video_counters.rtcp_out += 1
        return True

    # ------------------------------------------------------------------ SIP events

    def _transmit(self) -> None:
        if self.shell is not None:
            self.shell.transmit()

    async def _wait(self, kinds: tuple[type, ...], match: Callable[[ev.Event], bool],
                    timeout: float) -> ev.Event:
        assert self._loop is not None
        fut: asyncio.Future[ev.Event] = self._loop.create_future()
        entry = (kinds, match, fut)
        self._waiters.append(entry)  # type: ignore[arg-type]
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)  # type: ignore[arg-type]

    def _on_event(self, e: ev.Event) -> None:
        for kinds, match, fut in list(self._waiters):
            if isinstance(e, kinds) and not fut.done() and match(e):  # type: ignore[arg-type]
                fut.set_result(e)
                self._waiters.remove((kinds, match, fut))
                claimed = True
                break
        else:
            claimed = False
        if isinstance(e, ev.IncomingCall) and not claimed:
            self.ua.reject(e.call_id, 486)  # busy: one call per endpoint
        elif isinstance(e, ev.CallEnded) and e.call_id == self.call_id:
            self.ended_reason = e.reason
            self.in_call = False
            self._stop_media()
        elif isinstance(e, ev.ReInvite) and e.call_id == self.call_id:
            self._on_reinvite(e)
        elif isinstance(e, ev.InfoReceived) and e.call_id == self.call_id:
            digit = _info_digit(e.body)
            if digit is not None:
                self.info_digits.append(digit)

    def _on_reinvite(self, e: ev.ReInvite) -> None:
        if e.body is None or self._local_sdp is None:
            body = serialize(self._local_sdp).encode() if self._local_sdp else None
            self.ua.answer(e.call_id, 200, body)
            return
        ports = [self._sockets[m.media].rtp_port if m.media in self._sockets else 0
                 for m in _offer_media(e.body)]
        result = negotiate(e.body, self.capabilities(), self.config.host, ports,
                           previous=self._local_sdp)
        if result.all_rejected:
            self.ua.reject(e.call_id, 488)
            return
        self._local_sdp = result.local
        self.ua.answer(e.call_id, 200, result.local_sdp.encode())
        self._apply(result)

    # ------------------------------------------------------------------ call control

    async def hangup(self) -> None:
        """BYE (or CANCEL/decline before the call is up) and stop media."""
        self._stop_media()
        if self.call_id is not None and self.call_id in self.ua.call_ids():
            self.ua.hangup(self.call_id)
            self._transmit()
        self.in_call = False

    async def vanish(self) -> None:
        """Stop sending and receiving media and SIP without a BYE (a site that lost power)."""
        self._stop_media()
        for sock in self._sockets.values():
            sock.enabled = False
            sock.close()
        if self.shell is not None:
            await self.shell.close()
        self.in_call = False

    async def close(self) -> None:
        """Hang up if in a call and release every socket."""
        if self._closed:
            return
        self._closed = True
        if self.in_call:
            await self.hangup()
            await asyncio.sleep(0.02)  # let the BYE leave
        self._stop_media()
        for sock in self._sockets.values():
            sock.close()
        if self.shell is not None and not self.shell.closed:
            await self.shell.close()

    async def send_dtmf(self, digits: str, method: str = "rfc4733",
                        duration: float = DEFAULT_DTMF_DURATION) -> None:
        """Send digits as RFC 4733 events in the audio stream or as SIP INFO; returns when sent."""
        if not self.in_call or self.call_id is None:
            raise NotInCallError("send_dtmf needs an established call")
        if method == "info":
            for digit in digits:
                ms = int(duration * 1000)
                self.ua.send_info(self.call_id, f"Signal={digit}\r\nDuration={ms}\r\n".encode(),
                                  DTMF_INFO_TYPE)
                self._transmit()
                await asyncio.sleep(duration)
            return
        if method != "rfc4733":
            raise ValueError(f"DTMF method {method!r}: use 'rfc4733' or 'info'")
        audio = self.negotiation.first("audio") if self.negotiation else None
        if self._dtmf_pt is None or audio is None or audio.telephone_event is None:
            raise NotInCallError("the peer did not accept telephone-event; use method='info'")
        rate = audio.telephone_event.clock_rate
        for digit in digits:
            assert self._loop is not None
            self._dtmf_done = self._loop.create_future()
            self._dtmf_queue = dtmf_packets(digit, duration, rate, interval=FRAME_SECONDS)
            await self._dtmf_done

    async def _reoffer(self, direction: str, timeout: float) -> None:
        if not self.in_call or self.call_id is None or self._local_sdp is None:
            raise NotInCallError("re-INVITE needs an established call")
        offer = create_offer(self.capabilities(), self.config.sdp_address or self.config.host,
                             self._media_lines(), session_id=self._local_sdp.origin.session_id,
                             previous=self._local_sdp, direction=direction)
        self.ua.reinvite(self.call_id, serialize(offer).encode())
        self._transmit()
        call_id = self.call_id
        answer = await self._wait((ev.ReInviteAnswered,), _for_call(call_id), timeout)
        assert isinstance(answer, ev.ReInviteAnswered)
        if answer.status >= 300 or not answer.body:
            raise CallSetupError(f"re-INVITE ({direction}) answered {answer.status}")
        self._local_sdp = offer
        self._holding = direction != "sendrecv"
        self._apply(process_answer(offer, answer.body, self.capabilities()))

    async def reinvite_hold(self, timeout: float = 10.0) -> None:
        """Put the call on hold (a=sendonly); stops our media unless hold_sends_media."""
        await self._reoffer("sendonly", timeout)

    async def reinvite_resume(self, timeout: float = 10.0) -> None:
        """Take the call off hold (a=sendrecv) and send media again."""
        await self._reoffer("sendrecv", timeout)

    async def reinvite_audio_codec(self, codec: str, timeout: float = 10.0) -> None:
        """Offer only `codec` by re-INVITE (as a terminal may mid-call): from the answer on we send
        and expect that codec."""
        if codec.lower() not in {c.lower() for c in AUDIO_CODECS}:
            raise ValueError(f"audio codec {codec!r}: use one of {AUDIO_CODECS}")
        self.config.audio_codec = codec
        self.audio_rx, self._audio_cycle = None, None  # rebuilt by _apply for the answered codec
        await self._reoffer("sendrecv", timeout)

    # ------------------------------------------------------------------ what we received

    @property
    def stats(self) -> EndpointStats:
        v = self.video_rx
        return EndpointStats(
            audio=self._audio_counters, video=self._video_counters,
            audio_decode_errors=self.audio_rx.decode_errors if self.audio_rx else 0,
            video_frames_received=v.frames_received if v else 0,
            video_keyframes_received=v.keyframes_received if v else 0,
            video_frames_decoded=v.frames_decoded if v else 0,
            video_decode_errors=v.decode_errors if v else 0,
            video_frames_dropped=v.frames_dropped if v else 0,
            plis_sent=self._plis_sent, keyframe_requests_received=self._keyframe_requests,
            cycle_restarts=self._cycle_restarts, late_audio_ticks=self._late_audio,
            late_video_ticks=self._late_video,
            dtmf_received=list(self.audio_rx.dtmf_digits) if self.audio_rx else [],
        )

    @property
    def audio_arrivals(self) -> list[tuple[float, int, int]]:
        """(loop time, RTP timestamp, sequence) of each received voice packet, oldest first."""
        return list(self.audio_rx.arrivals) if self.audio_rx else []

    def received_audio(self, seconds: float = 1.0) -> np.ndarray:
        """The last `seconds` of decoded audio (int16 at the codec's sample rate)."""
        return self.audio_rx.ring.last(seconds) if self.audio_rx else np.zeros(0, np.int16)

    def heard_tone(self, freq: float, seconds: float = 1.0) -> float:
        """Goertzel power of `freq` over the last `seconds` (full-scale sine = 1.0; our tone ~0.09)."""
        if self.audio_rx is None:
            return 0.0
        return goertzel_power(self.audio_rx.ring.last(seconds), self.audio_rx.sample_rate, freq)

    def last_frame(self) -> I420 | None:
        rx = self.video_rx
        return rx.frames[-1][1] if rx is not None and rx.frames else None

    def sees_colour(self, colour: YUV, tolerance: tuple[int, int, int] = DEFAULT_TOLERANCE) -> bool:
        frame = self.last_frame()
        return frame is not None and find_colour(frame, colour, tolerance)

    async def wait_until(self, condition: Callable[[], object], timeout: float = 5.0,
                         what: str = "condition") -> None:
        """Poll `condition` on the loop until true; raises TimeoutError naming `what`."""
        assert self._loop is not None
        deadline = self._loop.time() + timeout
        while not condition():
            if self._loop.time() >= deadline:
                raise TimeoutError(f"endpoint {self.number}: timed out after {timeout} s "
                                   f"waiting for {what}")
            await asyncio.sleep(0.02)


def _parse_rtp(data: bytes) -> RtpPacket | None:
    """The packet, or None for bytes that are not RTP (dropped, like a real endpoint would)."""
    try:
        return RtpPacket.parse(data)
    except MediaParseError:
        return None


def _for_call(call_id: str) -> Callable[[ev.Event], bool]:
    return lambda e: getattr(e, "call_id", None) == call_id


def _offer_media(body: bytes) -> list[MediaDescription]:
    return list(parse(body).media)


def _info_digit(body: bytes) -> str | None:
    text = body.decode("utf-8", "replace").strip()
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip().lower() == "signal" and value.strip():
            return value.strip()[0]
    if len(text) == 1:
        return text
    return None
