"""H.323 room systems in a meeting with a SIP site, against the running MCU on 127.0.0.1: in each
signalling mode (fast connect; H.245 tunnelled; H.245 on its own connection; neither) the H.323
site and the SIP site hear each other's tone and not their own; a PIN room admits the H.323 site
by UserInputIndication; an unknown room is released with cause 1; garbage on port 1720 is
dropped and the next call works."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from mcu.synthetic import SyntheticEndpoint
from mcu.synthetic.h323 import CallRefused, H323Site
from tests.helpers import McuProcess, free_port, tone_power, until, wait_for

REPO = Path(__file__).resolve().parents[2]
TONE_PRESENT = 0.01
TONE_ABSENT = 0.0005
MODES = {"fast-connect": (True, True), "tunnelled-h245": (False, True),
         "separate-h245-fast": (True, False), "separate-h245": (False, False)}


def h323_mcu(tmp_path: Path, rooms: str | None = None, metrics_port: int | None = None) -> McuProcess:
    port = free_port(socket.SOCK_STREAM)
    mcu = McuProcess(tmp_path, rooms=rooms, extra=f'[h323]\nhost = "127.0.0.1"\nport = {port}\n',
                     metrics_port=metrics_port)
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
    metrics_port = free_port(socket.SOCK_STREAM)
    with h323_mcu(tmp_path, metrics_port=metrics_port) as mcu:
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
        page = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    violations = {line.split('"')[1]: float(line.split()[-1]) for line in page.splitlines()
                  if line.startswith("mcu_h323_protocol_violations_total{")}
    assert "Traceback" not in log, log[-3000:]
    assert heard and heard[0] > TONE_PRESENT, log[-3000:]
    # counted by reason; 50 empty keep-alive TPKTs are no violation, an unfinished TPKT none yet;
    # the last junk is a Setup whose bearer capability IE runs past its end
    assert violations == {"q931 protocol discriminator is not 8": 1.0, "tpkt version is not 3": 1.0,
                          "q931 truncated": 1.0}, f"{violations}\n{log[-3000:]}"


@pytest.mark.parametrize("mode", ["fast-connect", "separate-h245"])
def test_h323_video_site_and_sip_video_site_see_each_other_and_keyframes_go_both_ways(
        tmp_path: Path, mode: str) -> None:
    """Each decodes a composite showing the other's identity colour; videoFastUpdatePicture from
    the H.323 site gets a keyframe; a flowControlCommand gives its view an encoder at that rate."""
    fast_start, tunnelling = MODES[mode]
    with h323_mcu(tmp_path) as mcu:
        h323 = H323Site(11, fast_start=fast_start, tunnelling=tunnelling, video=True)
        sip = SyntheticEndpoint(3, audio_codec="PCMU", video_codec="H264", width=352, height=288, fps=15)
        seen: dict[str, object] = {}

        async def main() -> None:
            try:
                await sip.call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
                await h323.call("127.0.0.1", mcu.h323_port, "4100")  # type: ignore[attr-defined]
                await until(h323.video_up.is_set, 5, "H.264 channels both ways")
                await until(lambda: h323.sees_colour(sip.colour), 15, "the H.323 site to see the SIP site")
                await until(lambda: sip.sees_colour(h323.colour), 15, "the SIP site to see the H.323 site")
                seen["h323 sees itself"] = h323.sees_colour(h323.colour)
                assert h323.video_rx is not None
                keyframes = h323.video_rx.keyframes_received
                h323.request_keyframe()
                await until(lambda: h323.video_rx.keyframes_received > keyframes, 3,  # type: ignore[union-attr]
                                 "a keyframe after videoFastUpdatePicture")
                h323.limit_bitrate(256)
                await until(lambda: any(e.get("video_kbps") == 256 for e in mcu.events("member.media_changed")),
                                 5, "the H.323 site's encoder at 256 kbit/s")
                await until(lambda: h323.sees_colour(sip.colour), 10, "pictures again after the new encoder")
                seen["heard"] = (h323.heard_tone(sip.tone_hz), sip.heard_tone(h323.tone_hz))
            finally:
                await h323.close()
                await sip.close()

        asyncio.run(asyncio.wait_for(main(), 60))
        log = mcu.log()
        left, joined = mcu.events("member.left"), mcu.events("member.joined")
    context = f"{mode}: {seen}\nMCU log:\n{log[-3000:]}"
    assert "Traceback" not in log, context
    assert seen["h323 sees itself"] is False, "the H.323 site's view must not show itself\n" + context
    assert min(seen["heard"]) > TONE_PRESENT, context  # type: ignore[call-overload]
    member = next(e["member"] for e in joined if "synthetic-h323" in e.get("user_agent", ""))
    h323_left = next(e for e in left if e["member"] == member)
    assert h323_left["video_frames_decoded"] > 10, f"the MCU must decode the H.323 site's H.264\n{context}"


def _listening_sites_roster(sites: list[tuple[str, str, str]]) -> str:
    return "".join(f'[[sites]]\nid = "{i}"\nuri = "{u}"\nname = "{n}"\nprotocol = "h323"\n' for i, u, n in sites)


def test_dial_out_reaches_listening_h323_terminals_by_uri_and_by_roster(tmp_path: Path) -> None:
    """`mcu dial 4100 h323:alias@host:port` and a roster site with protocol = "h323": each listening
    terminal is called, joins, and hears the SIP site; the Setup it got names the alias."""
    token = "dial-test-token-0123456789"
    (tmp_path / "admin.token").write_text(token + "\n", encoding="utf-8")
    admin_port = free_port(socket.SOCK_STREAM)
    port = free_port(socket.SOCK_STREAM)
    extra = (f'[h323]\nhost = "127.0.0.1"\nport = {port}\n'
             f'[admin]\nport = {admin_port}\ntoken_file = "admin.token"\n')
    by_uri, by_roster = H323Site(21), H323Site(22, fast_start=False, tunnelling=False)
    with McuProcess(tmp_path, extra=extra) as mcu:
        sip = SyntheticEndpoint(4, audio_codec="PCMU")
        results: dict[str, object] = {}

        def mcu_cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "mcu", *args, "-c", str(mcu.config)],
                                  check=False, capture_output=True, text=True, timeout=30, cwd=REPO)

        async def main() -> None:
            try:
                await sip.call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
                host, uri_port = await by_uri.listen()
                _, roster_port = await by_roster.listen()
                (tmp_path / "sites.toml").write_text(_listening_sites_roster(
                    [("province-22", f"site22@127.0.0.1:{roster_port}", "Province 22")]), encoding="utf-8")
                reload = await asyncio.to_thread(mcu_cli, "ctl", "reload")
                results["reload"] = reload.returncode, reload.stdout + reload.stderr
                dial = await asyncio.to_thread(mcu_cli, "dial", "4100", f"h323:site21@{host}:{uri_port}")
                results["dial uri"] = dial.returncode, dial.stdout + dial.stderr
                await by_uri.wait_media(10)
                dial = await asyncio.to_thread(mcu_cli, "dial", "4100", "province-22")
                results["dial roster"] = dial.returncode, dial.stdout + dial.stderr
                await by_roster.wait_media(10)
                await until(lambda: min(s.heard_tone(sip.tone_hz) for s in (by_uri, by_roster)) > TONE_PRESENT,
                                 5, "both dialled terminals to hear the SIP site")
                await until(lambda: min(sip.heard_tone(s.tone_hz) for s in (by_uri, by_roster)) > TONE_PRESENT,
                                 5, "the SIP site to hear both dialled terminals")
                results["aliases"] = [[a.value for a in s.incoming.destination_aliases]  # type: ignore[union-attr]
                                      for s in (by_uri, by_roster)]
                results["h245 channel"] = by_roster.h245_channel
                results["sip hears"] = sip.heard_tone(by_uri.tone_hz), sip.heard_tone(by_roster.tone_hz)
            finally:
                await by_uri.close()
                await by_roster.close()
                await sip.close()

        asyncio.run(asyncio.wait_for(main(), 60))
        log = mcu.log()
        joined = mcu.events("member.joined")
    context = f"{results}\nMCU log:\n{log[-3000:]}"
    assert "Traceback" not in log, context
    assert results["reload"][0] == 0 and results["dial uri"][0] == 0 and results["dial roster"][0] == 0, context  # type: ignore[index]
    assert results["aliases"] == [["site21"], ["site22"]], context
    assert results["h245 channel"] is True, "no fast start, no tunnelling: H.245 on its own connection\n" + context
    assert min(results["sip hears"]) > TONE_PRESENT, context  # type: ignore[call-overload]
    names = {e["name"] for e in joined}
    assert "Province 22" in names, f"the roster name labels the dialled site\n{context}"


def _shows_colour_bars(frame, bands: int = 3) -> bool:  # type: ignore[no-untyped-def]
    """baresip's fakevideo sends vertical colour bars: in the middle of the picture, at least
    `bands` column strips of distinct, vertically uniform luma (a name card or a flat tile has not)."""
    middle = frame.y[frame.height // 4: frame.height * 3 // 4].astype(float)
    strips = [middle[:, c: c + 8] for c in range(0, frame.width - 8, 8)]
    levels = {round(s.mean() / 16) for s in strips if s.std() < 6}
    return len(levels) >= bands


def test_h323_site_beside_baresip_hears_and_sees_it(tmp_path: Path) -> None:
    """A real SIP peer (baresip: 440 Hz sine, fakevideo colour bars, H.264) and an H.323 site in
    one room: each hears the other and not itself, the H.323 site decodes a composite showing
    baresip's colour bars, baresip decodes our video, the MCU decodes both."""
    from tests.e2e.test_e2e_baresip import heard_by, received_video_fps, start_baresip

    seconds = 12
    with h323_mcu(tmp_path / "mcu") as mcu:
        baresip = start_baresip(tmp_path / "baresip", mcu.sip_port, 440, seconds, record=True)
        site = H323Site(13, video=True)
        seen: dict[str, object] = {}

        async def main() -> None:
            try:
                await until(lambda: mcu.events("member.joined"), 10, "baresip to join")
                await site.call("127.0.0.1", mcu.h323_port, "4100")  # type: ignore[attr-defined]
                await until(lambda: site.video_rx is not None and site.video_rx.frames
                                 and _shows_colour_bars(site.video_rx.frames[-1][1]), 10,
                                 "the H.323 site to see baresip's colour bars")
                await until(lambda: site.heard_tone(440) > TONE_PRESENT, 5, "the H.323 site to hear baresip")
                seen["h323 hears itself"] = site.heard_tone(site.tone_hz)
                await asyncio.to_thread(baresip.wait, seconds + 20)
            finally:
                await site.close()

        try:
            asyncio.run(asyncio.wait_for(main(), seconds + 40))
            output = baresip.communicate(timeout=10)[0]
        finally:
            if baresip.poll() is None:
                baresip.kill()
        log = mcu.log()
        wait_for(lambda: len(mcu.events("member.left")) == 2, 10, "both to leave")
        left = {e["member"]: e for e in mcu.events("member.left")}
    context = f"{seen}\nbaresip:\n{output[-1500:]}\nMCU log:\n{log[-2000:]}"
    assert "Traceback" not in log, context
    assert seen["h323 hears itself"] < TONE_ABSENT, context  # type: ignore[operator]
    samples, rate = heard_by(tmp_path / "baresip")
    windows = [samples[i: i + rate] for i in range(0, len(samples) - rate, rate)]
    assert max(tone_power(w, rate, site.tone_hz) for w in windows) > TONE_PRESENT, "baresip must hear the H.323 site"
    assert max(tone_power(w, rate, 440) for w in windows) < TONE_ABSENT, "baresip must not hear itself"
    assert received_video_fps(output) >= 10, "baresip must decode our composed video\n" + context
    assert all(e["video_frames_decoded"] > 20 for e in left.values()), f"the MCU decodes both: {left}"
