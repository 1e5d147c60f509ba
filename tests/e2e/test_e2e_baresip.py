"""baresip (headless: ausine audio, fakevideo, avcodec H.264) dials in: it receives our audio and
continuous-presence video, and the MCU decodes its video for the other site."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import McuProcess, wait_for

pytestmark = pytest.mark.peer
MODULES = Path("/usr/lib/baresip/modules")
STAY_SECONDS = 20

CONFIG = """module_path     {modules}
sip_listen      127.0.0.1:0
net_interface   127.0.0.1
sip_transports  udp
audio_source    ausine,{tone}
audio_player    aufile,{heard}
audio_alert     aufile,/dev/null
video_source    fakevideo,nil
video_display   fakevideo,nil
video_size      640x360
video_fps       25
module g711.so
module g722.so
module opus.so
module avcodec.so
module vp8.so
module ausine.so
module aufile.so
module fakevideo.so
module srtp.so
module account.so
module menu.so
"""


# baresip 1.0's sndfile module writes what it decodes to <snd_path>/dump-<time>-dec.wav
RECORD = "module sndfile.so\nsnd_path {folder}\n"


def start_baresip(folder: Path, port: int, tone: int, seconds: int, mediaenc: str = "",
                  record: bool = False) -> subprocess.Popen:
    """baresip dialling room 4100 for `seconds`, sending a `tone` Hz sine; with `record`, what it
    hears goes to a WAV file in `folder` (see heard_by)."""
    binary = shutil.which("baresip")
    if binary is None or not (MODULES / "avcodec.so").exists():
        pytest.fail("baresip with avcodec not found: the test setup installs baresip and baresip-ffmpeg")
    folder.mkdir(parents=True)
    config = CONFIG.format(modules=MODULES, tone=tone, heard=folder / "heard.wav")
    (folder / "config").write_text(config + (RECORD.format(folder=folder) if record else ""))
    params = ";regint=0" + (f";mediaenc={mediaenc}" if mediaenc else "")
    (folder / "accounts").write_text(f"<sip:site{tone}@127.0.0.1>{params}\n")
    return subprocess.Popen([binary, "-f", str(folder), "-e", f"/dial sip:4100@127.0.0.1:{port}", "-t", str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def heard_by(folder: Path):  # type: ignore[no-untyped-def]
    """(samples, rate) of what a recording baresip decoded (left channel)."""
    import wave

    import numpy as np

    dumps = sorted(folder.glob("dump-*-dec.wav"))
    assert dumps, f"baresip wrote no recording in {folder}: is its sndfile module installed?"
    with wave.open(str(dumps[-1])) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)[:: w.getnchannels()]
        return samples, w.getframerate()


def received_video_fps(output: str) -> float:
    """baresip's status line: `video=<tx>/<rx> (bit/s) efps=<tx>/<rx>`."""
    rates = re.findall(r"video=\d+/(\d+) \(bit/s\) efps=[\d.]+/([\d.]+)", output)
    assert rates, "baresip printed no media status line:\n" + output[-2000:]
    return max(float(fps) for _, fps in rates)


def two_baresips(tmp_path: Path, mcu: McuProcess, seconds: int, mediaenc: str = "") -> list[str]:
    """Two baresips (tones 440 and 880 Hz) in room 4100 for `seconds`; their outputs, once the
    MCU has seen both leave."""
    sites = [start_baresip(tmp_path / f"baresip{i}", mcu.sip_port, tone, seconds, mediaenc)
             for i, tone in enumerate((440, 880))]
    outputs = []
    try:
        for site in sites:
            outputs.append(site.communicate(timeout=seconds + 30)[0])
    finally:
        for site in sites:
            if site.poll() is None:
                site.kill()
    wait_for(lambda: len(mcu.events("member.left")) == 2, 10, "both sites to leave")
    return outputs


@pytest.mark.parametrize("shared_port", [False, True], ids=["own-ports", "shared-port"])
def test_two_baresips_see_each_other_through_the_mcu(tmp_path: Path, shared_port: bool) -> None:
    with McuProcess(tmp_path / "mcu", shared_port=shared_port) as mcu:
        outputs = two_baresips(tmp_path, mcu, STAY_SECONDS)
        joined = mcu.events("member.joined")
        assert len(joined) == 2 and all("baresip" in j["user_agent"] for j in joined), mcu.log()[-3000:]
        left = mcu.events("member.left")
    for output in outputs:
        assert "Call established" in output, output[-2000:]
        assert "Set video decoder: H264" in output, "the MCU's answer must pick H.264 for video"
        assert received_video_fps(output) >= 10, "baresip must decode our composed video"
    for site in left:
        assert site["video_frames_decoded"] > 5 * STAY_SECONDS, f"the MCU must decode each site's video: {site}"
        assert site["audio_packets_in"] > 40 * STAY_SECONDS and site["audio_packets_out"] > 40 * STAY_SECONDS


@pytest.mark.parametrize("shared_port", [False, True], ids=["own-ports", "shared-port"])
def test_baresip_with_mandatory_srtp_gets_encrypted_media_both_ways(tmp_path: Path, shared_port: bool) -> None:
    """baresip offers RTP/SAVP with SDES keys and refuses plain RTP (srtp-mand): the call is
    established, it decodes our video, and the MCU decodes its video, all over SRTP."""
    seconds = 10
    with McuProcess(tmp_path / "mcu", shared_port=shared_port) as mcu:
        outputs = two_baresips(tmp_path, mcu, seconds, mediaenc="srtp-mand")
        left = mcu.events("member.left")
        joined = mcu.events("member.joined")
        log = mcu.log()
    assert len(joined) == 2 and all(j["encrypted"] is True for j in joined), log[-3000:]
    for output in outputs:
        assert "Call established" in output, output[-2000:]
        assert "mediaenc not found" not in output, "baresip's srtp module must load:\n" + output[-2000:]
        assert received_video_fps(output) >= 10, "baresip must decode our (SRTP) video:\n" + output[-2000:]
    for site in left:
        assert site["video_frames_decoded"] > 5 * seconds, f"the MCU must decode each SRTP video: {site}\n{log[-2000:]}"
        assert site["audio_packets_in"] > 40 * seconds and site["audio_packets_out"] > 40 * seconds
