"""One site never breaks a meeting: against the running MCU, a member with a host name (or an
odd literal) in its SDP, a member whose media changes codec mid-call, a flood of un-ACKed INVITEs
from one address and a PIN-guessing script from one address; in-process, members whose socket,
decoder or encoder fails. Each time the other sites keep their audio (50 packets/s) and tones."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from mcu._rtp import pack_address
from mcu.config import load_config
from mcu.media.g722 import G722Encoder
from mcu.server import McuServer
from mcu.synthetic import SyntheticEndpoint
from mcu.synthetic.endpoint import CallSetupError, NotInCallError
from tests.helpers import McuProcess, in_calls, write_test_config

TONE_PRESENT = 0.01
SCENARIOS = Path(__file__).parent / "scenarios"


async def audio_rate(site: SyntheticEndpoint, seconds: float = 2.0) -> float:
    """Audio packets per second the site receives, over `seconds`."""
    before = site.stats.audio.packets_in
    await asyncio.sleep(seconds)
    return (site.stats.audio.packets_in - before) / seconds


def test_host_names_and_odd_addresses_in_sdp_leave_the_others_at_full_rate(tmp_path: Path) -> None:
    """A site whose SDP names an unresolvable host (and sends nothing, so no latching rescues it)
    and one naming `localhost` join; the others keep 50 packets/s and hear each other. A literal of
    the wrong family (unit tests), a broadcast address and a bad literal are refused with 488."""
    with McuProcess(tmp_path) as mcu:
        uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
        talkers = [SyntheticEndpoint(n, audio_codec=codec) for n, codec in ((1, "PCMU"), (2, "G722"))]
        unresolvable = SyntheticEndpoint(3, audio_codec="PCMU", sdp_address="vc-room.tinh.gov.vn",
                                         send_media=False)
        by_name = SyntheticEndpoint(4, audio_codec="PCMU", sdp_address="localhost", send_media=False)
        refused: dict[str, str] = {}
        rates: dict[int, float] = {}
        heard: dict[str, float] = {}

        async def main() -> None:
            async with in_calls([*talkers, unresolvable, by_name], uri):
                for n, address in ((6, "255.255.255.255"), (7, "999.1.1.1")):
                    odd = SyntheticEndpoint(n, audio_codec="PCMU", sdp_address=address)
                    try:
                        await odd.call(uri)
                        refused[address] = "joined"
                    except CallSetupError as exc:
                        refused[address] = str(exc)
                    finally:
                        await odd.close()
                await asyncio.sleep(1.0)
                for site in (*talkers, by_name):
                    rates[site.number] = await audio_rate(site, 1.0)
                heard["1 hears 2"] = talkers[0].heard_tone(talkers[1].tone_hz)
                heard["2 hears 1"] = talkers[1].heard_tone(talkers[0].tone_hz)
                heard["4 hears 1"] = by_name.heard_tone(talkers[0].tone_hz)

        asyncio.run(asyncio.wait_for(main(), 60))
        log = mcu.log()
        context = f"rates={rates} heard={heard} refused={refused}\nMCU log:\n{log[-3000:]}"
        assert "Traceback" not in log, context
        assert mcu.events("call.media_address_unresolved"), context
    assert rates[1] > 45 and rates[2] > 45, f"the room must keep full rate\n{context}"
    assert rates[4] > 45, f"a host name that resolves gets media\n{context}"
    assert all(v > TONE_PRESENT for v in heard.values()), context
    for address in ("255.255.255.255", "999.1.1.1"):
        assert "488" in refused[address], f"{address} must get 488\n{context}"


def test_reinvite_to_another_codec_keeps_audio_flowing(tmp_path: Path) -> None:
    """Site 2 moves from PCMU to G.722 by re-INVITE: the MCU rebuilds its pipelines, so the others
    still hear it and it hears them in the new codec."""
    with McuProcess(tmp_path) as mcu:
        uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
        sites = [SyntheticEndpoint(n, audio_codec="PCMU") for n in (1, 2)]
        heard: dict[str, float] = {}

        async def main() -> None:
            async with in_calls(sites, uri):
                await asyncio.sleep(1.0)
                await sites[1].reinvite_audio_codec("G722")
                await asyncio.sleep(2.0)
                heard["1 hears 2"] = sites[0].heard_tone(sites[1].tone_hz)
                heard["2 hears 1"] = sites[1].heard_tone(sites[0].tone_hz)
                heard["rate"] = await audio_rate(sites[1], 1.0)

        asyncio.run(asyncio.wait_for(main(), 40))
        changed = mcu.events("member.media_changed")
        context = f"heard={heard}\nMCU log:\n{mcu.log()[-3000:]}"
    assert changed and "G722" in changed[0]["audio"], context
    assert sites[1].negotiation is not None and sites[1].negotiation.first("audio").codec.name == "G722"
    assert heard["1 hears 2"] > TONE_PRESENT, f"the MCU must decode the new codec\n{context}"
    assert heard["2 hears 1"] > TONE_PRESENT and heard["rate"] > 45, context


def _sipp(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.fail("sipp binary not found: apt-get install sip-tester")
    return subprocess.run([sipp, *args, "-nostdin", "-timeout", f"{int(timeout)}s"],
                          check=False, capture_output=True, text=True, timeout=timeout + 10)


def test_unacked_invites_from_one_address_leave_room_for_a_site_from_another(tmp_path: Path) -> None:
    """sipp on 127.0.0.2 sends 20 INVITEs and never ACKs. It holds at most `unconfirmed_calls`
    seats, gets 503 with Retry-After past that, and its answered calls are hung up after
    `answer_timeout`: a real site from 127.0.0.1 then joins a room of 4 seats."""
    rooms = '[[room]]\nnumber = "4100"\nname = "Small room"\nmax_members = 4\n'
    limits = "[limits]\nunconfirmed_calls = 2\nanswer_timeout = 1.5\ncalls_per_second = 20\ncall_burst = 20\n"
    with McuProcess(tmp_path, rooms=rooms, extra=limits) as mcu:
        flood = _sipp([f"127.0.0.1:{mcu.sip_port}", "-sf", str(SCENARIOS / "invite_no_ack.xml"),
                       "-s", "4100", "-i", "127.0.0.2", "-p", "0", "-m", "20", "-r", "20", "-l", "20",
                       "-mp", "45000"], timeout=20)
        site = SyntheticEndpoint(1, audio_codec="PCMU")

        async def main() -> float:
            async with in_calls([site], f"sip:4100@127.0.0.1:{mcu.sip_port}"):
                return await audio_rate(site, 1.0)

        rate = asyncio.run(asyncio.wait_for(main(), 30))
        rejected = [e for e in mcu.events("call.rejected") if e.get("status") == 503]
        no_ack = [e for e in mcu.events("member.left") if "no ACK" in e.get("reason", "")]
        joined = mcu.events("member.joined")
        context = f"sipp: {flood.stdout[-1500:]}{flood.stderr[-1500:]}\nMCU log:\n{mcu.log()[-3000:]}"
    assert rejected and "Unconfirmed" in rejected[0]["reason"], context
    assert len(no_ack) >= 2, f"un-ACKed calls must be hung up after answer_timeout\n{context}"
    assert len(joined) - len(no_ack) <= 2, f"the flood must never hold more than 2 seats\n{context}"
    assert rate > 45, f"the real site joins and gets audio\n{context}"


def test_pin_script_from_one_address_is_locked_out_while_another_gets_in(tmp_path: Path) -> None:
    """Calls from 127.0.0.2 key wrong PINs: after `pin_failures` the address gets 403 at once, even
    with the right PIN. A site from 127.0.0.1 keys the right PIN and joins."""
    rooms = '[[room]]\nnumber = "4200"\nname = "PIN room"\npin = "2468"\n'
    limits = "[limits]\npin_failures = 4\nroom_pin_alarm = 4\n"
    with McuProcess(tmp_path, rooms=rooms, extra=limits) as mcu:
        uri = f"sip:4200@127.0.0.1:{mcu.sip_port}"
        outcomes: list[str] = []

        async def guess(n: int, pin: str) -> str:
            script = SyntheticEndpoint(10 + n, audio_codec="PCMU", host="127.0.0.2", talking=False)
            try:
                await script.call(uri)
                while script.in_call:  # as fast as the MCU takes them, until it hangs up
                    await script.send_dtmf(pin + "#", method="info")
                    await asyncio.sleep(0.2)
                return f"hung up: {script.ended_reason}"
            except NotInCallError:
                return f"hung up: {script.ended_reason}"
            except CallSetupError as exc:
                return str(exc)
            finally:
                await script.close()

        async def main() -> bool:
            for n, pin in enumerate(("1111", "1234", "9999", "2468")):
                outcomes.append(await guess(n, pin))
            site = SyntheticEndpoint(1, audio_codec="PCMU", talking=False)
            try:
                await site.call(uri)
                await site.send_dtmf("2468#", method="info")
                await site.wait_until(lambda: mcu.has('"event": "member.joined"'), 5.0, "the site admitted")
                return True
            finally:
                await site.close()

        admitted = asyncio.run(asyncio.wait_for(main(), 60))
        context = f"outcomes={outcomes}\nMCU log:\n{mcu.log()[-3000:]}"
        assert mcu.events("member.pin_lockout"), context
        assert mcu.events("room.pin_attack"), context
        assert "2468" not in mcu.log()
    assert "403" in outcomes[2] and "403" in outcomes[3], f"the script's address is locked out\n{context}"
    assert admitted, f"a site from another address still gets in with the right PIN\n{context}"


def test_members_whose_socket_decoder_or_encoder_fails_stay_alone_with_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process: site 3's socket sends fail (EACCES), site 4's decoder raises, site 5's encoder
    (G.722, its own) raises. Sites 1 and 2 keep 50 packets/s and hear each other; the faults are
    counted per reason; the failing members are hung up once their fault persists."""
    config = load_config(write_test_config(tmp_path, sip_port=_free_udp_port()))

    async def main() -> tuple[dict[int, float], dict[str, float], dict[str, int], list[str]]:
        server = McuServer(config)
        await server.start()
        server.conference.faults.persist_seconds = 2.0
        uri = f"sip:4100@127.0.0.1:{server.sip.transport_info('udp').port}"  # type: ignore[union-attr]
        healthy = [SyntheticEndpoint(n, audio_codec="PCMU") for n in (1, 2)]
        broken = [SyntheticEndpoint(3, audio_codec="PCMU"), SyntheticEndpoint(4, audio_codec="PCMU"),
                  SyntheticEndpoint(5, audio_codec="G722")]
        try:
            async with in_calls([*healthy, *broken], uri):
                by_number = {m.display_name.split()[-1]: m for m in server.conference.members.values()}
                _break_socket(server, by_number["3"].call_id)
                by_number["4"].audio_in.decoder.decode = _raise  # type: ignore[union-attr, method-assign]
                monkeypatch.setattr(G722Encoder, "encode", _raise)  # site 5 alone hears G.722
                rates = {s.number: await audio_rate(s, 1.0) for s in healthy}
                heard = {"1 hears 2": healthy[0].heard_tone(healthy[1].tone_hz),
                         "2 hears 1": healthy[1].heard_tone(healthy[0].tone_hz)}
                await asyncio.sleep(2.5)
                left = [b.number for b in broken if not b.in_call]
                return rates, heard, dict(server.conference.faults.totals), [str(n) for n in left]
        finally:
            await server.stop()

    rates, heard, faults, left = asyncio.run(asyncio.wait_for(main(), 60))
    context = f"rates={rates} heard={heard} faults={faults} hung up={left}"
    assert rates[1] > 45 and rates[2] > 45, context
    assert all(v > TONE_PRESENT for v in heard.values()), context
    assert faults.get("audio decode", 0) > 10 and faults.get("audio encode", 0) > 10, context
    assert any(reason.startswith("send EACCES") for reason in faults), context
    assert left == ["3", "4", "5"], f"members with a lasting fault are hung up\n{context}"


