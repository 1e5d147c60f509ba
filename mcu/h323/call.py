"""The MCU side of one H.323 call, sans-I/O (H.323 clause 8: call setup phases A-E).

Inputs: `receive_data(data, now)` with the bytes of the call-signalling TCP connection
(TPKT + Q.931 + H.225.0), `receive_h245_data(data, now)` with those of a separate H.245
connection if one is used, `handle_timer(now)`, and the API calls below. Outputs:
`data_to_send()`, `h245_data_to_send()`, `get_timer()` and `next_event()`.

Incoming calls: a Setup gives IncomingCall (and MediaOffered for fast connect); we have
already answered CallProceeding. accept(ports) answers Connect (with fast-connect answers,
H.323 clause 8.1.7) and starts H.245: tunnelled in the signalling messages (H.225.0 clause
10.3) when the caller tunnels, else on a separate connection, which the shell opens to the
caller's h245Address (H245ChannelWanted) or accepts on the address given to accept().
Outgoing calls (dial-out): H323Call.dial() sends a Setup with fast-connect proposals.

Every encode/decode goes through pycrate: drive a call from one thread only (per.py).
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from dataclasses import dataclass, field

from . import h225, q931
from .capabilities import (
    KIND_AUDIO,
    ROLE_CONTENT,
    ROLE_MAIN,
    SESSION_OF_KIND,
    CapabilitySpec,
)
from .errors import H323Error, H323StateError
from .events import (
    H245_CONNECT,
    H245_LISTEN,
    H245_TUNNELLED,
    CallAnswered,
    CallEnded,
    Event,
    H245ChannelWanted,
    IncomingCall,
    MediaNegotiated,
    MediaOffered,
    MediaPorts,
    NegotiatedStream,
    ProtocolViolation,
)
from .faststart import DIRECTION_CALLER_SENDS, choose_fast_start, fast_start_answer
from .h239 import H239Message
from .h245 import (
    TERMINAL_TYPE_MCU,
    OpenLogicalChannel,
    decode_fast_start,
    encode_fast_start,
)
from .h245session import H245Session
from .refusal import Refusal, from_h323, to_h323
from .tpkt import TpktFramer, encode_tpkt

Address = tuple[str, int]

STATE_IDLE = "idle"
STATE_CALL_PRESENT = "call_present"  # Setup received, CallProceeding sent
STATE_CALL_INITIATED = "call_initiated"  # Setup sent
STATE_ACTIVE = "active"
STATE_RELEASED = "released"

SETUP_TIMEOUT = 180.0  # an outgoing Setup left unanswered (Q.931 T303 x ringing)


@dataclass(slots=True)
class H323Config:
    """What the MCU says about itself in call signalling."""

    display: str = "MCU"
    aliases: list[h225.Alias] = field(default_factory=list)
    vendor: h225.VendorInfo = field(
        default_factory=lambda: h225.VendorInfo("open-mcu", "0.1"))
    capabilities: CapabilitySpec = field(default_factory=CapabilitySpec)
    terminal_type: int = TERMINAL_TYPE_MCU
    endpoint_kind: str = h225.ENDPOINT_MCU  # EndpointType in Setup/Connect (mc TRUE for MCU)
    fast_start: bool = True  # accept (and, dialling out, propose) fast connect
    tunnelling: bool = True  # accept (and propose) H.245 tunnelling
    h245_timeout: float = 30.0


class H323Call:
    """One call on one call-signalling connection."""

    def __init__(self, config: H323Config, remote_address: Address,
                 *, rng: random.Random | None = None) -> None:
        self.config = config
        self.remote_address = remote_address
        self.rng = rng or random.Random()
        self.state = STATE_IDLE
        self.outgoing = False
        self.call_reference = 0
        self.call_id = b""
        self.conference_id = b""
        self.tunnelling = False
        self.h245_mode = H245_TUNNELLED
        self.h245_remote: Address | None = None
        self.h245_connected_ = False
        self.ports: dict[str, MediaPorts] = {}
        self.proposals: list[OpenLogicalChannel] = []
        self.session = H245Session(config.capabilities, config.terminal_type, rng=self.rng,
                                   response_timeout=config.h245_timeout)
        self._framer = TpktFramer()
        self._h245_framer = TpktFramer()
        self._out = bytearray()
        self._h245_out = bytearray()
        self._events: deque[Event] = deque()
        self._early_h245: list[bytes] = []
        self._streams: dict[tuple[str, str], NegotiatedStream] = {}
        self._setup_deadline: float | None = None
        self._own_proposals: list[OpenLogicalChannel] = []

    # ------------------------------------------------------------------ outputs

    def data_to_send(self) -> bytes:
        """Bytes for the call-signalling TCP connection."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def h245_data_to_send(self) -> bytes:
        """Bytes for the separate H.245 TCP connection (empty while it is not connected)."""
        out = bytes(self._h245_out)
        self._h245_out.clear()
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        if self.state == STATE_RELEASED:
            return None
        timers = [t for t in (self._setup_deadline, self.session.get_timer()) if t is not None]
        return min(timers) if timers else None

    @property
    def ended(self) -> bool:
        return self.state == STATE_RELEASED

    # ------------------------------------------------------------------ inputs

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes read from the call-signalling connection (any cut)."""
        if self.state == STATE_RELEASED:
            return
        try:
            payloads = self._framer.feed(data)
        except H323Error as exc:  # the stream is out of step: nothing more can be read from it
            self._events.append(ProtocolViolation(exc.reason, str(exc)))
            self._release_local(Refusal.PROTOCOL_ERROR, f"call signalling: {exc}", send=False)
            return
        for payload in payloads:
            if self.state == STATE_RELEASED:
                return
            try:
                message = h225.parse_signalling(payload)
            except H323Error as exc:
                self._events.append(ProtocolViolation(exc.reason, str(exc)))
                if self.state == STATE_IDLE:
                    self._release_local(Refusal.PROTOCOL_ERROR, f"first message: {exc}",
                                        send=False)
                    return
                continue
            self._on_signalling(message, now)
        self._flush(now)

    def receive_h245_data(self, data: bytes, now: float) -> None:
        """Bytes read from the separate H.245 connection."""
        if self.state == STATE_RELEASED:
            return
        try:
            payloads = self._h245_framer.feed(data)
        except H323Error as exc:
            self._events.append(ProtocolViolation(exc.reason, str(exc)))
            self._release_local(Refusal.PROTOCOL_ERROR, f"H.245 channel: {exc}")
            return
        for payload in payloads:
            self.session.receive_pdu(payload, now)
        self._flush(now)

    def h245_connected(self, now: float) -> None:
        """The separate H.245 TCP connection is up (we connected, or the peer did)."""
        self.h245_connected_ = True
        self.tunnelling = False
        if self.state == STATE_ACTIVE or (self.outgoing and self.state != STATE_RELEASED):
            self.session.start(now)
        self._flush(now)

    def connection_lost(self, now: float) -> None:
        """The call-signalling connection closed (H.323 clause 8.5: the call is over)."""
        if self.state != STATE_RELEASED:
            self.state = STATE_RELEASED
            self._events.append(CallEnded(Refusal.NORMAL, None, None, True,
                                          "call-signalling connection closed"))

    def handle_timer(self, now: float) -> None:
        if self.state == STATE_RELEASED:
            return
        if self._setup_deadline is not None and now >= self._setup_deadline:
            self._setup_deadline = None
            self._release_local(Refusal.NO_ANSWER, "no answer to our Setup")
            return
        self.session.handle_timer(now)
        self._flush(now)

    # ------------------------------------------------------------------ API

    def accept(self, ports: dict[str, MediaPorts], now: float,
               h245_address: Address | None = None) -> None:
        """Answers an IncomingCall: Connect, with fast-connect answers for the kinds in
        `ports` ("audio", "video"), and H.245. `h245_address` is our listening address, needed
        when IncomingCall.h245_mode is H245_LISTEN."""
        if self.state != STATE_CALL_PRESENT:
            raise H323StateError(f"accept() in state {self.state}")
        if self.h245_mode == H245_LISTEN and h245_address is None:
            raise H323StateError("this caller neither tunnels nor listens: give h245_address")
        ports = self._take_content_ports(ports)
        self.ports = dict(ports)
        self.session.local_ports = dict(ports)
        fast_start = None
        if self.proposals and self.config.fast_start:
            choices = choose_fast_start(self.proposals, self.config.capabilities, set(ports))
            if choices:
                answer = fast_start_answer(choices, self.ports)
                fast_start = [encode_fast_start(olc) for olc in answer]
                for choice, olc in zip(choices, answer):
                    sending = choice.direction != DIRECTION_CALLER_SENDS
                    self.session.add_fast_start_channel(
                        sending=sending, number=olc.number, codec=choice.codec,
                        payload_type=_payload_type(choice.proposal),
                        remote_rtp=choice.proposal.media if sending else None,
                        remote_rtcp=choice.proposal.media_control,
                    )
                self.session.open_channels = False
        self.state = STATE_ACTIVE
        control: list[bytes] = []
        if self.tunnelling:
            for pdu in self._early_h245:
                self.session.receive_pdu(pdu, now)
            self._early_h245.clear()
            self.session.start(now)
            control = self.session.pdus_to_send()
        connect = h225.Connect(
            call_id=self.call_id,
            conference_id=self.conference_id,
            destination_info=self._endpoint_info(),
            h245_address=h245_address if not self.tunnelling else None,
            fast_start=fast_start,
        )
        self._send_signalling(connect, control, display=self.config.display)
        self.session.set_local_ports(self.ports, now)
        if self.h245_mode == H245_CONNECT and self.h245_remote is not None:
            self._events.append(H245ChannelWanted(self.h245_remote))
        self._flush(now)

    def alert(self, now: float) -> None:
        """Sends Alerting (the MCU may ring before accept, e.g. while a PIN is checked)."""
        if self.state != STATE_CALL_PRESENT:
            raise H323StateError(f"alert() in state {self.state}")
        self._send_signalling(h225.Alerting(self.call_id, self._endpoint_info()), [])

    def reject(self, refusal: Refusal, now: float) -> None:
        """Refuses an IncomingCall with a ReleaseComplete (cause and reason of `refusal`)."""
        if self.state != STATE_CALL_PRESENT:
            raise H323StateError(f"reject() in state {self.state}")
        self._release_local(refusal, "refused")

    def hangup(self, now: float, refusal: Refusal = Refusal.NORMAL) -> None:
        """Ends the call: endSessionCommand on H.245 if it runs, then ReleaseComplete."""
        if self.state == STATE_RELEASED:
            return
        self._release_local(refusal, "hung up")

    def request_keyframe(self, now: float, kind: str = "video", role: str = ROLE_MAIN) -> bool:
        """videoFastUpdatePicture to the peer; False if it sends us no such channel."""
        sent = self.session.request_keyframe(kind, role)
        self._flush(now)
        return sent

    def _take_content_ports(self, ports: dict[str, MediaPorts]) -> dict[str, MediaPorts]:
        """`ports` may hold "content" (H.239 presentation): it is no fast-connect kind, it goes to
        the H.245 session for the extended-video channels."""
        ports = dict(ports)
        self.session.content_ports = ports.pop(ROLE_CONTENT, None)
        return ports

    def open_content(self, now: float) -> bool:
        """Open our H.239 content channel to the peer (content runs in its room)."""
        opened = self.session.open_content(now)
        self._flush(now)
        return opened

    def close_content(self, now: float) -> None:
        self.session.close_content()
        self._flush(now)

    def send_h239(self, messages: list[H239Message], now: float) -> None:
        """The presentation token answers of the call's TokenManager (mcu.h323.h239)."""
        self.session.send_h239(messages)
        self._flush(now)

    def limit_bitrate(self, now: float, kind: str, kbps: int | None) -> bool:
        """flowControlCommand: asks the peer to send at most `kbps` on `kind`."""
        sent = self.session.limit_bitrate(kind, kbps)
        self._flush(now)
        return sent

    def send_dtmf(self, digits: str, now: float, duration_ms: int | None = None) -> None:
        for digit in digits:
            self.session.send_user_input(digit, duration_ms)
        self._flush(now)

    @classmethod
    def dial(
        cls,
        config: H323Config,
        remote_address: Address,
        destination: list[h225.Alias],
        ports: dict[str, MediaPorts],
        now: float,
        *,
        local_address: Address | None = None,
        h245_address: Address | None = None,
        rng: random.Random | None = None,
    ) -> H323Call:
        """An outgoing call (dial-out): sends a Setup to `destination` with fast-connect
        proposals for `ports`, tunnelling if configured (else `h245_address` is ours)."""
        call = cls(config, remote_address, rng=rng)
        call.outgoing = True
        call.call_reference = call.rng.randint(1, 0x7FFF)
        call.call_id = uuid.UUID(int=call.rng.getrandbits(128)).bytes
        call.conference_id = uuid.UUID(int=call.rng.getrandbits(128)).bytes
        ports = call._take_content_ports(ports)
        call.ports = dict(ports)
        call.session.local_ports = dict(ports)
        call.tunnelling = config.tunnelling
        fast_start = None
        if config.fast_start:
            call._own_proposals = _proposals(config.capabilities, ports)
            fast_start = [encode_fast_start(olc) for olc in call._own_proposals]
        setup = h225.Setup(
            conference_id=call.conference_id,
            call_id=call.call_id,
            source_info=call._endpoint_info(),
            source_aliases=list(config.aliases),
            destination_aliases=list(destination),
            dest_call_signal_address=remote_address,
            source_call_signal_address=local_address,
            h245_address=h245_address if not config.tunnelling else None,
            fast_start=fast_start,
        )
        digits = next((a.value for a in destination if a.kind == h225.ALIAS_DIALED_DIGITS), None)

        def prepare(message: q931.Q931Message) -> None:
            message.bearer_capability = q931.BearerCapability(multiplier=6)
            if digits:
                message.called_number = q931.PartyNumber(digits)

        call._send_signalling(setup, [], display=config.display, prepare=prepare)
        call.state = STATE_CALL_INITIATED
        call._setup_deadline = now + SETUP_TIMEOUT
        return call

    # ------------------------------------------------------------------ internals

    def _endpoint_info(self) -> h225.EndpointInfo:
        kind = self.config.endpoint_kind
        return h225.EndpointInfo(self.config.vendor, kind, mc=kind == h225.ENDPOINT_MCU)

    def _send_signalling(self, body: h225.Body, control: list[bytes], *,
                         display: str | None = None, prepare: object = None) -> None:
        info = h225.UserInformation(body, self.tunnelling, control)
        message = h225.build_q931(info, self.call_reference, not self.outgoing,
                                  display=display, prepare=prepare)
        self._out += encode_tpkt(message.to_bytes())

    def _flush(self, now: float) -> None:
        """Moves H.245 output to its transport, and session events and failures out."""
        pdus = self.session.pdus_to_send()
        if pdus and self.state != STATE_RELEASED:
            if self.tunnelling:
                self._send_signalling(h225.Empty(), pdus)
            elif self.h245_connected_:
                for pdu in pdus:
                    self._h245_out += encode_tpkt(pdu)
            else:
                self._events.append(ProtocolViolation("h245 not connected",
                                                      f"{len(pdus)} H.245 PDUs dropped"))
        while (event := self.session.next_event()) is not None:
            self._events.append(event)
        streams = self.session.streams()
        if streams != self._streams and self.state == STATE_ACTIVE:
            self._streams = streams
            self._events.append(MediaNegotiated(dict(streams)))
        if self.session.remote_ended and self.state != STATE_RELEASED:
            self._release(Refusal.NORMAL, q931.CAUSE_NORMAL_CALL_CLEARING, None, True,
                          "the peer ended the H.245 session")
        elif self.session.failure and self.state != STATE_RELEASED:
            self._release_local(Refusal.PROTOCOL_ERROR, self.session.failure)

    def _release_local(self, refusal: Refusal, detail: str, *, send: bool = True) -> None:
        cause, reason = to_h323(refusal)
        self._release(refusal, cause, reason, False, detail, send=send)

    def _release(self, refusal: Refusal, cause: int, reason: str | None, by_remote: bool,
                 detail: str, *, send: bool = True) -> None:
        if self.state == STATE_RELEASED:
            return
        if send and self.state != STATE_IDLE:
            if self.state == STATE_ACTIVE and self.session.started and not self.session.ended:
                self.session.end_session()
                pdus = self.session.pdus_to_send()
                if self.tunnelling:
                    self._send_signalling(h225.Empty(), pdus)
                elif self.h245_connected_:
                    for pdu in pdus:
                        self._h245_out += encode_tpkt(pdu)
            elif self.session.remote_ended:
                pdus = self.session.pdus_to_send()
                if self.h245_connected_ and not self.tunnelling:
                    for pdu in pdus:
                        self._h245_out += encode_tpkt(pdu)
                elif self.tunnelling:
                    self._send_signalling(h225.Empty(), pdus)

            def prepare(message: q931.Q931Message) -> None:
                message.cause = q931.Cause(cause, q931.CAUSE_LOCATION_PRIVATE_LOCAL)

            self._send_signalling(h225.ReleaseComplete(self.call_id, reason), [],
                                  prepare=prepare)
        self.state = STATE_RELEASED
        self._events.append(CallEnded(refusal, cause, reason, by_remote, detail))

    def _on_signalling(self, message: h225.SignallingMessage, now: float) -> None:
        body = message.info.body
        if self.state == STATE_IDLE:
            if not isinstance(body, h225.Setup):
                self._release_local(Refusal.PROTOCOL_ERROR,
                                    f"first message is {message.q931.name}, not Setup",
                                    send=False)
                return
            self._on_setup(message, body, now)
            return
        if message.q931.call_reference != self.call_reference:
            self._events.append(ProtocolViolation(
                "q931 unknown call reference",
                f"{message.q931.name} for call reference {message.q931.call_reference}"))
            return
        if self.outgoing and isinstance(body, (h225.CallProceeding, h225.Alerting,
                                               h225.Progress, h225.Connect)):
            # fast-connect answers first: tunnelled H.245 in the same message must not
            # open channels that fast connect already opened
            fast_start = body.fast_start
            if fast_start and not self.session.sending and not self.session.receiving:
                self._take_fast_start_answer(fast_start)
        if message.info.h245_control:
            if self.state == STATE_CALL_PRESENT:
                self._early_h245.extend(message.info.h245_control)
            else:
                for pdu in message.info.h245_control:
                    self.session.receive_pdu(pdu, now)
        if isinstance(body, h225.ReleaseComplete):
            cause = message.q931.cause
            value = cause.value if cause else None
            self._release(from_h323(value, body.reason), value or 0, body.reason, True,
                          f"ReleaseComplete from the peer (cause {value}, reason {body.reason})",
                          send=False)
        elif isinstance(body, h225.Facility):
            if body.reason == h225.FACILITY_START_H245 and body.h245_address is not None:
                self.tunnelling = False
                self.h245_remote = body.h245_address
                self._events.append(H245ChannelWanted(body.h245_address))
        elif isinstance(body, h225.StatusInquiry):
            def prepare(reply: q931.Q931Message) -> None:
                reply.cause = q931.Cause(q931.CAUSE_RESPONSE_TO_STATUS_ENQUIRY)
                reply.call_state = (q931.CALL_STATE_ACTIVE if self.state == STATE_ACTIVE
                                    else q931.CALL_STATE_INCOMING_CALL_PROCEEDING)
            self._send_signalling(h225.Status(self.call_id), [], prepare=prepare)
        elif self.outgoing and isinstance(body, (h225.CallProceeding, h225.Alerting,
                                                 h225.Progress, h225.Connect)):
            self._on_answer(message, body, now)

    def _on_setup(self, message: h225.SignallingMessage, setup: h225.Setup,
                  now: float) -> None:
        q = message.q931
        if q.from_destination:
            self._release_local(Refusal.PROTOCOL_ERROR, "Setup with the destination flag",
                                send=False)
            return
        self.call_reference = q.call_reference
        self.call_id = setup.call_id
        self.conference_id = setup.conference_id
        self.tunnelling = message.info.h245_tunnelling and self.config.tunnelling
        self.h245_remote = setup.h245_address
        if self.tunnelling:
            self.h245_mode = H245_TUNNELLED
            self._early_h245.extend(message.info.h245_control)
        elif setup.h245_address is not None:
            self.h245_mode = H245_CONNECT
        else:
            self.h245_mode = H245_LISTEN
        offered: dict[str, dict[tuple[str, str], list]] = {"send": {}, "receive": {}}
        for element in setup.fast_start or []:
            try:
                proposal = decode_fast_start(element)
            except H323Error as exc:
                self._events.append(ProtocolViolation(exc.reason, f"fastStart element: {exc}"))
                continue
            self.proposals.append(proposal)
            if proposal.codec is not None:
                side = "receive" if proposal.reverse else "send"
                key = (proposal.codec.kind, ROLE_MAIN)
                offered[side].setdefault(key, []).append(proposal.codec)
        self.state = STATE_CALL_PRESENT
        self._send_signalling(h225.CallProceeding(self.call_id, self._endpoint_info()), [])
        called = q.called_number
        calling = q.calling_number
        self._events.append(IncomingCall(
            call_id=setup.call_id.hex(),
            conference_id=setup.conference_id.hex(),
            source_aliases=setup.source_aliases,
            destination_aliases=setup.destination_aliases,
            called_number=called.digits if called else None,
            calling_number=calling.digits if calling else None,
            display=q.display.rstrip("\0") if q.display else None,
            vendor=setup.source_info.vendor,
            remote_address=self.remote_address,
            h245_mode=self.h245_mode,
            fast_start=bool(self.proposals),
        ))
        if self.proposals:
            self._events.append(MediaOffered(offered["send"], offered["receive"]))

    def _on_answer(self, message: h225.SignallingMessage, body: h225.Body,
                   now: float) -> None:
        """Outgoing calls: CallProceeding/Alerting/Progress/Connect from the callee."""
        h245_address = getattr(body, "h245_address", None)
        if not message.info.h245_tunnelling:
            self.tunnelling = False
        separate = not self.tunnelling and not self.h245_connected_
        if h245_address is not None and separate and self.h245_remote is None:
            self.h245_remote = h245_address
            self._events.append(H245ChannelWanted(h245_address))
        if isinstance(body, h225.Connect):
            self._setup_deadline = None
            self.state = STATE_ACTIVE
            self._events.append(CallAnswered(body.destination_info.vendor))
            if self.tunnelling or self.h245_connected_:
                self.session.start(now)

    def _take_fast_start_answer(self, elements: list[bytes]) -> None:
        for element in elements:
            try:
                olc = decode_fast_start(element)
            except H323Error as exc:
                self._events.append(ProtocolViolation(exc.reason, f"fastStart answer: {exc}"))
                continue
            if olc.codec is None:
                continue
            # the callee answers our proposals: reverse = we receive, forward = we send
            sending = not olc.reverse
            self.session.add_fast_start_channel(
                sending=sending, number=olc.number, codec=olc.codec,
                payload_type=_payload_type(olc),
                remote_rtp=olc.media if sending else None,
                remote_rtcp=olc.media_control,
            )
        if self.session.sending or self.session.receiving:
            self.session.open_channels = False


def _payload_type(olc: OpenLogicalChannel) -> int:
    if olc.dynamic_payload_type is not None:
        return olc.dynamic_payload_type
    assert olc.codec is not None
    return olc.codec.rtp_payload_type


def _proposals(spec: CapabilitySpec, ports: dict[str, MediaPorts]) -> list[OpenLogicalChannel]:
    """Fast-connect proposals (H.323 clause 8.1.7.1) for every codec of every kind we have
    ports for: first what we would send, then what we would receive."""
    proposals: list[OpenLogicalChannel] = []
    number = 1
    for reverse in (False, True):
        for kind in (KIND_AUDIO, "video"):
            local = ports.get(kind)
            if local is None:
                continue
            for codec in spec.codecs(kind):
                proposals.append(OpenLogicalChannel(
                    number, codec, SESSION_OF_KIND[kind],
                    media_control=local.rtcp,
                    media=local.rtp if reverse else None,
                    reverse=reverse,
                    dynamic_payload_type=codec.rtp_payload_type if codec.dynamic else None,
                ))
                number += 1
    return proposals


__all__ = ["H323Call", "H323Config"]
