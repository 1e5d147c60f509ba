"""Usage records of real meetings in `mcu serve`, against SQLite and a real PostgreSQL 15:

* a meeting of a sipp caller (streaming a PCMU file once), a baresip softphone and two synthetic
  sites gives one record per call whose counts, durations (within 1 s) and received bytes (within
  5% of what each sender sent: sipp's file, the synthetic sites' own counters, baresip's packets
  on the wire as tshark sees them) match what happened, and a meeting record over all of them;
* a SIGKILL mid-meeting loses no record closed before it, and the restart closes the open ones
  as `mcu_restart`.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from mcu.synthetic.endpoint import SyntheticEndpoint
from mcu.usage.records import RESTART_REASON
from mcu.usage.store import open_store
from tests.e2e.test_e2e_baresip import CONFIG as BARESIP_CONFIG
from tests.e2e.test_e2e_baresip import MODULES
from tests.helpers import McuProcess, free_port, wait_for

pytestmark = pytest.mark.peer
HERE = Path(__file__).parent
PCMU_PACKETS = 250  # sipp streams the file once: 250 packets of 160 bytes (5 s)
BARESIP_SECONDS = 10
SIPP_PAUSE = 8.0


def store_extra(url: str) -> str:
    return f'[store]\nurl = "{url}"\n'


def read_store(mcu: McuProcess, url: str):  # type: ignore[no-untyped-def]
    store = open_store(url, mcu.config.parent)
    try:
        return store.calls(0, 4e9), store.meetings(0, 4e9)
    finally:
        store.close()


def start_sipp(mcu: McuProcess, tmp: Path) -> subprocess.Popen:
    binary = shutil.which("sipp")
    if binary is None:
        pytest.fail("sipp not found: apt-get install sip-tester")
    audio = tmp / "tone.pcmu"
    audio.write_bytes(bytes((i * 7) & 0xFF for i in range(160 * PCMU_PACKETS)))
    scenario = tmp / "stream_bye.xml"  # sipp does not expand fields in rtp_stream: the path goes in
    scenario.write_text((HERE / "scenario_stream_bye.xml").read_text().replace("[audio_file]", str(audio)))
    return subprocess.Popen([binary, f"127.0.0.1:{mcu.sip_port}", "-sf", str(scenario),
                             "-s", "4100", "-i", "127.0.0.1", "-p", str(free_port()),
                             "-mp", str(free_port()), "-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error",
                             "-trace_err", "-error_file", str(tmp / "sipp.err")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def start_baresip(mcu: McuProcess, folder: Path, rtp_ports: tuple[int, int]) -> subprocess.Popen:
    binary = shutil.which("baresip")
    if binary is None or not (MODULES / "avcodec.so").exists():
        pytest.fail("baresip with avcodec not found: the test setup installs baresip and baresip-ffmpeg")
    folder.mkdir(parents=True)
    config = BARESIP_CONFIG.format(modules=MODULES, tone=523, heard=folder / "heard.wav")
    (folder / "config").write_text(config + f"rtp_ports {rtp_ports[0]}-{rtp_ports[1]}\n")
    (folder / "accounts").write_text("<sip:baresip@127.0.0.1>;regint=0\n")
    return subprocess.Popen([binary, "-f", str(folder), "-e", f"/dial sip:4100@127.0.0.1:{mcu.sip_port}",
                             "-t", str(BARESIP_SECONDS)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class WireCount:
    """tshark on the loopback: the RTP bytes (UDP payload) sent from a port range, as on the wire."""

    def __init__(self, folder: Path, ports: tuple[int, int], to_ports: tuple[int, int]) -> None:
        if shutil.which("tshark") is None:
            pytest.fail("tshark not found: apt-get install tshark")
        self.file = folder / "wire.pcap"
        self.ports = ports
        # only packets to this MCU's ports: other tests send RTP on the loopback too
        capture = f"udp src portrange {ports[0]}-{ports[1]} and dst portrange {to_ports[0]}-{to_ports[1]}"
        self.proc = subprocess.Popen(["tshark", "-i", "lo", "-q", "-w", str(self.file), "-f", capture],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 20
        line = ""
        while time.monotonic() < deadline and "Capturing on" not in line:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise AssertionError("tshark could not capture on lo (needs root or CAP_NET_RAW)")

    def rtp_bytes(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(20)
        fields = subprocess.run(["tshark", "-r", str(self.file), "-o", "rtp.heuristic_rtp:TRUE", "-Y", "rtp",
                                 "-T", "fields", "-e", "udp.length"], capture_output=True, text=True, timeout=60,
                                check=True).stdout.split()
        return sum(int(n) - 8 for n in fields)


@pytest.fixture
def baresip_ports() -> tuple[int, int]:
    base = free_port(socket.SOCK_DGRAM) & ~1
    return base, base + 9


def test_records_of_a_meeting_match_what_the_sites_did(tmp_path: Path, store_url: str,
                                                       baresip_ports: tuple[int, int]) -> None:
    with McuProcess(tmp_path / "mcu", extra=store_extra(store_url)) as mcu:
        config = mcu.config.read_text()
        rtp = (int(re.search(r"port_min = (\d+)", config).group(1)),  # type: ignore[union-attr]
               int(re.search(r"port_max = (\d+)", config).group(1)))  # type: ignore[union-attr]
        wire = WireCount(tmp_path, baresip_ports, rtp)

        async def meeting() -> dict[str, tuple[float, int]]:
            first = SyntheticEndpoint(1, "Tỉnh Một", audio_codec="PCMU", video_codec="H264", fps=10,
                                      decode_video=False)
            second = SyntheticEndpoint(2, "Tỉnh Hai", audio_codec="G722")
            seen: dict[str, tuple[float, int]] = {}
            await first.call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
            joined = time.time()
            sipp = start_sipp(mcu, tmp_path)
            baresip = start_baresip(mcu, tmp_path / "baresip", baresip_ports)
            await second.call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
            second_joined = time.time()
            await asyncio.sleep(3.0)
            await second.hangup()
            seen["Tỉnh Hai"] = (time.time() - second_joined, second.stats.audio.bytes_out)
            while sipp.poll() is None or baresip.poll() is None:
                await asyncio.sleep(0.2)
            assert sipp.returncode == 0, (tmp_path / "sipp.err").read_text(errors="replace")[-1500:] \
                if (tmp_path / "sipp.err").exists() else sipp.returncode
            out = baresip.stdout.read() if baresip.stdout else ""
            match = re.search(r"terminated \(duration: (\d+) secs?\)", out)
            assert match, "baresip printed no call duration:\n" + out[-2000:]
            seen["baresip"] = (float(match.group(1)), 0)
            await first.hangup()
            stats = first.stats
            seen["Tỉnh Một"] = (time.time() - joined, stats.audio.bytes_out + stats.video.bytes_out)
            await first.close()
            await second.close()
            return seen

        seen = asyncio.run(meeting())
        wire_bytes = wire.rtp_bytes()
        wait_for(lambda: len(mcu.events("member.left")) >= 4, 15, "four sites left")
        assert mcu.stop() == 0
        calls, meetings = read_store(mcu, store_url)
    by_site = {c.site: c for c in calls}
    assert len(calls) == 4, [c.site for c in calls]
    assert set(by_site) >= {"Tỉnh Một", "Tỉnh Hai"}
    sipp_call = next(c for c in calls if c.uri.startswith("sip:sipp@"))
    baresip_call = next(c for c in calls if c.uri.startswith("sip:baresip@"))
    for name in ("Tỉnh Một", "Tỉnh Hai"):
        record = by_site[name]
        seconds, sent = seen[name]
        assert abs(record.seconds - seconds) <= 1.0, (name, record.seconds, seconds)
        assert abs(record.bytes_in - sent) <= 0.05 * sent, (name, record.bytes_in, sent)
        assert record.end_reason and record.direction == "in" and record.protocol == "sip"
    assert by_site["Tỉnh Một"].tier == "sd360" or by_site["Tỉnh Một"].resolution
    assert by_site["Tỉnh Một"].video_codec.upper() == "H264" and by_site["Tỉnh Hai"].audio_codec.upper() == "G722"
    assert by_site["Tỉnh Hai"].tier == "audio"
    # sipp: its 8 s pause between ACK and BYE; the file once: 250 packets of 12 + 160 bytes
    assert abs(sipp_call.seconds - SIPP_PAUSE) <= 1.0, sipp_call.seconds
    sent = PCMU_PACKETS * 172
    assert abs(sipp_call.bytes_in - sent) <= 0.05 * sent, (sipp_call.bytes_in, sent)
    assert sipp_call.packets_in == pytest.approx(PCMU_PACKETS, rel=0.05)
    # baresip: its own whole-second duration, and its RTP on the wire
    assert abs(baresip_call.seconds - (seen["baresip"][0] + 0.5)) <= 1.0, (baresip_call.seconds, seen["baresip"])
    assert abs(baresip_call.bytes_in - wire_bytes) <= 0.05 * wire_bytes, (baresip_call.bytes_in, wire_bytes)
    assert baresip_call.bytes_out > 0 and baresip_call.packets_out > 0 and baresip_call.loss < 0.05
    assert len(meetings) == 1
    meeting = meetings[0]
    assert meeting.calls == 4 and meeting.peak_sites >= 3 and meeting.end_reason == "ended"
    assert meeting.site_minutes == pytest.approx(sum(c.seconds for c in calls) / 60.0, abs=0.02)
    assert meeting.start <= min(c.answer or 0 for c in calls) + 0.01
    assert meeting.end >= max(c.end for c in calls) - 0.01
    assert {c.meeting_id for c in calls} == {meeting.id}


def test_a_sigkill_mid_meeting_loses_no_closed_record(tmp_path: Path, store_url: str) -> None:
    folder = tmp_path / "mcu"
    mcu = McuProcess(folder, extra=store_extra(store_url))
    sites = [SyntheticEndpoint(n, f"Site {n}", audio_codec="PCMU") for n in (1, 2, 3)]

    async def calls() -> float:
        for site in sites:
            await site.call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
        await asyncio.sleep(2.0)
        await sites[0].hangup()  # closed before the crash: must survive it as it was
        await until_left(mcu, 1)
        await asyncio.sleep(1.0)
        os.kill(mcu.proc.pid, signal.SIGKILL)  # mid-meeting: sites 2 and 3 are still in
        killed = time.time()
        for site in sites:
            await site.close()
        return killed

    async def until_left(process: McuProcess, count: int) -> None:
        while len(process.events("member.left")) < count:
            await asyncio.sleep(0.05)

    try:
        killed = asyncio.run(calls())
        mcu.proc.wait(10)
    finally:
        mcu.stop()
    assert mcu.proc.returncode == -signal.SIGKILL
    restarted = McuProcess(folder, extra=store_extra(store_url))  # the same folder: journal and store
    try:
        wait_for(lambda: restarted.events("usage.replayed"), 20, "usage.replayed")
        replayed = restarted.events("usage.replayed")[0]
        assert replayed["closed_by_restart"] == 2 and replayed["meetings_closed_by_restart"] == 1, replayed
    finally:
        assert restarted.stop() == 0
    records, meetings = read_store(restarted, store_url)
    by_site = {c.site: c for c in records}
    assert set(by_site) == {"Site 1", "Site 2", "Site 3"}
    assert by_site["Site 1"].end_reason not in (RESTART_REASON, "") and by_site["Site 1"].bytes_in > 0
    for name in ("Site 2", "Site 3"):
        record = by_site[name]
        assert record.end_reason == RESTART_REASON
        assert record.answer is not None and record.answer <= record.end <= killed + 1.0
    assert len(meetings) == 1 and meetings[0].end_reason == RESTART_REASON
    assert not list(folder.glob("usage.journal.*.replay"))  # stored, then the set-aside journal went


def test_a_store_that_is_down_never_stops_a_meeting(tmp_path: Path) -> None:
    """PostgreSQL unreachable: calls join and hear each other, the MCU stops cleanly, and the records
    wait in the journal; the next start with a reachable store puts them there."""
    folder = tmp_path / "mcu"
    dead = f"postgresql://postgres@127.0.0.1:{free_port(socket.SOCK_STREAM)}/usage"
    mcu = McuProcess(folder, extra=store_extra(dead))
    sites = [SyntheticEndpoint(n, f"Site {n}", audio_codec="PCMU") for n in (1, 2)]

    async def meeting() -> float:
        for site in sites:
            await site.call(f"sip:4100@127.0.0.1:{mcu.sip_port}")
        await asyncio.sleep(2.0)
        heard = sites[1].heard_tone(sites[0].tone_hz, 1.0)
        for site in sites:
            await site.close()
        return heard

    try:
        heard = asyncio.run(meeting())
        wait_for(lambda: len(mcu.events("member.left")) == 2, 10, "both sites left")
        wait_for(lambda: mcu.events("usage.store_failed"), 10, "the store failure logged")
        started = time.monotonic()
    finally:
        assert mcu.stop() == 0
    assert time.monotonic() - started < 15, "a dead store held up the stop"
    assert heard > 0.01, "the meeting's audio suffered from the dead store"
    assert mcu.events("usage.pending_at_stop"), mcu.log()[-3000:]
    url = f"sqlite:{folder / 'usage.sqlite'}"
    restarted = McuProcess(folder, extra=store_extra(url))
    try:
        wait_for(lambda: restarted.events("usage.replayed"), 20, "usage.replayed")
    finally:
        assert restarted.stop() == 0
    calls, meetings = read_store(restarted, url)
    assert sorted(c.site for c in calls) == ["Site 1", "Site 2"] and len(meetings) == 1
    assert all(c.end_reason != RESTART_REASON for c in calls)  # they had closed: kept as they were