def _raise(*args: object, **kwargs: object) -> bytes:
    raise RuntimeError("injected codec failure")


def _break_socket(server: McuServer, call_id: str) -> None:
    """Make every send of this call's RTP sockets fail in the kernel: its packets now go to the
    broadcast address, which a socket without SO_BROADCAST may not send to (EACCES, as a
    firewall's EPERM would)."""
    for transport in server.calls[call_id].transports.values():
        broadcast = pack_address(socket.AF_INET, "255.255.255.255", 9)
        transport._rtp_destination = transport._rtcp_destination = broadcast


def _free_udp_port() -> int:
    from tests.helpers import free_port

    return free_port()


def test_reloaded_limits_apply_to_the_next_call(tmp_path: Path) -> None:
    path = write_test_config(tmp_path, sip_port=_free_udp_port())
    server = McuServer(load_config(path))
    path.write_text(path.read_text() + "[limits]\nsip_headers = 40\nunconfirmed_calls = 1\npin_failures = 2\n")
    assert server.reload_config() == []
    assert server.ua.config.max_headers == 40
    assert server.call_guard.new_call("c1", "10.0.0.1", 0.0) is None
    assert server.call_guard.new_call("c2", "10.0.0.1", 0.0) is not None, "one unconfirmed call now"
    assert server.conference.pin_guard.limits.pin_failures == 2
    server.pool.shutdown()
