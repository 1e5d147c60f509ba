"""H.323 room systems in a meeting with a SIP site, against the running MCU on 127.0.0.1: in each
signalling mode (fast connect; H.245 tunnelled; H.245 on its own connection; neither) the H.323
site and the SIP site hear each other's tone and not their own; a PIN room admits the H.323 site
by UserInputIndication; an unknown room is released with cause 1; garbage on port 1720 is
dropped and the next call works."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from mcu.synthetic import SyntheticEndpoint
from mcu.synthetic.h323 import CallRefused, H323Site
from tests.helpers import McuProcess, free_port

TONE_PRESENT = 0.01
TONE_ABSENT = 0.0005
MODES = {"fast-connect": (True, True), "tunnelled-h245": (False, True),
         "separate-h245-fast": (True, False), "separate-h245": (False, False)}


def h323_mcu(tmp_path: Path, rooms: str | None = None) -> McuProcess:
    port = free_port(socket.SOCK_STREAM)
    mcu = McuProcess(tmp_path, rooms=rooms, extra=f'[h323]\nhost = "127.0.0.1"\nport = {port}\n')
    mcu.h323_port = port  # type: ignore[attr-defined]
    return mcu


@pytest.mark.parametrize("mode", list(MODES))
def test_h323_site_and_sip_site_hear_each_other(tmp_path: Path, mode: str) -> None:
    fast_start, tunnelling = MODES[mode]
    with h323_mcu(tmp_path) as mcu:
        h323 = H323Site(7, fast_start=fast_start, tunnelling=tunnelling)
        sip = SyntheticEndpoint(1, audio_codec="PCMU")
        heard: dict[str, float] = {}
        channel: list[bool] = []

        async def main() -> None:
            try:
                await sip.call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
                await h323.call("127.0.0.1", mcu.h323_port, "4100")  # type: ignore[attr-defined]
                await asyncio.sleep(2.0)
                heard["h323 hears sip"] = h323.heard_tone(sip.tone_hz)
                heard["h323 hears itself"] = h323.heard_tone(h323.tone_hz)
                heard["sip hears h323"] = sip.heard_tone(h323.tone_hz)
                heard["sip hears itself"] = sip.heard_tone(sip.tone_hz)
                channel.append(h323.h245_channel)
            finally:
                await h323.close()
                await sip.close()

        asyncio.run(asyncio.wait_for(main(), 40))
        log = mcu.log()
        joined = mcu.events("member.joined")
    context = f"{mode}: heard={heard}\nMCU log:\n{log[-3000:]}"
    assert "Traceback" not in log, context
    assert any("synthetic-h323" in e.get("user_agent", "") for e in joined), context
    assert heard["h323 hears sip"] > TONE_PRESENT and heard["sip hears h323"] > TONE_PRESENT, context
    assert heard["h323 hears itself"] < TONE_ABSENT and heard["sip hears itself"] < TONE_ABSENT, context
    assert channel == [not tunnelling], f"H.245 must run as the mode says\n{context}"


def test_pin_room_admits_the_h323_site_by_user_input_and_unknown_room_is_cause_1(tmp_path: Path) -> None:
    rooms = '[[room]]\nnumber = "4100"\nname = "Open"\n[[room]]\nnumber = "4200"\nname = "PIN"\npin = "2468"\n'
    with h323_mcu(tmp_path, rooms=rooms) as mcu:
        port = mcu.h323_port  # type: ignore[attr-defined]
        site = H323Site(8)
        lost = H323Site(9)
        refused: list[CallRefused] = []

        async def main() -> None:
            try:
                await site.call("127.0.0.1", port, "4200")
                await asyncio.sleep(0.5)
                site.send_dtmf("2468#")
                deadline = asyncio.get_running_loop().time() + 5
                while not mcu.has('"event": "member.joined"'):
                    assert asyncio.get_running_loop().time() < deadline, "no member.joined after the PIN"
                    await asyncio.sleep(0.05)
                try:
                    await lost.call("127.0.0.1", port, "9999")
                except CallRefused as exc:
                    refused.append(exc)
            finally:
                await site.close()
                await lost.close()

        asyncio.run(asyncio.wait_for(main(), 30))
        context = mcu.log()[-3000:]
        assert mcu.events("member.joined"), context
        assert "2468" not in mcu.log(), "the PIN never reaches the log"
    assert refused and refused[0].cause == 1, f"unknown room: Q.850 cause 1 (unallocated number)\n{context}"


def test_garbage_on_the_call_signalling_port_is_dropped_and_the_next_call_works(tmp_path: Path) -> None:
    with h323_mcu(tmp_path) as mcu:
        port = mcu.h323_port  # type: ignore[attr-defined]
        for junk in (b"\x03\x00\x00\x08\xff\xff\xff\xff", b"GET / HTTP/1.0\r\n\r\n", b"\x03\x00\x00\x04" * 50,
                     b"\x03\x00\xff\xff" + b"\x08" * 3000, b"\x03\x00\x00\x0c\x08\x02\x00\x01\x05\x04\x03\x88"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(junk)
                s.settimeout(1.0)
                try:
                    s.recv(4096)
                except (TimeoutError, ConnectionError):
                    pass
        site = H323Site(10)
        sip = SyntheticEndpoint(2, audio_codec="PCMU")
        heard: list[float] = []

        async def main() -> None:
            try:
                await sip.call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
                await site.call("127.0.0.1", port, "4100")
                await asyncio.sleep(1.5)
                heard.append(site.heard_tone(sip.tone_hz))
            finally:
                await site.close()
                await sip.close()

        asyncio.run(asyncio.wait_for(main(), 30))
        log = mcu.log()
    assert "Traceback" not in log, log[-3000:]
    assert heard and heard[0] > TONE_PRESENT, log[-3000:]
