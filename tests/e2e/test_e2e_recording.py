"""A recording of a meeting, end to end: three synthetic sites talk for 12 s while `mcu ctl record
start` records the room; ffmpeg decodes the file in full, its duration, frame rate and size are
the configured ones, the audio holds all three tones, the picture shows all three sites, the side
file lists them with their join and leave times, and `mcu ctl recordings` lists the file."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from mcu.synthetic import SyntheticEndpoint
from mcu.synthetic.identity import yuv_for
from mcu.synthetic.pictures import find_colour
from tests.helpers import McuProcess, free_port, in_calls, wait_for
from tests.recording.media_checks import (
    decoded_audio,
    decodes_in_full,
    last_picture,
    probe,
    tone_levels,
)

pytestmark = pytest.mark.peer

TOKEN = "recording-test-token-0123456789"
TALK_SECONDS = 12.0
FPS = 15


def recording_config(tmp_path: Path, directory: Path, admin_port: int, extra: str = "") -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "admin.token").write_text(TOKEN + "\n", encoding="utf-8")
    return (f"[video]\nfps = {FPS}\n"
            f'[admin]\nenabled = true\nhost = "127.0.0.1"\nport = {admin_port}\ntoken_file = "admin.token"\n'
            f'[recording]\ndir = "{directory}"\nwidth = 640\nheight = 360\npreset = "ultrafast"\n'
            f"min_free_mb = 0\nvideo_kbps = 800\n" + extra)


def _ts(event: dict) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()


def ctl(admin_port: int, tmp_path: Path, *argv: str) -> tuple[int, str]:
    run = subprocess.run([sys.executable, "-m", "mcu", "ctl", *argv, "--url", f"http://127.0.0.1:{admin_port}",
                          "--token-file", str(tmp_path / "admin.token"), "--json"],
                         check=False, capture_output=True, text=True, timeout=30,
                         cwd=Path(__file__).resolve().parents[2])
    return run.returncode, run.stdout + run.stderr


def test_three_sites_recorded_in_full(tmp_path: Path) -> None:
    directory = tmp_path / "recordings"
    admin_port = free_port(socket.SOCK_STREAM)
    with McuProcess(tmp_path / "mcu", extra=recording_config(tmp_path / "mcu", directory, admin_port)) as mcu:
        uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
        sites = [SyntheticEndpoint(n, f"Tỉnh {n}", audio_codec="PCMU", video_codec="H264", fps=FPS)
                 for n in (1, 2, 3)]
        answers: dict[str, tuple[int, str]] = {}

        async def main() -> None:
            async with in_calls(sites, uri):
                await asyncio.sleep(1.0)
                answers["start"] = await asyncio.to_thread(ctl, admin_port, tmp_path / "mcu", "record", "start", "4100")
                await asyncio.sleep(TALK_SECONDS)
                answers["rooms"] = await asyncio.to_thread(ctl, admin_port, tmp_path / "mcu", "rooms")
                answers["stop"] = await asyncio.to_thread(ctl, admin_port, tmp_path / "mcu", "record", "stop", "4100")

        asyncio.run(asyncio.wait_for(main(), 60))
        wait_for(lambda: mcu.events("recording.stopped") or mcu.events("recording.failed"), 20,
                 "the recording to close")
        answers["list"] = ctl(admin_port, tmp_path / "mcu", "recordings", "4100")
        log = mcu.log()
    context = f"answers={answers}\nMCU log:\n{log[-4000:]}"
    assert answers["start"][0] == 0, context
    assert json.loads(answers["rooms"][1])[0]["recording"] == "recording", context
    assert answers["stop"][0] == 0, context
    stopped = mcu.events("recording.stopped")
    assert stopped and stopped[0]["frames_dropped"] == 0, context
    path = Path(json.loads(answers["start"][1])["path"])
    listed = json.loads(answers["list"][1])
    assert [r["file"] for r in listed] == [path.name] and listed[0]["side_file"] == path.with_suffix(".json").name

    ok, errors = decodes_in_full(path)
    assert ok, f"ffmpeg -xerror failed: {errors}\n{context}"
    info = probe(path)
    # the MCU's own times of start and stop (a loaded box takes a while to run `mcu ctl`)
    wall = _ts(mcu.events("recording.stopping")[0]) - _ts(mcu.events("recording.started")[0])
    assert (info.width, info.height, info.frame_rate) == (640, 360, f"{FPS}/1"), info
    assert abs(info.duration - wall) < 1.5, f"{info.duration:.2f} s recorded of {wall:.2f} s\n{info}"
    # every frame the room made was recorded (none dropped, above); on a loaded 2-core box the room
    # itself skips frame times (mcu_video_frames_skipped_total), so fewer than wall x fps is fine
    assert info.video_packets >= 0.6 * wall * FPS, f"{info.video_packets} frames for {wall:.1f} s at {FPS} fps"
    assert abs(info.audio_packets - wall * 48000 / 1024) < 0.05 * wall * 48000 / 1024, info

    pcm = decoded_audio(path)
    middle = pcm[48000 * 2: 48000 * 10]  # everyone talks there
    levels = tone_levels(middle, 48000, [s.tone_hz for s in sites] + [1234.0])
    assert all(levels[s.tone_hz] > 50 for s in sites), f"tones of the sites in the mix: {levels}"
    weakest = min(levels[s.tone_hz] for s in sites)
    assert levels[1234.0] < weakest / 100, f"a frequency nobody sends is 40 dB below every tone: {levels}"

    picture = last_picture(path, skip_to=9.0)
    assert picture is not None
    shown = {s.number: find_colour(picture, yuv_for(s.number)) for s in sites}
    assert all(shown.values()), f"the recording shows every site (listeners' view): {shown}"

    side = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert sorted(v["name"] for v in side["sites"]) == ["Tỉnh 1", "Tỉnh 2", "Tỉnh 3"], side
    assert all(v["left"] is None or v["left"]["utc"] <= side["ended"]["utc"] for v in side["sites"]), side
    assert side["ended"] is not None and side["stop_reason"] == "stopped by operator"
    assert side["started"]["local"].endswith("+07:00") and side["video_frames"] == info.video_packets, side
