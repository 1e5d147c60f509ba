"""Content sharing against the running MCU with peers we did not write: sipp places the calls (an
INVITE with a UDP/BFCP m-line and an a=content:slides video line), a small C client linked against
Debian's libre (baresip's BFCP) takes the floor, ffmpeg's RTP demuxer and H.264 decoder receive
the content a second site is sent."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import McuProcess, free_port, wait_for

pytestmark = pytest.mark.peer
CLIENT_SOURCE = Path(__file__).with_name("bfcp_floor_client.c")

# the end of every sipp site here: hold the call for -d ms, then hang up
HOLD_THEN_BYE = """  <pause/>
  <send retrans="500"><![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:site[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
</scenario>
"""

INVITE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="INVITE with BFCP and a content stream">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:site[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      User-Agent: sipp-bfcp-site
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      m=video [content_port] RTP/AVP 96
      a=rtpmap:96 H264/90000
      a=fmtp:96 profile-level-id=42e01f;packetization-mode=1
      a=rtcp-fb:* nack pli
      a=content:slides
      a=label:3
      a=sendrecv
      m=application [bfcp_port] UDP/BFCP *
      a=floorctrl:c-only
      a=confid:1
      a=userid:1
      a=floorid:1 mstrm:3
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:site[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
""" + HOLD_THEN_BYE

ROOMS = ('[[room]]\nnumber = "4100"\nname = "Briefing"\n'
         '[[room]]\nnumber = "4300"\nname = "Chair only"\ncontent_policy = "chair"\n')


@dataclass
class Answer:
    bfcp_port: int
    confid: int
    userid: int
    floorid: int
    content_port: int
    sdp: str


class SippSite:
    """One sipp call that stays up for `hold_ms`; its 200 OK (our answer) is read from sipp's log."""

    def __init__(self, mcu: McuProcess, tmp: Path, name: str, room: str, hold_ms: int, content_port: int,
                 scenario: str = "", transport: str = "UDP/BFCP"):
        binary = shutil.which("sipp")
        if binary is None:
            pytest.fail("sipp not found: the test setup installs Debian's sip-tester (bash .ci/setup.sh test)")
        self.transport = transport
        self.scenario = tmp / f"{name}.xml"
        self.scenario.write_text(scenario or INVITE)
        self.messages = tmp / f"{name}-messages.log"
        inject = tmp / f"{name}.csv"
        inject.write_text(f"SEQUENTIAL\n{name};\n")
        self.proc = subprocess.Popen(
            [binary, f"127.0.0.1:{mcu.sip_port}", "-s", room, "-sf", str(self.scenario), "-m", "1",
             "-d", str(hold_ms), "-nostdin", "-i", "127.0.0.1", "-p", "0", "-timeout", "60s",
             "-inf", str(inject), "-key", "content_port", str(content_port),
             "-key", "bfcp_port", str(free_port()), "-trace_msg", "-message_file", str(self.messages)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def answer(self) -> Answer:
        def read() -> str | None:
            text = self.messages.read_text(errors="replace") if self.messages.exists() else ""
            match = re.search(r"SIP/2.0 200 OK.*?(v=0.*?)(?:\n\s*\n|-{5}|$)", text, re.DOTALL)
            return match.group(1) if match and "m=application" in match.group(1) else None

        sdp = wait_for(read, 20, "the MCU's 200 OK with our SDP answer in sipp's message log")
        assert isinstance(sdp, str)
        app = re.search(rf"m=application (\d+) {self.transport}", sdp)
        content = re.search(r"m=video (\d+) RTP/AVP", sdp)
        assert app and content, sdp
        return Answer(int(app.group(1)), int(re.search(r"a=confid:(\d+)", sdp).group(1)),  # type: ignore[union-attr]
                      int(re.search(r"a=userid:(\d+)", sdp).group(1)),  # type: ignore[union-attr]
                      int(re.search(r"a=floorid:(\d+)", sdp).group(1)), int(content.group(1)), sdp)  # type: ignore[union-attr]

    def wait(self) -> None:
        _, err = self.proc.communicate(timeout=90)
        assert self.proc.returncode == 0, f"sipp failed:\n{err[-2000:]}"


@pytest.fixture(scope="module")
def floor_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc, pkg = shutil.which("gcc"), shutil.which("pkg-config")
    if gcc is None or pkg is None:
        pytest.fail("gcc and pkg-config are needed to build the libre BFCP client (bash .ci/setup.sh test)")
    flags = subprocess.run([pkg, "--cflags", "--libs", "libre"], check=False, capture_output=True, text=True)
    if flags.returncode != 0:
        pytest.fail(f"libre-dev is not installed (pkg-config: {flags.stderr.strip()}); bash .ci/setup.sh test")
    binary = tmp_path_factory.mktemp("bfcp") / "bfcp_floor_client"
    built = subprocess.run([gcc, "-Wall", "-Werror", "-o", str(binary), str(CLIENT_SOURCE), *flags.stdout.split()],
                           check=False, capture_output=True, text=True)
    assert built.returncode == 0, f"the libre client does not build:\n{built.stderr}"
    return binary


@pytest.fixture(scope="module")
def mcu(tmp_path_factory: pytest.TempPathFactory):
    limits = "[limits]\ncalls_per_second = 100\ncall_burst = 100\nunconfirmed_calls = 100\n"
    bfcp = '[bfcp]\nhost = "127.0.0.1"\ncontent_fps = 5\n'
    with McuProcess(tmp_path_factory.mktemp("mcu"), rooms=ROOMS, extra=limits + bfcp,
                    metrics_port=free_port(socket.SOCK_STREAM)) as process:
        yield process


def run_client(binary: Path, answer: Answer, hold_ms: int) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), "127.0.0.1", str(answer.bfcp_port), str(answer.confid), str(answer.userid),
                           str(answer.floorid), str(hold_ms)], check=False, capture_output=True,
                          text=True, timeout=60)


def metric(mcu: McuProcess, name: str) -> float:
    assert mcu.metrics_port is not None
    text = urllib.request.urlopen(f"http://127.0.0.1:{mcu.metrics_port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_libre_client_takes_and_releases_the_floor(mcu: McuProcess, floor_client: Path, tmp_path: Path) -> None:
    site = SippSite(mcu, tmp_path, "presenter", "4100", 15000, free_port())
    answer = site.answer()
    assert "a=floorctrl:s-only" in answer.sdp and "a=content:slides" in answer.sdp
    assert f"a=floorid:{answer.floorid} mstrm:3" in answer.sdp and answer.confid == 4100
    assert answer.content_port > 0  # the content line is answered with a real port
    started = len(mcu.events("member.content_started"))
    result = run_client(floor_client, answer, 1500)
    out = result.stdout
    assert result.returncode == 0, f"libre client:\n{out}\n{result.stderr}\n{mcu.log()[-3000:]}"
    assert "HELLO_ACK 1" in out and "GRANTED" in out and "RELEASE_STATUS 6" in out, out
    assert "FLOOR_STATUS" in out, out  # unsolicited FloorStatus, acknowledged by the client
    wait_for(lambda: len(mcu.events("member.content_started")) > started, 5, "member.content_started")
    wait_for(lambda: mcu.events("member.content_stopped"), 5, "member.content_stopped")
    assert mcu.events("member.content_started")[-1]["name"] == "presenter"
    wait_for(lambda: metric(mcu, 'mcu_content_floor_requests_total{result="granted"}') >= 1, 5,
             "the granted request counted")
    site.wait()


def test_chair_policy_denies_a_site_that_is_not_chair(mcu: McuProcess, floor_client: Path, tmp_path: Path) -> None:
    site = SippSite(mcu, tmp_path, "guest", "4300", 8000, free_port())
    answer = site.answer()
    result = run_client(floor_client, answer, 500)
    assert result.returncode == 3 and "REQUEST_STATUS 4" in result.stdout, result.stdout  # Denied
    site.wait()


def test_garbage_on_the_bfcp_ports_is_counted_and_others_keep_the_floor(
        mcu: McuProcess, floor_client: Path, tmp_path: Path) -> None:
    site = SippSite(mcu, tmp_path, "steady", "4100", 15000, free_port())
    answer = site.answer()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for junk in (b"", b"\xff" * 64, b"GET / HTTP/1.1\r\n\r\n", bytes(range(256))):
            udp.sendto(junk, ("127.0.0.1", answer.bfcp_port))
    result = run_client(floor_client, answer, 500)
    assert result.returncode == 0, result.stdout
    wait_for(lambda: metric(mcu, "mcu_bfcp_dropped_total") >= 3, 5, "the garbage counted in mcu_bfcp_dropped_total")
    site.wait()


def _content_frames(width: int, height: int, count: int):
    """The presenter's slide: white on the left half, black on the right, as H.264 access units."""
    from mcu.media.base import VideoEncoderConfig
    from mcu.media.frames import alloc_i420
    from mcu.media.registry import create_video_encoder

    encoder = create_video_encoder(VideoEncoderConfig("H264", width, height, fps=5, bitrate=800_000, keyint=5,
                                                      profile="constrained-baseline"))
    picture = alloc_i420(width, height, (16, 128, 128))
    picture.y[:, : width // 2] = 235
    for i in range(count):
        for frame in encoder.encode(picture, i * 18000, force_keyframe=i == 0):
            yield i, frame


def test_a_site_presents_h264_and_another_decodes_it(mcu: McuProcess, floor_client: Path, tmp_path: Path) -> None:
    from mcu.rtp.h264 import H264Payloader

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.fail("ffmpeg not found (bash .ci/setup.sh test): it is the independent content receiver")
    receiver_port = free_port()
    while receiver_port % 2:
        receiver_port = free_port()
    viewer = SippSite(mcu, tmp_path, "viewer", "4100", 25000, receiver_port)
    viewer_answer = viewer.answer()
    sdp = tmp_path / "viewer.sdp"
    sdp.write_text("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                   f"m=video {receiver_port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                   "a=fmtp:96 packetization-mode=1\r\n")
    png = tmp_path / "received.png"
    receiving = subprocess.Popen([ffmpeg, "-nostdin", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp",
                                  "-i", str(sdp), "-frames:v", "3", "-update", "1", "-y", str(png)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    presenter_port = free_port()
    presenter = SippSite(mcu, tmp_path, "speaker", "4100", 20000, presenter_port)
    answer = presenter.answer()
    client = threading.Thread(target=lambda: run_client(floor_client, answer, 12000), daemon=True)
    before = len(mcu.events("member.content_started"))
    client.start()
    wait_for(lambda: len(mcu.events("member.content_started")) > before, 10, "the presenter granted")
    payloader = H264Payloader(1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp:
        rtp.bind(("127.0.0.1", presenter_port))
        seq = 0
        deadline = time.monotonic() + 15
        frames = iter(_content_frames(640, 360, 75))
        while receiving.poll() is None and time.monotonic() < deadline:
            item = next(frames, None)
            if item is None:
                break
            i, frame = item
            payloads = payloader.payload_nals(1200, list(frame.nals))
            for k, payload in enumerate(payloads):
                marker = 0x80 if k == len(payloads) - 1 else 0
                header = bytes([0x80, 96 | marker]) + seq.to_bytes(2, "big") + (i * 18000).to_bytes(4, "big") \
                    + (0x1234).to_bytes(4, "big")
                rtp.sendto(header + payload, ("127.0.0.1", answer.content_port))
                seq = (seq + 1) & 0xFFFF
            time.sleep(0.2)
    try:
        receiving.wait(10)
    except subprocess.TimeoutExpired:
        receiving.kill()
    assert png.exists(), (f"ffmpeg decoded no content picture: {receiving.stderr.read() if receiving.stderr else ''}"
                          f"\n{mcu.log()[-3000:]}")
    import av

    with av.open(str(png)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="gray")
    height, width = image.shape
    assert (width, height) == (1280, 720), (width, height)  # the receiver's content encoding
    left, right = image[:, width // 8: width * 3 // 8].mean(), image[:, width * 5 // 8: width * 7 // 8].mean()
    assert left > 180 and right < 60, (left, right)  # it shows the presenter's slide
    assert np.isfinite(left)
    wait_for(lambda: metric(mcu, "mcu_content_fps") > 0, 5, "content fps in the metrics")
    client.join(30)
    presenter.wait()
    viewer.wait()
    assert viewer_answer.content_port != answer.content_port


def two_page_pdf(path: Path) -> None:
    """A 16:9 PDF: page 1 black on the left half, page 2 black on the right half (white paper)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >>"]
    for x in (0, 320):
        page = len(objects) + 1
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 640 360] /Contents {page + 1} 0 R >>".encode())
        body = f"0 g {x} 0 320 360 re f".encode()
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(body), body))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))


def receive_content(ffmpeg: str, port: int, tmp: Path, name: str) -> tuple[subprocess.Popen, Path]:
    sdp = tmp / f"{name}.sdp"
    sdp.write_text("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                   f"m=video {port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n")
    png = tmp / f"{name}.png"
    proc = subprocess.Popen([ffmpeg, "-nostdin", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp",
                             "-i", str(sdp), "-frames:v", "2", "-update", "1", "-y", str(png)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, png


def udp_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def halves(png: Path) -> tuple[float, float]:
    import av

    with av.open(str(png)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="gray")
    width = image.shape[1]
    return float(image[:, width // 8: width * 3 // 8].mean()), float(image[:, width * 5 // 8: width * 7 // 8].mean())


def test_operator_pdf_pages_are_shown_as_content(tmp_path: Path) -> None:
    import json
    import sys

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.fail("ffmpeg not found (bash .ci/setup.sh test): it is the independent content receiver")
    home = tmp_path / "mcu"
    home.mkdir()
    (home / "admin.token").write_text("test-token-0123456789abcdef\n")
    admin = f'[admin]\nenabled = true\nhost = "127.0.0.1"\nport = {free_port(socket.SOCK_STREAM)}\n'
    pdf = tmp_path / "report.pdf"
    two_page_pdf(pdf)
    # the sipp site sends no media for its 30 s: a 30 s inactivity timeout would race its own BYE
    with McuProcess(home, rooms=ROOMS, extra=admin + '[bfcp]\nhost = "127.0.0.1"\n', inactivity_timeout=120) as mcu:
        def ctl(*args: str) -> dict:
            done = subprocess.run([sys.executable, "-m", "mcu", "ctl", *args, "-c", str(mcu.config), "--json"],
                                  capture_output=True, text=True, timeout=60, check=False,
                                  cwd=Path(__file__).resolve().parents[2])
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        port = free_port()
        while port % 2:
            port = free_port()
        site = SippSite(mcu, tmp_path, "room", "4100", 30000, port)
        site.answer()
        first, png1 = receive_content(ffmpeg, port, tmp_path, "page1")
        status = ctl("content", "start", "4100", str(pdf))
        assert status["holder"] == "operator" and status["slides"]["pages"] == 2
        rooms = {r["number"]: r for r in ctl("rooms")}
        assert rooms["4100"]["content"] == "Content" and rooms["4300"]["content"] is None
        first.wait(15)
        assert png1.exists(), first.stderr.read() if first.stderr else ""
        left, right = halves(png1)
        assert left < 60 and right > 180, (left, right)  # page 1: black on the left
        second, png2 = receive_content(ffmpeg, port, tmp_path, "page2")
        wait_for(lambda: udp_port_taken(port), 10, "ffmpeg listening before the page turns")
        assert ctl("content", "page", "4100", "2")["slides"]["page"] == 2
        second.wait(15)
        assert png2.exists(), second.stderr.read() if second.stderr else ""
        left, right = halves(png2)
        assert left > 180 and right < 60, (left, right)  # page 2: black on the right
        assert ctl("content", "stop", "4100")["holder"] is None
        assert [e.get("source") for e in mcu.events("member.content_started")] == ["operator"]
        wait_for(lambda: mcu.events("member.content_stopped"), 5, "member.content_stopped")
        site.wait()


def solid_png(path: Path, rgb: tuple[int, int, int], width: int = 320, height: int = 180) -> None:
    """A one-colour PNG (the operator's slide), written by hand: zlib and CRCs only."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack("!IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_sites_without_a_content_stream_see_content_in_their_main_picture(tmp_path: Path) -> None:
    """'Content in people': the room's content_layout while the operator's slide runs (the slide in
    its reserved region), the room's own layout again after."""
    import asyncio
    import json
    import sys

    from mcu.synthetic import SyntheticEndpoint
    from tests.helpers import in_calls

    home = tmp_path / "mcu"
    home.mkdir()
    (home / "admin.token").write_text("test-token-0123456789abcdef\n")
    rooms = '[[room]]\nnumber = "4100"\nname = "Briefing"\nlayout = "grid"\ncontent_layout = "content+speaker"\n'
    admin = f'[admin]\nenabled = true\nhost = "127.0.0.1"\nport = {free_port(socket.SOCK_STREAM)}\n'
    slide = tmp_path / "slide.png"
    solid_png(slide, (200, 30, 200))
    from mcu.media.slides import Slides

    picture = Slides(slide).picture  # the colour as the MCU converts the PNG, before its encoder
    assert picture is not None
    slide_yuv = (round(picture.y.mean()), round(picture.u.mean()), round(picture.v.mean()))
    with McuProcess(home, rooms=rooms, extra=admin + '[bfcp]\nhost = "127.0.0.1"\n[video]\nfps = 10\n') as mcu:
        def ctl(*args: str) -> dict:
            done = subprocess.run([sys.executable, "-m", "mcu", "ctl", *args, "-c", str(mcu.config), "--json"],
                                  capture_output=True, text=True, timeout=60, check=False,
                                  cwd=Path(__file__).resolve().parents[2])
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
        sites = [SyntheticEndpoint(n, f"Tỉnh {n}", audio_codec="PCMU", video_codec="H264", fps=10, talking=n == 1)
                 for n in (1, 2)]
        seen: dict[str, list[bool]] = {}

        async def main() -> None:
            async with in_calls(sites, uri):
                await sites[0].wait_until(lambda: sites[0].last_frame() is not None, 15, "a first picture")
                seen["before"] = [s.sees_colour(slide_yuv) for s in sites]
                await asyncio.to_thread(ctl, "content", "start", "4100", str(slide))
                for s in sites:
                    await s.wait_until(lambda s=s: s.sees_colour(slide_yuv), 15, "the slide in the main picture")
                seen["during"] = [s.sees_colour(slide_yuv) for s in sites]
                await asyncio.to_thread(ctl, "content", "stop", "4100")
                for s in sites:
                    await s.wait_until(lambda s=s: not s.sees_colour(slide_yuv), 15, "the slide gone again")
                seen["after"] = [s.sees_colour(slide_yuv) for s in sites]

        asyncio.run(asyncio.wait_for(main(), 90))
        shown = [e["layouts"] for e in mcu.events("room.layout_shown")]
    assert seen == {"before": [False, False], "during": [True, True], "after": [False, False]}, seen
    assert any("content+speaker" in s for s in shown) and "content+speaker" not in shown[-1], shown


UDP_OFFER_BFCP = """      m=application [bfcp_port] UDP/BFCP *
      a=floorctrl:c-only
      a=confid:1
      a=userid:1
      a=floorid:1 mstrm:3
"""
TCP_OFFER_BFCP = """      m=application 9 TCP/BFCP *
      a=setup:active
      a=connection:new
      a=floorctrl:c-only
      a=confid:1
      a=userid:1
      a=floorid:1 mstrm:3
"""


def _bfcp_tcp_exchange(port: int, confid: int, userid: int) -> list:
    """Hello, FloorRequest, FloorRelease over TCP, version 1, as a room system's client sends them."""
    from mcu.bfcp.constants import AttributeType as A
    from mcu.bfcp.constants import Primitive as P
    from mcu.bfcp.message import Attribute, Message, decode, encode, message_length, statuses_of

    received: list = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        buffer = b""

        def read_until(primitive: int) -> Message:
            nonlocal buffer
            while True:
                length = message_length(buffer)
                while length is not None and len(buffer) >= length:
                    message, buffer = decode(buffer[:length]), buffer[length:]
                    received.append(message)
                    if message.primitive == primitive and message.transaction_id != 0:
                        return message
                    length = message_length(buffer)
                chunk = conn.recv(4096)
                assert chunk, f"the MCU closed the BFCP connection; got {[m.primitive for m in received]}"
                buffer += chunk

        conn.sendall(encode(Message(P.HELLO, confid, 1, userid)))
        read_until(P.HELLO_ACK)
        conn.sendall(encode(Message(P.FLOOR_REQUEST, confid, 2, userid, [Attribute(A.FLOOR_ID, 1, True)])))
        status = read_until(P.FLOOR_REQUEST_STATUS)
        request_id, state = statuses_of(status)[0]
        assert state == 3, status  # Granted
        conn.sendall(encode(Message(P.FLOOR_RELEASE, confid, 3, userid, [Attribute(A.FLOOR_REQUEST_ID, request_id)])))
        read_until(P.FLOOR_REQUEST_STATUS)
    return received


def test_tcp_bfcp_with_tshark_on_the_wire_and_a_garbage_peer_dropped(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.fail("tshark is missing (bash .ci/setup.sh test): it is the independent BFCP decoder")
    tcp_port = free_port(socket.SOCK_STREAM)
    scenario = INVITE.replace(UDP_OFFER_BFCP, TCP_OFFER_BFCP)
    assert scenario != INVITE
    with McuProcess(tmp_path / "mcu", rooms=ROOMS, extra=f'[bfcp]\nhost = "127.0.0.1"\ntcp_port = {tcp_port}\n',
                    metrics_port=free_port(socket.SOCK_STREAM)) as mcu:
        site = SippSite(mcu, tmp_path, "tcp-site", "4100", 15000, free_port(), scenario=scenario,
                        transport="TCP/BFCP")
        sdp = site.answer().sdp
        assert f"m=application {tcp_port} TCP/BFCP" in sdp and "a=setup:passive" in sdp, sdp
        confid = int(re.search(r"a=confid:(\d+)", sdp).group(1))  # type: ignore[union-attr]
        userid = int(re.search(r"a=userid:(\d+)", sdp).group(1))  # type: ignore[union-attr]
        pcap = tmp_path / "bfcp-live.pcap"
        capture = subprocess.Popen([tshark, "-i", "lo", "-f", f"tcp port {tcp_port}", "-w", str(pcap)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: pcap.exists() and pcap.stat().st_size > 0, 15, "tshark capturing on lo")
            with socket.create_connection(("127.0.0.1", tcp_port), timeout=5) as garbage:
                garbage_port = garbage.getsockname()[1]
                garbage.sendall(b"\xff" * 64)  # not BFCP: that peer alone is disconnected, and counted
                assert garbage.recv(100) == b""
            received = _bfcp_tcp_exchange(tcp_port, confid, userid)

            def captured() -> int:
                listed = subprocess.run([tshark, "-n", "-r", str(pcap), "-d", f"tcp.port=={tcp_port},bfcp", "-Y",
                                         f"bfcp and not tcp.port=={garbage_port}"], capture_output=True, text=True,
                                        timeout=60, check=False).stdout
                return len(listed.splitlines())

            # every message both ways in the file (one per segment here) before the capture stops
            wait_for(lambda: captured() >= 3 + len(received), 15, "the exchange in the capture")
        finally:
            capture.terminate()
            capture.wait(10)
        assert {12, 4, 8} <= {m.primitive for m in received}  # HelloAck, FloorRequestStatus, FloorStatus
        decode_as = ["-d", f"tcp.port=={tcp_port},bfcp", "-Y", f"bfcp and not tcp.port=={garbage_port}"]
        verbose = subprocess.run([tshark, "-n", "-r", str(pcap), "-V", *decode_as], capture_output=True, text=True,
                                 timeout=60, check=True).stdout
        assert "HelloAck" in verbose and "FloorRequestStatus" in verbose and "Granted" in verbose, verbose[-3000:]
        assert "Malformed" not in verbose and "[Expert Info (Error" not in verbose, verbose
        wait_for(lambda: metric(mcu, 'mcu_bfcp_dropped_total{reason="tcp not BFCP"}') >= 1, 5,
                 "the garbage peer counted")
        site.wait()


OFFERLESS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="INVITE without offer from a terminal whose profile takes content">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:site[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      User-Agent: Polycom RealPresence Group 500/6.2.2
      Content-Length: 0
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field0]" <sip:site[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      m=video 0 RTP/AVP 96
      m=video [content_port] RTP/AVP 96
      a=rtpmap:96 H264/90000
      a=fmtp:96 profile-level-id=42e01f;packetization-mode=1
      a=content:slides
      a=label:3
      m=application [bfcp_port] UDP/BFCP *
      a=floorctrl:c-only
  ]]></send>
""" + HOLD_THEN_BYE


def test_our_offer_carries_content_and_bfcp_for_a_profile_that_takes_it(
        mcu: McuProcess, floor_client: Path, tmp_path: Path) -> None:
    """An offerless INVITE from a Polycom Group (profile offer_content): our offer in the 200 has the
    content line and BFCP; the site answers in the ACK and takes the floor with the ids we offered."""
    joined = len(mcu.events("member.joined"))
    site = SippSite(mcu, tmp_path, "group", "4100", 12000, free_port(), scenario=OFFERLESS)
    answer = site.answer()
    assert "a=content:slides" in answer.sdp and "a=floorctrl:s-only" in answer.sdp
    wait_for(lambda: len(mcu.events("member.joined")) > joined, 10, "the site joined with the answer in its ACK")
    result = run_client(floor_client, answer, 500)
    assert result.returncode == 0 and "GRANTED" in result.stdout, result.stdout + mcu.log()[-2000:]
    site.wait()
