"""A synthetic H.323 room system, with the sans-I/O H.323 core driven from the terminal side. It
dials the MCU over TCP (or listens, for the MCU's dial-out), sends a tone (G.711) and, with
`video=True`, its identity colour as H.264, and decodes what it hears and sees. With
`content=True` it speaks H.239: `present()` asks for the presentation token and, once granted,
opens its extended-video channel and sends its content colour there; content the MCU sends it is
decoded apart (`content_rx`). For tests and load runs.

Modes, as terminals differ: fast connect or not, H.245 tunnelled or on its own connection (we
listen and give our h245Address in the Setup, the MCU connects).
"""

from __future__ import annotations

import asyncio
import functools
import random
import struct
from dataclasses import replace

from mcu.h323 import h225, h239
from mcu.h323.call import H323Call, H323Config
from mcu.h323.capabilities import G711U, H241_LEVELS, H264, CapabilitySpec
from mcu.h323.events import (
    H245_LISTEN,
    BitrateLimited,
    CallAnswered,
    CallEnded,
    ContentTokenMessage,
    Event,
    H245ChannelWanted,
    IncomingCall,
    KeyframeRequested,
    MediaNegotiated,
    MediaPorts,
)
from mcu.h323.h245 import TERMINAL_TYPE_TERMINAL
from mcu.io.h323_transport import H323Connection, H323Shell
from mcu.rtp.errors import MediaParseError
from mcu.rtp.packet import RtpPacket
from mcu.synthetic.identity import tone_for, yuv_for
from mcu.synthetic.media import (
    AudioReceiver,
    StreamCounters,
    VideoCycle,
    VideoReceiver,
    audio_cycle,
    video_cycle,
)
from mcu.synthetic.pictures import DEFAULT_TOLERANCE, find_colour
from mcu.synthetic.sound import goertzel_power
from mcu.synthetic.udp import MediaSockets

FRAME_SECONDS = 0.020
VIDEO_CYCLE_SECONDS = 2  # an IDR opens each cycle; a keyframe request restarts it
KEYFRAME_ASK_INTERVAL = 1.0  # seconds between our own videoFastUpdatePicture requests
# H.241 level 2.1 (352x288 at 15 fps): a CIF-class terminal keeps the tests cheap
VIDEO_LEVEL = H241_LEVELS["2.1"]
_RTP = struct.Struct("!BBHII")


