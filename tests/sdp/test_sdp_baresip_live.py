"""Capture baresip's real INVITE offer and answer it.

Recipe (Debian bookworm, baresip 1.0.0; H.264 needs the extra package ``baresip-ffmpeg``,
which provides avcodec.so — baresip-core alone has no H.264):

config (in a temp dir passed with ``-f``)::

    module_path     /usr/lib/baresip/modules
    sip_listen      127.0.0.1:0
    net_interface   127.0.0.1       # else SDP c= carries the eth0 address
    sip_transports  udp
    audio_source    ausine,440
    audio_player    aufile,/dev/null
    audio_alert     aufile,/dev/null
    video_source    fakevideo,nil
    video_display   fakevideo,nil
    video_size      640x480
    video_fps       25
    module          g711.so
    module          g722.so
    module          opus.so
    module          avcodec.so      # H264 (both modes), H263, MP4V-ES, H265
    module          vp8.so
    module          ausine.so
    module          aufile.so
    module          fakevideo.so
    module          account.so
    module          menu.so         # needed for the /dial command given with -e

accounts::

    <sip:user@127.0.0.1>;regint=0

run: ``baresip -f DIR -e "/dial sip:4100@127.0.0.1:PORT" -t 5``. baresip does not exit on
SIGTERM while an INVITE is pending, so stop it with SIGTERM then SIGKILL after a grace time.
tests/sdp/offers/baresip.sdp is one such capture.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from mcu.sdp.codecs import Capabilities
from mcu.sdp.negotiate import negotiate
from mcu.sdp.session import parse, serialize

MODULE_PATH = Path("/usr/lib/baresip/modules")
MODULES = ["g711", "g722", "opus", "avcodec", "vp8", "ausine", "aufile", "fakevideo",
           "account", "menu"]
STORED = Path(__file__).parent / "offers" / "baresip.sdp"
CAPTURE_TIMEOUT = 10.0


def baresip_config(directory: Path) -> None:
    lines = [
        f"module_path\t\t{MODULE_PATH}",
        "sip_listen\t\t127.0.0.1:0",
        "net_interface\t\t127.0.0.1",
        "sip_transports\t\tudp",
        "audio_source\t\tausine,440",
        "audio_player\t\taufile,/dev/null",
        "audio_alert\t\taufile,/dev/null",
        "video_source\t\tfakevideo,nil",
        "video_display\t\tfakevideo,nil",
        "video_size\t\t640x480",
        "video_fps\t\t25",
        *(f"module\t\t\t{name}.so" for name in MODULES),
    ]
    (directory / "config").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (directory / "accounts").write_text("<sip:user@127.0.0.1>;regint=0\n", encoding="utf-8")


def capture_invite(directory: Path) -> bytes:
    binary = shutil.which("baresip")
    assert binary, "baresip is not installed: apt-get install baresip-core baresip-ffmpeg"
    missing = [m for m in MODULES if not (MODULE_PATH / f"{m}.so").exists()]
    assert not missing, f"baresip modules missing: {missing} (avcodec: apt-get install baresip-ffmpeg)"
    baresip_config(directory)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.settimeout(0.5)
        proc = subprocess.Popen(
            [binary, "-f", str(directory), "-e", f"/dial sip:4100@127.0.0.1:{port}", "-t", "5"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + CAPTURE_TIMEOUT
            while time.monotonic() < deadline:
                try:
                    data, _ = sock.recvfrom(65535)
                except TimeoutError:
                    assert proc.poll() is None, "baresip exited before sending INVITE: " + \
                        proc.communicate()[0].decode(errors="replace")[-2000:]
                    continue
                if data.startswith(b"INVITE "):
                    return data
            raise AssertionError(f"no INVITE from baresip within {CAPTURE_TIMEOUT} s")
        finally:
            proc.terminate()
            try:
                proc.communicate(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def test_live_baresip_offer_is_answered_with_h264_and_known_audio(tmp_path: Path) -> None:
    invite = capture_invite(tmp_path)
    head, _, body = invite.partition(b"\r\n\r\n")
    assert b"Content-Type: application/sdp" in head
    offer = parse(body)
    assert serialize(offer).encode() == body  # baresip's SDP is canonical: lossless round trip
    stored = parse(STORED.read_bytes())
    assert [m.media for m in offer.media] == [m.media for m in stored.media]
    for live, kept in zip(offer.media, stored.media):
        assert live.formats == kept.formats
        assert live.values("rtpmap") == kept.values("rtpmap")
    assert offer.connection is not None and offer.connection.host == "127.0.0.1"

    result = negotiate(offer, Capabilities(), "127.0.0.1", [40000, 40002])
    audio, video = result.media
    assert audio.codec is not None and audio.codec.name in ("opus", "G722", "PCMU", "PCMA")
    assert video.codec is not None and video.codec.name == "H264"
    assert video.codec.packetization_mode == 1
    assert audio.remote_port == offer.media[0].port and video.remote_port == offer.media[1].port
    assert parse(result.local_sdp).media[1].formats == [str(video.codec.payload_type)]
