"""One site in a room: its negotiated media, its audio pipeline in and out, its state.

Sans-I/O: packets come in with `now`; what the member sends is returned as bytes for the
I/O shell. The audio path in is RTP -> jitter buffer -> decoder (with concealment) ->
resampler to the room rate; out, the room hands a shared payload to each member's own
OutboundStream (own SSRC, sequence and timestamp).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from mcu._jitter import AudioJitterBuffer  # the C port of mcu.rtp.jitterbuffer.AudioJitterBuffer
from mcu._rtp import AudioInbound, ReceiveStatistics  # C: audio packets in, RFC 3550 stats
from mcu._rtp import OutboundStream as COutboundStream  # C port of mcu.rtp.session.OutboundStream
from mcu.calls.streams import Codec, Stream, all_encrypted
from mcu.media.errors import CorruptAudioError
from mcu.media.registry import get_audio_codec
from mcu.rtp.dtmf import DtmfEnd, DtmfReceiver
from mcu.rtp.errors import MediaParseError
from mcu.rtp.packet import RtpPacket
from mcu.rtp.rtcp import RtcpPacket
from mcu.rtp.session import KeyframeRequested, NackReceived, OutboundStream, RtpSession, RttMeasured

if TYPE_CHECKING:
    from mcu.conference.video import VideoCap, VideoIn, VideoViewer


class MemberState(Enum):
    PIN_ENTRY = "pin-entry"  # answered, hearing prompts, keying the PIN; not in the mix
    JOINED = "joined"
    LEFT = "left"


@dataclass(frozen=True)
class AudioFormat:
    """The codec a member hears and speaks, as negotiated: the key of shared audio encodes."""

    name: str
    clock_rate: int

    @classmethod
    def of(cls, codec: Codec) -> AudioFormat:
        return cls(codec.name, codec.clock_rate)


class AudioIn:
    """RTP in to 20 ms frames at the room rate, and RFC 4733 digits. `inbound` does for a packet
    of the codec what Member.receive_audio does (statistics into `session`, then the jitter
    buffer), in C, for the transport to offload to."""

    def __init__(self, media: Stream, session: RtpSession):
        codec = media.codecs[0]
        self.payload_type = codec.payload_type
        self.telephone_event_pt = media.telephone_event.payload_type if media.telephone_event else None
        self.codec = get_audio_codec(codec.name, codec.clock_rate)
        self.decoder = self.codec.decoder()
        self.jitter = AudioJitterBuffer(clock_rate=codec.clock_rate)
        self.inbound = AudioInbound(codec.payload_type, self.jitter, session.inbound, session.outbound.clock_rate)
        self.dtmf = DtmfReceiver()
        self.dropped: Counter[str] = Counter()

    def receive(self, packet: RtpPacket, now: float) -> list[str]:
        """File one packet; returns the DTMF digits it completed."""
        if packet.payload_type == self.payload_type:
            self.jitter.put(packet, now)
            return []
        if packet.payload_type == self.telephone_event_pt:
            try:
                events = self.dtmf.receive(packet.timestamp, packet.payload, now)
            except MediaParseError:
                self.dropped["bad telephone-event"] += 1
                return []
            return [e.digit for e in events if isinstance(e, DtmfEnd)]
        self.dropped["unexpected payload type"] += 1
        return []

    @property
    def sample_rate(self) -> int:
        return self.codec.info.sample_rate

    def frame(self, now: float) -> np.ndarray | None:
        """This tick's frame at the codec's sample rate (the room resamples all members at
        once), or None while nothing is buffered."""
        slot = self.jitter.pop(now)
        if slot is None:
            return None
        samples = self.codec.info.frame_samples
        if slot.lost:
            pcm = self.decoder.conceal(samples)
        else:
            try:
                pcm = self.decoder.decode(slot.payload)
            except CorruptAudioError:
                pcm = self.decoder.conceal(samples)
        return pcm

    def pending_digits(self, now: float) -> list[str]:
        """Digits whose end packets were all lost, closed by timeout."""
        return [e.digit for e in self.dtmf.handle_timer(now) if isinstance(e, DtmfEnd)]


def media_key(media: Stream | None) -> tuple | None:
    """What a member's pipelines for one media line depend on: when it changes they are rebuilt."""
    if media is None or not media.accepted or not media.codecs:
        return None
    codec = media.codecs[0]
    dtmf = media.telephone_event.payload_type if media.telephone_event else None
    return (codec.name, codec.payload_type, codec.clock_rate, codec.channels, codec.packetization_mode, dtmf)


