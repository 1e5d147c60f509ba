"""Two H.323 cores back to back, no sockets: an MCU-side H323Call answering, and a
terminal built on the same library (H323Call.dial with a terminal's config) calling.

Every byte each side emits is recorded per connection so that the tests can write a pcap
for tshark."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from mcu.h323 import events as ev
from mcu.h323.call import H323Call, H323Config
from mcu.h323.capabilities import CapabilitySpec
from mcu.h323.h225 import ENDPOINT_TERMINAL, Alias, VendorInfo
from mcu.h323.h245 import TERMINAL_TYPE_TERMINAL

MCU_IP = "127.0.0.1"
TERMINAL_IP = "127.0.0.2"
SIGNALLING_PORT = 1720
TERMINAL_SIGNALLING_PORT = 40000
MCU_H245_PORT = 1300
TERMINAL_H245_PORT = 1301

MCU_PORTS = {
    "audio": ev.MediaPorts(MCU_IP, 20000, 20001),
    "video": ev.MediaPorts(MCU_IP, 20002, 20003),
}
TERMINAL_PORTS = {
    "audio": ev.MediaPorts(TERMINAL_IP, 30000, 30001),
    "video": ev.MediaPorts(TERMINAL_IP, 30002, 30003),
}


def terminal_config(*, fast_start: bool, tunnelling: bool,
                    spec: CapabilitySpec | None = None) -> H323Config:
    return H323Config(
        display="Room 12",
        aliases=[Alias("h323-ID", "room12"), Alias("dialledDigits", "5512")],
        vendor=VendorInfo("TestTerminal", "1.0", 0xB5, 0, 0x1234),
        capabilities=spec or CapabilitySpec(),
        terminal_type=TERMINAL_TYPE_TERMINAL,
        endpoint_kind=ENDPOINT_TERMINAL,
        fast_start=fast_start,
        tunnelling=tunnelling,
    )


@dataclass
class Wire:
    """What went over each TCP connection, in order: (src, dst, bytes)."""

    records: list[tuple[tuple[str, int], tuple[str, int], bytes]] = field(default_factory=list)
    h245_connected: bool = False


@dataclass
class Pair:
    mcu: H323Call
    terminal: H323Call
    wire: Wire
    mcu_events: list[ev.Event] = field(default_factory=list)
    terminal_events: list[ev.Event] = field(default_factory=list)
    now: float = 0.0
    h245_listen: tuple[str, int] | None = None

    def pump(self, rounds: int = 50) -> None:
        """Moves bytes both ways until both sides are quiet; a byte-at-a-time cut for the
        signalling stream tests the framer on every read boundary."""
        mcu_sig = (MCU_IP, SIGNALLING_PORT)
        term_sig = (TERMINAL_IP, TERMINAL_SIGNALLING_PORT)
        mcu_h245 = (MCU_IP, MCU_H245_PORT)
        term_h245 = (TERMINAL_IP, TERMINAL_H245_PORT)
        for _ in range(rounds):
            moved = False
            data = self.terminal.data_to_send()
            if data:
                moved = True
                self.wire.records.append((term_sig, mcu_sig, data))
                for i in range(0, len(data), 7):
                    self.mcu.receive_data(data[i:i + 7], self.now)
            data = self.mcu.data_to_send()
            if data:
                moved = True
                self.wire.records.append((mcu_sig, term_sig, data))
                self.terminal.receive_data(data, self.now)
            data = self.terminal.h245_data_to_send()
            if data:
                moved = True
                self.wire.records.append((term_h245, mcu_h245, data))
                self.mcu.receive_h245_data(data, self.now)
            data = self.mcu.h245_data_to_send()
            if data:
                moved = True
                self.wire.records.append((mcu_h245, term_h245, data))
                self.terminal.receive_h245_data(data, self.now)
            moved |= self._events()
            if not moved:
                return
        raise AssertionError("the two cores never went quiet")

    def _events(self) -> bool:
        moved = False
        while (event := self.mcu.next_event()) is not None:
            moved = True
            self.mcu_events.append(event)
            if isinstance(event, ev.H245ChannelWanted):
                self._connect_h245()
        while (event := self.terminal.next_event()) is not None:
            moved = True
            self.terminal_events.append(event)
            if isinstance(event, ev.H245ChannelWanted):
                self._connect_h245()
        return moved

    def _connect_h245(self) -> None:
        if not self.wire.h245_connected:
            self.wire.h245_connected = True
            self.mcu.h245_connected(self.now)
            self.terminal.h245_connected(self.now)

    def of(self, side: str, kind: type) -> list:
        events = self.mcu_events if side == "mcu" else self.terminal_events
        return [e for e in events if isinstance(e, kind)]


def call_pair(*, fast_start: bool, tunnelling: bool, seed: int = 1,
              terminal_spec: CapabilitySpec | None = None) -> Pair:
    """The terminal dials the MCU; the MCU is left at IncomingCall (not accepted)."""
    rng = random.Random(seed)
    mcu = H323Call(H323Config(display="MCU 4100"), (TERMINAL_IP, TERMINAL_SIGNALLING_PORT),
                   rng=random.Random(seed + 1))
    h245_address = None if tunnelling else (TERMINAL_IP, TERMINAL_H245_PORT)
    terminal = H323Call.dial(
        terminal_config(fast_start=fast_start, tunnelling=tunnelling, spec=terminal_spec),
        (MCU_IP, SIGNALLING_PORT), [Alias("dialledDigits", "4100")], TERMINAL_PORTS, 0.0,
        local_address=(TERMINAL_IP, TERMINAL_SIGNALLING_PORT), h245_address=h245_address,
        rng=rng)
    pair = Pair(mcu, terminal, Wire())
    pair.pump()
    return pair
