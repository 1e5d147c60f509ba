"""A live stream to a real nginx-rtmp on 127.0.0.1: `mcu ctl stream start` pushes the room's
picture and mix; nginx records it and ffmpeg decodes the recording in full; nginx stopped
mid-stream and started again gets the stream back (the MCU reconnects with backoff), and the
stream key appears in no log line and no answer."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from mcu.synthetic import SyntheticEndpoint
from tests.e2e.test_e2e_recording import FPS, ctl, recording_config
from tests.helpers import McuProcess, free_port, in_calls, wait_for
from tests.recording.media_checks import decodes_in_full, probe
from tests.recording.nginx_rtmp import NginxRtmp

pytestmark = pytest.mark.peer

KEY = "brief-2026-s3cr3t"


def test_stream_reaches_nginx_and_resumes_after_it_restarts(tmp_path: Path) -> None:
    ingest = NginxRtmp(tmp_path / "nginx", free_port(socket.SOCK_STREAM))
    ingest.start()
    admin_port = free_port(socket.SOCK_STREAM)
    extra = recording_config(tmp_path / "mcu", tmp_path / "rec", admin_port,
                             "stream_video_kbps = 800\nstream_retry_initial = 0.5\nstream_retry_max = 2.0\n")
    answers: dict[str, tuple[int, str]] = {}
    try:
        with McuProcess(tmp_path / "mcu", extra=extra) as mcu:
            uri = f"sip:4100@127.0.0.1:{mcu.sip_port}"
            sites = [SyntheticEndpoint(n, f"Tỉnh {n}", audio_codec="PCMU", video_codec="H264", fps=FPS)
                     for n in (1, 2)]
            work = tmp_path / "mcu"

            async def main() -> None:
                async with in_calls(sites, uri):
                    url = f"rtmp://127.0.0.1:{ingest.port}/live/{KEY}"
                    answers["start"] = await asyncio.to_thread(ctl, admin_port, work, "stream", "start", "4100", url)
                    await asyncio.to_thread(wait_for, lambda: mcu.events("stream.live"), 15, "the stream to go live")
                    await asyncio.sleep(4.0)
                    answers["live"] = await asyncio.to_thread(ctl, admin_port, work, "rooms")
                    await asyncio.to_thread(ingest.stop)
                    await asyncio.to_thread(wait_for, lambda: mcu.events("stream.dropped"), 15,
                                            "the MCU to see the drop")
                    await asyncio.sleep(1.0)  # a reconnect or two is refused while nginx is down
                    await asyncio.to_thread(ingest.start)
                    await asyncio.to_thread(wait_for, lambda: len(mcu.events("stream.live")) >= 2, 20,
                                            "the stream to come back")
                    await asyncio.sleep(4.0)
                    answers["again"] = await asyncio.to_thread(ctl, admin_port, work, "rooms")
                    answers["stop"] = await asyncio.to_thread(ctl, admin_port, work, "stream", "stop", "4100")

            try:
                asyncio.run(asyncio.wait_for(main(), 90))
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nanswers={answers}\nMCU log:\n{mcu.log()[-4000:]}") from None
            log = mcu.log()
    finally:
        ingest.stop()
    context = f"answers={answers}\nMCU log:\n{log[-4000:]}"
    assert answers["start"][0] == 0, context
    live = json.loads(answers["live"][1])[0]["outputs"]["stream"]
    assert live["state"] == "live" and live["url"] == f"rtmp://127.0.0.1:{ingest.port}/live/***", context
    again = json.loads(answers["again"][1])[0]["outputs"]["stream"]
    assert again["state"] == "live" and again["reconnects"] == 1, context
    assert KEY not in log and all(KEY not in text for _, text in answers.values()), "the stream key leaked"

    files = ingest.recorded()
    assert len(files) >= 2, f"nginx recorded {files}: one file per publish expected\n{context}"
    for path in (files[0], files[-1]):
        ok, errors = decodes_in_full(path)
        assert ok, f"{path.name}: {errors}"
        info = probe(path)
        assert (info.width, info.height) == (640, 360) and info.audio_codec == "aac", info
        assert info.video_packets >= 3 * FPS, f"{path.name}: {info.video_packets} frames, expected 4 s worth"