@dataclass
class Member:
    member_id: int
    call_id: str
    room: str
    display_name: str
    user_agent: str
    remote: str  # the caller's address, for logs
    audio_media: Stream | None
    video_media: Stream | None
    chair: bool = False
    site_id: str | None = None  # the roster entry (sites.toml) this member is, when known
    cascade: str = ""  # a cascade link (another MCU carrying its part of the meeting): "up" on the
                       # node that dialled the main node, "down" on the main node
    uri: str = ""  # its SIP URI or H.323 alias as it called or was called
    state: MemberState = MemberState.JOINED
    muted: bool = False
    deaf: bool = False
    joined_at: float = 0.0
    source: str = ""  # the signalling source address (host), for per-address abuse limits
    video_cap: VideoCap | None = None  # admission degraded this member's views (lower fps/canvas)
    audio_in: AudioIn | None = field(init=False, default=None)
    audio_out: COutboundStream | None = field(init=False, default=None)
    audio_format: AudioFormat | None = field(init=False, default=None)
    digits: list[str] = field(default_factory=list)
    video_in: VideoIn | None = field(init=False, default=None)
    video_out: VideoViewer | None = field(init=False, default=None)
    last_packet: dict[str, float] = field(default_factory=dict)  # media kind -> arrival time
    feedback_in: Counter[str] = field(default_factory=Counter)  # "pli", "fir", "nack" from this member
    rtt: dict[str, float] = field(default_factory=dict)  # media kind -> seconds, from RTCP reports
    rtcp: dict[str, RtpSession] = field(default_factory=dict)  # media kind -> RTCP of our stream
    retransmits: list[bytes] = field(default_factory=list)  # NACKed packets to send again

    def __post_init__(self) -> None:
        self._build_audio()

    def _build_audio(self) -> None:
        media = self.audio_media
        if self.audio_in is not None:
            self.audio_in.inbound.active = False  # its C receiver files into the old buffer: stop it
        self.audio_in = None
        if media is None or not media.accepted or not media.codecs:
            self.audio_format, self.audio_out = None, None
            self.rtcp.pop("audio", None)
            return
        codec = media.codecs[0]
        self.audio_format = AudioFormat.of(codec)
        self.audio_out = COutboundStream(random.getrandbits(32), codec.payload_type, codec.clock_rate)
        self.add_rtcp("audio", self.audio_out)
        if media.we_receive:
            self.audio_in = AudioIn(media, self.rtcp["audio"])

    def set_audio(self, media: Stream | None) -> bool:
        """A re-offer's audio line. A new codec, payload type or clock rate (or DTMF payload type)
        rebuilds the pipelines in and out (a new outbound SSRC: a new stream); otherwise they stay,
        and so do their jitter buffer and numbering. True when rebuilt."""
        before = self.audio_media
        self.audio_media = media
        rebuild = media_key(before) != media_key(media) or (
            self.audio_in is None and media is not None and media.we_receive and bool(media.codecs))
        if rebuild:
            self._build_audio()
        return rebuild

    @property
    def encrypted(self) -> bool:
        """Every media line of the call is SRTP (SDES keys negotiated)."""
        return all_encrypted((self.audio_media, self.video_media))

    @property
    def hears(self) -> bool:
        media = self.audio_media
        return self.audio_out is not None and media is not None and media.we_send

    def add_rtcp(self, kind: str, stream: OutboundStream | COutboundStream) -> None:
        """RTCP for one media kind of ours; one CNAME for both kinds so receivers can lip-sync."""
        self.rtcp[kind] = RtpSession(stream, f"mcu-{self.room}-{self.member_id}", statistics=ReceiveStatistics)

    def sender_reports(self, now: float) -> dict[str, bytes]:
        """SR (with reception reports of the member's stream) + SDES for each kind we send."""
        return {kind: session.build_report(now) for kind, session in self.rtcp.items()
                if session.outbound.packet_count}

    def receive_rtcp(self, kind: str, packets: list[RtcpPacket], now: float) -> list[str]:
        """The member's RTCP about our stream of `kind`: RTT noted, NACKed packets still kept
        queued for take_retransmits(); returns the keyframe requests ("pli", "fir") it makes."""
        session = self.rtcp.get(kind)
        if session is None:
            return []
        keyframes = []
        for ev in session.receive_rtcp(packets, now):
            if isinstance(ev, RttMeasured):
                self.rtt[kind] = ev.rtt
            elif isinstance(ev, KeyframeRequested):
                keyframes.append(ev.kind)
            elif isinstance(ev, NackReceived):
                self.feedback_in["nack"] += 1
                self.retransmits.extend(session.outbound.retransmit(ev.sequence_numbers, now))
        return keyframes

    def take_retransmits(self) -> list[bytes]:
        """Packets to send again for the member's NACKs (the server sends them at once)."""
        out, self.retransmits = self.retransmits, []
        return out

    def summary(self) -> dict[str, int]:
        """What this member's media did, for the log line when it leaves."""
        out: dict[str, int] = {}
        if self.audio_in is not None:
            stats = self.audio_in.jitter.stats
            out |= {"audio_packets_in": stats.received, "audio_concealed": stats.lost}
        if self.audio_out is not None:
            out["audio_packets_out"] = self.audio_out.packet_count
        if self.video_in is not None:
            out |= {"video_frames_decoded": self.video_in.frames_decoded,
                    "video_decode_errors": self.video_in.decode_errors,
                    "keyframes_asked": self.video_in.keyframe_requests}
        if self.video_out is not None:
            out["video_packets_out"] = self.video_out.out.packet_count
        return out

    @property
    def sends_video(self) -> bool:
        return self.video_in is not None

    def receive_video(self, packet: RtpPacket, now: float) -> None:
        self.last_packet["video"] = now
        if "video" in self.rtcp:
            self.rtcp["video"].receive_rtp(packet, now)
        if self.video_in is not None:
            self.video_in.receive(packet, now)

    @property
    def audio_inbound(self) -> AudioInbound | None:
        """The C receiver of this member's audio packets, for the transport to offload to."""
        return self.audio_in.inbound if self.audio_in is not None else None

    def last_arrival(self, kind: str) -> float | None:
        """When the last packet of `kind` came in, through Python or C."""
        last = self.last_packet.get(kind)
        if kind == "audio" and self.audio_in is not None and self.audio_in.inbound.taken:
            last = max(last or 0.0, self.audio_in.inbound.last_arrival)
        return last

    def receive_audio(self, packet: RtpPacket, now: float) -> None:
        self.last_packet["audio"] = now
        if "audio" in self.rtcp:
            self.rtcp["audio"].receive_rtp(packet, now)
        if self.audio_in is not None:
            self.digits.extend(self.audio_in.receive(packet, now))

    def take_digits(self, now: float) -> list[str]:
        if self.audio_in is not None:
            self.digits.extend(self.audio_in.pending_digits(now))
        digits, self.digits = self.digits, []
        return digits
