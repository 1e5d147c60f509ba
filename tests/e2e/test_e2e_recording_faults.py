"""What goes wrong hits the recording alone: an MCU killed with SIGKILL mid-recording leaves a
file that ffmpeg decodes in full up to the last fragment; a full disk (a 512 kB tmpfs) stops the
recording cleanly (the file decodes, the failure is logged and counted) while the sites go on
hearing each other."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from mcu.synthetic import SyntheticEndpoint
from tests.e2e.test_e2e_recording import FPS
from tests.helpers import McuProcess, free_port, wait_for
from tests.recording.media_checks import decodes_in_full, probe

pytestmark = pytest.mark.peer

AUTO_ROOM = '[[room]]\nnumber = "4100"\nname = "Giao ban"\nrecord = "auto"\n'
TONE_PRESENT = 0.01


def config(directory: Path, **extra: object) -> str:
    lines = "".join(f"{k} = {v}\n" for k, v in extra.items())
    return (f"[video]\nfps = {FPS}\n[recording]\n" f'dir = "{directory}"\nwidth = 640\nheight = 360\n'
            f'preset = "ultrafast"\nmin_free_mb = 0\nkeyframe_interval = 1.0\n' + lines)


def sites_of(n: int) -> list[SyntheticEndpoint]:
    return [SyntheticEndpoint(i, f"Tỉnh {i}", audio_codec="PCMU", video_codec="H264", fps=FPS) for i in range(1, n + 1)]


def test_recording_of_a_killed_mcu_decodes_up_to_its_last_fragment(tmp_path: Path) -> None:
    directory = tmp_path / "rec"
    sites = sites_of(2)
    with McuProcess(tmp_path / "mcu", rooms=AUTO_ROOM, extra=config(directory)) as mcu:
        async def main() -> float:
            try:
                for site in sites:
                    await site.call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
                await asyncio.to_thread(wait_for, lambda: mcu.events("recording.started"), 10, "the auto recording")
                started = time.monotonic()
                await asyncio.sleep(6.0)
                mcu.proc.kill()  # SIGKILL: no chance to close the file
                mcu.proc.wait(10)
                return time.monotonic() - started
            finally:
                for site in sites:
                    await site.vanish()

        recorded_for = asyncio.run(asyncio.wait_for(main(), 60))
        log = mcu.log()
    files = sorted(directory.glob("*.mp4"))
    assert len(files) == 1, f"{files}\n{log[-3000:]}"
    ok, errors = decodes_in_full(files[0])
    assert ok, f"the killed MCU's recording must decode in full: {errors}"
    info = probe(files[0])
    # a fragment is written when the next keyframe (each 1 s) closes it: the kill loses the open
    # fragment and at most a fragment's worth more (frames queued, the first frame's wait)
    assert info.video_packets >= (recorded_for - 2.5) * FPS, f"{info.video_packets} frames of {recorded_for:.1f} s"
    side = json.loads(files[0].with_suffix(".json").read_text(encoding="utf-8"))
    assert side["ended"] is None and sorted(s["name"] for s in side["sites"]) == ["Tỉnh 1", "Tỉnh 2"], side


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    mount = tmp_path / "small"
    mount.mkdir()
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True,
                         text=True, check=False)
    if run.returncode != 0:
        raise AssertionError(f"cannot mount a 512 kB tmpfs for the full-disk test (needs root): {run.stderr}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_stops_the_recording_cleanly_and_the_meeting_goes_on(tmp_path: Path, small_disk: Path) -> None:
    metrics_port = free_port(socket.SOCK_STREAM)
    sites = sites_of(3)
    heard: dict[int, dict[int, float]] = {}
    with McuProcess(tmp_path / "mcu", rooms=AUTO_ROOM, metrics_port=metrics_port,
                    extra=config(small_disk, video_kbps=2000)) as mcu:
        async def main() -> None:
            try:
                for site in sites:
                    await site.call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
                await asyncio.to_thread(wait_for, lambda: mcu.events("recording.failed"), 40, "the disk to fill")
                await asyncio.sleep(2.0)  # the meeting after the recording's failure
                for site in sites:
                    heard[site.number] = {o.number: site.heard_tone(o.tone_hz) for o in sites if o is not site}
            finally:
                for site in sites:
                    await site.close()

        try:
            asyncio.run(asyncio.wait_for(main(), 60))
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nMCU log:\n{mcu.log()[-4000:]}") from None
        page = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        log = mcu.log()
    failed = mcu.events("recording.failed")[0]
    assert failed["failure"] == "disk_full", failed
    assert 'mcu_recording_failures_total{reason="disk_full"} 1.0' in page
    assert "mcu_recordings_active 0.0" in page
    assert all(level > TONE_PRESENT for levels in heard.values() for level in levels.values()), \
        f"the sites must go on hearing each other: {heard}\n{log[-3000:]}"
    files = sorted(small_disk.glob("*.mp4"))
    assert len(files) == 1
    ok, errors = decodes_in_full(files[0])
    assert ok, f"the recording stopped by the full disk must decode in full: {errors}"
    assert probe(files[0]).video_packets >= FPS, "at least a second of the meeting was kept"
    # the space a recording keeps free beside it takes the side file's last version
    side = json.loads(files[0].with_suffix(".json").read_text(encoding="utf-8"))
    assert side["stop_reason"] == "disk_full" and side["ended"] is not None, side


def test_mcu_stopping_closes_the_recording_and_finishes_its_side_file(tmp_path: Path) -> None:
    directory = tmp_path / "rec"
    sites = sites_of(2)
    with McuProcess(tmp_path / "mcu", rooms=AUTO_ROOM, extra=config(directory)) as mcu:
        async def main() -> None:
            try:
                for site in sites:
                    await site.call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
                await asyncio.to_thread(wait_for, lambda: mcu.events("recording.started"), 10, "the auto recording")
                await asyncio.sleep(3.0)
                await asyncio.to_thread(mcu.stop)  # SIGTERM, as an operator stops the service
            finally:
                for site in sites:
                    await site.vanish()

        asyncio.run(asyncio.wait_for(main(), 60))
    stopped = mcu.events("recording.stopped")
    assert stopped and stopped[0]["reason"] == "mcu stopping", mcu.log()[-3000:]
    (path,) = directory.glob("*.mp4")
    ok, errors = decodes_in_full(path)
    assert ok, errors
    side = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert side["ended"] is not None and side["stop_reason"] == "mcu stopping"
    assert side["video_frames"] == probe(path).video_packets >= 2 * FPS, side
