"""A synthetic H.323 room system: dials the MCU over TCP with the sans-I/O H.323 core driven from
the terminal side, then sends a tone (G.711) and decodes what it hears. For tests and load runs.

Modes, as terminals differ: fast connect or not, H.245 tunnelled or on its own connection (we
listen and give our h245Address in the Setup, the MCU connects).
"""

from __future__ import annotations

import asyncio
import random
import struct

from mcu.h323 import h225
from mcu.h323.call import H323Call, H323Config
from mcu.h323.capabilities import G711U, CapabilitySpec
from mcu.h323.events import (
    CallAnswered,
    CallEnded,
    Event,
    H245ChannelWanted,
    KeyframeRequested,
    MediaNegotiated,
    MediaPorts,
)
from mcu.h323.h245 import TERMINAL_TYPE_TERMINAL
from mcu.io.h323_transport import H323Connection, H323Shell
from mcu.rtp.errors import MediaParseError
from mcu.rtp.packet import RtpPacket
from mcu.synthetic.identity import tone_for
from mcu.synthetic.media import AudioReceiver, StreamCounters, audio_cycle
from mcu.synthetic.sound import goertzel_power
from mcu.synthetic.udp import MediaSockets

FRAME_SECONDS = 0.020
_RTP = struct.Struct("!BBHII")


class H323Site:
    """One simulated H.323 terminal (audio only: G.711 mu-law)."""

    def __init__(self, number: int, *, fast_start: bool = True, tunnelling: bool = True,
                 host: str = "127.0.0.1", talking: bool = True) -> None:
        self.number = number
        self.host = host
        self.tone_hz = tone_for(number)
        self.talking = talking
        self.config = H323Config(
            display=f"H323 site {number}", aliases=[h225.Alias(h225.ALIAS_H323_ID, f"site{number}")],
            vendor=h225.VendorInfo("synthetic-h323", "0.1"),
            capabilities=CapabilitySpec(audio=[G711U], video=[], user_input=True),
            terminal_type=TERMINAL_TYPE_TERMINAL, endpoint_kind=h225.ENDPOINT_TERMINAL,
            fast_start=fast_start, tunnelling=tunnelling)
        self.answered = asyncio.Event()
        self.media_up = asyncio.Event()
        self.ended: CallEnded | None = None
        self.keyframe_requests = 0
        self.counters = StreamCounters()
        self.audio_rx: AudioReceiver | None = None
        self._payload_type = 0
        self._sock: MediaSockets | None = None
        self._shell: H323Shell | None = None
        self._connection: H323Connection | None = None
        self._sender: asyncio.Task[None] | None = None
        self._rng = random.Random(number)

    async def call(self, mcu_host: str, mcu_port: int, room: str, timeout: float = 10.0) -> None:
        """Setup to `room` (dialedDigits alias); returns when the call is up and media negotiated.
        Raises CallRefused with the release cause when the MCU refuses."""
        loop = asyncio.get_running_loop()
        self._sock = await MediaSockets.open(self._rtp_in, lambda data, addr: None, self.host)
        self._shell = H323Shell(lambda peer: H323Call(self.config, peer), self._on_event)
        connection = self._connection = H323Connection(self._shell)
        h245_address = None
        if not self.config.tunnelling:
            h245_address = await self._shell.listen_h245(connection, self.host)
        ports = {"audio": MediaPorts(self.host, self._sock.rtp_port, self._sock.rtp_port + 1)}
        connection.core = H323Call.dial(self.config, (mcu_host, mcu_port), [h225.Alias(
            h225.ALIAS_DIALED_DIGITS, room)], ports, loop.time(), local_address=(self.host, 0),
            h245_address=h245_address, rng=self._rng)
        connection.call_id = f"site{self.number}"
        await loop.create_connection(lambda: connection, mcu_host, mcu_port)
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
        if isinstance(e, CallAnswered):
            self.answered.set()
        elif isinstance(e, H245ChannelWanted):
            assert self._shell is not None
            asyncio.ensure_future(self._shell.open_h245(connection, e.address))
        elif isinstance(e, MediaNegotiated):
            audio = e.streams.get(("audio", "main"))
            if audio is not None and audio.send is not None and audio.send.remote_rtp is not None:
                assert self._sock is not None
                self._payload_type = audio.send.payload_type
                host, port = audio.send.remote_rtp
                rtcp = audio.send.remote_rtcp[1] if audio.send.remote_rtcp else port + 1
                self._sock.set_remote(host, port, rtcp, False)
                self._start_sending()
            if audio is not None and audio.receive is not None and self.audio_rx is None:
                self.audio_rx = AudioReceiver("PCMU", 8000, audio.receive.payload_type, None,
                                              counters=self.counters)
            if audio is not None:
                self.media_up.set()
        elif isinstance(e, KeyframeRequested):
            self.keyframe_requests += 1
        elif isinstance(e, CallEnded):
            self.ended = e
            self._stop_sending()

    def _start_sending(self) -> None:
        if self._sender is None:
            self._sender = asyncio.ensure_future(self._send_audio())

    async def _send_audio(self) -> None:
        cycle = audio_cycle("PCMU", 8000, self.tone_hz, self.number)
        loop = asyncio.get_running_loop()
        start, k = loop.time(), 0
        ssrc, seq, ts = self._rng.getrandbits(32), self._rng.getrandbits(16), self._rng.getrandbits(32)
        while True:
            payloads = cycle.tone if self.talking else cycle.noise
            data = _RTP.pack(0x80, self._payload_type, (seq + k) & 0xFFFF,
                             (ts + k * cycle.timestamp_step) & 0xFFFFFFFF, ssrc) + payloads[k % len(payloads)]
            if self._sock is not None and self._sock.send_rtp(data):
                self.counters.packets_out += 1
            k += 1
            await asyncio.sleep(max(0.0, start + k * FRAME_SECONDS - loop.time()))

    def _stop_sending(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None

    def _rtp_in(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.audio_rx is None:
            return
        try:
            packet = RtpPacket.parse(data)
        except MediaParseError:
            return
        self.audio_rx.receive(packet, len(data), asyncio.get_running_loop().time())

    @property
    def h245_channel(self) -> bool:
        """H.245 runs on its own TCP connection now (not tunnelled)."""
        return self._connection is not None and self._connection.h245 is not None

    def heard_tone(self, freq: float, seconds: float = 1.0) -> float:
        if self.audio_rx is None:
            return 0.0
        return goertzel_power(self.audio_rx.ring.last(seconds), self.audio_rx.sample_rate, freq)

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
        if self._sock is not None:
            self._sock.close()


class CallRefused(Exception):
    """The MCU released the call: its Q.850 cause and H.225 reason."""

    def __init__(self, cause: int | None, reason: str | None, detail: str = "") -> None:
        super().__init__(f"released: cause {cause}, reason {reason} {detail}".strip())
        self.cause = cause
        self.reason = reason
