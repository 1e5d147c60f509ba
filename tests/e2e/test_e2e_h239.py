"""H.239 end to end in a running MCU: an H.323 room system asks for the presentation token, is
granted it by the room's content floor, opens its extended-video channel and sends its slides
(H.264). A second H.323 site receives them on the content channel the MCU opens to it, and a SIP
site with a content line (sipp, its content stream decoded by ffmpeg) receives them too. When the
presenter releases the token, content stops; a site sending token messages out of turn changes
nothing for the others. Under the chair-only policy a non-chair H.323 site
is refused the token."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mcu.h323 import h239
from mcu.synthetic.h323 import H323Site
from tests.e2e.test_e2e_bfcp import ROOMS, SippSite
from tests.helpers import McuProcess, free_port, until


async def happened(condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    """Whether `condition` came true within `timeout` (the test asserts it with the MCU's log)."""
    try:
        await until(condition, timeout, "")
    except AssertionError:
        return False
    return True


def h239_mcu(tmp_path: Path) -> McuProcess:
    port = free_port(socket.SOCK_STREAM)
    extra = (f'[h323]\nhost = "127.0.0.1"\nport = {port}\n'
             '[limits]\ncalls_per_second = 100\ncall_burst = 100\nunconfirmed_calls = 100\n'
             '[bfcp]\nhost = "127.0.0.1"\ncontent_fps = 5\n')
    mcu = McuProcess(tmp_path, rooms=ROOMS, extra=extra, inactivity_timeout=120)  # sipp sends no media
    mcu.h323_port = port  # type: ignore[attr-defined]
    return mcu


def test_an_h323_site_presents_by_h239_and_h323_and_sip_sites_receive_it(tmp_path: Path) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.fail("ffmpeg not found (bash .ci/setup.sh test): it is the SIP site's content decoder")
    with h239_mcu(tmp_path) as mcu:
        receiver_port = free_port()
        while receiver_port % 2:
            receiver_port = free_port()
        viewer = SippSite(mcu, tmp_path, "viewer", "4100", 30000, receiver_port)
        viewer.answer()
        sdp = tmp_path / "viewer.sdp"
        sdp.write_text("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                       f"m=video {receiver_port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                       "a=fmtp:96 packetization-mode=1\r\n")
        png = tmp_path / "sip-received.png"
        receiving = subprocess.Popen([ffmpeg, "-nostdin", "-loglevel", "error", "-protocol_whitelist",
                                      "file,udp,rtp", "-i", str(sdp), "-frames:v", "3", "-update", "1", "-y",
                                      str(png)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        presenter, audience = H323Site(31, content=True), H323Site(32, content=True)
        seen: dict[str, object] = {}

        async def main() -> None:
            try:
                await presenter.call("127.0.0.1", mcu.h323_port, "4100")  # type: ignore[attr-defined]
                await audience.call("127.0.0.1", mcu.h323_port, "4100")  # type: ignore[attr-defined]
                presenter.present()
                seen["granted"] = await happened(lambda: presenter.presenting, 10)
                seen["h323 sees it"] = await happened(lambda: audience.sees_content(presenter.content_colour), 15)
                seen["owner told"] = [m.terminal_label for m in audience.token_answers
                                      if m.sub == h239.PRESENTATION_TOKEN_INDICATE_OWNER]
                # a confused site releases a token it does not hold and answers a request nobody made:
                # the presenter keeps the floor and the others their content
                audience._h239([h239.token_release(0, audience.number), h239.token_response(True, 0, audience.number)])
                await asyncio.sleep(1.0)
                seen["confusion ignored"] = (presenter.presenting and not mcu.events("member.content_stopped")
                                             and audience.sees_content(presenter.content_colour))
                await asyncio.to_thread(receiving.wait, 20)
                presenter.stop_presenting()
                seen["stopped"] = await happened(lambda: bool(mcu.events("member.content_stopped")), 10)
            finally:
                await presenter.close()
                await audience.close()

        asyncio.run(asyncio.wait_for(main(), 90))
        if receiving.poll() is None:
            receiving.kill()
        viewer.wait()  # its BYE answered by the MCU after the hold
        log = mcu.log()
        started = mcu.events("member.content_started")
    context = f"seen={seen}\nMCU log:\n{log[-4000:]}"
    assert "Traceback" not in log, context
    assert seen["granted"] is True, context
    assert started and started[0]["name"] == "H323 site 31", context
    assert seen["h323 sees it"] is True, context
    assert seen["owner told"], context  # presentationTokenIndicateOwner reached the other site
    assert seen["confusion ignored"] is True, context
    assert seen["stopped"] is True, context
    assert png.exists(), f"ffmpeg decoded no content at the SIP site\n{context}"
    import av

    with av.open(str(png)) as container:
        frame = next(container.decode(video=0)).reformat(format="yuv420p")
    y, u, v = (plane.reshape(-1)[plane.size // 3: plane.size * 2 // 3] for plane in
               (frame.to_ndarray()[:frame.height], *_chroma(frame)))
    want = presenter.content_colour
    got = (float(np.median(y)), float(np.median(u)), float(np.median(v)))
    assert all(abs(g - w) < 24 for g, w in zip(got, want)), (got, want)  # the presenter's slide colour


def _chroma(frame: object) -> tuple[np.ndarray, np.ndarray]:
    planes = frame.to_ndarray()  # type: ignore[attr-defined]
    h, w = frame.height, frame.width  # type: ignore[attr-defined]
    chroma = planes[h:].reshape(-1)
    quarter = (h // 2) * (w // 2)
    return chroma[:quarter], chroma[quarter:2 * quarter]


def test_the_chair_only_policy_refuses_the_token_to_a_site_that_is_not_chair(tmp_path: Path) -> None:
    with h239_mcu(tmp_path) as mcu:
        guest = H323Site(33, content=True)
        answers: list[h239.H239Message] = []

        async def main() -> None:
            try:
                await guest.call("127.0.0.1", mcu.h323_port, "4300")  # type: ignore[attr-defined]
                guest.present()
                await happened(lambda: bool(guest.token_answers), 10)
                answers.extend(guest.token_answers)
            finally:
                await guest.close()

        asyncio.run(asyncio.wait_for(main(), 40))
        log = mcu.log()
    assert [(m.name, m.accepted) for m in answers] == [("presentationTokenResponse", False)], log[-3000:]
    assert not guest.presenting