class H323Site:
    """One simulated H.323 terminal: G.711 mu-law audio, optionally H.264 video."""

    def __init__(self, number: int, *, fast_start: bool = True, tunnelling: bool = True,
                 host: str = "127.0.0.1", talking: bool = True, video: bool = False,
                 size: tuple[int, int] = (352, 288), fps: int = 15, content: bool = False) -> None:
        self.number = number
        self.host = host
        self.tone_hz = tone_for(number)
        self.colour = yuv_for(number)
        self.talking = talking
        self.video = video
        self.size, self.fps = size, fps
        self.content = content
        self.content_colour = yuv_for(number + 50)  # what it presents: not its camera's colour
        people = [replace(H264, level=VIDEO_LEVEL)] if video else []
        self.config = H323Config(
            display=f"H323 site {number}", aliases=[h225.Alias(h225.ALIAS_H323_ID, f"site{number}")],
            vendor=h225.VendorInfo("synthetic-h323", "0.1"),
            capabilities=CapabilitySpec(audio=[G711U], video=people, user_input=True,
                                        content=[replace(H264, level=VIDEO_LEVEL)] if content else []),
            terminal_type=TERMINAL_TYPE_TERMINAL, endpoint_kind=h225.ENDPOINT_TERMINAL,
            fast_start=fast_start, tunnelling=tunnelling)
        self.answered = asyncio.Event()
        self.media_up = asyncio.Event()
        self.video_up = asyncio.Event()
        self.ended: CallEnded | None = None
        self.incoming: IncomingCall | None = None  # the MCU's Setup, when it dialled us
        self.keyframe_requests = 0  # videoFastUpdatePicture from the MCU
        self.bitrate_limits: list[int | None] = []  # flowControlCommand from the MCU, kbps
        self.counters = StreamCounters()
        self.audio_rx: AudioReceiver | None = None
        self.video_rx: VideoReceiver | None = None
        self.content_rx: VideoReceiver | None = None  # H.239 content the MCU sends us
        self.token_answers: list[h239.H239Message] = []  # the MCU's presentation-token messages
        self.presenting = False  # granted, and sending on our extended-video channel
        self._payload_type = {"audio": 0, "video": 96, "content": 96}
        self._sockets: dict[str, MediaSockets] = {}
        self._ports: dict[str, MediaPorts] = {}
        self._video_cycle: VideoCycle | None = None
        self._content_cycle: VideoCycle | None = None
        self._video_pos = 0
        self._last_keyframe_ask = -1e9
        self._shell: H323Shell | None = None
        self._connection: H323Connection | None = None
        self._senders: dict[str, asyncio.Task[None]] = {}
        self._rng = random.Random(number)

    async def _open_media(self) -> dict[str, MediaPorts]:
        kinds = ["audio"] + (["video"] if self.video else []) + (["content"] if self.content else [])
        for kind in kinds:
            sock = await MediaSockets.open(functools.partial(self._rtp_in, kind), lambda data, addr: None,
                                           self.host)
            self._sockets[kind] = sock
            self._ports[kind] = MediaPorts(self.host, sock.rtp_port, sock.rtp_port + 1)
        if self.video:
            width, height = self.size
            self._video_cycle = await asyncio.to_thread(
                video_cycle, "H264", width, height, self.fps, self.colour, str(self.number),
                self.fps * VIDEO_CYCLE_SECONDS, 0)  # H.241 default: single NAL unit mode
        if self.content:
            width, height = self.size
            self._content_cycle = await asyncio.to_thread(
                video_cycle, "H264", width, height, 5, self.content_colour, f"C{self.number}", 10, 0)
        return self._ports

    async def call(self, mcu_host: str, mcu_port: int, room: str, timeout: float = 10.0) -> None:
        """Setup to `room` (dialedDigits alias); returns when the call is up and media negotiated.
        Raises CallRefused with the release cause when the MCU refuses."""
        loop = asyncio.get_running_loop()
        ports = await self._open_media()
        self._shell = H323Shell(lambda peer: H323Call(self.config, peer), self._on_event)
        connection = self._connection = H323Connection(self._shell)
        h245_address = None
        if not self.config.tunnelling:
            h245_address = await self._shell.listen_h245(connection, self.host)
        connection.core = H323Call.dial(self.config, (mcu_host, mcu_port), [h225.Alias(
            h225.ALIAS_DIALED_DIGITS, room)], ports, loop.time(), local_address=(self.host, 0),
            h245_address=h245_address, rng=self._rng)
        connection.call_id = f"site{self.number}"
        await loop.create_connection(lambda: connection, mcu_host, mcu_port)
        await self.wait_media(timeout)

    async def listen(self) -> tuple[str, int]:
        """Wait for the MCU to dial us (any alias); returns the call-signalling address."""
        await self._open_media()
        self._shell = H323Shell(lambda peer: H323Call(self.config, peer), self._on_event)
        return await self._shell.listen(self.host, 0)

    async def wait_media(self, timeout: float = 10.0) -> None:
        """Until media is negotiated; CallRefused if the call ended first."""
        done = asyncio.ensure_future(self.media_up.wait())
        ended = asyncio.ensure_future(self._wait_ended())
        await asyncio.wait([done, ended], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in (done, ended):
            task.cancel()
        if self.ended is not None:
            raise CallRefused(self.ended.cause, self.ended.reason, self.ended.detail)
        if not self.media_up.is_set():
            raise TimeoutError(f"H.323 site {self.number}: no media within {timeout} s")

    async def _wait_ended(self) -> None:
        while self.ended is None:
            await asyncio.sleep(0.02)

    def _on_event(self, connection: H323Connection, e: Event) -> None:
        if isinstance(e, IncomingCall):
            self.incoming = e
            self._connection = connection
            asyncio.ensure_future(self._answer(connection, e))
        elif isinstance(e, CallAnswered):
            self.answered.set()
        elif isinstance(e, H245ChannelWanted):
            assert self._shell is not None
            asyncio.ensure_future(self._shell.open_h245(connection, e.address))
        elif isinstance(e, MediaNegotiated):
            self._negotiated(e)
        elif isinstance(e, KeyframeRequested):
            self.keyframe_requests += 1
            self._video_pos = 0  # the cycle's IDR goes next
        elif isinstance(e, BitrateLimited):
            self.bitrate_limits.append(e.kbps)
        elif isinstance(e, ContentTokenMessage):
            self._token(e.message)  # type: ignore[arg-type]
        elif isinstance(e, CallEnded):
            self.ended = e
            self._stop_sending()

    async def _answer(self, connection: H323Connection, e: IncomingCall) -> None:
        assert self._shell is not None
        h245_address = None
        if e.h245_mode == H245_LISTEN:
            h245_address = await self._shell.listen_h245(connection, self.host)
        self._shell.feed(connection, lambda core, now: core.accept(self._ports, now, h245_address=h245_address))
        self.answered.set()

    def _negotiated(self, e: MediaNegotiated) -> None:
        for kind, sock in self._sockets.items():
            stream = e.streams.get(("video", "content") if kind == "content" else (kind, "main"))
            if stream is None:
                continue
            if stream.send is not None and stream.send.remote_rtp is not None:
                self._payload_type[kind] = stream.send.payload_type
                host, port = stream.send.remote_rtp
                rtcp = stream.send.remote_rtcp[1] if stream.send.remote_rtcp else port + 1
                sock.set_remote(host, port, rtcp, False)
                self._start_sending(kind)
            if stream.receive is not None:
                pt = stream.receive.payload_type
                if kind == "audio" and self.audio_rx is None:
                    self.audio_rx = AudioReceiver("PCMU", 8000, pt, None, counters=self.counters)
                elif kind == "video" and self.video_rx is None:
                    self.video_rx = VideoReceiver("H264", pt)
                elif kind == "content" and self.content_rx is None:
                    self.content_rx = VideoReceiver("H264", pt)
        if ("audio", "main") in e.streams:
            self.media_up.set()
        video = e.streams.get(("video", "main"))
        if video is not None and video.send is not None and video.receive is not None:
            self.video_up.set()

    def _start_sending(self, kind: str) -> None:
        if kind not in self._senders:
            send = self._send_audio() if kind == "audio" else self._send_video(kind)
            self._senders[kind] = asyncio.ensure_future(send)

    async def _send_audio(self) -> None:
        cycle = audio_cycle("PCMU", 8000, self.tone_hz, self.number)
        sock = self._sockets["audio"]
        loop = asyncio.get_running_loop()
        start, k = loop.time(), 0
        ssrc, seq, ts = self._rng.getrandbits(32), self._rng.getrandbits(16), self._rng.getrandbits(32)
        while True:
            payloads = cycle.tone if self.talking else cycle.noise
            data = _RTP.pack(0x80, self._payload_type["audio"], (seq + k) & 0xFFFF,
                             (ts + k * cycle.timestamp_step) & 0xFFFFFFFF, ssrc) + payloads[k % len(payloads)]
            if sock.send_rtp(data):
                self.counters.packets_out += 1
            k += 1
            await asyncio.sleep(max(0.0, start + k * FRAME_SECONDS - loop.time()))

    async def _send_video(self, kind: str = "video") -> None:
        cycle = self._content_cycle if kind == "content" else self._video_cycle
        assert cycle is not None
        sock = self._sockets[kind]
        fps = 5 if kind == "content" else self.fps
        loop = asyncio.get_running_loop()
        start, k = loop.time(), 0
        ssrc, seq, ts = self._rng.getrandbits(32), self._rng.getrandbits(16), self._rng.getrandbits(32)
        while True:
            if kind == "content":
                payloads = cycle.frames[k % len(cycle.frames)]
            else:
                payloads = cycle.frames[self._video_pos]
                self._video_pos = (self._video_pos + 1) % len(cycle.frames)
            stamp = (ts + k * cycle.timestamp_step) & 0xFFFFFFFF
            for i, payload in enumerate(payloads):
                marker = 0x80 if i == len(payloads) - 1 else 0
                sock.send_rtp(_RTP.pack(0x80, marker | self._payload_type[kind], seq & 0xFFFF, stamp, ssrc)
                              + payload)
                seq += 1
            k += 1
            await asyncio.sleep(max(0.0, start + k / fps - loop.time()))

    def _stop_sending(self) -> None:
        for task in self._senders.values():
            task.cancel()
        self._senders.clear()

    def _rtp_in(self, kind: str, data: bytes, addr: tuple[str, int]) -> None:
        receiver = {"audio": self.audio_rx, "video": self.video_rx, "content": self.content_rx}[kind]
        if receiver is None:
            return
        try:
            packet = RtpPacket.parse(data)
        except MediaParseError:
            return
        now = asyncio.get_running_loop().time()
        if receiver.receive(packet, len(data), now) and now - self._last_keyframe_ask >= KEYFRAME_ASK_INTERVAL:
            self.request_keyframe()

    @property
    def h245_channel(self) -> bool:
        """H.245 runs on its own TCP connection now (not tunnelled)."""
        return self._connection is not None and self._connection.h245 is not None

    def heard_tone(self, freq: float, seconds: float = 1.0) -> float:
        if self.audio_rx is None:
            return 0.0
        return goertzel_power(self.audio_rx.ring.last(seconds), self.audio_rx.sample_rate, freq)

    def sees_colour(self, colour: tuple[int, int, int], tolerance: tuple[int, int, int] = DEFAULT_TOLERANCE) -> bool:
        """The latest picture decoded from the MCU shows `colour` (a site's identity colour)."""
        if self.video_rx is None or not self.video_rx.frames:
            return False
        return find_colour(self.video_rx.frames[-1][1], colour, tolerance)

    def sees_content(self, colour: tuple[int, int, int], tolerance: tuple[int, int, int] = DEFAULT_TOLERANCE) -> bool:
        """The latest picture decoded from the MCU's content channel shows `colour`."""
        if self.content_rx is None or not self.content_rx.frames:
            return False
        return find_colour(self.content_rx.frames[-1][1], colour, tolerance)

    def present(self) -> None:
        """presentationTokenRequest: once the MCU grants it, our content channel opens and sends."""
        self._h239([h239.token_request(0, self.number, self._rng.randint(1, 127))])

    def stop_presenting(self) -> None:
        """presentationTokenRelease, and our content channel closes."""
        self.presenting = False
        task = self._senders.pop("content", None)
        if task is not None:
            task.cancel()
        self._h239([h239.token_release(0, self.number)])
        if self._shell is not None and self._connection is not None:
            self._shell.feed(self._connection, lambda core, now: core.close_content(now))

    def _token(self, message: h239.H239Message) -> None:
        self.token_answers.append(message)
        if message.sub == h239.PRESENTATION_TOKEN_RESPONSE and message.accepted and not self.presenting:
            self.presenting = True
            self._h239([h239.indicate_owner(0, self.number)])
            if self._shell is not None and self._connection is not None:
                self._shell.feed(self._connection, lambda core, now: core.open_content(now))
        elif message.sub == h239.PRESENTATION_TOKEN_REQUEST and self.presenting:
            self._h239([h239.token_response(True, message.channel, self.number)])  # the MCU takes it back
            self.stop_presenting()

    def _h239(self, messages: list[h239.H239Message]) -> None:
        if self._shell is not None and self._connection is not None:
            self._shell.feed(self._connection, lambda core, now: core.send_h239(messages, now))

    def request_keyframe(self) -> None:
        """videoFastUpdatePicture to the MCU."""
        self._last_keyframe_ask = asyncio.get_running_loop().time()
        if self._shell is not None and self._connection is not None:
            self._shell.feed(self._connection, lambda core, now: core.request_keyframe(now))

    def limit_bitrate(self, kbps: int | None) -> None:
        """flowControlCommand to the MCU: send us at most `kbps` of video (None: no limit)."""
        if self._shell is not None and self._connection is not None:
            self._shell.feed(self._connection, lambda core, now: core.limit_bitrate(now, "video", kbps))

    def send_dtmf(self, digits: str) -> None:
        """UserInputIndication, one digit after the other."""
        if self._shell is not None and self._connection is not None:
            self._shell.feed(self._connection, lambda core, now: core.send_dtmf(digits, now))

    async def hangup(self) -> None:
        self._stop_sending()
        if self._shell is not None and self._connection is not None and self.ended is None:
            self._shell.feed(self._connection, lambda core, now: core.hangup(now))
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        await self.hangup()
        if self._shell is not None:
            await self._shell.close()
        for sock in self._sockets.values():
            sock.close()


class CallRefused(Exception):
    """The MCU released the call: its Q.850 cause and H.225 reason."""

    def __init__(self, cause: int | None, reason: str | None, detail: str = "") -> None:
        super().__init__(f"released: cause {cause}, reason {reason} {detail}".strip())
        self.cause = cause
        self.reason = reason
        self.detail = detail
