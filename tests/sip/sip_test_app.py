"""A tiny SIP application for tests and the benchmark: answers INVITEs with a fixed SDP.

Request-URI user `ring...` gets 180 and an answer after `ring_delay` seconds (so a CANCEL
can arrive first); `busy` gets 486; anything else is answered at once.
"""

from __future__ import annotations

import asyncio

from mcu.io.sip_transport import SipTransportShell, start_sip
from mcu.sip import events as ev
from mcu.sip.ua import UaConfig, UserAgent

FIXED_SDP = (
    b"v=0\r\no=mcu 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def answer_for(offer: bytes | None) -> bytes:
    """Fixed answer; mirrors hold (sendonly -> recvonly) so re-INVITE tests can see it."""
    if offer and b"a=sendonly" in offer:
        return FIXED_SDP + b"a=recvonly\r\n"
    if offer and b"a=inactive" in offer:
        return FIXED_SDP + b"a=inactive\r\n"
    return FIXED_SDP + b"a=sendrecv\r\n"


class TestApp:
    __test__ = False  # not a pytest class

    def __init__(self, ring_delay: float = 3.0, keep_events: bool = True) -> None:
        self.ua = UserAgent(UaConfig())
        self.shell: SipTransportShell | None = None
        self.ring_delay = ring_delay
        self.keep_events = keep_events
        self.events: list[ev.Event] = []
        self.waiters: list[tuple[type, asyncio.Future[ev.Event]]] = []

    async def start(self, listen: list[tuple[str, str, int]], tls_cert: str | None = None,
                    tls_key: str | None = None) -> SipTransportShell:
        self.shell = await start_sip(self.ua, listen, tls_cert, tls_key, on_event=self.on_event)
        return self.shell

    def port(self, proto: str) -> int:
        assert self.shell is not None
        return self.shell.transport_info(proto).port

    async def wait_for(self, kind: type, timeout: float = 10.0) -> ev.Event:
        for event in self.events:
            if isinstance(event, kind):
                self.events.remove(event)
                return event
        fut: asyncio.Future[ev.Event] = asyncio.get_running_loop().create_future()
        self.waiters.append((kind, fut))
        return await asyncio.wait_for(fut, timeout)

    def on_event(self, event: ev.Event) -> None:
        for kind, fut in list(self.waiters):
            if isinstance(event, kind) and not fut.done():
                self.waiters.remove((kind, fut))
                fut.set_result(event)
                break
        else:
            if self.keep_events:
                self.events.append(event)
        if isinstance(event, ev.IncomingCall):
            user = event.request_user or ""
            if user.startswith("ring"):
                self.ua.send_provisional(event.call_id, 180)
                asyncio.get_running_loop().call_later(
                    self.ring_delay, self._late_answer, event.call_id, event.body)
            elif user == "busy":
                self.ua.reject(event.call_id, 486)
            else:
                self.ua.answer(event.call_id, 200, answer_for(event.body))
        elif isinstance(event, ev.ReInvite):
            self.ua.answer(event.call_id, 200, answer_for(event.body))

    def _late_answer(self, call_id: str, offer: bytes | None) -> None:
        if call_id in self.ua.call_ids():
            self.ua.answer(call_id, 200, answer_for(offer))
            assert self.shell is not None
            self.shell.transmit()

    async def close(self) -> None:
        if self.shell is not None:
            await self.shell.close()
