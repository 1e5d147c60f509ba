"""A sans-I/O H.245 session (H.245 clause 8 procedures, as H.323 clause 6.2.8 uses them):
capability exchange (8.3), master/slave determination (8.2), unidirectional logical
channels (8.4), round-trip delay (8.9), commands and indications.

The session knows nothing of transport: `receive_pdu(data, now)` takes one H.245 PDU, and
`pdus_to_send()` returns encoded PDUs for the call to tunnel (H.225.0 clause 10.3) or to
frame on a separate TCP channel. It serves either end of a call (the MCU, or a terminal in
the tests); channels are keyed by the opener's forwardLogicalChannelNumber.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from .capabilities import (
    KIND_OF_SESSION,
    ROLE_CONTENT,
    ROLE_MAIN,
    SESSION_CONTENT,
    SESSION_OF_KIND,
    CapabilitySpec,
    Codec,
    RemoteCapabilities,
)
from .errors import H245DecodeError
from .events import (
    BitrateLimited,
    ChannelInfo,
    ContentTokenMessage,
    DtmfReceived,
    Event,
    KeyframeRequested,
    MediaActivity,
    MediaPorts,
    NegotiatedStream,
    ProtocolViolation,
)
from .h239 import H239Message
from .h245 import (
    MSD_DECISION_MASTER,
    MSD_DECISION_SLAVE,
    STATUS_DETERMINATION_MAX,
    CloseLogicalChannel,
    CloseLogicalChannelAck,
    EndSessionCommand,
    FlowControlCommand,
    H245Message,
    LogicalChannelActivity,
    MasterSlaveDetermination,
    MasterSlaveDeterminationAck,
    MasterSlaveDeterminationReject,
    OpenLogicalChannel,
    OpenLogicalChannelAck,
    OpenLogicalChannelReject,
    RoundTripDelayRequest,
    RoundTripDelayResponse,
    TerminalCapabilitySet,
    TerminalCapabilitySetAck,
    TerminalCapabilitySetReject,
    UserInputIndication,
    VideoFastUpdatePicture,
    decode_h245,
    determine_master,
    encode_h245,
)

# H.245 Annex C timers: T101 (capability exchange), T106 (MSD), T103 (logical channel)
RESPONSE_TIMEOUT = 30.0
MSD_MAX_RETRIES = 100  # N100


@dataclass(slots=True)
class _Channel:
    number: int
    kind: str
    codec: Codec
    payload_type: int
    remote_rtp: tuple[str, int] | None = None
    remote_rtcp: tuple[str, int] | None = None
    established: bool = False
    deadline: float | None = None
    role: str = ROLE_MAIN


class H245Session:
    """One H.245 control channel's procedures for one endpoint."""

    def __init__(
        self,
        spec: CapabilitySpec,
        terminal_type: int,
        *,
        rng: random.Random | None = None,
        open_channels: bool = True,
        response_timeout: float = RESPONSE_TIMEOUT,
    ) -> None:
        self.spec = spec
        self.terminal_type = terminal_type
        self.rng = rng or random.Random()
        self.open_channels = open_channels  # open our send channels once TCS/MSD are done
        self.response_timeout = response_timeout
        self.local_ports: dict[str, MediaPorts] = {}
        self.content_ports: MediaPorts | None = None  # H.239 content, once the call has them
        self.remote: RemoteCapabilities | None = None
        self.is_master: bool | None = None
        self.ended = False  # endSessionCommand sent or received
        self.remote_ended = False
        self.failure: str | None = None
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._started = False
        self._tcs_sequence = 0
        self._tcs_deadline: float | None = None
        self._msd_number = 0
        self._msd_retries = 0
        self._msd_deadline: float | None = None
        self._msd_sent = False
        self._rtd_sequence = 0
        self.sending: dict[int, _Channel] = {}  # our channels, by our number
        self.receiving: dict[int, _Channel] = {}  # the peer's channels, by its number
        self._next_channel = 1

    # output

    def pdus_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def send_h239(self, messages: list[H239Message]) -> None:
        """What the call's TokenManager decided to tell the terminal."""
        for message in messages:
            self._send(message)

    def _send(self, message: H245Message | H239Message) -> None:
        self._out.append(encode_h245(message))

    # procedures we start

    @property
    def started(self) -> bool:
        return self._started

    def start(self, now: float) -> None:
        """Sends our TerminalCapabilitySet and MasterSlaveDetermination."""
        if self._started:
            return
        self._started = True
        self._tcs_sequence += 1
        self._send(TerminalCapabilitySet(self._tcs_sequence, self.spec))
        self._tcs_deadline = now + self.response_timeout
        self._send_msd(now)

    def _send_msd(self, now: float) -> None:
        self._msd_number = self.rng.randint(0, STATUS_DETERMINATION_MAX)
        self._msd_sent = True
        self._send(MasterSlaveDetermination(self.terminal_type, self._msd_number))
        self._msd_deadline = now + self.response_timeout

    def set_local_ports(self, ports: dict[str, MediaPorts], now: float) -> None:
        self.local_ports = dict(ports)
        self._maybe_open(now)

    def add_fast_start_channel(
        self, *, sending: bool, number: int, codec: Codec, payload_type: int,
        remote_rtp: tuple[str, int] | None, remote_rtcp: tuple[str, int] | None,
    ) -> None:
        """Registers a channel opened by fast connect (H.323 clause 8.1.7)."""
        channel = _Channel(number, codec.kind, codec, payload_type, remote_rtp, remote_rtcp, True)
        (self.sending if sending else self.receiving)[number] = channel
        if sending:
            self._next_channel = max(self._next_channel, number + 1)

    def request_keyframe(self, kind: str = "video", role: str = ROLE_MAIN) -> bool:
        """videoFastUpdatePicture on the peer's channel of `kind`; False if there is none."""
        for channel in self.receiving.values():
            if channel.kind == kind and channel.role == role and channel.established:
                self._send(VideoFastUpdatePicture(channel.number))
                return True
        return False

    def limit_bitrate(self, kind: str, kbps: int | None) -> bool:
        """flowControlCommand on the peer's channel of `kind` (maximumBitRate, 100 bit/s)."""
        for channel in self.receiving.values():
            if channel.kind == kind and channel.established:
                units = None if kbps is None else kbps * 10
                self._send(FlowControlCommand(units, channel.number))
                return True
        return False

    def send_user_input(self, digit: str, duration_ms: int | None = None) -> None:
        remote_dtmf = self.remote is not None and "dtmf" in self.remote.user_input
        if remote_dtmf or self.remote is None:
            self._send(UserInputIndication(signal=digit, duration=duration_ms))
        else:
            self._send(UserInputIndication(alphanumeric=digit))

    def round_trip_delay(self) -> None:
        self._rtd_sequence = (self._rtd_sequence + 1) % 256
        self._send(RoundTripDelayRequest(self._rtd_sequence))

    def end_session(self) -> None:
        """endSessionCommand disconnect (H.245 clause 8.x); nothing more is sent after it."""
        if not self.ended:
            self.ended = True
            self._send(EndSessionCommand())

    # timers

    def get_timer(self) -> float | None:
        deadlines = [d for d in (self._tcs_deadline, self._msd_deadline) if d is not None]
        deadlines += [c.deadline for c in self.sending.values() if c.deadline is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        if self._tcs_deadline is not None and now >= self._tcs_deadline:
            self._tcs_deadline = None
            self.failure = "no answer to our TerminalCapabilitySet (T101)"
        if self._msd_deadline is not None and now >= self._msd_deadline:
            self._msd_deadline = None
            self.failure = "no answer to our MasterSlaveDetermination (T106)"
        for channel in list(self.sending.values()):
            if channel.deadline is not None and now >= channel.deadline:
                channel.deadline = None
                del self.sending[channel.number]
                self._events.append(ProtocolViolation(
                    "h245 olc timeout", f"no answer to OpenLogicalChannel {channel.number}"))

    # input

    def receive_pdu(self, data: bytes, now: float) -> None:
        try:
            message = decode_h245(data)
        except H245DecodeError as exc:
            self._events.append(ProtocolViolation(exc.reason, str(exc)))
            return
        self.receive_message(message, now)

    def receive_message(self, message: H245Message | H239Message, now: float) -> None:
        if isinstance(message, H239Message):
            self._events.append(ContentTokenMessage(message))
        elif isinstance(message, TerminalCapabilitySet):
            self._on_tcs(message, now)
        elif isinstance(message, TerminalCapabilitySetAck):
            if message.sequence_number == self._tcs_sequence:
                self._tcs_deadline = None
        elif isinstance(message, TerminalCapabilitySetReject):
            self._tcs_deadline = None
            self.failure = f"the peer rejected our capabilities ({message.cause})"
        elif isinstance(message, MasterSlaveDetermination):
            self._on_msd(message, now)
        elif isinstance(message, MasterSlaveDeterminationAck):
            if self._msd_deadline is not None:
                self._msd_deadline = None
                self.is_master = message.decision == MSD_DECISION_MASTER
                self._maybe_open(now)
        elif isinstance(message, MasterSlaveDeterminationReject):
            self._msd_retries += 1
            if self._msd_retries >= MSD_MAX_RETRIES:
                self._msd_deadline = None
                self.failure = "master/slave determination stayed indeterminate"
            else:
                self._send_msd(now)
        elif isinstance(message, OpenLogicalChannel):
            self._on_olc(message)
        elif isinstance(message, OpenLogicalChannelAck):
            self._on_olc_ack(message)
        elif isinstance(message, OpenLogicalChannelReject):
            channel = self.sending.pop(message.number, None)
            if channel is not None:
                self._events.append(ProtocolViolation(
                    "h245 olc rejected", f"{channel.codec.name} channel refused: {message.cause}"))
        elif isinstance(message, CloseLogicalChannel):
            self.receiving.pop(message.number, None)
            self._send(CloseLogicalChannelAck(message.number))
        elif isinstance(message, CloseLogicalChannelAck):
            self.sending.pop(message.number, None)
        elif isinstance(message, RoundTripDelayRequest):
            self._send(RoundTripDelayResponse(message.sequence_number))
        elif isinstance(message, EndSessionCommand):
            self.remote_ended = True
            self.end_session()
        elif isinstance(message, VideoFastUpdatePicture):
            channel = self.sending.get(message.channel)  # on our content channel: its keyframe
            self._events.append(KeyframeRequested("video", channel.role if channel else ROLE_MAIN))
        elif isinstance(message, FlowControlCommand):
            channel = self.sending.get(message.channel) if message.channel is not None else None
            self._events.append(BitrateLimited(message.kbps, channel.kind if channel else None))
        elif isinstance(message, LogicalChannelActivity):
            channel = self.receiving.get(message.channel)
            if channel is not None:
                self._events.append(MediaActivity(channel.kind, message.active))
        elif isinstance(message, UserInputIndication):
            for digit in message.digits:
                self._events.append(DtmfReceived(digit, message.duration))

    def _on_tcs(self, message: TerminalCapabilitySet, now: float) -> None:
        if message.remote is None:
            self._send(TerminalCapabilitySetReject(message.sequence_number))
            return
        self.remote = message.remote
        self._send(TerminalCapabilitySetAck(message.sequence_number))
        self._maybe_open(now)

    def _on_msd(self, message: MasterSlaveDetermination, now: float) -> None:
        if not self._msd_sent:
            # answering only: pick our number now (H.245 clause 8.2: both sides may start)
            self._msd_number = self.rng.randint(0, STATUS_DETERMINATION_MAX)
        master = determine_master(self.terminal_type, self._msd_number,
                                  message.terminal_type, message.status_determination_number)
        if master is None:
            self._send(MasterSlaveDeterminationReject())
            return
        self.is_master = master
        self._msd_deadline = None
        self._send(MasterSlaveDeterminationAck(MSD_DECISION_SLAVE if master else
                                               MSD_DECISION_MASTER))
        self._maybe_open(now)

    def _on_olc(self, message: OpenLogicalChannel) -> None:
        if message.role == ROLE_CONTENT:
            # the presenter's extended-video channel (H.239 clause 8): taken when we gave content
            # codecs and ports; the token itself is the conference's to check (TokenManager)
            self._take_channel(message, self.content_ports, self.spec.content)
            return
        kind = KIND_OF_SESSION.get(message.session_id)
        if message.codec is not None:
            kind = message.codec.kind
        self._take_channel(message, self.local_ports.get(kind) if kind else None,
                           self.spec.codecs(kind) if kind else [])

    def _take_channel(self, message: OpenLogicalChannel, ports: MediaPorts | None, ours: list[Codec]) -> None:
        """Ack a peer's channel of a format we take on `ports`, else reject it with the cause."""
        codec = message.codec
        if message.reverse or codec is None or ports is None or not any(
                codec.same_format(c) for c in ours):
            cause = "dataTypeNotSupported" if ports is not None else "dataTypeNotAvailable"
            self._send(OpenLogicalChannelReject(message.number, cause))
            return
        payload_type = message.dynamic_payload_type
        if payload_type is None:
            payload_type = codec.rtp_payload_type
        self.receiving[message.number] = _Channel(
            message.number, codec.kind, codec, payload_type, None, message.media_control, True,
            role=message.role)
        self._send(OpenLogicalChannelAck(
            message.number, message.session_id, ports.rtp, ports.rtcp, message.dynamic_payload_type))

    def open_content(self, now: float) -> bool:
        """Open our content channel to the peer (content started in the room); False when it
        takes no H.239 presentation, has no codec of ours, or one is open already."""
        if self.remote is None or self.content_ports is None or self.ended:
            return False
        if any(c.role == ROLE_CONTENT for c in self.sending.values()):
            return False
        codec = next((ours for ours in self.spec.content
                      if any(ours.same_format(theirs) for theirs in self.remote.content)), None)
        if codec is None:
            return False
        number = self._next_channel
        self._next_channel += 1
        payload_type = codec.rtp_payload_type
        self.sending[number] = _Channel(number, codec.kind, codec, payload_type,
                                        deadline=now + self.response_timeout, role=ROLE_CONTENT)
        self._send(OpenLogicalChannel(
            number, codec, SESSION_CONTENT, media_control=self.content_ports.rtcp,
            dynamic_payload_type=payload_type if codec.dynamic else None, role=ROLE_CONTENT))
        return True

    def close_content(self) -> None:
        """Close our content channel (content stopped): H.239 closes it with the token."""
        for channel in [c for c in self.sending.values() if c.role == ROLE_CONTENT]:
            self._send(CloseLogicalChannel(channel.number))
            channel.established = False

    def _on_olc_ack(self, message: OpenLogicalChannelAck) -> None:
        channel = self.sending.get(message.number)
        if channel is None:
            return
        channel.remote_rtp = message.media
        channel.remote_rtcp = message.media_control
        channel.established = True
        channel.deadline = None

    def _maybe_open(self, now: float) -> None:
        """Opens one send channel per kind we have ports for, once the peer's capabilities
        are known and master/slave is determined (H.245 clause 8.4)."""
        if not self.open_channels or self.ended:
            return
        if self.remote is None or self.is_master is None:
            return
        for kind, ports in self.local_ports.items():
            if any(c.kind == kind and c.role == ROLE_MAIN for c in self.sending.values()):
                continue
            codec = self.spec.best_match(kind, self.remote.codecs(kind))
            if codec is None:
                continue
            number = self._next_channel
            self._next_channel += 1
            payload_type = codec.rtp_payload_type
            self.sending[number] = _Channel(number, kind, codec, payload_type,
                                            deadline=now + self.response_timeout)
            self._send(OpenLogicalChannel(
                number, codec, SESSION_OF_KIND[kind], media_control=ports.rtcp,
                dynamic_payload_type=payload_type if codec.dynamic else None,
                silence_suppression=False if kind == "audio" else None))

    # state for the call layer

    def streams(self) -> dict[tuple[str, str], NegotiatedStream]:
        out: dict[tuple[str, str], NegotiatedStream] = {}
        wanted = [(kind, ROLE_MAIN, ports) for kind, ports in self.local_ports.items()]
        if self.content_ports is not None:
            wanted.append(("video", ROLE_CONTENT, self.content_ports))
        for kind, role, ports in wanted:
            send = next((c for c in self.sending.values()
                         if c.kind == kind and c.role == role and c.established), None)
            receive = next((c for c in self.receiving.values()
                            if c.kind == kind and c.role == role and c.established), None)
            if send is None and receive is None:
                continue
            out[(kind, role)] = NegotiatedStream(
                kind, role, ports,
                _info(send) if send else None,
                _info(receive) if receive else None,
            )
        return out


def _info(channel: _Channel) -> ChannelInfo:
    return ChannelInfo(channel.number, channel.codec, channel.payload_type, channel.remote_rtp,
                       channel.remote_rtcp)
